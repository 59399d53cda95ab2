//! The durable delivery queue: dispatch (events → deliveries), claim, record, replay.
//!
//! A worker step is claim (a short transaction that leases due deliveries) → send (no
//! transaction open) → record (a short transaction). A lease that runs out, because the
//! process died, makes the delivery claimable again: delivery is at least once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::webhooks::endpoint_from_row;
use super::websub::subscription_from_row;
use super::{SqliteStore, placeholders, rows_of};
use crate::domain::{QueueStats, Target, TargetKind};
use crate::store::types::FailingRuns;
use crate::store::{
    Attempt, AttemptRecord, Claimed, CursorMove, DeliveryView, Enqueued, NewDelivery, NewMessage,
    Recorded, Resend, StoreError, parse_time_key, time_key,
};

impl SqliteStore {
    /// Queues messages with their deliveries and, if asked, moves a consumer's cursor, in one
    /// transaction. The cursor moves only from where the caller read it (compare-and-set):
    /// when another dispatcher moved it first, nothing is queued and the answer is
    /// [`Enqueued::Raced`]. A delivery to a target that no longer exists is skipped.
    #[tracing::instrument(skip_all, fields(messages = messages.len()))]
    pub async fn enqueue(
        &self,
        cursor: Option<CursorMove>,
        messages: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Enqueued, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(cursor) = cursor {
            let at: i64 = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = ?1")
                .bind(cursor.consumer)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(0);
            if at != cursor.from {
                return Ok(Enqueued::Raced);
            }
            sqlx::query(
                "INSERT INTO cursors (name, seq) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET seq = ?2",
            )
            .bind(cursor.consumer)
            .bind(cursor.to)
            .execute(&mut *tx)
            .await?;
        }
        let mut ids = Vec::new();
        for message in messages {
            sqlx::query(
                "INSERT OR IGNORE INTO messages (id, type, event_seq, body, content_type, link, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(&message.id)
            .bind(&message.kind)
            .bind(message.event_seq)
            .bind(&message.body)
            .bind(&message.content_type)
            .bind(&message.link)
            .bind(time_key(now))
            .execute(&mut *tx)
            .await?;
        }
        let all: Vec<(&str, &NewDelivery)> = messages
            .iter()
            .flat_map(|m| m.deliveries.iter().map(move |d| (m.id.as_str(), d)))
            .collect();
        for chunk in all.chunks(DELIVERIES_PER_INSERT) {
            ids.extend(insert_deliveries(&mut tx, chunk, now).await?);
        }
        tx.commit().await?;
        Ok(Enqueued::Queued(ids))
    }

    /// Leases up to `limit` due deliveries until `lease_until`.
    ///
    /// Due: pending, its time come, not leased (or the lease expired), its target live (an
    /// enabled endpoint, an unexpired subscription), and no earlier delivery with the same
    /// order key to the same target still pending, so that version n+1 of an article never
    /// overtakes version n.
    #[tracing::instrument(skip_all, fields(limit))]
    pub async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        kind: Option<TargetKind>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now_key = time_key(now);
        let mut tx = self.begin_write().await?;
        // Three statements for the whole claim: the lease, which returns the deliveries; their
        // messages (each body once, however many deliveries share it); their endpoints and
        // subscriptions.
        let rows = sqlx::query(&format!(
            "UPDATE deliveries SET lease_until = ?2 WHERE seq IN ({})
             RETURNING seq, id, message_id, attempts, target_kind, target_id, expires_at",
            due_sql(kind.is_some())
        ))
        .bind(&now_key)
        .bind(time_key(lease_until))
        .bind(limit)
        .bind(kind.map(TargetKind::as_str))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut message_ids: Vec<String> = rows
            .iter()
            .map(|row| row.try_get("message_id"))
            .collect::<Result<_, _>>()?;
        message_ids.sort_unstable();
        message_ids.dedup();
        let mut messages: HashMap<String, ClaimedMessage> = HashMap::new();
        for row in bind_all(
            sqlx::query(&format!(
                "SELECT id, type, body, content_type, link FROM messages WHERE id IN ({})",
                placeholders(message_ids.len())
            )),
            &message_ids,
        )
        .fetch_all(&mut *tx)
        .await?
        {
            messages.insert(
                row.try_get("id")?,
                ClaimedMessage {
                    kind: row.try_get("type")?,
                    body: row.try_get("body")?,
                    content_type: row.try_get("content_type")?,
                    link: row.try_get("link")?,
                },
            );
        }
        let mut wanted: HashMap<&str, Vec<String>> = HashMap::new();
        for row in &rows {
            wanted
                .entry(row.try_get("target_kind")?)
                .or_default()
                .push(row.try_get("target_id")?);
        }
        let mut targets: HashMap<String, Target> = HashMap::new();
        for (kind, ids) in &wanted {
            let (table, columns) = match *kind {
                "webhook" => ("webhook_endpoints", super::webhooks::ENDPOINT_COLUMNS),
                "websub" => ("websub_subscriptions", super::websub::SUBSCRIPTION_COLUMNS),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "unknown delivery target kind {other:?}"
                    )));
                }
            };
            let sql = format!(
                "SELECT {columns} FROM {table} WHERE id IN ({})",
                placeholders(ids.len())
            );
            for row in bind_all(sqlx::query(&sql), ids).fetch_all(&mut *tx).await? {
                let target = if *kind == "webhook" {
                    Target::Webhook(endpoint_from_row(&row)?)
                } else {
                    Target::WebSub(subscription_from_row(&row)?)
                };
                targets.insert(target.id().to_owned(), target);
            }
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let target_id: String = row.try_get("target_id")?;
            let target = targets.get(&target_id).cloned().ok_or_else(|| {
                StoreError::Corrupt(format!("delivery to a missing target {target_id:?}"))
            })?;
            let message_id: String = row.try_get("message_id")?;
            let message = messages.get(&message_id).ok_or_else(|| {
                StoreError::Corrupt(format!("delivery of a missing message {message_id:?}"))
            })?;
            let expires: Option<String> = row.try_get("expires_at")?;
            claimed.push(Claimed {
                seq: row.try_get("seq")?,
                id: row.try_get("id")?,
                message_id,
                message_type: message.kind.clone(),
                body: message.body.clone(),
                content_type: message.content_type.clone(),
                link: message.link.clone(),
                attempts: row.try_get::<i64, _>("attempts")? as u32,
                expires_at: expires.as_deref().map(parse_time_key).transpose()?,
                target,
                lease_until,
            });
        }
        tx.commit().await?;
        claimed.sort_by_key(|c| c.seq);
        Ok(claimed)
    }

    /// Gives a claimed delivery back without an attempt (rate limit, shutdown).
    pub async fn delivery_end(&self, seq: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        let end: Option<Option<String>> =
            sqlx::query_scalar("SELECT expires_at FROM deliveries WHERE seq = ?1")
                .bind(seq)
                .fetch_optional(&self.read)
                .await?;
        end.flatten().as_deref().map(parse_time_key).transpose()
    }

    pub async fn release_delivery(
        &self,
        seq: i64,
        lease: DateTime<Utc>,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET lease_until = NULL, next_attempt_at = ?2 WHERE seq = ?1 AND lease_until = ?3",
        )
        .bind(seq)
        .bind(time_key(next_attempt_at))
        .bind(time_key(lease))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Records attempts and their outcomes in one transaction, and keeps each endpoint's
    /// failure history: success ends a run of failures, a failure starts one if none is
    /// running. For each, the endpoint's `failing_since` afterwards, or
    /// [`StoreError::LeaseLost`] (nothing recorded for that one). A few statements for the
    /// whole batch, however many attempts it holds.
    #[tracing::instrument(skip_all, fields(attempts = records.len()))]
    pub async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<Vec<Recorded>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut held = HashSet::new();
        for chunk in records.chunks(RECORDS_PER_STATEMENT) {
            held.extend(finish_attempts(&mut tx, chunk).await?);
        }
        let kept: Vec<&AttemptRecord> = records.iter().filter(|r| held.contains(&r.seq)).collect();
        for chunk in kept.chunks(RECORDS_PER_STATEMENT) {
            insert_attempts(&mut tx, chunk).await?;
        }
        let endpoints = FailingRuns::endpoints(records);
        let mut stored = Vec::with_capacity(endpoints.len());
        for chunk in endpoints.chunks(RECORDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, failing_since FROM webhook_endpoints WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String, Option<String>)>(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for (id, since) in query.fetch_all(&mut *tx).await? {
                stored.push((id, since.as_deref().map(parse_time_key).transpose()?));
            }
        }
        let mut runs = FailingRuns::new(stored);
        let results = runs.replay(records, &held);
        for chunk in runs.changed().chunks(RECORDS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE webhook_endpoints SET failing_since = v.column2
                 FROM (VALUES {}) AS v WHERE webhook_endpoints.id = v.column1",
                rows_of(2, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for (id, since) in chunk {
                query = query.bind(*id).bind(since.map(time_key));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    /// The delivery log of an endpoint, oldest first, after the cursor `after`.
    pub async fn deliveries_of(
        &self,
        endpoint_id: &str,
        status: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.seq, d.id, d.message_id, m.type AS message_type, d.target_id, d.status, d.attempts,
                    d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at
             FROM deliveries d JOIN messages m ON m.id = d.message_id
             WHERE d.target_id = ?1 AND d.seq > ?2 AND (?3 IS NULL OR d.status = ?3)
             ORDER BY d.seq LIMIT ?4",
        )
        .bind(endpoint_id)
        .bind(after)
        .bind(status)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        self.views_with_attempts(&rows).await
    }

    /// One delivery by its public id.
    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryView>, StoreError> {
        let row = sqlx::query(
            "SELECT d.seq, d.id, d.message_id, m.type AS message_type, d.target_id, d.status, d.attempts,
                    d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at
             FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.write)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut view = view_from_row(&row)?;
        view.attempt_log = self.attempts_of(view.cursor).await?;
        Ok(Some(view))
    }

    /// The deliveries of `rows` (see [`view_from_row`]), each with its attempt log.
    pub(super) async fn views_with_attempts(
        &self,
        rows: &[SqliteRow],
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let mut view = view_from_row(row)?;
            view.attempt_log = self.attempts_of(view.cursor).await?;
            views.push(view);
        }
        Ok(views)
    }

    pub(super) async fn attempts_of(&self, seq: i64) -> Result<Vec<Attempt>, StoreError> {
        sqlx::query(
            "SELECT attempted_at, status_code, duration_ms, error_class, error, response_body
             FROM delivery_attempts WHERE delivery_seq = ?1 ORDER BY id",
        )
        .bind(seq)
        .fetch_all(&self.write)
        .await?
        .iter()
        .map(|r| {
            Ok(Attempt {
                attempted_at: parse_time_key(&r.try_get::<String, _>("attempted_at")?)?,
                status_code: r
                    .try_get::<Option<i64>, _>("status_code")?
                    .map(|s| s as u16),
                duration_ms: r.try_get::<i64, _>("duration_ms")? as u64,
                error_class: r.try_get("error_class")?,
                error: r.try_get("error")?,
                response_body: r.try_get("response_body")?,
            })
        })
        .collect()
    }

    /// Puts a delivery back in the queue, due now, with a fresh schedule; the receiver sees
    /// the same `webhook-id`. A delivery being sent right now (leased) is left alone, so that
    /// it is not sent twice at once.
    pub async fn resend_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Resend, StoreError> {
        let now_key = time_key(now);
        let changed = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?2, lease_until = NULL,
                    finished_at = NULL
             WHERE id = ?1 AND (lease_until IS NULL OR lease_until <= ?2)",
        )
        .bind(id)
        .bind(&now_key)
        .execute(&self.write)
        .await?
        .rows_affected();
        if changed > 0 {
            return Ok(Resend::Queued);
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT seq FROM deliveries WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
        Ok(if exists.is_some() {
            Resend::InFlight
        } else {
            Resend::NotFound
        })
    }

    /// Re-queues every failed delivery of an endpoint created since `since`.
    pub async fn recover_deliveries(
        &self,
        endpoint_id: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?3, lease_until = NULL,
                    finished_at = NULL
             WHERE target_id = ?1 AND status = 'failed' AND created_at >= ?2",
        )
        .bind(endpoint_id)
        .bind(time_key(since))
        .bind(time_key(now))
        .execute(&self.write)
        .await?
        .rows_affected())
    }

    /// The earliest time a pending delivery becomes due, if any (for the worker's sleep): the
    /// first claimable one in due order, or the end of the first lease to run out (a worker
    /// that died leaves its deliveries to others then). Two bounded index walks, however long
    /// the queue: the first stops at the first live, unblocked delivery.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<String> = sqlx::query_scalar(&next_due_sql())
            .bind(time_key(Utc::now()))
            .fetch_one(&self.read)
            .await?;
        next.as_deref().map(parse_time_key).transpose()
    }

    /// Queue figures for metrics. The oldest due delivery is the oldest that could be sent
    /// now: not in flight, to a live target, not waiting in order behind another.
    pub async fn queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT
               (SELECT count(*) FROM deliveries WHERE status = 'pending') AS pending,
               (SELECT count(*) FROM deliveries
                WHERE status = 'pending' AND next_attempt_at <= ?1
                  AND (lease_until IS NULL OR lease_until <= ?1)) AS due,
               (SELECT count(*) FROM deliveries WHERE lease_until > ?1) AS in_flight,
               (SELECT count(*) FROM deliveries WHERE status = 'failed') AS failed,
               (SELECT count(*) FROM deliveries WHERE status = 'delivered') AS delivered,
               (SELECT d.next_attempt_at FROM deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
                  AND (d.lease_until IS NULL OR d.lease_until <= ?1)
                  AND {LIVE_TARGET} AND NOT {BLOCKED}
                ORDER BY d.next_attempt_at LIMIT 1) AS oldest,
               (SELECT count(*) FROM webhook_endpoints WHERE enabled = 0) AS disabled,
               (SELECT count(*) FROM webhook_endpoints) AS endpoints"
        ))
        .bind(time_key(now))
        .fetch_one(&self.read)
        .await?;
        let oldest: Option<String> = row.try_get("oldest")?;
        let oldest_due_secs = match oldest.as_deref().map(parse_time_key).transpose()? {
            Some(t) => (now - t).num_milliseconds().max(0) as f64 / 1000.0,
            None => 0.0,
        };
        Ok(QueueStats {
            pending: row.try_get("pending")?,
            due: row.try_get("due")?,
            in_flight: row.try_get("in_flight")?,
            failed: row.try_get("failed")?,
            delivered: row.try_get("delivered")?,
            oldest_due_secs,
            disabled_endpoints: row.try_get("disabled")?,
            endpoints: row.try_get("endpoints")?,
        })
    }
}

/// The `?3` deliveries due at `?1`, in claim order (see
/// [`SqliteStore::claim_due_deliveries`]).
fn due_sql(only_kind: bool) -> String {
    let kind = if only_kind {
        "\n           AND d.target_kind = ?4"
    } else {
        ""
    };
    format!(
        "SELECT d.seq FROM deliveries d
         WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
           AND (d.lease_until IS NULL OR d.lease_until <= ?1)
           AND {LIVE_TARGET}
           AND NOT {BLOCKED}{kind}
         ORDER BY d.next_attempt_at, d.seq
         LIMIT ?3"
    )
}

/// See [`SqliteStore::next_due`]; `?1` is now.
fn next_due_sql() -> String {
    format!(
        "SELECT min(t) FROM (
       SELECT t FROM (
         SELECT d.next_attempt_at AS t FROM deliveries d
         WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= ?1)
           AND {LIVE_TARGET} AND NOT {BLOCKED}
         ORDER BY d.next_attempt_at LIMIT 1)
       UNION ALL
       SELECT min(lease_until) FROM deliveries WHERE lease_until > ?1)"
    )
}

/// SQL true when delivery `d`'s target may receive now (`?1`): an enabled endpoint, or an
/// unexpired subscription.
const LIVE_TARGET: &str = "CASE d.target_kind
      WHEN 'webhook' THEN EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.target_id AND e.enabled = 1)
      WHEN 'websub' THEN EXISTS (SELECT 1 FROM websub_subscriptions s WHERE s.id = d.target_id AND s.expires_at > ?1)
      ELSE 0 END";

/// SQL true when delivery `d` waits behind an earlier pending delivery with the same order
/// key to the same target: it is not due, whatever its own time says (the earlier one's time
/// is what wakes the engine).
const BLOCKED: &str = "EXISTS (
      SELECT 1 FROM deliveries p
      WHERE p.target_id = d.target_id AND p.order_key = d.order_key
        AND p.seq < d.seq AND p.status = 'pending')";

/// What a claim reads of a message, once for all its deliveries.
struct ClaimedMessage {
    kind: String,
    body: String,
    content_type: String,
    link: Option<String>,
}

/// Binds each value in turn.
fn bind_all<'q, T>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    values: &'q [T],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>
where
    &'q T: sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    for value in values {
        query = query.bind(value);
    }
    query
}

/// Records written by one statement (eight parameters each).
const RECORDS_PER_STATEMENT: usize = 100;

/// Ends the attempts of [`SqliteStore::record_attempts`] on their deliveries, each only while
/// the delivery still holds the claim's lease; the seqs of those written.
async fn finish_attempts(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    records: &[AttemptRecord],
) -> Result<Vec<i64>, StoreError> {
    let sql = format!(
        "UPDATE deliveries SET status = v.column3, attempts = deliveries.attempts + 1,
                next_attempt_at = v.column4, lease_until = NULL, last_status = v.column5,
                last_error = v.column6, finished_at = v.column7
         FROM (VALUES {}) AS v
         WHERE deliveries.seq = v.column1 AND deliveries.lease_until = v.column2
         RETURNING seq",
        rows_of(7, records.len())
    );
    let mut query = sqlx::query_scalar::<_, i64>(&sql);
    for record in records {
        let end = record.outcome.end(record.attempt.attempted_at);
        query = query
            .bind(record.seq)
            .bind(time_key(record.lease))
            .bind(end.status)
            .bind(time_key(end.next_attempt_at))
            .bind(record.attempt.status_code)
            .bind(record.attempt.error.as_deref())
            .bind(end.finished_at.map(time_key));
    }
    Ok(query.fetch_all(&mut **tx).await?)
}

/// Appends the attempts to the attempt log.
async fn insert_attempts(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    records: &[&AttemptRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO delivery_attempts (delivery_seq, attempted_at, status_code, duration_ms, error_class, error, response_body)
         VALUES {}",
        rows_of(7, records.len())
    );
    let mut query = sqlx::query(&sql);
    for record in records {
        let attempt = &record.attempt;
        query = query
            .bind(record.seq)
            .bind(time_key(attempt.attempted_at))
            .bind(attempt.status_code)
            .bind(attempt.duration_ms as i64)
            .bind(attempt.error_class.as_deref())
            .bind(attempt.error.as_deref())
            .bind(attempt.response_body.as_str());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Deliveries inserted by one statement (seven parameters each, well inside SQLite's limit).
const DELIVERIES_PER_INSERT: usize = 500;

/// Inserts deliveries (message id, delivery) in one statement, in order, skipping those whose
/// target is gone and those that exist already; the ids of those inserted, in order.
async fn insert_deliveries(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    deliveries: &[(&str, &NewDelivery)],
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = deliveries
        .iter()
        .map(|_| format!("dlv_{}", uuid::Uuid::now_v7().simple()))
        .collect();
    // VALUES rows are read, and inserted, in their order: the queue order is the request's.
    let sql = format!(
        "INSERT OR IGNORE INTO deliveries (id, message_id, target_kind, target_id, order_key, expires_at, status,
                                           next_attempt_at, created_at)
         SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, 'pending', v.column7, v.column7
         FROM (VALUES {}) AS v
         WHERE CASE v.column3
             WHEN 'webhook' THEN EXISTS (SELECT 1 FROM webhook_endpoints t WHERE t.id = v.column4)
             WHEN 'websub' THEN EXISTS (SELECT 1 FROM websub_subscriptions t WHERE t.id = v.column4)
             ELSE 0 END
         RETURNING id",
        rows_of(7, deliveries.len())
    );
    let now = time_key(now);
    let mut query = sqlx::query_scalar::<_, String>(&sql);
    for (id, (message_id, new)) in ids.iter().zip(deliveries) {
        query = query
            .bind(id)
            .bind(*message_id)
            .bind(new.target.as_str())
            .bind(&new.target_id)
            .bind(&new.order_key)
            .bind(new.expires_at.map(time_key))
            .bind(now.as_str());
    }
    let inserted: std::collections::HashSet<String> =
        query.fetch_all(&mut **tx).await?.into_iter().collect();
    Ok(ids.into_iter().filter(|id| inserted.contains(id)).collect())
}

/// Removes a target's queue and attempt log.
pub(super) async fn delete_deliveries_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    target_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM delivery_attempts WHERE delivery_seq IN (SELECT seq FROM deliveries WHERE target_id = ?1)")
        .bind(target_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM deliveries WHERE target_id = ?1")
        .bind(target_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) fn view_from_row(row: &SqliteRow) -> Result<DeliveryView, StoreError> {
    let status: String = row.try_get("status")?;
    let finished: Option<String> = row.try_get("finished_at")?;
    let next: String = row.try_get("next_attempt_at")?;
    Ok(DeliveryView {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        message_type: row.try_get("message_type")?,
        endpoint_id: row.try_get("target_id")?,
        next_attempt_at: if status == "pending" {
            Some(parse_time_key(&next)?)
        } else {
            None
        },
        status,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        last_status: row
            .try_get::<Option<i64>, _>("last_status")?
            .map(|s| s as u16),
        last_error: row.try_get("last_error")?,
        created_at: parse_time_key(&row.try_get::<String, _>("created_at")?)?,
        finished_at: finished.as_deref().map(parse_time_key).transpose()?,
        cursor: row.try_get("seq")?,
        attempt_log: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::plans::{assert_bounded, plan, store};
    use super::*;

    /// The engine asks these on every turn: their cost must follow what they return, not the
    /// length of the queue.
    #[tokio::test]
    async fn claims_and_next_due_walk_indexes_and_sort_nothing() {
        let (_dir, store) = store().await;
        for (name, sql) in [
            ("due deliveries", due_sql(false)),
            ("due deliveries of one kind", due_sql(true)),
            ("next due", next_due_sql()),
        ] {
            assert_bounded(name, &plan(&store.read, &sql).await);
        }
    }
}
