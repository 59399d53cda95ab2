//! Tag feeds on PostgreSQL: each article's `article_tags` rows, written with its row, and a
//! tag's feed page read from them (see `migrations/postgres/0008_tag_feeds.sql`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::articles::stored_from_row;
use super::{PgStore, db_time, read_snapshot};
use crate::domain::{Article, ArticleId, FeedCursor, StoredArticle, Tag};
use crate::store::{FeedPage, StoreError, pages};

/// The statements of tag feeds.
mod sql {
    /// The tags of live articles with their counts, the most carried first, `$1` of them:
    /// one walk of `article_tags_live`.
    pub const COUNTS: &str = "SELECT tag, count(*) AS n FROM article_tags WHERE live
          GROUP BY tag ORDER BY n DESC, tag LIMIT $1";

    /// Drops the rows of the articles `$1`.
    pub const FORGET: &str = "DELETE FROM article_tags WHERE article_id = ANY($1)";

    /// Rows of live articles: `$1` their ids, `$2` the tags, `$3` their publication times.
    pub const INSERT: &str = "INSERT INTO article_tags (article_id, tag, published_utc, live)
         SELECT v.article_id, v.tag, v.published_utc, TRUE
           FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS v (article_id, tag, published_utc)
         ON CONFLICT (article_id, tag) DO NOTHING";

    /// Article `$1` became a tombstone.
    pub const BURY: &str = "UPDATE article_tags SET live = FALSE WHERE article_id = $1";

    /// The tags `$1` changed at the times `$2`, each tag once.
    pub const TOUCH: &str = "INSERT INTO tags (tag, modified_at)
         SELECT * FROM unnest($1::text[], $2::timestamptz[])
         ON CONFLICT (tag) DO UPDATE
         SET modified_at = greatest(tags.modified_at, excluded.modified_at)";

    /// The last change of tag `$1`'s feed.
    pub const UPDATED: &str = "SELECT modified_at FROM tags WHERE tag = $1";

    /// The `$2` newest live articles with tag `$1`, in feed order: one walk of
    /// `article_tags_live`, each article then read by its key.
    pub const NEWEST: &str = "SELECT a.body, a.version, a.created_at, a.modified_at, a.deleted_at
           FROM article_tags t JOIN articles a ON a.id = t.article_id
          WHERE t.tag = $1 AND t.live
          ORDER BY t.published_utc DESC, t.article_id DESC LIMIT $2";

    /// The `$4` newest live articles with tag `$1` before the key (`$2`, `$3`), in feed order.
    pub const OLDER: &str = "SELECT a.body, a.version, a.created_at, a.modified_at, a.deleted_at
           FROM article_tags t JOIN articles a ON a.id = t.article_id
          WHERE t.tag = $1 AND t.live AND (t.published_utc, t.article_id) < ($2, $3)
          ORDER BY t.published_utc DESC, t.article_id DESC LIMIT $4";

    /// The keys of the `$4` oldest live articles with tag `$1` at or after the key (`$2`,
    /// `$3`), oldest first.
    pub const KEYS_FROM: &str = "SELECT published_utc, article_id FROM article_tags
          WHERE tag = $1 AND live AND (published_utc, article_id) >= ($2, $3)
          ORDER BY published_utc, article_id LIMIT $4";

    /// At most `$3` tombstones of articles with tag `$1` published since `$2` (NULL: ever),
    /// the newest published first.
    pub const GONE: &str = "SELECT a.body, a.version, a.created_at, a.modified_at, a.deleted_at
           FROM article_tags t JOIN articles a ON a.id = t.article_id
          WHERE t.tag = $1 AND NOT t.live
            AND t.published_utc >= coalesce($2, '-infinity'::timestamptz)
          ORDER BY t.published_utc DESC LIMIT $3";
}

/// Writes the rows of `articles`, live as just stored (each once): their tags with their
/// publication times, in place of what they had.
pub(super) async fn replace<'a>(
    tx: &mut PgConnection,
    articles: impl Iterator<Item = &'a Article>,
) -> Result<(), StoreError> {
    let mut ids: Vec<&str> = Vec::new();
    let mut rows: (Vec<&str>, Vec<&str>, Vec<DateTime<Utc>>) = Default::default();
    for article in articles {
        ids.push(article.id.as_str());
        let published = db_time(article.published.with_timezone(&Utc));
        for tag in &article.tags {
            rows.0.push(article.id.as_str());
            rows.1.push(tag.as_str());
            rows.2.push(published);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(sql::FORGET)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    if !rows.0.is_empty() {
        sqlx::query(sql::INSERT)
            .bind(&rows.0)
            .bind(&rows.1)
            .bind(&rows.2)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Article `id` became a tombstone: its rows stay, for the tombstones of its tags' feeds.
pub(super) async fn bury(tx: &mut PgConnection, id: &ArticleId) -> Result<(), StoreError> {
    sqlx::query(sql::BURY)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Records that each tag's feed changed at its time; a tag named twice counts at its latest.
pub(super) async fn touch<'a>(
    tx: &mut PgConnection,
    changes: impl Iterator<Item = (&'a str, DateTime<Utc>)>,
) -> Result<(), StoreError> {
    // One row per tag: ON CONFLICT cannot update a row twice in one statement.
    let mut latest: std::collections::BTreeMap<&str, DateTime<Utc>> = Default::default();
    for (tag, at) in changes {
        let last = latest.entry(tag).or_insert(at);
        *last = (*last).max(at);
    }
    if latest.is_empty() {
        return Ok(());
    }
    let (tags, times): (Vec<&str>, Vec<DateTime<Utc>>) =
        latest.into_iter().map(|(t, at)| (t, db_time(at))).unzip();
    sqlx::query(sql::TOUCH)
        .bind(&tags)
        .bind(&times)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

impl PgStore {
    /// [`PgStore::articles_before`] of a tag.
    pub(super) async fn tag_articles_before(
        &self,
        tag: &Tag,
        before: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<StoredArticle>, StoreError> {
        sqlx::query(sql::OLDER)
            .bind(tag.as_str())
            .bind(db_time(before.published))
            .bind(before.id.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(stored_from_row)
            .collect()
    }

    /// [`PgStore::article_keys_from`] of a tag.
    pub(super) async fn tag_keys_from(
        &self,
        tag: &Tag,
        from: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<FeedCursor>, StoreError> {
        let keys: Vec<(DateTime<Utc>, String)> = sqlx::query_as(sql::KEYS_FROM)
            .bind(tag.as_str())
            .bind(db_time(from.published))
            .bind(from.id.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        crate::store::oldest_keys(keys, limit)
    }

    /// [`crate::store::Store::tag_counts`].
    pub async fn tag_counts(&self, limit: u32) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(sql::COUNTS)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(tag, n)| (tag, n.max(0) as u64))
            .collect())
    }

    /// [`PgStore::feed_page`] of a tag: every read bounded by the page.
    pub(super) async fn tag_page(&self, tag: &Tag, limit: u32) -> Result<FeedPage, StoreError> {
        let mut tx = read_snapshot(&self.pool).await?;
        let limit_param = i64::from(limit);
        let updated: Option<DateTime<Utc>> = sqlx::query_scalar(sql::UPDATED)
            .bind(tag.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let entries = sqlx::query(sql::NEWEST)
            .bind(tag.as_str())
            .bind(limit_param)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(stored_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let since = pages::window_start(&entries, limit).map(db_time);
        let deleted = sqlx::query(sql::GONE)
            .bind(tag.as_str())
            .bind(since)
            .bind(limit_param)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(stored_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(FeedPage {
            entries,
            tombstones: pages::tombstones(deleted, limit),
            updated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::plans::{PlanDb, assert_bounded, plan};
    use super::*;

    #[tokio::test]
    async fn tag_pages_walk_indexes_and_sort_nothing() {
        let Some(db) = PlanDb::open().await else {
            return;
        };
        let pool = &db.store.pool;
        let explain = |sql: &str| format!("EXPLAIN {sql}");
        let since = Some(db_time(Utc::now()));
        let plans = [
            (
                "a tag's last change",
                plan(pool, sqlx::query(&explain(sql::UPDATED)).bind("双拥")).await,
            ),
            (
                "newest with a tag",
                plan(
                    pool,
                    sqlx::query(&explain(sql::NEWEST)).bind("双拥").bind(50_i64),
                )
                .await,
            ),
            (
                "tombstones with a tag",
                plan(
                    pool,
                    sqlx::query(&explain(sql::GONE))
                        .bind("双拥")
                        .bind(since)
                        .bind(50_i64),
                )
                .await,
            ),
        ];
        for (name, plan) in &plans {
            assert_bounded(name, plan);
        }
        let newest = &plans[1].1;
        assert!(
            newest.iter().any(|l| l.contains("article_tags_live")),
            "the tag's index leads: {newest:?}"
        );
        db.close().await;
    }
}
