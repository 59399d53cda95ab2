//! Where a page of a feed ends, for the pages behind it (RFC 5005).

use chrono::{DateTime, SubsecRound, Utc};

use super::{ArticleId, StoredArticle};

/// The publication time (to the microsecond, as stored) and id of a page's oldest entry. The
/// page behind it holds the articles after it in the feeds' order: publication time, then id,
/// both descending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCursor {
    pub published: DateTime<Utc>,
    pub id: ArticleId,
}

impl FeedCursor {
    /// The cursor just past `article`.
    pub fn after(article: &StoredArticle) -> Self {
        Self {
            published: article
                .article
                .published
                .with_timezone(&Utc)
                .trunc_subsecs(6),
            id: article.article.id.clone(),
        }
    }

    /// The cursor as a URL query value: `MICROSECONDS.ID`, microseconds since the epoch.
    pub fn token(&self) -> String {
        format!("{}.{}", self.published.timestamp_micros(), self.id)
    }

    /// Reads [`FeedCursor::token`]; `None` for anything else.
    pub fn parse(token: &str) -> Option<Self> {
        let (micros, id) = token.split_once('.')?;
        let published = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        let id = ArticleId::parse(id).ok()?;
        Some(Self { published, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_and_nothing_else_does() {
        let cursor = FeedCursor {
            published: "2021-05-31T16:00:00.123456Z".parse().unwrap(),
            id: ArticleId::parse("hn-2021.06").unwrap(),
        };
        assert_eq!(cursor.token(), "1622476800123456.hn-2021.06");
        assert_eq!(FeedCursor::parse(&cursor.token()), Some(cursor));
        for bad in [
            "",
            "1622476800123456",
            "x.id",
            ".id",
            "1.",
            "99999999999999999999.a",
        ] {
            assert_eq!(FeedCursor::parse(bad), None, "{bad:?}");
        }
    }
}
