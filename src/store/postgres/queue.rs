//! Queueing: messages and their deliveries, and the consumers' cursors in the event log.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{PgStore, QUEUE_LOCK, advisory_lock, db_time, notify};
use crate::store::{CursorMove, Enqueued, NewDelivery, NewMessage, StoreError};

impl PgStore {
    /// Queues messages with their deliveries and, if asked, moves a consumer's cursor, in one
    /// transaction. The cursor moves only from where the caller read it (compare-and-set):
    /// when another dispatcher (another instance) moved it first, nothing is queued and the
    /// answer is [`Enqueued::Raced`]. A delivery to a target that no longer exists is skipped,
    /// and so is a duplicate of (target, message).
    #[tracing::instrument(skip_all, fields(messages = messages.len()))]
    pub async fn enqueue(
        &self,
        cursor: Option<CursorMove>,
        messages: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Enqueued, StoreError> {
        let now = db_time(now);
        let mut tx = self.pool.begin().await?;
        if let Some(cursor) = cursor
            && !move_cursor(&mut tx, cursor).await?
        {
            // Nothing was written but the failed compare; the rollback ends the transaction.
            tx.rollback().await?;
            return Ok(Enqueued::Raced);
        }
        if messages.is_empty() {
            tx.commit().await?;
            return Ok(Enqueued::Queued(Vec::new()));
        }
        // Before the deliveries get their seqs: see QUEUE_LOCK.
        advisory_lock(&mut tx, QUEUE_LOCK).await?;
        insert_messages(&mut tx, messages, now).await?;
        let ids = if messages.iter().any(|m| !m.deliveries.is_empty()) {
            insert_deliveries(&mut tx, messages, now).await?
        } else {
            Vec::new()
        };
        if !ids.is_empty() {
            notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(Enqueued::Queued(ids))
    }
}

/// Moves a consumer's cursor from `from` to `to` if it is still at `from`; `false` when
/// another transaction moved it first.
///
/// No row yet means the cursor is at 0. From 0, an insert that falls back to the update:
/// when two dispatchers race from 0, the second insert waits on the unique index for the
/// first transaction, then finds its row (at `to`, not 0) and changes nothing. From anywhere
/// else, a plain update: the second one waits on the row lock, then PostgreSQL checks the
/// condition again against the committed row, which no longer matches. Either way the loser
/// sees 0 rows affected, and the winner holds the row lock until it commits, so a third
/// dispatcher cannot slip in between. (An insert from a `from` other than 0 would wrongly win
/// if the row were missing, and `INSERT … SELECT … WHERE $from = 0` would never reach the
/// conflict clause when it is not; hence the two statements.)
async fn move_cursor(tx: &mut PgConnection, cursor: CursorMove) -> Result<bool, StoreError> {
    let moved = if cursor.from == 0 {
        sqlx::query(
            "INSERT INTO cursors (name, seq) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq WHERE cursors.seq = 0",
        )
        .bind(cursor.consumer)
        .bind(cursor.to)
        .execute(&mut *tx)
        .await?
    } else {
        sqlx::query("UPDATE cursors SET seq = $2 WHERE name = $1 AND seq = $3")
            .bind(cursor.consumer)
            .bind(cursor.to)
            .bind(cursor.from)
            .execute(&mut *tx)
            .await?
    };
    Ok(moved.rows_affected() == 1)
}

/// Stores the messages (one statement); one already stored is kept as it is.
async fn insert_messages(
    tx: &mut PgConnection,
    messages: &[NewMessage],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    let kinds: Vec<&str> = messages.iter().map(|m| m.kind.as_str()).collect();
    let event_seqs: Vec<Option<i64>> = messages.iter().map(|m| m.event_seq).collect();
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    let content_types: Vec<&str> = messages.iter().map(|m| m.content_type.as_str()).collect();
    let links: Vec<Option<&str>> = messages.iter().map(|m| m.link.as_deref()).collect();
    sqlx::query(
        "INSERT INTO messages (id, type, event_seq, body, content_type, link, created_at)
         SELECT m.id, m.type, m.event_seq, m.body, m.content_type, m.link, $7
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])
              AS m(id, type, event_seq, body, content_type, link)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&event_seqs)
    .bind(&bodies)
    .bind(&content_types)
    .bind(&links)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Inserts the deliveries of the messages (one statement), in order, skipping those whose
/// target is gone and duplicates of (target, message); the ids of those inserted, in order.
///
/// Rows are inserted in the request's order (`ORDER BY n.ord`), so their seqs, the queue
/// order, follow it as SQLite's one-by-one inserts do: version 1 of an article before
/// version 2 within one batch.
///
/// Each target row is locked `FOR KEY SHARE` while its delivery is inserted: a concurrent
/// deletion of the target then waits for this commit and removes the new delivery with the
/// rest of the queue, or, having committed first, makes the target missing here. Either way
/// no delivery outlives its target.
async fn insert_deliveries(
    tx: &mut PgConnection,
    messages: &[NewMessage],
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let all: Vec<(&NewMessage, &NewDelivery)> = messages
        .iter()
        .flat_map(|m| m.deliveries.iter().map(move |d| (m, d)))
        .collect();
    let ids: Vec<String> = all
        .iter()
        .map(|_| format!("dlv_{}", uuid::Uuid::now_v7().simple()))
        .collect();
    let message_ids: Vec<&str> = all.iter().map(|(m, _)| m.id.as_str()).collect();
    let kinds: Vec<&str> = all.iter().map(|(_, d)| d.target.as_str()).collect();
    let target_ids: Vec<&str> = all.iter().map(|(_, d)| d.target_id.as_str()).collect();
    let order_keys: Vec<&str> = all.iter().map(|(_, d)| d.order_key.as_str()).collect();
    let expires: Vec<Option<DateTime<Utc>>> =
        all.iter().map(|(_, d)| d.expires_at.map(db_time)).collect();
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO deliveries (id, message_id, target_kind, target_id, order_key, expires_at, status,
                                 next_attempt_at, created_at)
         SELECT n.id, n.message_id, n.kind, n.target_id, n.order_key, n.expires_at, 'pending', $7, $7
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
              WITH ORDINALITY AS n(id, message_id, kind, target_id, order_key, expires_at, ord)
         WHERE CASE n.kind
             WHEN 'webhook' THEN EXISTS (SELECT 1 FROM webhook_endpoints t WHERE t.id = n.target_id FOR KEY SHARE)
             WHEN 'websub' THEN EXISTS (SELECT 1 FROM websub_subscriptions t WHERE t.id = n.target_id FOR KEY SHARE)
             ELSE false END
         ORDER BY n.ord
         ON CONFLICT (target_id, message_id) DO NOTHING
         RETURNING id",
    )
    .bind(&ids)
    .bind(&message_ids)
    .bind(&kinds)
    .bind(&target_ids)
    .bind(&order_keys)
    .bind(&expires)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    // RETURNING promises no order: give the ids in the order of the request.
    let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
    Ok(ids.into_iter().filter(|id| inserted.contains(id)).collect())
}
