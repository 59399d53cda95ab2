//! Persistence. Methods are use cases, each owning its transaction, so that a second backend
//! (PostgreSQL) can implement the same contract with its own SQL.

mod sqlite;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::{ArticleId, SectionPath, StoredArticle, Tombstone};

pub use sqlite::{
    Attempt, AttemptOutcome, Claimed, DeliveryView, EndpointPatch, LastDelivery, NewEndpoint,
    Notification, QueueStats, Resend, Store, SubscriptionView, Target, Upserted,
};

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    /// A new article, or one re-published after deletion.
    Created,
    /// A stored article whose content changed.
    Updated,
    /// The same content was sent again: nothing changed, nothing was sent.
    Unchanged,
}

/// What a deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted(StoredArticle),
    AlreadyDeleted(StoredArticle),
    NotFound,
}

/// The kinds of events in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    #[serde(rename = "article.published")]
    Published,
    #[serde(rename = "article.updated")]
    Updated,
    #[serde(rename = "article.deleted")]
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Published => "article.published",
            EventType::Updated => "article.updated",
            EventType::Deleted => "article.deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [EventType::Published, EventType::Updated, EventType::Deleted]
            .into_iter()
            .find(|t| t.as_str() == raw)
    }
}

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Position in the event log (the `after=` cursor).
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub article_id: ArticleId,
    pub section: SectionPath,
    /// The previous section, when an update moved the article.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<SectionPath>,
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// The content of one feed document.
#[derive(Debug, Clone, Default)]
pub struct FeedPage {
    /// Live articles, newest publication first.
    pub entries: Vec<StoredArticle>,
    /// Articles deleted inside the feed's window, most recently deleted first.
    pub tombstones: Vec<Tombstone>,
    /// The newest change in scope (entries and tombstones alike), if any.
    pub updated: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot prepare the database location: {0}")]
    Io(#[from] std::io::Error),
}

/// Times are stored as fixed-width RFC 3339 UTC text, so that text order is time order.
pub(crate) fn time_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_time_key(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad time {raw:?}: {e}")))
}
