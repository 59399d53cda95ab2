//! The console's reads on SQLite (see `store::history`).

use sqlx::Row;

use super::SqliteStore;
use crate::domain::{ArticleId, DeliveryView, EventSummary};
use crate::store::history::{event_summary, sql};
use crate::store::{StoreError, parse_time_key};

/// See [`SqliteStore::latest_deliveries_of`].
const LATEST_DELIVERIES: &str = "SELECT d.seq, d.id, d.message_id, m.type AS message_type,
        d.target_id, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error,
        d.created_at, d.finished_at
   FROM deliveries d JOIN messages m ON m.id = d.message_id
  WHERE d.target_id = ?1 AND d.seq < ?2 AND (?3 IS NULL OR d.status = ?3)
  ORDER BY d.seq DESC LIMIT ?4";

impl SqliteStore {
    pub async fn article_events(
        &self,
        id: &ArticleId,
        limit: u32,
    ) -> Result<Vec<EventSummary>, StoreError> {
        let rows = sqlx::query(sql::ARTICLE_EVENTS)
            .bind(id.as_str())
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| {
                event_summary(
                    (
                        row.try_get("seq")?,
                        row.try_get("id")?,
                        row.try_get("type")?,
                        row.try_get("article_id")?,
                        row.try_get("section")?,
                        row.try_get("moved_from")?,
                    ),
                    row.try_get("version")?,
                    parse_time_key(&row.try_get::<String, _>("occurred_at")?)?,
                )
            })
            .collect()
    }

    /// See [`sql::LAST_SUCCESS`].
    pub async fn last_success_of(
        &self,
        target_id: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let finished: Option<Option<String>> = sqlx::query_scalar(sql::LAST_SUCCESS)
            .bind(target_id)
            .fetch_optional(&self.read)
            .await?;
        finished
            .flatten()
            .as_deref()
            .map(parse_time_key)
            .transpose()
    }

    /// The index `deliveries_by_target`, walked backwards from `before`.
    pub async fn latest_deliveries_of(
        &self,
        endpoint_id: &str,
        status: Option<&str>,
        before: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let rows = sqlx::query(LATEST_DELIVERIES)
            .bind(endpoint_id)
            .bind(before)
            .bind(status)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        self.views_with_attempts(&rows).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::plans::{assert_bounded, plan, store};
    use super::*;

    /// An article's history and an endpoint's latest deliveries cost what they return, however
    /// long the event log and the queue are.
    #[tokio::test]
    async fn the_consoles_reads_walk_indexes_and_sort_nothing() {
        let (_dir, store) = store().await;
        for (name, sql) in [
            ("an article's events", sql::ARTICLE_EVENTS),
            ("an endpoint's latest deliveries", LATEST_DELIVERIES),
            ("an endpoint's last success", sql::LAST_SUCCESS),
        ] {
            let plan = plan(&store.read, sql).await;
            assert_bounded(name, &plan);
            assert!(
                plan.iter().any(|step| step.contains("INDEX")),
                "{name} uses no index: {plan:?}"
            );
        }
    }
}
