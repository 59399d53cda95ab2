//! Webhook endpoints.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::domain::EventType;
use crate::domain::SectionPath;
use crate::domain::{Endpoint, EndpointRoute, RobotSecret, Secret};
use crate::store::stored_kind;
use crate::store::{
    EndpointPatch, NewEndpoint, ROUTES_REVISION_SQL, ROUTES_SQL, RouteRow, StoreError,
    parse_time_key, route_from_row, stored_event_types, time_key,
};

pub(super) const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, sections, secret, previous_secret,
    previous_expires_at, rate_limit, enabled, disabled_reason, failing_since, after_seq, created_at, updated_at,
    kind, template, robot_secret";

impl SqliteStore {
    /// Registers an endpoint; it receives the events after the newest one at this moment.
    #[tracing::instrument(skip_all, fields(url = %new.url))]
    pub async fn create_endpoint(
        &self,
        new: NewEndpoint,
        now: DateTime<Utc>,
    ) -> Result<Endpoint, StoreError> {
        let id = format!("ep_{}", uuid::Uuid::now_v7().simple());
        let mut tx = self.begin_write().await?;
        let after_seq: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, description, event_types, sections, secret, rate_limit,
                                            enabled, after_seq, created_at, updated_at, kind, template,
                                            robot_secret)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?9, ?10, ?11, ?12)",
        )
        .bind(&id)
        .bind(new.url.as_str())
        .bind(&new.description)
        .bind(types_json(&new.event_types))
        .bind(sections_json(&new.sections))
        .bind(new.secret.as_str())
        .bind(new.rate_limit)
        .bind(after_seq)
        .bind(time_key(now))
        .bind(new.kind.as_str())
        .bind(&new.template)
        .bind(new.robot_secret.as_ref().map(RobotSecret::as_str))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.endpoint(&id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a created endpoint vanished".into()))
    }

    pub async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
        ))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(endpoint_from_row)
        .collect()
    }

    pub async fn endpoint_routes(&self) -> Result<Vec<EndpointRoute>, StoreError> {
        sqlx::query_as::<_, RouteRow>(ROUTES_SQL)
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(route_from_row)
            .collect()
    }

    pub async fn endpoint_routes_revision(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(ROUTES_REVISION_SQL)
            .fetch_one(&self.read)
            .await?)
    }

    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.write)
        .await?
        .as_ref()
        .map(endpoint_from_row)
        .transpose()
    }

    /// Applies a patch; `None` when there is no such endpoint.
    #[tracing::instrument(skip_all, fields(endpoint = id))]
    pub async fn update_endpoint(
        &self,
        id: &str,
        patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        // Read and write under the write lock, so that a worker disabling the endpoint (410,
        // too long failing) or recording a failure in between is not overwritten.
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(current) = row.as_ref().map(endpoint_from_row).transpose()? else {
            return Ok(None);
        };
        let next = patch.apply(current, now);
        sqlx::query(
            "UPDATE webhook_endpoints SET url = ?2, description = ?3, event_types = ?4, sections = ?5,
                    rate_limit = ?6, enabled = ?7, disabled_reason = ?8, failing_since = ?9, updated_at = ?10,
                    kind = ?11, template = ?12, robot_secret = ?13
             WHERE id = ?1",
        )
        .bind(id)
        .bind(next.url.as_str())
        .bind(&next.description)
        .bind(types_json(&next.event_types))
        .bind(sections_json(&next.sections))
        .bind(next.rate_limit)
        .bind(next.enabled)
        .bind(&next.disabled_reason)
        .bind(next.failing_since.map(time_key))
        .bind(time_key(next.updated_at))
        .bind(next.kind.as_str())
        .bind(&next.template)
        .bind(next.robot_secret.as_ref().map(RobotSecret::as_str))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.endpoint(id).await
    }

    /// Removes an endpoint and its queue; `false` when there was none.
    pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        super::deliveries::delete_deliveries_of(&mut tx, id).await?;
        let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// Replaces the secret; the old one keeps signing until `grace_until`.
    pub async fn rotate_secret(
        &self,
        id: &str,
        secret: &Secret,
        grace_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        let changed = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_expires_at = ?3, secret = ?2,
                    updated_at = ?4
             WHERE id = ?1",
        )
        .bind(id)
        .bind(secret.as_str())
        .bind(time_key(grace_until))
        .bind(time_key(now))
        .execute(&self.write)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        self.endpoint(id).await
    }

    /// Disables an endpoint, recording why.
    pub async fn disable_endpoint(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(id)
            .bind(reason)
            .bind(time_key(now))
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

fn types_json(types: &[EventType]) -> String {
    serde_json::to_string(&types.iter().map(|t| t.as_str()).collect::<Vec<_>>())
        .expect("strings serialise")
}

fn sections_json(sections: &[SectionPath]) -> String {
    serde_json::to_string(sections).expect("strings serialise")
}

pub(super) fn endpoint_from_row(row: &SqliteRow) -> Result<Endpoint, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("endpoint {what}: {e}"))
    };
    let types: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("event_types")?)
        .map_err(|e| corrupt("event_types", &e))?;
    let event_types = stored_event_types(&types)?;
    let sections: Vec<SectionPath> = serde_json::from_str(&row.try_get::<String, _>("sections")?)
        .map_err(|e| corrupt("sections", &e))?;
    let secret =
        Secret::parse(&row.try_get::<String, _>("secret")?).map_err(|e| corrupt("secret", &e))?;
    let previous: Option<String> = row.try_get("previous_secret")?;
    let previous_expires: Option<String> = row.try_get("previous_expires_at")?;
    let previous_secret = match (previous, previous_expires) {
        (Some(s), Some(until)) => Some((
            Secret::parse(&s).map_err(|e| corrupt("previous_secret", &e))?,
            parse_time_key(&until)?,
        )),
        _ => None,
    };
    let url: String = row.try_get("url")?;
    let failing_since: Option<String> = row.try_get("failing_since")?;
    let robot_secret: Option<String> = row.try_get("robot_secret")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        url: url::Url::parse(&url)
            .map_err(|e| corrupt("url", &e))?
            .into(),
        description: row.try_get("description")?,
        kind: stored_kind(&row.try_get::<String, _>("kind")?)?,
        template: row.try_get("template")?,
        event_types,
        sections,
        secret,
        previous_secret,
        robot_secret: robot_secret
            .as_deref()
            .map(RobotSecret::parse)
            .transpose()
            .map_err(|e| corrupt("robot_secret", &e))?,
        rate_limit: row.try_get("rate_limit")?,
        enabled: row.try_get("enabled")?,
        disabled_reason: row.try_get("disabled_reason")?,
        failing_since: failing_since.as_deref().map(parse_time_key).transpose()?,
        after_seq: row.try_get("after_seq")?,
        created_at: parse_time_key(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time_key(&row.try_get::<String, _>("updated_at")?)?,
    })
}
