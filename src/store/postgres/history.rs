//! The console's reads on PostgreSQL (see `store::history`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use super::deliveries::{VIEW_SELECT, view_from_row};
use crate::domain::{ArticleId, DeliveryView, EventSummary};
use crate::store::StoreError;
use crate::store::history::{event_summary, sql};

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

    /// The index `deliveries_by_target`, walked backwards from `before`.
    pub async fn latest_deliveries_of(
        &self,
        endpoint_id: &str,
        status: Option<&str>,
        before: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let rows = sqlx::query(&format!(
            "{VIEW_SELECT} WHERE d.target_id = $1 AND d.seq < $2 AND ($3::text IS NULL OR d.status = $3)
             ORDER BY d.seq DESC LIMIT $4"
        ))
        .bind(endpoint_id)
        .bind(before)
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
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
}
