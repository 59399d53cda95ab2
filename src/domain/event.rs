//! The outbox's events: what happened to an article.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{ArticleId, SectionPath};

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
    /// The tags whose feeds the change touches: the article's at this version and, for an
    /// update, those it dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
    /// The article as `GET /api/v1/articles/{id}` showed it at this version (for a deletion:
    /// its id, section and version). `None` once a later version replaced it and the webhook
    /// dispatcher, the one reader that needs it, had read this event.
    pub payload: Option<serde_json::Value>,
}

/// An event without the article it carries: a line of an article's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    /// Position in the event log.
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub article_id: ArticleId,
    pub section: SectionPath,
    /// The previous section, when an update moved the article.
    pub moved_from: Option<SectionPath>,
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
}
