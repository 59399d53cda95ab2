//! WebSub subscriptions and the notifications that go to them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::deliveries::delete_deliveries_of;
use crate::domain::FeedFormat;
use crate::domain::Scope;
use crate::domain::{CallbackUrl, Subscription};
use crate::store::verifications::sql;
use crate::store::{
    LastDelivery, PendingVerification, StoreError, SubscriptionView, parse_time_key, time_key,
};

pub(super) const SUBSCRIPTION_COLUMNS: &str =
    "id, topic, scope, format, callback, secret, lease_seconds, expires_at, created_at, updated_at";

impl SqliteStore {
    /// Stores a verified subscription, or renews one: lease and secret are replaced (§5.1:
    /// (topic, callback) is the key).
    #[tracing::instrument(skip_all, fields(topic = %topic, callback = %callback))]
    #[allow(clippy::too_many_arguments)]
    pub async fn upsert_subscription(
        &self,
        topic: &str,
        scope: &Scope,
        format: FeedFormat,
        callback: &CallbackUrl,
        secret: Option<&str>,
        lease_seconds: i64,
        now: DateTime<Utc>,
    ) -> Result<Subscription, StoreError> {
        let expires = now + chrono::Duration::seconds(lease_seconds);
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO websub_subscriptions (id, topic, scope, format, callback, secret, lease_seconds, expires_at,
                                               created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
             ON CONFLICT (topic, callback) DO UPDATE SET secret = excluded.secret,
                 lease_seconds = excluded.lease_seconds, expires_at = excluded.expires_at,
                 updated_at = excluded.updated_at
             RETURNING {SUBSCRIPTION_COLUMNS}"
        ))
        .bind(format!("sub_{}", uuid::Uuid::now_v7().simple()))
        .bind(topic)
        .bind(scope.as_str())
        .bind(format.extension())
        .bind(callback.as_str())
        .bind(secret)
        .bind(lease_seconds)
        .bind(time_key(expires))
        .bind(time_key(now))
        .fetch_one(&mut *tx)
        .await?;
        let subscription = subscription_from_row(&row)?;
        // A renewed lease also extends the retries of what is still queued for it.
        sqlx::query(
            "UPDATE deliveries SET expires_at = ?2 WHERE target_id = ?1 AND status = 'pending'",
        )
        .bind(&subscription.id)
        .bind(time_key(subscription.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(subscription)
    }

    /// Ends a subscription and drops what was queued for it; `false` when there was none.
    pub async fn remove_subscription(
        &self,
        topic: &str,
        callback: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM websub_subscriptions WHERE topic = ?1 AND callback = ?2",
        )
        .bind(topic)
        .bind(callback)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(false) };
        delete_subscription(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends a subscription by id (a callback answered 410 Gone).
    pub async fn remove_subscription_by_id(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        delete_subscription(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes expired subscriptions and their queues; returns how many.
    pub async fn purge_expired_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Looked for with a read first: the write lock is taken only when there is work.
        let any: Option<String> = sqlx::query_scalar(
            "SELECT id FROM websub_subscriptions WHERE expires_at <= ?1 LIMIT 1",
        )
        .bind(time_key(now))
        .fetch_optional(&self.read)
        .await?;
        if any.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM websub_subscriptions WHERE expires_at <= ?1")
                .bind(time_key(now))
                .fetch_all(&mut *tx)
                .await?;
        for id in &ids {
            delete_subscription(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Subscriptions (of one topic, if given), each with its latest delivery.
    pub async fn subscriptions(
        &self,
        topic: Option<&str>,
        after: Option<(&str, &str)>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<SubscriptionView>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM websub_subscriptions WHERE (?1 IS NULL OR topic = ?1)
               AND (?2 IS NULL OR (topic, callback) > (?2, ?3))
             ORDER BY topic, callback LIMIT ?4"
        ))
        .bind(topic)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            let subscription = subscription_from_row(row)?;
            let last = sqlx::query(
                "SELECT id, status, attempts, last_status, created_at FROM deliveries WHERE target_id = ?1
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(&subscription.id)
            .fetch_optional(&self.read)
            .await?;
            let last_delivery = match last {
                Some(r) => Some(LastDelivery {
                    id: r.try_get("id")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    last_status: r
                        .try_get::<Option<i64>, _>("last_status")?
                        .map(|s| s as u16),
                    created_at: parse_time_key(&r.try_get::<String, _>("created_at")?)?,
                }),
                None => None,
            };
            views.push(SubscriptionView::new(subscription, last_delivery, now));
        }
        Ok(views)
    }

    /// See [`super::super::SUBSCRIPTION_COUNTS_SQL`]: `params` are `$2` to `$9`.
    pub async fn subscription_counts(
        &self,
        params: [&str; 8],
        now: DateTime<Utc>,
    ) -> Result<super::super::SubscriptionCounts, StoreError> {
        let mut query =
            sqlx::query_as::<_, super::super::CountsRow>(super::super::SUBSCRIPTION_COUNTS_SQL)
                .bind(time_key(now));
        for param in params {
            query = query.bind(param);
        }
        Ok(query.fetch_one(&self.read).await?.into())
    }

    /// Active subscribers per topic: (scope, format extension) → count.
    pub async fn subscriber_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<(String, String), u64>, StoreError> {
        let rows = sqlx::query(
            "SELECT scope, format, count(*) AS n FROM websub_subscriptions WHERE expires_at > ?1
             GROUP BY scope, format",
        )
        .bind(time_key(now))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let topic = (r.try_get("scope")?, r.try_get("format")?);
                Ok((topic, r.try_get::<i64, _>("n")? as u64))
            })
            .collect()
    }

    /// The subscriptions whose lease has not ended.
    pub async fn active_subscriptions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM websub_subscriptions WHERE expires_at > ?1 ORDER BY id"
        ))
        .bind(time_key(now))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(subscription_from_row)
        .collect()
    }
}

/// Removes a subscription with its queue.
async fn delete_subscription(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &str,
) -> Result<(), StoreError> {
    delete_deliveries_of(tx, id).await?;
    sqlx::query("DELETE FROM websub_subscriptions WHERE id = ?1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) fn subscription_from_row(row: &SqliteRow) -> Result<Subscription, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("subscription {what}"));
    let scope: String = row.try_get("scope")?;
    let scope = Scope::parse_name(&scope).map_err(|_| corrupt("scope"))?;
    let format: String = row.try_get("format")?;
    let callback: String = row.try_get("callback")?;
    Ok(Subscription {
        id: row.try_get("id")?,
        topic: row.try_get("topic")?,
        scope,
        format: FeedFormat::from_extension(&format).ok_or_else(|| corrupt("format"))?,
        callback: url::Url::parse(&callback)
            .map_err(|_| corrupt("callback"))?
            .into(),
        secret: row.try_get("secret")?,
        lease_seconds: row.try_get("lease_seconds")?,
        expires_at: parse_time_key(&row.try_get::<String, _>("expires_at")?)?,
        created_at: parse_time_key(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time_key(&row.try_get::<String, _>("updated_at")?)?,
    })
}

/// Pending verifications (see `store::verifications`).
impl SqliteStore {
    pub async fn add_verification(
        &self,
        request: &PendingVerification,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::ADD)
            .bind(&request.id)
            .bind(&request.mode)
            .bind(&request.topic)
            .bind(&request.callback)
            .bind(&request.secret)
            .bind(request.lease_seconds)
            .bind(&request.verify_token)
            .bind(i64::from(request.attempts))
            .bind(time_key(hold_until))
            .bind(time_key(now))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn take_verifications(
        &self,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingVerification>, StoreError> {
        Ok(sqlx::query_as(&sql::take(""))
            .bind(time_key(now))
            .bind(time_key(hold_until))
            .bind(i64::from(limit))
            .fetch_all(&self.write)
            .await?)
    }

    pub async fn verification_attempted(&self, id: &str, attempts: u32) -> Result<(), StoreError> {
        let query = sqlx::query(sql::ATTEMPTED)
            .bind(id)
            .bind(i64::from(attempts));
        query.execute(&self.write).await?;
        Ok(())
    }

    pub async fn release_verification(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(sql::RELEASE)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn finish_verification(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(sql::FINISH)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
