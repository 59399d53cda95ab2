//! The durable delivery queue: claim, record, replay (`queue` fills it).
//!
//! A worker step is claim (a short transaction that leases due deliveries) → send (no
//! transaction open) → record (a short transaction). A lease that runs out, because the
//! process died, makes the delivery claimable again: delivery is at least once. Several
//! instances claim from one queue side by side: `FOR UPDATE … SKIP LOCKED` and the lease make
//! every delivery go to one of them at a time.
//!
//! Lock order, to keep clear of deadlocks: a webhook endpoint's row before its deliveries'
//! rows (record_attempt, delete_endpoint), and a consumer's cursor row before
//! [`QUEUE_LOCK`](super::QUEUE_LOCK) (enqueue).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::webhooks::{endpoint_from_row, endpoint_select};
use super::websub::{subscription_from_row, subscription_select};
use super::{PgStore, db_time, no_nul, notify};
use crate::domain::{QueueStats, Target, TargetKind};
use crate::store::types::FailingRuns;
use crate::store::{Attempt, AttemptRecord, Claimed, DeliveryView, Recorded, Resend, StoreError};

impl PgStore {
    /// Leases up to `limit` due deliveries until `lease_until`.
    ///
    /// Due: pending, its time come, not leased (or the lease expired), its target live (an
    /// enabled endpoint, an unexpired subscription), and no earlier delivery with the same
    /// order key to the same target still pending, so that version n+1 of an article never
    /// overtakes version n.
    ///
    /// One statement leases and reads everything needed to send, target rows included.
    /// `FOR UPDATE OF d SKIP LOCKED` passes over rows that another claimer is leasing at this
    /// moment instead of waiting for it; a row leased by a claimer that committed after this
    /// statement started is checked again in its new version (PostgreSQL re-evaluates the
    /// conditions of a locked row that changed), and its lease excludes it. So two claimers,
    /// two instances included, never lease one delivery at the same time.
    #[tracing::instrument(skip_all, fields(limit))]
    pub async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        kind: Option<TargetKind>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let sql = format!(
            "WITH due AS ({}), leased AS (
               UPDATE deliveries d SET lease_until = $2 FROM due WHERE d.seq = due.seq
               RETURNING d.seq, d.id, d.message_id, d.attempts, d.target_kind, d.target_id, d.expires_at,
                         d.lease_until
             )
             SELECT l.seq, l.id, l.message_id, l.attempts, l.target_kind, l.expires_at, l.lease_until,
                    m.type AS message_type, m.body, m.content_type, m.link, {}, {}
             FROM leased l JOIN messages m ON m.id = l.message_id
             LEFT JOIN webhook_endpoints e ON l.target_kind = 'webhook' AND e.id = l.target_id
             LEFT JOIN websub_subscriptions s ON l.target_kind = 'websub' AND s.id = l.target_id
             ORDER BY l.seq",
            due_sql(kind.is_some()),
            endpoint_select("e", "e_"),
            subscription_select("s", "s_"),
        );
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&sql)
            .bind(db_time(now))
            .bind(db_time(lease_until))
            .bind(i64::from(limit))
            .bind(kind.map(TargetKind::as_str))
            .fetch_all(&mut *tx)
            .await?;
        let claimed = rows
            .iter()
            .map(claimed_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // No change signal: a claim makes no work for anyone else.
        tx.commit().await?;
        Ok(claimed)
    }

    pub async fn delivery_end(&self, seq: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        let end: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT expires_at FROM deliveries WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?;
        Ok(end.flatten())
    }

    /// Gives a claimed delivery back without an attempt (rate limit, shutdown).
    pub async fn release_delivery(
        &self,
        seq: i64,
        lease: DateTime<Utc>,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE deliveries SET lease_until = NULL, next_attempt_at = $2 WHERE seq = $1 AND lease_until = $3",
        )
        .bind(seq)
        .bind(db_time(next_attempt_at))
        .bind(db_time(lease))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records attempts and their outcomes in one transaction, and keeps each endpoint's
    /// failure history: success ends a run of failures, a failure starts one if none is
    /// running. For each, the endpoint's `failing_since` afterwards, or
    /// [`StoreError::LeaseLost`] (nothing recorded for that one).
    ///
    /// The receiver's answer and the error are stored without NUL characters, which
    /// PostgreSQL text cannot hold.
    #[tracing::instrument(skip_all, fields(attempts = records.len()))]
    pub async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<Vec<Recorded>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The endpoints' rows first, in id order, then the deliveries': the order
        // delete_endpoint takes them in (see the module's lock order), and the same for every
        // batch, so that two batches (two instances) never wait for each other in a circle.
        let endpoints = FailingRuns::endpoints(records);
        let stored: Vec<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT id, failing_since FROM webhook_endpoints WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&endpoints)
        .fetch_all(&mut *tx)
        .await?;
        let held = finish_attempts(&mut tx, records).await?;
        let kept: Vec<&AttemptRecord> = records.iter().filter(|r| held.contains(&r.seq)).collect();
        insert_attempts(&mut tx, &kept).await?;
        let mut runs = FailingRuns::new(stored);
        let results = runs.replay(records, &held);
        let (ids, since): (Vec<&str>, Vec<Option<DateTime<Utc>>>) =
            runs.changed().into_iter().unzip();
        if !ids.is_empty() {
            sqlx::query(
                "UPDATE webhook_endpoints e SET failing_since = v.since
                 FROM unnest($1::text[], $2::timestamptz[]) AS v (id, since) WHERE e.id = v.id",
            )
            .bind(&ids)
            .bind(&since)
            .execute(&mut *tx)
            .await?;
        }
        // No change signal: what an attempt makes due (a retry, the next version of the same
        // article to the same target) is this instance's to send, and its engine looks for
        // work after every attempt; the others would only wake to find nothing.
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
        let rows = sqlx::query(&format!(
            "{VIEW_SELECT} WHERE d.target_id = $1 AND d.seq > $2 AND ($3::text IS NULL OR d.status = $3)
             ORDER BY d.seq LIMIT $4"
        ))
        .bind(endpoint_id)
        .bind(after)
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        self.views_with_attempts(&rows).await
    }

    /// One delivery by its public id.
    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryView>, StoreError> {
        let row = sqlx::query(&format!("{VIEW_SELECT} WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut view = view_from_row(&row)?;
        view.attempt_log = self
            .attempts_of(&[view.cursor])
            .await?
            .remove(&view.cursor)
            .unwrap_or_default();
        Ok(Some(view))
    }

    /// The attempts of some deliveries, each delivery's in order, in one query.
    /// The deliveries of `rows` (see [`view_from_row`]), each with its attempt log, read in
    /// one query.
    pub(super) async fn views_with_attempts(
        &self,
        rows: &[PgRow],
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let mut views = rows
            .iter()
            .map(view_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let seqs: Vec<i64> = views.iter().map(|v| v.cursor).collect();
        let mut attempts = self.attempts_of(&seqs).await?;
        for view in &mut views {
            view.attempt_log = attempts.remove(&view.cursor).unwrap_or_default();
        }
        Ok(views)
    }

    pub(super) async fn attempts_of(
        &self,
        seqs: &[i64],
    ) -> Result<HashMap<i64, Vec<Attempt>>, StoreError> {
        let mut by_delivery: HashMap<i64, Vec<Attempt>> = HashMap::new();
        if seqs.is_empty() {
            return Ok(by_delivery);
        }
        let rows = sqlx::query(
            "SELECT delivery_seq, attempted_at, status_code, duration_ms, error_class, error, response_body
             FROM delivery_attempts WHERE delivery_seq = ANY($1) ORDER BY delivery_seq, id",
        )
        .bind(seqs)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let attempt = Attempt {
                attempted_at: r.try_get("attempted_at")?,
                status_code: r
                    .try_get::<Option<i32>, _>("status_code")?
                    .map(|s| s as u16),
                duration_ms: r.try_get::<i64, _>("duration_ms")? as u64,
                error_class: r.try_get("error_class")?,
                error: r.try_get("error")?,
                response_body: r.try_get("response_body")?,
            };
            by_delivery
                .entry(r.try_get("delivery_seq")?)
                .or_default()
                .push(attempt);
        }
        Ok(by_delivery)
    }

    /// Puts a delivery back in the queue, due now, with a fresh schedule; the receiver sees
    /// the same `webhook-id`. A delivery being sent right now (leased) is left alone, so that
    /// it is not sent twice at once.
    pub async fn resend_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Resend, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A claimer leasing this row right now holds its lock: the update waits for it, then
        // sees the lease and leaves the row alone.
        let changed = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_until = NULL,
                    finished_at = NULL
             WHERE id = $1 AND (lease_until IS NULL OR lease_until <= $2)",
        )
        .bind(id)
        .bind(db_time(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            notify(&mut tx).await?;
            tx.commit().await?;
            return Ok(Resend::Queued);
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT seq FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
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
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3, lease_until = NULL,
                    finished_at = NULL
             WHERE target_id = $1 AND status = 'failed' AND created_at >= $2",
        )
        .bind(endpoint_id)
        .bind(db_time(since))
        .bind(db_time(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// The earliest time a pending delivery becomes due, if any (for the worker's sleep): the
    /// first claimable one in due order, or the end of the first lease to run out (a worker
    /// that died leaves its deliveries to others then). Two bounded index walks, however long
    /// the queue: the first stops at the first live, unblocked delivery.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(&next_due_sql())
            .bind(db_time(Utc::now()))
            .fetch_one(&self.pool)
            .await?)
    }

    /// Queue figures for metrics. The oldest due delivery is the oldest that could be sent
    /// now: not in flight, to a live target, not waiting in order behind another.
    pub async fn queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT
               (SELECT count(*) FROM deliveries WHERE status = 'pending') AS pending,
               (SELECT count(*) FROM deliveries
                WHERE status = 'pending' AND next_attempt_at <= $1
                  AND (lease_until IS NULL OR lease_until <= $1)) AS due,
               (SELECT count(*) FROM deliveries WHERE lease_until > $1) AS in_flight,
               (SELECT count(*) FROM deliveries WHERE status = 'failed') AS failed,
               (SELECT count(*) FROM deliveries WHERE status = 'delivered') AS delivered,
               (SELECT d.next_attempt_at FROM deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_at <= $1
                  AND (d.lease_until IS NULL OR d.lease_until <= $1)
                  AND {LIVE_TARGET} AND NOT {BLOCKED}
                ORDER BY d.next_attempt_at LIMIT 1) AS oldest,
               (SELECT count(*) FROM webhook_endpoints WHERE NOT enabled) AS disabled,
               (SELECT count(*) FROM webhook_endpoints) AS endpoints"
        ))
        .bind(db_time(now))
        .fetch_one(&self.pool)
        .await?;
        let oldest: Option<DateTime<Utc>> = row.try_get("oldest")?;
        let oldest_due_secs = match oldest {
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

/// Ends the attempts of [`PgStore::record_attempts`] on their deliveries, each only while
/// the delivery still holds the claim's lease; the seqs of those written.
async fn finish_attempts(
    tx: &mut PgConnection,
    records: &[AttemptRecord],
) -> Result<HashSet<i64>, StoreError> {
    let mut columns = FinishColumns::default();
    for record in records {
        let end = record.outcome.end(record.attempt.attempted_at);
        columns.seq.push(record.seq);
        columns.lease.push(db_time(record.lease));
        columns.status.push(end.status);
        columns.next.push(db_time(end.next_attempt_at));
        columns.code.push(record.attempt.status_code.map(i32::from));
        columns.error.push(
            record
                .attempt
                .error
                .as_deref()
                .map(|e| no_nul(e).into_owned()),
        );
        columns.finished.push(end.finished_at.map(db_time));
    }
    let held: Vec<i64> = sqlx::query_scalar(
        "UPDATE deliveries d SET status = v.status, attempts = d.attempts + 1, next_attempt_at = v.next,
                lease_until = NULL, last_status = v.code, last_error = v.error, finished_at = v.finished
         FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::timestamptz[], $5::int[],
                     $6::text[], $7::timestamptz[])
              AS v (seq, lease, status, next, code, error, finished)
         WHERE d.seq = v.seq AND d.lease_until = v.lease
         RETURNING d.seq",
    )
    .bind(&columns.seq)
    .bind(&columns.lease)
    .bind(&columns.status)
    .bind(&columns.next)
    .bind(&columns.code)
    .bind(&columns.error)
    .bind(&columns.finished)
    .fetch_all(&mut *tx)
    .await?;
    Ok(held.into_iter().collect())
}

/// The columns of [`finish_attempts`], one array each.
#[derive(Default)]
struct FinishColumns {
    seq: Vec<i64>,
    lease: Vec<DateTime<Utc>>,
    status: Vec<&'static str>,
    next: Vec<DateTime<Utc>>,
    code: Vec<Option<i32>>,
    error: Vec<Option<String>>,
    finished: Vec<Option<DateTime<Utc>>>,
}

/// Appends the attempts to the attempt log, in one statement.
async fn insert_attempts(
    tx: &mut PgConnection,
    records: &[&AttemptRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let seq: Vec<i64> = records.iter().map(|r| r.seq).collect();
    let at: Vec<DateTime<Utc>> = records
        .iter()
        .map(|r| db_time(r.attempt.attempted_at))
        .collect();
    let code: Vec<Option<i32>> = records
        .iter()
        .map(|r| r.attempt.status_code.map(i32::from))
        .collect();
    let duration: Vec<i64> = records
        .iter()
        .map(|r| i64::try_from(r.attempt.duration_ms).unwrap_or(i64::MAX))
        .collect();
    let text = |f: fn(&AttemptRecord) -> Option<&str>| -> Vec<Option<String>> {
        records
            .iter()
            .map(|r| f(r).map(|t| no_nul(t).into_owned()))
            .collect()
    };
    let class = text(|r| r.attempt.error_class.as_deref());
    let error = text(|r| r.attempt.error.as_deref());
    let body = text(|r| Some(r.attempt.response_body.as_str()));
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_seq, attempted_at, status_code, duration_ms, error_class, error, response_body)
         SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::int[], $4::bigint[], $5::text[],
                              $6::text[], $7::text[])",
    )
    .bind(&seq)
    .bind(&at)
    .bind(&code)
    .bind(&duration)
    .bind(&class)
    .bind(&error)
    .bind(&body)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The `$3` deliveries due at `$1`, in claim order, locked (see
/// [`PgStore::claim_due_deliveries`]).
fn due_sql(only_kind: bool) -> String {
    let kind = if only_kind {
        "\n           AND d.target_kind = $4"
    } else {
        ""
    };
    format!(
        "SELECT d.seq FROM deliveries d
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1
           AND (d.lease_until IS NULL OR d.lease_until <= $1)
           AND {LIVE_TARGET}
           AND NOT {BLOCKED}{kind}
         ORDER BY d.next_attempt_at, d.seq
         LIMIT $3
         FOR UPDATE OF d SKIP LOCKED"
    )
}

/// See [`PgStore::next_due`]; `$1` is now.
fn next_due_sql() -> String {
    format!(
        "SELECT min(t) FROM (
           (SELECT d.next_attempt_at AS t FROM deliveries d
            WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $1)
              AND {LIVE_TARGET} AND NOT {BLOCKED}
            ORDER BY d.next_attempt_at LIMIT 1)
           UNION ALL
           SELECT min(lease_until) FROM deliveries WHERE lease_until > $1) AS due"
    )
}

const LIVE_TARGET: &str = "CASE d.target_kind
      WHEN 'webhook' THEN EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.target_id AND e.enabled)
      WHEN 'websub' THEN EXISTS (SELECT 1 FROM websub_subscriptions s WHERE s.id = d.target_id AND s.expires_at > $1)
      ELSE false END";

/// SQL true when delivery `d` waits behind an earlier pending delivery with the same order
/// key to the same target: it is not due, whatever its own time says (the earlier one's time
/// is what wakes the engine). Deliveries become visible in seq order (see
/// [`QUEUE_LOCK`](super::QUEUE_LOCK)), so an earlier one cannot be missed because it is still
/// being committed.
const BLOCKED: &str = "EXISTS (
      SELECT 1 FROM deliveries p
      WHERE p.target_id = d.target_id AND p.order_key = d.order_key
        AND p.seq < d.seq AND p.status = 'pending')";

pub(super) const VIEW_SELECT: &str =
    "SELECT d.seq, d.id, d.message_id, m.type AS message_type, d.target_id, d.status, d.attempts,
        d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at
     FROM deliveries d JOIN messages m ON m.id = d.message_id";

/// Removes targets' queues; their attempts go with them (ON DELETE CASCADE). The caller
/// deletes the targets' rows first (see the module's lock order).
pub(super) async fn delete_deliveries_of(
    tx: &mut PgConnection,
    target_ids: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM deliveries WHERE target_id = ANY($1)")
        .bind(target_ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn claimed_from_row(row: &PgRow) -> Result<Claimed, StoreError> {
    let kind: String = row.try_get("target_kind")?;
    let id: String = row.try_get("id")?;
    let missing = || StoreError::Corrupt(format!("the target of delivery {id} is missing"));
    let target = match kind.as_str() {
        "webhook" => {
            if row.try_get::<Option<String>, _>("e_id")?.is_none() {
                return Err(missing());
            }
            Target::Webhook(endpoint_from_row(row, "e_")?)
        }
        "websub" => {
            if row.try_get::<Option<String>, _>("s_id")?.is_none() {
                return Err(missing());
            }
            Target::WebSub(subscription_from_row(row, "s_")?)
        }
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown delivery target kind {other:?}"
            )));
        }
    };
    Ok(Claimed {
        seq: row.try_get("seq")?,
        message_id: row.try_get("message_id")?,
        message_type: row.try_get("message_type")?,
        body: row.try_get("body")?,
        content_type: row.try_get("content_type")?,
        link: row.try_get("link")?,
        attempts: row.try_get::<i32, _>("attempts")? as u32,
        expires_at: row.try_get("expires_at")?,
        lease_until: row.try_get("lease_until")?,
        target,
        id,
    })
}

pub(super) fn view_from_row(row: &PgRow) -> Result<DeliveryView, StoreError> {
    let status: String = row.try_get("status")?;
    let next: DateTime<Utc> = row.try_get("next_attempt_at")?;
    Ok(DeliveryView {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        message_type: row.try_get("message_type")?,
        endpoint_id: row.try_get("target_id")?,
        next_attempt_at: (status == "pending").then_some(next),
        status,
        attempts: row.try_get::<i32, _>("attempts")? as u32,
        last_status: row
            .try_get::<Option<i32>, _>("last_status")?
            .map(|s| s as u16),
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        cursor: row.try_get("seq")?,
        attempt_log: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::plans::{PlanDb, assert_bounded, plan};
    use super::*;

    /// The engine asks these on every turn: their cost must follow what they return, not the
    /// length of the queue.
    #[tokio::test]
    async fn claims_and_next_due_walk_indexes_and_sort_nothing() {
        let Some(db) = PlanDb::open().await else {
            return;
        };
        let pool = &db.store.pool;
        let now = db_time(Utc::now());
        let due = plan(
            pool,
            sqlx::query(&format!("EXPLAIN {}", due_sql(false)))
                .bind(now)
                .bind(now)
                .bind(32_i64),
        )
        .await;
        assert_bounded("due deliveries", &due);
        let due = plan(
            pool,
            sqlx::query(&format!("EXPLAIN {}", due_sql(true)))
                .bind(now)
                .bind(now)
                .bind(32_i64)
                .bind("webhook"),
        )
        .await;
        assert_bounded("due deliveries of one kind", &due);
        let next = plan(
            pool,
            sqlx::query(&format!("EXPLAIN {}", next_due_sql())).bind(now),
        )
        .await;
        assert_bounded("next due", &next);
        db.close().await;
    }
}
