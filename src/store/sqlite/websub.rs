//! WebSub subscriptions and the notifications that go to them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::deliveries::{NewDelivery, delete_deliveries_of, insert_delivery};
use super::{ARTICLE_COLUMNS, SqliteStore, stored_from_row};
use crate::domain::Scope;
use crate::domain::{CallbackUrl, Subscription};
use crate::domain::{FeedFormat, StoredArticle, Tombstone};
use crate::store::{StoreError, parse_time_key, time_key};

/// The event-log consumer name of the WebSub dispatcher.
const WEBSUB_CURSOR: &str = "websub";

pub(super) const SUBSCRIPTION_COLUMNS: &str =
    "id, topic, scope, format, callback, secret, lease_seconds, expires_at, created_at, updated_at";

/// A rendered notification for one topic.
#[derive(Debug, Clone)]
pub struct Notification {
    pub body: String,
    pub content_type: &'static str,
    /// The topic's `Link` header (hub and self).
    pub link: String,
}

/// A subscription with its latest delivery, for the admin view.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    #[serde(flatten)]
    pub subscription: Subscription,
    pub state: &'static str,
    pub has_secret: bool,
    pub last_delivery: Option<LastDelivery>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastDelivery {
    pub id: String,
    pub status: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub created_at: DateTime<Utc>,
}

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
        now: DateTime<Utc>,
    ) -> Result<Vec<SubscriptionView>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM websub_subscriptions WHERE (?1 IS NULL OR topic = ?1)
             ORDER BY topic, callback"
        ))
        .bind(topic)
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
            views.push(SubscriptionView {
                state: if subscription.expires_at > now {
                    "active"
                } else {
                    "expired"
                },
                has_secret: subscription.secret.is_some(),
                subscription,
                last_delivery,
            });
        }
        Ok(views)
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

    /// Turns new events into one notification per affected topic with subscribers, rendered
    /// once and queued for each subscriber, and moves the WebSub cursor, in one transaction.
    ///
    /// Events are coalesced: nothing is sent until the oldest undispatched event is `window`
    /// old, and then every event up to now goes into the same notifications. Returns how many
    /// events were dispatched.
    #[tracing::instrument(skip_all)]
    pub async fn dispatch_notifications(
        &self,
        window: Duration,
        now: DateTime<Utc>,
        render: impl Fn(&Scope, FeedFormat, &[StoredArticle], &[Tombstone]) -> Option<Notification>,
    ) -> Result<usize, StoreError> {
        if !self.has_events_after_cursor(WEBSUB_CURSOR).await? {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let cursor = super::read_cursor(&mut tx, WEBSUB_CURSOR).await?;
        let oldest: Option<String> = sqlx::query_scalar(
            "SELECT occurred_at FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1",
        )
        .bind(cursor)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(oldest) = oldest else { return Ok(0) };
        let window = chrono::Duration::from_std(window).unwrap_or_default();
        if parse_time_key(&oldest)? > now - window {
            return Ok(0);
        }
        let events = super::events_since(&mut tx, cursor, 5000).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(0);
        };

        let subscriptions = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM websub_subscriptions WHERE expires_at > ?1"
        ))
        .bind(time_key(now))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(subscription_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let mut by_feed: BTreeMap<(Scope, FeedFormat), Vec<&Subscription>> = BTreeMap::new();
        for s in &subscriptions {
            by_feed
                .entry((s.scope.clone(), s.format))
                .or_default()
                .push(s);
        }

        for ((scope, format), subscribers) in &by_feed {
            let mut ids: Vec<&str> = Vec::new();
            for e in &events {
                let touches = scope.includes(&e.section)
                    || e.moved_from.as_ref().is_some_and(|m| scope.includes(m));
                if touches && !ids.contains(&e.article_id.as_str()) {
                    ids.push(e.article_id.as_str());
                }
            }
            if ids.is_empty() {
                continue;
            }
            let mut entries = Vec::new();
            let mut tombstones = Vec::new();
            for id in ids {
                let row = sqlx::query(&format!(
                    "SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?1"
                ))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(stored) = row.as_ref().map(stored_from_row).transpose()? else {
                    continue;
                };
                if !scope.includes(&stored.article.section) {
                    continue; // moved out of this feed: it simply leaves it
                }
                match stored.deleted_at {
                    Some(deleted_at) => tombstones.push(Tombstone {
                        id: stored.article.id,
                        section: stored.article.section,
                        url: stored.article.url,
                        deleted_at,
                    }),
                    None => entries.push(stored),
                }
            }
            entries.sort_by(|a, b| {
                b.article
                    .published
                    .cmp(&a.article.published)
                    .then_with(|| b.article.id.cmp(&a.article.id))
            });
            let Some(notification) = render(scope, *format, &entries, &tombstones) else {
                continue;
            };
            let message_id = format!("ntf_{}", uuid::Uuid::now_v7().simple());
            sqlx::query(
                "INSERT INTO messages (id, type, event_seq, body, content_type, link, created_at)
                 VALUES (?1, 'websub.notification', ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(&message_id)
            .bind(last)
            .bind(&notification.body)
            .bind(notification.content_type)
            .bind(&notification.link)
            .bind(time_key(now))
            .execute(&mut *tx)
            .await?;
            let order_key = format!("{}.{}", scope.as_str(), format.extension());
            for s in subscribers {
                let new = NewDelivery {
                    message_id: &message_id,
                    kind: "websub",
                    target_id: &s.id,
                    order_key: &order_key,
                    expires_at: Some(s.expires_at),
                };
                insert_delivery(&mut tx, &new, now).await?;
            }
        }
        super::advance_cursor(&mut tx, WEBSUB_CURSOR, last).await?;
        tx.commit().await?;
        Ok(events.len())
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
    let scope = if scope == "all" {
        Scope::All
    } else {
        Scope::Section(crate::domain::SectionPath::parse(&scope).map_err(|_| corrupt("scope"))?)
    };
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
