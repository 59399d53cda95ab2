use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{ArticleId, SectionPath};

/// A published article after ingest: validated, sanitised and normalised.
///
/// Text fields hold no character that XML 1.0 forbids and no HTML entity; `content_html` is
/// sanitised HTML whose URLs are absolute. Times keep the offset they were given with (a date
/// without a time is midnight in the site's zone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub id: ArticleId,
    pub section: SectionPath,
    pub title: String,
    pub url: Url,
    pub source: Option<String>,
    pub editor: Option<String>,
    pub authors: Vec<String>,
    pub published: DateTime<FixedOffset>,
    pub updated: Option<DateTime<FixedOffset>>,
    pub summary: Option<String>,
    pub content_html: String,
    pub images: Vec<Image>,
    pub tags: Vec<String>,
    pub language: Option<String>,
}

/// An image of an article. `length` (bytes) and `media_type` are optional; an RSS
/// `<enclosure>` is written only when both are known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub url: Url,
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

/// An article as stored: the content plus the bookkeeping of its changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredArticle {
    #[serde(flatten)]
    pub article: Article,
    /// Starts at 1, incremented by every change (including deletion and re-publication).
    pub version: i64,
    /// When tidings first stored the article.
    pub created_at: DateTime<Utc>,
    /// When tidings last stored a change to it: the basis of feed `updated` and `Last-Modified`.
    pub modified_at: DateTime<Utc>,
    /// Set when the article was deleted; the row stays as a tombstone.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What remains of a deleted article in feeds (RFC 6721 `at:deleted-entry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub id: ArticleId,
    pub section: SectionPath,
    pub url: Url,
    pub deleted_at: DateTime<Utc>,
}
