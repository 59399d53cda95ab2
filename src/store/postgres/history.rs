//! The console's reads on PostgreSQL (see `store::history`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use super::deliveries::VIEW_SELECT;
use crate::domain::{ArticleId, DeliveryView, EventSummary};
use crate::store::StoreError;
use crate::store::history::{event_summary, sql};

/// See [`PgStore::latest_deliveries_of`].
fn latest_deliveries_sql() -> String {
    format!(
        "{VIEW_SELECT} WHERE d.target_id = $1 AND d.seq < $2 AND ($3::text IS NULL OR d.status = $3)
         ORDER BY d.seq DESC LIMIT $4"
    )
}

impl PgStore {
    pub async fn article_events(
        &self,
        id: &ArticleId,
        limit: u32,
    ) -> Result<Vec<EventSummary>, StoreError> {
        let rows = sqlx::query(sql::ARTICLE_EVENTS)
            .bind(id.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
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
                    row.try_get::<DateTime<Utc>, _>("occurred_at")?,
                )
            })
            .collect()
    }

    /// See [`sql::LAST_SUCCESS`].
    pub async fn last_success_of(
        &self,
        target_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let finished: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(sql::LAST_SUCCESS)
            .bind(target_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(finished.flatten())
    }

    /// The index `deliveries_by_target`, walked backwards from `before`.
    pub async fn latest_deliveries_of(
        &self,
        endpoint_id: &str,
        status: Option<&str>,
        before: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let rows = sqlx::query(&latest_deliveries_sql())
            .bind(endpoint_id)
            .bind(before)
            .bind(status)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        self.views_with_attempts(&rows).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::plans::{PlanDb, assert_bounded, plan};
    use super::*;

    /// An article's history and an endpoint's latest deliveries cost what they return, however
    /// long the event log and the queue are.
    #[tokio::test]
    async fn the_consoles_reads_walk_indexes_and_sort_nothing() {
        let Some(db) = PlanDb::open().await else {
            return;
        };
        let pool = &db.store.pool;
        let events = plan(
            pool,
            sqlx::query(&format!("EXPLAIN {}", sql::ARTICLE_EVENTS))
                .bind("hn-1")
                .bind(10_i64),
        )
        .await;
        assert_bounded("an article's events", &events);
        let deliveries = plan(
            pool,
            sqlx::query(&format!("EXPLAIN {}", latest_deliveries_sql()))
                .bind("ep_1")
                .bind(i64::MAX)
                .bind(Some("delivered"))
                .bind(21_i64),
        )
        .await;
        assert_bounded("an endpoint's latest deliveries", &deliveries);
        let last_success = plan(
            pool,
            sqlx::query(&format!("EXPLAIN {}", sql::LAST_SUCCESS)).bind("ep_1"),
        )
        .await;
        assert_bounded("an endpoint's last success", &last_success);
        db.close().await;
    }
}
