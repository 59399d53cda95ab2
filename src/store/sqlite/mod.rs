//! The embedded SQLite backend.
//!
//! Writes go through a pool of one connection: SQLite allows one writer at a time anyway, and
//! queueing in the pool (instead of `SQLITE_BUSY` retries) makes concurrent upserts of the same
//! article serialise cleanly: the second one sees the first one's row and answers `Unchanged`.
//! Reads use a separate pool and, thanks to WAL, never wait for the writer.

mod copy;
mod deliveries;
mod history;
mod search;
mod sources;
mod tags;
mod webhooks;
mod websub;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use tokio_util::sync::CancellationToken;

use super::{
    DeleteOutcome, FeedPage, SectionChange, SectionChangeRow, StoreError, Upserted, pages,
    parse_time_key, time_key, versions,
};
use crate::domain::{
    Article, ArticleId, Event, EventType, FeedCursor, Scope, SectionPath, StoredArticle,
};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// The database file as opened, to notice it removed or replaced while open (writes
    /// would go on into a file nobody will open again).
    file: Option<std::sync::Arc<OpenedFile>>,
}

/// A database file and its identity when it was opened.
#[derive(Debug)]
struct OpenedFile {
    path: std::path::PathBuf,
    identity: (u64, u64),
}

impl OpenedFile {
    fn identity(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok((meta.dev(), meta.ino()))
    }

    /// An error unless the path still names the file that was opened.
    fn check(&self) -> Result<(), StoreError> {
        match Self::identity(&self.path) {
            Ok(identity) if identity == self.identity => Ok(()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "the database file {} was replaced while tidings ran; restart it to use the \
                 new file",
                self.path.display()
            ))),
            Err(err) => Err(StoreError::Unavailable(format!(
                "the database file {} is gone ({err}); restore it, then restart tidings",
                self.path.display()
            ))),
        }
    }
}

/// How long a write waits for another writer (another process, the CLI) to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const ARTICLE_COLUMNS: &str = "body, version, created_at, modified_at, deleted_at";

impl SqliteStore {
    /// Opens (creating file and folder if needed) and migrates the database at `url`.
    #[tracing::instrument(skip_all, fields(url = %url))]
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let path = options.get_filename().to_path_buf();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        if !in_memory && !path.exists() {
            refuse_lost_database(&path)?;
            tracing::warn!(
                path = %path.display(),
                "no database here: creating a new, empty one"
            );
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|conn, _| {
                Box::pin(async move {
                    // A dropped transaction queues its rollback on the connection's worker; a
                    // round trip lets it run before the depth is read.
                    sqlx::Connection::ping(conn).await?;
                    Ok(is_idle(conn))
                })
            })
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        let file = if in_memory {
            None
        } else {
            let identity = OpenedFile::identity(&path)?;
            Some(std::sync::Arc::new(OpenedFile { path, identity }))
        };
        Ok(Self { write, read, file })
    }

    /// A write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`): with a
    /// deferred `BEGIN`, a transaction that reads first fails with SQLITE_BUSY when another
    /// process (the CLI, a second instance) commits before its first write, and
    /// `busy_timeout` cannot help it. Immediate transactions wait their turn instead.
    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        if let Some(file) = &self.file {
            file.check()?;
        }
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Stores articles in one transaction: each unless an identical one (same content hash) is
    /// stored, each change with its event. When `caller_gone` is cancelled before the commit,
    /// nothing is committed and the answer is [`StoreError::Abandoned`].
    ///
    /// When an article changed and the publisher gave no `updated` time, `now` becomes it.
    #[tracing::instrument(skip_all, fields(articles = items.len()))]
    pub async fn upsert_articles(
        &self,
        items: &[(Article, String)],
        now: DateTime<FixedOffset>,
        caller_gone: &CancellationToken,
    ) -> Result<Vec<Upserted>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(items.len());
        // Checked before each item and before the commit: a batch nobody waits for any more
        // gives the write lock back at once instead of finishing its work first.
        let ids: Vec<&str> = items.iter().map(|(a, _)| a.id.as_str()).collect();
        let mut batch = versions::Batch::new(stored_with_hashes(&mut tx, &ids).await?);
        for (article, content_hash) in items {
            if caller_gone.is_cancelled() {
                break;
            }
            results.push(match batch.upsert(article, content_hash, now) {
                versions::Upsert::Unchanged(answer) => answer,
                versions::Upsert::Write(write) => write_one(&mut tx, write, content_hash).await?,
            });
        }
        for (section, live, at) in batch.section_changes() {
            touch_section(&mut tx, section, live, at).await?;
        }
        for (tag, at) in batch.tag_changes() {
            tags::touch(&mut tx, tag, at).await?;
        }
        if caller_gone.is_cancelled() {
            tx.rollback().await?;
            return Err(StoreError::Abandoned);
        }
        tx.commit().await?;
        Ok(results)
    }

    /// Turns an article into a tombstone and writes its `article.deleted` event, together.
    #[tracing::instrument(skip_all, fields(article = %id))]
    pub async fn delete_article(
        &self,
        id: &ArticleId,
        now: DateTime<Utc>,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?1"
        ))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(DeleteOutcome::NotFound);
        };
        let before = stored_from_row(&row)?;
        if before.deleted_at.is_some() {
            return Ok(DeleteOutcome::AlreadyDeleted(before));
        }
        keep_snapshot(&mut tx, &before).await?;
        let stored = versions::tombstone(before, now);
        sqlx::query(
            "UPDATE articles SET version = ?2, modified_at = ?3, deleted_at = ?3 WHERE id = ?1",
        )
        .bind(id.as_str())
        .bind(stored.version)
        .bind(time_key(now))
        .execute(&mut *tx)
        .await?;
        touch_section(&mut tx, &stored.article.section, -1, now).await?;
        let tags = &stored.article.tags;
        tags::bury(&mut tx, id).await?;
        for tag in tags {
            tags::touch(&mut tx, tag, now).await?;
        }
        insert_event(&mut tx, EventType::Deleted, &stored, None, tags, now).await?;
        tx.commit().await?;
        Ok(DeleteOutcome::Deleted(stored))
    }

    /// One article, live or tombstone.
    #[tracing::instrument(skip_all, fields(article = %id))]
    pub async fn article(&self, id: &ArticleId) -> Result<Option<StoredArticle>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?
        .map(|row| stored_from_row(&row))
        .transpose()
    }

    /// The newest `limit` live articles of a scope, the tombstones inside that window, and the
    /// time of the scope's newest change.
    ///
    /// A tombstone is inside the window when the deleted article was published no earlier than
    /// the oldest live entry shown (or at any time, when the feed is not full). Every read is
    /// bounded by the page and the scope's number of sections (see [`pages`]), or, for a
    /// tag, by the page alone.
    #[tracing::instrument(skip_all, fields(scope = scope.as_str(), limit))]
    pub async fn feed_page(&self, scope: &Scope, limit: u32) -> Result<FeedPage, StoreError> {
        match scope {
            Scope::All => self.tree_page(None, limit).await,
            Scope::Section(path) => self.tree_page(Some(path), limit).await,
            Scope::Tag(tag) => self.tag_page(tag, limit).await,
        }
    }

    /// [`SqliteStore::feed_page`] of a section's subtree, or of the whole site (`None`).
    async fn tree_page(
        &self,
        subtree: Option<&SectionPath>,
        limit: u32,
    ) -> Result<FeedPage, StoreError> {
        // One connection, one read transaction: the page is one snapshot.
        let mut tx = self.read.begin().await?;
        let (filter, lo, hi) = scope_filter(subtree);
        let sections: Vec<(String, i64, String)> = sqlx::query_as(&page_sql::sections(filter))
            .bind(&lo)
            .bind(&hi)
            .bind(subtree.map_or("all", SectionPath::as_str))
            .fetch_all(&mut *tx)
            .await?;
        let updated = sections.iter().map(|(_, _, m)| m).max();

        let entries = match subtree {
            None => sqlx::query(&page_sql::newest())
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(stored_from_row)
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                let mut keys = Vec::new();
                for (section, _, _) in sections.iter().filter(|(_, live, _)| *live > 0) {
                    let rows: Vec<(String, String)> = sqlx::query_as(page_sql::NEWEST_OF_SECTION)
                        .bind(section)
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await?;
                    for (published, id) in rows {
                        keys.push((parse_time_key(&published)?, id));
                    }
                }
                let ids = pages::newest_ids(keys, limit);
                pages::in_order(articles_by_id(&mut tx, &ids).await?, &ids)
            }
        };

        let since = pages::window_start(&entries, limit)
            .map(time_key)
            .unwrap_or_default();
        let walks: Vec<(String, Option<&str>)> = match subtree {
            None => vec![(page_sql::deleted("?1 IS NULL"), None)],
            Some(_) => sections
                .iter()
                .map(|(s, _, _)| (page_sql::deleted("section = ?1"), Some(s.as_str())))
                .collect(),
        };
        let mut deleted = Vec::new();
        for (sql, section) in &walks {
            let rows = sqlx::query(sql)
                .bind(section)
                .bind(&since)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            for row in &rows {
                deleted.push(stored_from_row(row)?);
            }
        }
        tx.commit().await?;
        Ok(FeedPage {
            entries,
            tombstones: pages::tombstones(deleted, limit),
            updated: updated.map(|m| parse_time_key(m)).transpose()?,
        })
    }

    /// See [`crate::store::Store::articles_before`]: one bounded index walk per section.
    #[tracing::instrument(skip_all, fields(scope = scope.as_str(), limit))]
    pub async fn articles_before(
        &self,
        scope: &Scope,
        before: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<StoredArticle>, StoreError> {
        let path = match scope {
            Scope::Tag(tag) => return self.tag_articles_before(tag, before, limit).await,
            Scope::All => None,
            Scope::Section(path) => Some(path),
        };
        let mut tx = self.read.begin().await?;
        let published = time_key(before.published);
        let id = before.id.as_str();
        let entries = match path {
            None => sqlx::query(&page_sql::older())
                .bind(&published)
                .bind(id)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(stored_from_row)
                .collect::<Result<Vec<_>, _>>()?,
            Some(path) => {
                let mut keys = Vec::new();
                for section in &live_sections(&mut tx, path).await? {
                    let rows: Vec<(String, String)> = sqlx::query_as(page_sql::OLDER_OF_SECTION)
                        .bind(section)
                        .bind(&published)
                        .bind(id)
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await?;
                    for (published, id) in rows {
                        keys.push((parse_time_key(&published)?, id));
                    }
                }
                let ids = pages::newest_ids(keys, limit);
                pages::in_order(articles_by_id(&mut tx, &ids).await?, &ids)
            }
        };
        tx.commit().await?;
        Ok(entries)
    }

    /// See [`crate::store::Store::article_keys_from`]: one bounded index walk per section.
    pub async fn article_keys_from(
        &self,
        scope: &Scope,
        from: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<FeedCursor>, StoreError> {
        let path = match scope {
            Scope::Tag(tag) => return self.tag_keys_from(tag, from, limit).await,
            Scope::All => None,
            Scope::Section(path) => Some(path),
        };
        let mut tx = self.read.begin().await?;
        let published = time_key(from.published);
        let id = from.id.as_str();
        let sections: Vec<Option<String>> = match path {
            None => vec![None],
            Some(path) => live_sections(&mut tx, path)
                .await?
                .into_iter()
                .map(Some)
                .collect(),
        };
        let mut keys = Vec::new();
        for section in &sections {
            let rows: Vec<(String, String)> = sqlx::query_as(page_sql::NEWER_FROM)
                .bind(section)
                .bind(&published)
                .bind(id)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            for (published, id) in rows {
                keys.push((parse_time_key(&published)?, id));
            }
        }
        tx.commit().await?;
        crate::store::oldest_keys(keys, limit)
    }

    /// A consumer's cursor and the events after it, oldest first.
    pub async fn pending_events(
        &self,
        consumer: &str,
        limit: u32,
    ) -> Result<(i64, Vec<Event>), StoreError> {
        let mut conn = self.read.acquire().await?;
        let cursor: i64 = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = ?1")
            .bind(consumer)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0);
        Ok((cursor, events_since(&mut conn, cursor, limit).await?))
    }

    /// The articles (live or tombstones) with these ids; unknown ids are left out.
    pub async fn articles(&self, ids: &[ArticleId]) -> Result<Vec<StoredArticle>, StoreError> {
        let ids: Vec<&str> = ids.iter().map(ArticleId::as_str).collect();
        articles_by_id(&mut *self.read.acquire().await?, &ids).await
    }

    /// Events after the cursor `after`, oldest first.
    #[tracing::instrument(skip_all, fields(after, limit))]
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let mut conn = self.read.acquire().await?;
        events_since(&mut conn, after, limit).await
    }

    /// The sections changed by the events after `after`, oldest first.
    pub async fn section_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SectionChange>, StoreError> {
        let rows: Vec<SectionChangeRow> = sqlx::query_as(SECTION_CHANGES)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(SectionChange::from_row).collect()
    }

    /// The cursor of the newest event (0 when there is none).
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM events")
            .fetch_one(&self.read)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Live articles per section (not including descendants).
    pub async fn article_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT section, live FROM sections WHERE live > 0 ORDER BY section")
                .fetch_all(&self.read)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(section, n)| (section, n.max(0) as u64))
            .collect())
    }

    /// Whether the database answers.
    /// Whether the store can write: its file is the one opened, and one row is written and
    /// committed.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO health (id, checked_at) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(time_key(Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Events after `after`, oldest first, read through any connection or transaction.
pub(super) async fn events_since(
    conn: &mut sqlx::SqliteConnection,
    after: i64,
    limit: u32,
) -> Result<Vec<Event>, StoreError> {
    sqlx::query(super::EVENTS_SQL)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

/// The articles (live or tombstones) with these ids, in no order; unknown ids are left out.
async fn articles_by_id(
    conn: &mut sqlx::SqliteConnection,
    ids: &[impl AsRef<str>],
) -> Result<Vec<StoredArticle>, StoreError> {
    article_rows(conn, ARTICLE_COLUMNS, ids)
        .await?
        .iter()
        .map(stored_from_row)
        .collect()
}

/// `columns` of the article rows with these ids, 500 ids per statement, in no order.
async fn article_rows(
    conn: &mut sqlx::SqliteConnection,
    columns: &str,
    ids: &[impl AsRef<str>],
) -> Result<Vec<SqliteRow>, StoreError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {columns} FROM articles WHERE id IN ({})",
            placeholders(chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_ref());
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// `?, ?, …`: `n` placeholders.
pub(super) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, …), (?, …), …`: `rows` rows of `width` placeholders, for a multi-row VALUES.
///
/// Unnumbered on purpose: sqlx looks each numbered parameter's name up, and SQLite finds a
/// name by walking the statement's list of names, which makes binding a statement with
/// thousands of numbered parameters quadratic.
pub(super) fn rows_of(width: usize, rows: usize) -> String {
    let row = format!("({})", placeholders(width));
    vec![row.as_str(); rows].join(", ")
}

/// Records in the `sections` table that an article write changed `section` at `at`, with
/// `live` more (or fewer) live articles there.
async fn touch_section(
    tx: &mut sqlx::SqliteConnection,
    section: &SectionPath,
    live: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sections (section, live, modified_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (section) DO UPDATE
         SET live = live + excluded.live, modified_at = max(modified_at, excluded.modified_at)",
    )
    .bind(section.as_str())
    .bind(live)
    .bind(time_key(at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// See [`SqliteStore::section_changes_after`].
const SECTION_CHANGES: &str =
    "SELECT seq, section, moved_from, tags FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2";

/// The statements of a feed page (see [`SqliteStore::feed_page`]).
mod page_sql {
    use super::ARTICLE_COLUMNS;

    /// The sections of a scope (`filter` from [`super::scope_filter`]).
    pub fn sections(filter: &str) -> String {
        format!("SELECT section, live, modified_at FROM sections WHERE {filter}")
    }

    /// The `?1` newest live articles of the whole site.
    pub fn newest() -> String {
        format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE deleted_at IS NULL
             ORDER BY published_utc DESC, id DESC LIMIT ?1"
        )
    }

    /// The keys of the `?2` newest live articles of section `?1`.
    pub const NEWEST_OF_SECTION: &str = "SELECT published_utc, id FROM articles
         WHERE deleted_at IS NULL AND section = ?1
         ORDER BY published_utc DESC, id DESC LIMIT ?2";

    /// The `?3` newest live articles of the whole site before the key (`?1`, `?2`).
    pub fn older() -> String {
        format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE deleted_at IS NULL
               AND (published_utc < ?1 OR (published_utc = ?1 AND id < ?2))
             ORDER BY published_utc DESC, id DESC LIMIT ?3"
        )
    }

    /// The keys of the `?4` newest live articles of section `?1` before the key (`?2`, `?3`).
    pub const OLDER_OF_SECTION: &str = "SELECT published_utc, id FROM articles
         WHERE deleted_at IS NULL AND section = ?1
           AND (published_utc < ?2 OR (published_utc = ?2 AND id < ?3))
         ORDER BY published_utc DESC, id DESC LIMIT ?4";

    /// The keys of the `?4` oldest live articles at or after the key (`?2`, `?3`), of section
    /// `?1`, or of the whole site when `?1` is NULL.
    pub const NEWER_FROM: &str = "SELECT published_utc, id FROM articles
         WHERE deleted_at IS NULL AND (?1 IS NULL OR section = ?1)
           AND (published_utc > ?2 OR (published_utc = ?2 AND id >= ?3))
         ORDER BY published_utc, id LIMIT ?4";

    /// At most `?3` tombstones published since `?2`, the newest published first, of the
    /// articles `filter` selects (with `?1`).
    pub fn deleted(filter: &str) -> String {
        format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles
             WHERE deleted_at IS NOT NULL AND {filter} AND published_utc >= ?2
             ORDER BY published_utc DESC LIMIT ?3"
        )
    }
}

/// SQL selecting the rows of a section's subtree, or of the whole site (`None`), with its
/// three parameters (?1, ?2, ?3).
///
/// A section's subtree is the section itself and the paths in ['path/', 'path0'): `0` is the
/// character after `/`, so the range holds exactly the descendants and can use the index.
fn scope_filter(subtree: Option<&SectionPath>) -> (&'static str, String, String) {
    match subtree {
        None => (
            "(?1 = ?1 AND ?2 = ?2 AND ?3 = ?3)",
            String::new(),
            String::new(),
        ),
        Some(path) => (
            "(section = ?3 OR (section >= ?1 AND section < ?2))",
            format!("{path}/"),
            format!("{path}0"),
        ),
    }
}

/// The sections of `path`'s subtree that hold live articles.
async fn live_sections(
    conn: &mut sqlx::SqliteConnection,
    path: &SectionPath,
) -> Result<Vec<String>, StoreError> {
    let (filter, lo, hi) = scope_filter(Some(path));
    let rows: Vec<(String, i64, String)> = sqlx::query_as(&page_sql::sections(filter))
        .bind(&lo)
        .bind(&hi)
        .bind(path.as_str())
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, live, _)| *live > 0)
        .map(|(section, _, _)| section)
        .collect())
}

/// What is stored under these ids, each with its content hash.
async fn stored_with_hashes(
    conn: &mut sqlx::SqliteConnection,
    ids: &[&str],
) -> Result<Vec<(StoredArticle, String)>, StoreError> {
    article_rows(conn, &format!("{ARTICLE_COLUMNS}, content_hash"), ids)
        .await?
        .iter()
        .map(|row| Ok((stored_from_row(row)?, row.try_get("content_hash")?)))
        .collect()
}

/// Writes one decided upsert of a batch (see [`versions::Batch`]) and its event; the batch
/// writes the sections' changes.
async fn write_one(
    tx: &mut sqlx::SqliteConnection,
    write: versions::Write,
    content_hash: &str,
) -> Result<Upserted, StoreError> {
    let article = &write.stored.article;
    let stored = &write.stored;
    let sql = if write.is_new {
        "INSERT INTO articles (id, section, body, content_hash, published_utc, version, created_at, modified_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
    } else {
        "UPDATE articles SET section = ?2, body = ?3, content_hash = ?4, published_utc = ?5,
                version = ?6, modified_at = ?7, deleted_at = NULL
         WHERE id = ?1"
    };
    sqlx::query(sql)
        .bind(article.id.as_str())
        .bind(article.section.as_str())
        .bind(to_json(&stored.article)?)
        .bind(content_hash)
        .bind(time_key(article.published.with_timezone(&Utc)))
        .bind(stored.version)
        .bind(time_key(stored.modified_at))
        .execute(&mut *tx)
        .await?;
    tags::replace(tx, article, !write.is_new).await?;
    if let Some(superseded) = &write.superseded {
        keep_snapshot(tx, superseded).await?;
    }
    insert_event(
        tx,
        write.event,
        stored,
        write.moved_from.as_ref(),
        &write.touched_tags(),
        stored.modified_at,
    )
    .await?;
    Ok(write.into_upserted())
}

/// Refuses to create a database where one evidently was: its write-ahead log or shared-memory
/// file is there without it. A new empty database would silently take the place of the lost
/// one (and of its undelivered events).
fn refuse_lost_database(path: &std::path::Path) -> Result<(), StoreError> {
    for suffix in ["-wal", "-shm"] {
        let mut leftover = path.as_os_str().to_owned();
        leftover.push(suffix);
        let leftover = std::path::PathBuf::from(leftover);
        if leftover.exists() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "the database {} is missing but {} is there: it was removed or moved. \
                     Restore it, or remove {} to start with an empty database",
                    path.display(),
                    leftover.display(),
                    leftover.display()
                ),
            )));
        }
    }
    Ok(())
}

/// SQLite's primary result code of a database error (the low byte of an extended one).
fn primary_code(err: &sqlx::Error) -> Option<i32> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    Some(db.code()?.parse::<i32>().ok()? & 0xff)
}

/// Why SQLite cannot store anything now, for the faults that are the storage's rather than
/// the request's: a read-only or full database, or a file that cannot be read or written.
pub(super) fn storage_fault(err: &sqlx::Error) -> Option<&'static str> {
    match primary_code(err)? {
        8 => Some("the database is read-only"),
        10 => Some("the database file cannot be read or written (I/O error)"),
        13 => Some("the disk holding the database is full"),
        14 => Some("the database file cannot be opened"),
        _ => None,
    }
}

/// Whether SQLite gave up waiting for a lock (another process held it past `BUSY_TIMEOUT`):
/// the database is busy, not broken, and the write may be tried again.
pub(super) fn is_busy(err: &sqlx::Error) -> bool {
    // SQLITE_BUSY and SQLITE_LOCKED.
    matches!(primary_code(err), Some(5 | 6))
}

/// Whether a connection coming back to the pool is outside any transaction. One that is not
/// (a unit of work was interrupted between `BEGIN` and the creation of its guard) would hold
/// SQLite's write lock forever: the pool closes it instead, which rolls the transaction back.
fn is_idle(conn: &mut sqlx::SqliteConnection) -> bool {
    use sqlx::TransactionManager;
    let depth = sqlx::sqlite::SqliteTransactionManager::get_transaction_depth(conn);
    if depth > 0 {
        tracing::warn!(
            depth,
            "a connection came back inside a transaction; closing it"
        );
    }
    depth == 0
}

/// Writes the event of the version `stored`, which the article's row now holds: the event
/// reads its payload from there (see [`versions::snapshot`]).
async fn insert_event(
    tx: &mut sqlx::SqliteConnection,
    kind: EventType,
    stored: &StoredArticle,
    moved_from: Option<&SectionPath>,
    tags: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tags = (!tags.is_empty()).then_some(sqlx::types::Json(tags));
    sqlx::query(
        "INSERT INTO events (id, type, article_id, section, moved_from, version, occurred_at, tags)
         VALUES (?1, ?2, ?3, ?4, ?7, ?5, ?6, ?8)",
    )
    .bind(format!("evt_{}", uuid::Uuid::now_v7().simple()))
    .bind(kind.as_str())
    .bind(stored.article.id.as_str())
    .bind(stored.article.section.as_str())
    .bind(stored.version)
    .bind(time_key(now))
    .bind(moved_from.map(SectionPath::as_str))
    .bind(tags)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Gives the event of `superseded`, the version a write is about to replace in the article's
/// row, a snapshot of its own, if the snapshot's reader has not passed it yet.
async fn keep_snapshot(
    tx: &mut sqlx::SqliteConnection,
    superseded: &StoredArticle,
) -> Result<(), StoreError> {
    let snapshot = versions::snapshot(superseded)?;
    sqlx::query(
        "UPDATE events SET payload = ?3
         WHERE article_id = ?1 AND version = ?2 AND payload IS NULL
           AND seq > coalesce((SELECT seq FROM cursors WHERE name = ?4), 0)",
    )
    .bind(superseded.article.id.as_str())
    .bind(superseded.version)
    .bind(snapshot.to_string())
    .bind(super::SNAPSHOT_READER)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn to_json(article: &Article) -> Result<String, StoreError> {
    serde_json::to_string(article).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn stored_from_row(row: &SqliteRow) -> Result<StoredArticle, StoreError> {
    let body: String = row.try_get("body")?;
    let article: Article = serde_json::from_str(&body)
        .map_err(|e| StoreError::Corrupt(format!("article body: {e}")))?;
    let deleted_at: Option<String> = row.try_get("deleted_at")?;
    Ok(StoredArticle {
        article,
        version: row.try_get("version")?,
        created_at: parse_time_key(&row.try_get::<String, _>("created_at")?)?,
        modified_at: parse_time_key(&row.try_get::<String, _>("modified_at")?)?,
        deleted_at: deleted_at.as_deref().map(parse_time_key).transpose()?,
    })
}

fn event_from_row(row: &SqliteRow) -> Result<Event, StoreError> {
    let kind: String = row.try_get("type")?;
    let article_id: String = row.try_get("article_id")?;
    let section: String = row.try_get("section")?;
    let own: Option<String> = row.try_get("payload")?;
    let own = own
        .map(|p| serde_json::from_str(&p))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("event payload: {e}")))?;
    let article_row = if sqlx::ValueRef::is_null(&row.try_get_raw("body")?) {
        None
    } else {
        Some(stored_from_row(row)?)
    };
    let version: i64 = row.try_get("event_version")?;
    let moved_from: Option<String> = row.try_get("moved_from")?;
    let section_path =
        |raw: &str| SectionPath::parse(raw).map_err(|e| StoreError::Corrupt(e.to_string()));
    Ok(Event {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        kind: EventType::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown event type {kind:?}")))?,
        article_id: ArticleId::parse(&article_id)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        section: section_path(&section)?,
        moved_from: moved_from.as_deref().map(section_path).transpose()?,
        tags: row
            .try_get::<Option<sqlx::types::Json<Vec<String>>>, _>("tags")?
            .map(|t| t.0)
            .unwrap_or_default(),
        version,
        occurred_at: parse_time_key(&row.try_get::<String, _>("occurred_at")?)?,
        payload: versions::event_payload(own, version, article_row)?,
    })
}

#[cfg(test)]
mod plans {
    //! The reads that grow with the archive or the queue are bounded by what they return:
    //! each walks an index, none scans a table or sorts into a temporary B-tree. A plan is
    //! not a timing; it is what keeps a cache miss flat from a thousand articles to millions.

    use super::*;

    /// SQLite's plan of `sql`, one line per step, its parameters unbound (NULL).
    pub(in crate::store) async fn plan(pool: &SqlitePool, sql: &str) -> Vec<String> {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(pool)
            .await
            .expect("a plan");
        rows.iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect()
    }

    /// Panics unless every step of the plan is an index search or an in-order index walk,
    /// with no temporary B-tree. Only the `sections` table (one row per section) and the
    /// results of bounded subqueries may be scanned.
    pub(in crate::store) fn assert_bounded(name: &str, plan: &[String]) {
        for step in plan {
            let scans_a_table = step.starts_with("SCAN")
                && !step.contains("USING INDEX")
                && !step.contains("USING COVERING INDEX")
                && step != "SCAN sections"
                && !step.starts_with("SCAN (subquery");
            assert!(
                !scans_a_table && !step.contains("TEMP B-TREE"),
                "{name}: {step:?} in\n{}",
                plan.join("\n")
            );
        }
    }

    pub(in crate::store) async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("a folder");
        let url = format!("sqlite://{}", dir.path().join("plans.db").display());
        let store = SqliteStore::connect(&url).await.expect("a store");
        (dir, store)
    }

    #[tokio::test]
    async fn feed_pages_walk_indexes_and_sort_nothing() {
        let (_dir, store) = store().await;
        let (section_filter, _, _) =
            scope_filter(Some(&SectionPath::parse("hnyw").expect("a path")));
        let statements = [
            ("sections of a section", page_sql::sections(section_filter)),
            ("newest of everything", page_sql::newest()),
            (
                "newest of a section",
                page_sql::NEWEST_OF_SECTION.to_owned(),
            ),
            ("tombstones of everything", page_sql::deleted("?1 IS NULL")),
            ("tombstones of a section", page_sql::deleted("section = ?1")),
            (
                "sections changed after a cursor",
                SECTION_CHANGES.to_owned(),
            ),
        ];
        for (name, sql) in statements {
            let plan = plan(&store.read, &sql).await;
            assert_bounded(name, &plan);
            assert!(
                plan.iter()
                    .any(|step| step.contains("INDEX") || step.contains("PRIMARY KEY")),
                "{name} uses no index: {plan:?}"
            );
        }
    }
}

#[cfg(test)]
mod faults {
    use super::*;

    /// A write refused by the storage itself (here, a database opened read-only) is a storage
    /// fault, answered 503, not a database error answered 500.
    #[tokio::test]
    async fn a_read_only_database_is_unavailable_not_broken() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let err = sqlx::query("INSERT INTO health (id, checked_at) VALUES (1, 'x')")
            .execute(&store.read)
            .await
            .expect_err("the read pool is read-only");
        assert_eq!(storage_fault(&err), Some("the database is read-only"));
        assert!(!is_busy(&err));
        match StoreError::from(err) {
            StoreError::Unavailable(reason) => assert!(reason.contains("read-only"), "{reason}"),
            other => panic!("{other:?}"),
        }
        store.close().await;
    }
}
