//! Tag feeds on SQLite: each article's `article_tags` rows, written with its row, and a tag's
//! feed page read from them (see `migrations/sqlite/0009_tag_feeds.sql`).

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{SqliteStore, rows_of, stored_from_row};
use crate::domain::{Article, ArticleId, FeedCursor, StoredArticle, Tag};
use crate::store::{FeedPage, StoreError, pages, parse_time_key, time_key};

/// The statements of tag feeds.
mod sql {
    /// The tags of live articles with their counts, the most carried first, `?1` of them:
    /// one walk of `article_tags_live`.
    pub const COUNTS: &str = "SELECT tag, count(*) AS n FROM article_tags WHERE live = 1
          GROUP BY tag ORDER BY n DESC, tag LIMIT ?1";

    /// Drops the rows of article `?1`.
    pub const FORGET: &str = "DELETE FROM article_tags WHERE article_id = ?1";

    /// Rows `(article_id, tag, published_utc)` of a live article, `rows` of them.
    pub fn insert(rows: &str) -> String {
        format!(
            "INSERT OR IGNORE INTO article_tags (article_id, tag, published_utc, live)
             SELECT column1, column2, column3, 1 FROM (VALUES {rows})"
        )
    }

    /// Article `?1` became a tombstone.
    pub const BURY: &str = "UPDATE article_tags SET live = 0 WHERE article_id = ?1";

    /// Tag `?1`'s feed changed at `?2`.
    pub const TOUCH: &str = "INSERT INTO tags (tag, modified_at) VALUES (?1, ?2)
         ON CONFLICT (tag) DO UPDATE SET modified_at = max(modified_at, excluded.modified_at)";

    /// The last change of tag `?1`'s feed.
    pub const UPDATED: &str = "SELECT modified_at FROM tags WHERE tag = ?1";

    /// The `?2` newest live articles with tag `?1`, in feed order: one walk of
    /// `article_tags_live`, each article then read by its key.
    pub const NEWEST: &str = "SELECT a.body, a.version, a.created_at, a.modified_at, a.deleted_at
           FROM article_tags t JOIN articles a ON a.id = t.article_id
          WHERE t.tag = ?1 AND t.live = 1
          ORDER BY t.published_utc DESC, t.article_id DESC LIMIT ?2";

    /// The `?4` newest live articles with tag `?1` before the key (`?2`, `?3`), in feed order.
    pub const OLDER: &str = "SELECT a.body, a.version, a.created_at, a.modified_at, a.deleted_at
           FROM article_tags t JOIN articles a ON a.id = t.article_id
          WHERE t.tag = ?1 AND t.live = 1
            AND (t.published_utc < ?2 OR (t.published_utc = ?2 AND t.article_id < ?3))
          ORDER BY t.published_utc DESC, t.article_id DESC LIMIT ?4";

    /// The keys of the `?4` oldest live articles with tag `?1` at or after the key (`?2`,
    /// `?3`), oldest first.
    pub const KEYS_FROM: &str = "SELECT published_utc, article_id FROM article_tags
          WHERE tag = ?1 AND live = 1
            AND (published_utc > ?2 OR (published_utc = ?2 AND article_id >= ?3))
          ORDER BY published_utc, article_id LIMIT ?4";

    /// At most `?3` tombstones of articles with tag `?1` published since `?2`, the newest
    /// published first.
    pub const GONE: &str = "SELECT a.body, a.version, a.created_at, a.modified_at, a.deleted_at
           FROM article_tags t JOIN articles a ON a.id = t.article_id
          WHERE t.tag = ?1 AND t.live = 0 AND t.published_utc >= ?2
          ORDER BY t.published_utc DESC LIMIT ?3";
}

/// Writes the rows of `article`, live as just stored: its tags with its publication time.
/// `replacing` when it had rows before (an update, or a tombstone coming back), which go.
pub(super) async fn replace(
    tx: &mut SqliteConnection,
    article: &Article,
    replacing: bool,
) -> Result<(), StoreError> {
    if replacing {
        sqlx::query(sql::FORGET)
            .bind(article.id.as_str())
            .execute(&mut *tx)
            .await?;
    }
    let published = time_key(article.published.with_timezone(&Utc));
    // Ingest keeps at most 100 tags; chunks keep any number under SQLite's parameter limit.
    for chunk in article.tags.chunks(500) {
        let sql = sql::insert(&rows_of(3, chunk.len()));
        let mut query = sqlx::query(&sql);
        for tag in chunk {
            query = query
                .bind(article.id.as_str())
                .bind(tag.as_str())
                .bind(&published);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Article `id` became a tombstone: its rows stay, for the tombstones of its tags' feeds.
pub(super) async fn bury(tx: &mut SqliteConnection, id: &ArticleId) -> Result<(), StoreError> {
    sqlx::query(sql::BURY)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Records that `tag`'s feed changed at `at`.
pub(super) async fn touch(
    tx: &mut SqliteConnection,
    tag: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(sql::TOUCH)
        .bind(tag)
        .bind(time_key(at))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

impl SqliteStore {
    /// [`SqliteStore::articles_before`] of a tag.
    pub(super) async fn tag_articles_before(
        &self,
        tag: &Tag,
        before: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<StoredArticle>, StoreError> {
        sqlx::query(sql::OLDER)
            .bind(tag.as_str())
            .bind(time_key(before.published))
            .bind(before.id.as_str())
            .bind(limit)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(stored_from_row)
            .collect()
    }

    /// [`SqliteStore::article_keys_from`] of a tag.
    pub(super) async fn tag_keys_from(
        &self,
        tag: &Tag,
        from: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<FeedCursor>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(sql::KEYS_FROM)
            .bind(tag.as_str())
            .bind(time_key(from.published))
            .bind(from.id.as_str())
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        let keys = rows
            .into_iter()
            .map(|(published, id)| Ok((parse_time_key(&published)?, id)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        crate::store::oldest_keys(keys, limit)
    }

    /// [`crate::store::Store::tag_counts`].
    pub async fn tag_counts(&self, limit: u32) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(sql::COUNTS)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(tag, n)| (tag, n.max(0) as u64))
            .collect())
    }

    /// [`SqliteStore::feed_page`] of a tag: every read bounded by the page.
    pub(super) async fn tag_page(&self, tag: &Tag, limit: u32) -> Result<FeedPage, StoreError> {
        // One connection, one read transaction: the page is one snapshot.
        let mut tx = self.read.begin().await?;
        let updated: Option<String> = sqlx::query_scalar(sql::UPDATED)
            .bind(tag.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let entries = sqlx::query(sql::NEWEST)
            .bind(tag.as_str())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(stored_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let since = pages::window_start(&entries, limit)
            .map(time_key)
            .unwrap_or_default();
        let deleted = sqlx::query(sql::GONE)
            .bind(tag.as_str())
            .bind(&since)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(stored_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(FeedPage {
            entries,
            tombstones: pages::tombstones(deleted, limit),
            updated: updated.as_deref().map(parse_time_key).transpose()?,
        })
    }
}

#[cfg(test)]
mod plans {
    use super::super::plans::{assert_bounded, plan, store};
    use super::sql;

    #[tokio::test]
    async fn tag_pages_walk_indexes_and_sort_nothing() {
        let (_dir, store) = store().await;
        for (name, statement) in [
            ("a tag's last change", sql::UPDATED),
            ("newest with a tag", sql::NEWEST),
            ("tombstones with a tag", sql::GONE),
        ] {
            let plan = plan(&store.read, statement).await;
            assert_bounded(name, &plan);
            assert!(
                plan.iter().any(|step| step.contains("INDEX")),
                "{name} uses no index: {plan:?}"
            );
        }
        let newest = plan(&store.read, sql::NEWEST).await;
        assert!(
            newest[0].contains("article_tags_live"),
            "the tag's index leads: {newest:?}"
        );
        // Counting walks the live tags' index alone (then sorts the tags, one row each).
        let counts = plan(&store.read, sql::COUNTS).await;
        assert!(
            counts[0].contains("COVERING INDEX article_tags_live"),
            "{counts:?}"
        );
    }
}
