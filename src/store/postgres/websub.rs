//! WebSub subscriptions and the notifications that go to them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::deliveries::delete_deliveries_of;
use super::webhooks::select_list;
use super::{PgStore, db_time, notify};
use crate::domain::{CallbackUrl, FeedFormat, Scope, Subscription};
use crate::store::verifications::sql;
use crate::store::{LastDelivery, PendingVerification, StoreError, SubscriptionView};

const SUBSCRIPTION_COLUMNS: [&str; 10] = [
    "id",
    "topic",
    "scope",
    "format",
    "callback",
    "secret",
    "lease_seconds",
    "expires_at",
    "created_at",
    "updated_at",
];

/// The subscription columns of table `alias`, each named `{prefix}{column}`.
pub(super) fn subscription_select(alias: &str, prefix: &str) -> String {
    select_list(&SUBSCRIPTION_COLUMNS, alias, prefix)
}

impl PgStore {
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
        let mut tx = self.pool.begin().await?;
        // Two renewals at once: the second insert waits for the first on the unique index,
        // then updates the row the first committed.
        let row = sqlx::query(&format!(
            "INSERT INTO websub_subscriptions AS s (id, topic, scope, format, callback, secret, lease_seconds,
                                                    expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             ON CONFLICT (topic, callback) DO UPDATE SET secret = EXCLUDED.secret,
                 lease_seconds = EXCLUDED.lease_seconds, expires_at = EXCLUDED.expires_at,
                 updated_at = EXCLUDED.updated_at
             RETURNING {}",
            subscription_select("s", "")
        ))
        .bind(format!("sub_{}", uuid::Uuid::now_v7().simple()))
        .bind(topic)
        .bind(scope.as_str())
        .bind(format.extension())
        .bind(callback.as_str())
        .bind(secret)
        .bind(lease_seconds)
        .bind(db_time(expires))
        .bind(db_time(now))
        .fetch_one(&mut *tx)
        .await?;
        let subscription = subscription_from_row(&row, "")?;
        // A renewed lease also extends the retries of what is still queued for it.
        sqlx::query(
            "UPDATE deliveries SET expires_at = $2 WHERE target_id = $1 AND status = 'pending'",
        )
        .bind(&subscription.id)
        .bind(subscription.expires_at)
        .execute(&mut *tx)
        .await?;
        notify(&mut tx).await?;
        tx.commit().await?;
        Ok(subscription)
    }

    /// Ends a subscription and drops what was queued for it; `false` when there was none.
    pub async fn remove_subscription(
        &self,
        topic: &str,
        callback: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM websub_subscriptions WHERE topic = $1 AND callback = $2 RETURNING id",
        )
        .bind(topic)
        .bind(callback)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            tx.rollback().await?;
            return Ok(false);
        }
        delete_queues(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends a subscription by id (a callback answered 410 Gone).
    pub async fn remove_subscription_by_id(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> =
            sqlx::query_scalar("DELETE FROM websub_subscriptions WHERE id = $1 RETURNING id")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        if !ids.is_empty() {
            delete_queues(&mut tx, &ids).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes expired subscriptions and their queues; returns how many.
    pub async fn purge_expired_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // No read first, unlike SQLite: there is no database-wide write lock to spare, and a
        // delete that finds nothing takes no lock.
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM websub_subscriptions WHERE expires_at <= $1 RETURNING id",
        )
        .bind(db_time(now))
        .fetch_all(&mut *tx)
        .await?;
        if !ids.is_empty() {
            delete_queues(&mut tx, &ids).await?;
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
            "SELECT {}, l.id AS l_id, l.status AS l_status, l.attempts AS l_attempts,
                    l.last_status AS l_last_status, l.created_at AS l_created_at
             FROM websub_subscriptions s
             LEFT JOIN LATERAL (
                 SELECT id, status, attempts, last_status, created_at FROM deliveries
                 WHERE target_id = s.id ORDER BY seq DESC LIMIT 1
             ) l ON true
             WHERE ($1::text IS NULL OR s.topic = $1)
               AND ($2::text IS NULL OR (s.topic, s.callback) > ($2, $3::text))
             ORDER BY s.topic, s.callback LIMIT $4",
            subscription_select("s", "")
        ))
        .bind(topic)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let subscription = subscription_from_row(row, "")?;
                let last_delivery = match row.try_get::<Option<String>, _>("l_id")? {
                    Some(id) => Some(LastDelivery {
                        id,
                        status: row.try_get("l_status")?,
                        attempts: row.try_get::<i32, _>("l_attempts")? as u32,
                        last_status: row
                            .try_get::<Option<i32>, _>("l_last_status")?
                            .map(|s| s as u16),
                        created_at: row.try_get("l_created_at")?,
                    }),
                    None => None,
                };
                Ok(SubscriptionView::new(subscription, last_delivery, now))
            })
            .collect()
    }

    /// See [`super::super::SUBSCRIPTION_COUNTS_SQL`]: `params` are `$2` to `$9`.
    pub async fn subscription_counts(
        &self,
        params: [&str; 8],
        now: DateTime<Utc>,
    ) -> Result<super::super::SubscriptionCounts, StoreError> {
        let mut query =
            sqlx::query_as::<_, super::super::CountsRow>(super::super::SUBSCRIPTION_COUNTS_SQL)
                .bind(db_time(now));
        for param in params {
            query = query.bind(param);
        }
        Ok(query.fetch_one(&self.pool).await?.into())
    }

    /// Active subscribers per topic: (scope, format extension) → count.
    pub async fn subscriber_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<(String, String), u64>, StoreError> {
        let rows = sqlx::query(
            "SELECT scope, format, count(*) AS n FROM websub_subscriptions WHERE expires_at > $1
             GROUP BY scope, format",
        )
        .bind(db_time(now))
        .fetch_all(&self.pool)
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
            "SELECT {} FROM websub_subscriptions s WHERE s.expires_at > $1 ORDER BY s.id",
            subscription_select("s", "")
        ))
        .bind(db_time(now))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| subscription_from_row(row, ""))
        .collect()
    }
}

/// Removes the queues of subscriptions whose rows were just deleted (rows first: see the
/// lock order in `deliveries`), and signals the change.
async fn delete_queues(tx: &mut PgConnection, ids: &[String]) -> Result<(), StoreError> {
    delete_deliveries_of(tx, ids).await?;
    notify(tx).await
}

/// A subscription from columns named `{prefix}{column}`.
pub(super) fn subscription_from_row(row: &PgRow, prefix: &str) -> Result<Subscription, StoreError> {
    let col = |name: &str| format!("{prefix}{name}");
    let corrupt = |what: &str| StoreError::Corrupt(format!("subscription {what}"));
    let scope: String = row.try_get(col("scope").as_str())?;
    let scope = Scope::parse_name(&scope).map_err(|_| corrupt("scope"))?;
    let format: String = row.try_get(col("format").as_str())?;
    let callback: String = row.try_get(col("callback").as_str())?;
    Ok(Subscription {
        id: row.try_get(col("id").as_str())?,
        topic: row.try_get(col("topic").as_str())?,
        scope,
        format: FeedFormat::from_extension(&format).ok_or_else(|| corrupt("format"))?,
        callback: url::Url::parse(&callback)
            .map_err(|_| corrupt("callback"))?
            .into(),
        secret: row.try_get(col("secret").as_str())?,
        lease_seconds: row.try_get(col("lease_seconds").as_str())?,
        expires_at: row.try_get(col("expires_at").as_str())?,
        created_at: row.try_get(col("created_at").as_str())?,
        updated_at: row.try_get(col("updated_at").as_str())?,
    })
}

/// Pending verifications (see `store::verifications`).
impl PgStore {
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
            .bind(db_time(hold_until))
            .bind(db_time(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn take_verifications(
        &self,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingVerification>, StoreError> {
        Ok(sqlx::query_as(&sql::take("FOR UPDATE SKIP LOCKED"))
            .bind(db_time(now))
            .bind(db_time(hold_until))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn verification_attempted(&self, id: &str, attempts: u32) -> Result<(), StoreError> {
        let query = sqlx::query(sql::ATTEMPTED)
            .bind(id)
            .bind(i64::from(attempts));
        query.execute(&self.pool).await?;
        Ok(())
    }

    pub async fn release_verification(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(sql::RELEASE)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn finish_verification(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(sql::FINISH)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
