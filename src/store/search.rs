//! Searching articles, the same way on every engine: what each engine looks for, and where
//! a batch after another starts.

use chrono::{DateTime, Utc};

use crate::domain::{SearchQuery, StoredArticle};

/// What an engine looks for in lower-cased text: the query as typed in titles and summaries,
/// which are plain text, and as the sanitiser writes it in bodies, which are HTML with `&`,
/// `<` and `>` written as `&amp;`, `&lt;` and `&gt;`. ASCII letters are in lower case in both,
/// as each engine's `lower()` leaves every other character as it is (SQLite's without ICU;
/// PostgreSQL's under the "C" collation).
pub(super) struct Needles {
    pub text: String,
    pub html: String,
}

impl Needles {
    pub fn of(query: &SearchQuery) -> Self {
        let text = query.folded().to_owned();
        let html = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        Self { text, html }
    }
}

/// Where a batch that reads on after `after` starts: the key of the feeds' order (publication
/// time in UTC, then id), exclusive.
pub(super) fn after_key(after: &StoredArticle) -> (DateTime<Utc>, &str) {
    (
        after.article.published.with_timezone(&Utc),
        after.article.id.as_str(),
    )
}
