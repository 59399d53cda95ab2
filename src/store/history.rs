//! What the operator's console reads besides the use cases' own reads: the events of one
//! article, and an endpoint's delivery log from its newest end. Both walk an index from one
//! end and stop at `limit`.

use super::{Backend, Store, StoreError};
use crate::domain::{ArticleId, DeliveryView, EventSummary};

/// The statements both engines share.
pub(super) mod sql {
    /// The events of article `$1`, newest version first, at most `$2` (the index
    /// `events_by_article`).
    pub const ARTICLE_EVENTS: &str = "SELECT seq, id, type, article_id, section, moved_from,
            version, occurred_at
       FROM events WHERE article_id = $1 ORDER BY version DESC LIMIT $2";

    /// When target `$1` (an endpoint or a WebSub subscription) last took a delivery: the end
    /// of its newest delivered one (the index `deliveries_by_target`, from its newest end).
    pub const LAST_SUCCESS: &str = "SELECT finished_at FROM deliveries
      WHERE target_id = $1 AND status = 'delivered' ORDER BY seq DESC LIMIT 1";
}

impl Store {
    /// The events of an article (whatever sections it went through), newest version first, at
    /// most `limit`, without the snapshots they carry.
    pub async fn article_events(
        &self,
        id: &ArticleId,
        limit: u32,
    ) -> Result<Vec<EventSummary>, StoreError> {
        on_backend!(&self.backend, s => s.article_events(id, limit).await)
    }

    /// When an endpoint or a WebSub subscription last took a delivery; `None` if never.
    pub async fn last_success_of(
        &self,
        target_id: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        on_backend!(&self.backend, s => s.last_success_of(target_id).await)
    }

    /// The delivery log of an endpoint from its newest end: the `limit` deliveries before the
    /// cursor `before` (from the newest when `None`), newest first, each with its attempts;
    /// only those with `status` when one is given.
    pub async fn latest_deliveries_of(
        &self,
        endpoint_id: &str,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        on_backend!(&self.backend, s => s.latest_deliveries_of(endpoint_id, status, before, limit).await)
    }
}

/// An event row's summary, from the columns of [`sql::ARTICLE_EVENTS`] as read by an engine.
pub(super) fn event_summary(
    (seq, id, kind, article_id, section, moved_from): (
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
    ),
    version: i64,
    occurred_at: chrono::DateTime<chrono::Utc>,
) -> Result<EventSummary, StoreError> {
    use crate::domain::{EventType, SectionPath};
    let section_path =
        |raw: &str| SectionPath::parse(raw).map_err(|e| StoreError::Corrupt(e.to_string()));
    Ok(EventSummary {
        seq,
        id,
        kind: EventType::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown event type {kind:?}")))?,
        article_id: ArticleId::parse(&article_id)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        section: section_path(&section)?,
        moved_from: moved_from.as_deref().map(section_path).transpose()?,
        version,
        occurred_at,
    })
}
