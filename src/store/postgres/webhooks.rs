//! Webhook endpoints.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;

use super::deliveries::delete_deliveries_of;
use super::{PgStore, db_time, notify};
use crate::domain::{Endpoint, EndpointRoute, EventType, RobotSecret, Secret, SectionPath};
use crate::store::{
    EndpointPatch, NewEndpoint, ROUTES_REVISION_SQL, ROUTES_SQL, RouteRow, StoreError,
    route_from_row, stored_event_types, stored_kind,
};

const ENDPOINT_COLUMNS: [&str; 18] = [
    "id",
    "url",
    "description",
    "event_types",
    "sections",
    "secret",
    "previous_secret",
    "previous_expires_at",
    "rate_limit",
    "enabled",
    "disabled_reason",
    "failing_since",
    "after_seq",
    "created_at",
    "updated_at",
    "kind",
    "template",
    "robot_secret",
];

/// The endpoint columns of table `alias`, each named `{prefix}{column}`.
pub(super) fn endpoint_select(alias: &str, prefix: &str) -> String {
    select_list(&ENDPOINT_COLUMNS, alias, prefix)
}

/// `alias.column AS prefixcolumn, …`.
pub(super) fn select_list(columns: &[&str], alias: &str, prefix: &str) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}.{c} AS {prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PgStore {
    /// Registers an endpoint; it receives the events after the newest one at this moment.
    #[tracing::instrument(skip_all, fields(url = %new.url))]
    pub async fn create_endpoint(
        &self,
        new: NewEndpoint,
        now: DateTime<Utc>,
    ) -> Result<Endpoint, StoreError> {
        let id = format!("ep_{}", uuid::Uuid::now_v7().simple());
        let mut tx = self.pool.begin().await?;
        // The newest event visible now. Event seqs become visible in commit order (see
        // EVENTS_LOCK), so every event after this one commits later: none is skipped.
        let row = sqlx::query(&format!(
            "INSERT INTO webhook_endpoints AS e (id, url, description, event_types, sections, secret, rate_limit,
                                                 enabled, after_seq, created_at, updated_at, kind, template,
                                                 robot_secret)
             VALUES ($1, $2, $3, $4, $5, $6, $7, true, (SELECT coalesce(max(seq), 0) FROM events), $8, $8,
                     $9, $10, $11)
             RETURNING {}",
            endpoint_select("e", "")
        ))
        .bind(&id)
        .bind(new.url.as_str())
        .bind(&new.description)
        .bind(types_json(&new.event_types))
        .bind(Json(&new.sections))
        .bind(new.secret.as_str())
        .bind(new.rate_limit)
        .bind(db_time(now))
        .bind(new.kind.as_str())
        .bind(new.template.as_deref().map(super::no_nul))
        .bind(new.robot_secret.as_ref().map(RobotSecret::as_str))
        .fetch_one(&mut *tx)
        .await?;
        notify(&mut tx).await?;
        tx.commit().await?;
        endpoint_from_row(&row, "")
    }

    pub async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        sqlx::query(&format!(
            "SELECT {} FROM webhook_endpoints e ORDER BY e.created_at, e.id",
            endpoint_select("e", "")
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| endpoint_from_row(row, ""))
        .collect()
    }

    pub async fn endpoint_routes(&self) -> Result<Vec<EndpointRoute>, StoreError> {
        sqlx::query_as::<_, RouteRow>(ROUTES_SQL)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(route_from_row)
            .collect()
    }

    pub async fn endpoint_routes_revision(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(ROUTES_REVISION_SQL)
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        sqlx::query(&format!(
            "SELECT {} FROM webhook_endpoints e WHERE e.id = $1",
            endpoint_select("e", "")
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(|row| endpoint_from_row(row, ""))
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
        // Read and write under the row's lock, so that a worker disabling the endpoint (410,
        // too long failing) or recording a failure in between is not overwritten.
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {} FROM webhook_endpoints e WHERE e.id = $1 FOR UPDATE",
            endpoint_select("e", "")
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(current) = row.as_ref().map(|r| endpoint_from_row(r, "")).transpose()? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let next = patch.apply(current, now);
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints AS e SET url = $2, description = $3, event_types = $4, sections = $5,
                    rate_limit = $6, enabled = $7, disabled_reason = $8, failing_since = $9, updated_at = $10,
                    kind = $11, template = $12, robot_secret = $13
             WHERE e.id = $1
             RETURNING {}",
            endpoint_select("e", "")
        ))
        .bind(id)
        .bind(next.url.as_str())
        .bind(&next.description)
        .bind(types_json(&next.event_types))
        .bind(Json(&next.sections))
        .bind(next.rate_limit)
        .bind(next.enabled)
        .bind(&next.disabled_reason)
        .bind(next.failing_since.map(db_time))
        .bind(db_time(next.updated_at))
        .bind(next.kind.as_str())
        .bind(next.template.as_deref().map(super::no_nul))
        .bind(next.robot_secret.as_ref().map(RobotSecret::as_str))
        .fetch_one(&mut *tx)
        .await?;
        notify(&mut tx).await?;
        tx.commit().await?;
        endpoint_from_row(&row, "").map(Some)
    }

    /// Removes an endpoint and its queue; `false` when there was none.
    pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The endpoint's row first: it waits for enqueues that hold it (FOR KEY SHARE), so
        // that the queue removed next includes what they added.
        let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        delete_deliveries_of(&mut tx, &[id.to_owned()]).await?;
        if deleted > 0 {
            notify(&mut tx).await?;
        }
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
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints AS e SET previous_secret = e.secret, previous_expires_at = $3, secret = $2,
                    updated_at = $4
             WHERE e.id = $1
             RETURNING {}",
            endpoint_select("e", "")
        ))
        .bind(id)
        .bind(secret.as_str())
        .bind(db_time(grace_until))
        .bind(db_time(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        notify(&mut tx).await?;
        tx.commit().await?;
        endpoint_from_row(&row, "").map(Some)
    }

    /// Disables an endpoint, recording why.
    pub async fn disable_endpoint(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(super::no_nul(reason))
        .bind(db_time(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn types_json(types: &[EventType]) -> Json<Vec<&'static str>> {
    Json(types.iter().map(|t| t.as_str()).collect())
}

/// An endpoint from columns named `{prefix}{column}`.
pub(super) fn endpoint_from_row(row: &PgRow, prefix: &str) -> Result<Endpoint, StoreError> {
    let col = |name: &str| format!("{prefix}{name}");
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("endpoint {what}: {e}"))
    };
    let Json(types): Json<Vec<String>> = row
        .try_get(col("event_types").as_str())
        .map_err(|e| corrupt("event_types", &e))?;
    let event_types = stored_event_types(&types)?;
    let Json(sections): Json<Vec<SectionPath>> = row
        .try_get(col("sections").as_str())
        .map_err(|e| corrupt("sections", &e))?;
    let secret = Secret::parse(&row.try_get::<String, _>(col("secret").as_str())?)
        .map_err(|e| corrupt("secret", &e))?;
    let previous: Option<String> = row.try_get(col("previous_secret").as_str())?;
    let previous_expires: Option<DateTime<Utc>> =
        row.try_get(col("previous_expires_at").as_str())?;
    let previous_secret = match (previous, previous_expires) {
        (Some(s), Some(until)) => Some((
            Secret::parse(&s).map_err(|e| corrupt("previous_secret", &e))?,
            until,
        )),
        _ => None,
    };
    let url: String = row.try_get(col("url").as_str())?;
    let robot_secret: Option<String> = row.try_get(col("robot_secret").as_str())?;
    Ok(Endpoint {
        id: row.try_get(col("id").as_str())?,
        url: url::Url::parse(&url)
            .map_err(|e| corrupt("url", &e))?
            .into(),
        description: row.try_get(col("description").as_str())?,
        kind: stored_kind(&row.try_get::<String, _>(col("kind").as_str())?)?,
        template: row.try_get(col("template").as_str())?,
        event_types,
        sections,
        secret,
        previous_secret,
        robot_secret: robot_secret
            .as_deref()
            .map(RobotSecret::parse)
            .transpose()
            .map_err(|e| corrupt("robot_secret", &e))?,
        rate_limit: row.try_get(col("rate_limit").as_str())?,
        enabled: row.try_get(col("enabled").as_str())?,
        disabled_reason: row.try_get(col("disabled_reason").as_str())?,
        failing_since: row.try_get(col("failing_since").as_str())?,
        after_seq: row.try_get(col("after_seq").as_str())?,
        created_at: row.try_get(col("created_at").as_str())?,
        updated_at: row.try_get(col("updated_at").as_str())?,
    })
}
