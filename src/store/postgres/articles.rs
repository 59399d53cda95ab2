//! Articles and their outbox: upserts and deletions with their events, feeds, the event log.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use tokio_util::sync::CancellationToken;

use super::{EVENTS_LOCK, PgStore, advisory_lock, db_time, notify};
use crate::domain::{
    Article, ArticleId, Event, EventType, FeedCursor, Scope, SectionPath, StoredArticle,
};
use crate::store::{
    DeleteOutcome, FeedPage, SectionChange, SectionChangeRow, StoreError, UpsertOutcome, Upserted,
    pages, versions,
};

pub(super) const ARTICLE_COLUMNS: &str = "body, version, created_at, modified_at, deleted_at";

impl PgStore {
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
        let mut tx = self.pool.begin().await?;
        // Before the first read: see EVENTS_LOCK.
        advisory_lock(&mut tx, EVENTS_LOCK).await?;
        let mut results = Vec::with_capacity(items.len());
        // Checked before each item and before the commit: a batch nobody waits for any more
        // gives the write lock back at once instead of finishing its work first.
        let ids: Vec<&str> = items.iter().map(|(a, _)| a.id.as_str()).collect();
        let mut batch = versions::Batch::new(stored_with_hashes(&mut tx, &ids).await?);
        // Decided in order, then written together: a few statements for the whole batch.
        let mut writes = Vec::new();
        for (article, content_hash) in items {
            if caller_gone.is_cancelled() {
                break;
            }
            results.push(match batch.upsert(article, content_hash, now) {
                versions::Upsert::Unchanged(answer) => Decided::Unchanged(Box::new(answer)),
                versions::Upsert::Write(write) => {
                    writes.push((write, content_hash.as_str()));
                    Decided::Written(writes.len() - 1)
                }
            });
        }
        write_all(&mut tx, &writes).await?;
        let mut written: Vec<Option<Upserted>> = writes
            .into_iter()
            .map(|(write, _)| Some(write.into_upserted()))
            .collect();
        let results: Vec<Upserted> = results
            .into_iter()
            .map(|decided| match decided {
                Decided::Unchanged(answer) => *answer,
                Decided::Written(i) => written[i].take().expect("each write answers once"),
            })
            .collect();
        for (section, live, at) in batch.section_changes() {
            touch_section(&mut tx, section, live, at).await?;
        }
        super::tags::touch(&mut tx, batch.tag_changes()).await?;
        if caller_gone.is_cancelled() {
            tx.rollback().await?;
            return Err(StoreError::Abandoned);
        }
        if results
            .iter()
            .any(|r| r.outcome != UpsertOutcome::Unchanged)
        {
            notify(&mut tx).await?;
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
        let mut tx = self.pool.begin().await?;
        // Before the first read: see EVENTS_LOCK.
        advisory_lock(&mut tx, EVENTS_LOCK).await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        else {
            // Explicitly, to release the lock now rather than when the pool gets the
            // connection back.
            tx.rollback().await?;
            return Ok(DeleteOutcome::NotFound);
        };
        let before = stored_from_row(&row)?;
        if before.deleted_at.is_some() {
            tx.rollback().await?;
            return Ok(DeleteOutcome::AlreadyDeleted(before));
        }
        keep_snapshots(&mut tx, &[&before]).await?;
        let stored = versions::tombstone(before, now);
        sqlx::query(
            "UPDATE articles SET version = $2, modified_at = $3, deleted_at = $3 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(stored.version)
        .bind(db_time(now))
        .execute(&mut *tx)
        .await?;
        touch_section(&mut tx, &stored.article.section, -1, now).await?;
        let tags = &stored.article.tags;
        super::tags::bury(&mut tx, id).await?;
        super::tags::touch(&mut tx, tags.iter().map(|t| (t.as_str(), now))).await?;
        insert_event(&mut tx, EventType::Deleted, &stored, None, tags, now).await?;
        notify(&mut tx).await?;
        tx.commit().await?;
        Ok(DeleteOutcome::Deleted(stored))
    }

    /// One article, live or tombstone.
    #[tracing::instrument(skip_all, fields(article = %id))]
    pub async fn article(&self, id: &ArticleId) -> Result<Option<StoredArticle>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
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

    /// [`PgStore::feed_page`] of a section's subtree, or of the whole site (`None`).
    async fn tree_page(
        &self,
        subtree: Option<&SectionPath>,
        limit: u32,
    ) -> Result<FeedPage, StoreError> {
        // One snapshot for the page's few statements.
        let mut tx = super::read_snapshot(&self.pool).await?;
        let filter = ScopeFilter::of(subtree, 1);
        let sections: Vec<(String, i64, DateTime<Utc>)> = filter
            .bind_as(sqlx::query_as(&page_sql::sections(&filter.sql)))
            .fetch_all(&mut *tx)
            .await?;
        let updated = sections.iter().map(|(_, _, m)| *m).max();
        let limit_param = i64::from(limit);

        let entries = match subtree {
            None => sqlx::query(&page_sql::newest())
                .bind(limit_param)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(stored_from_row)
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                let live: Vec<&str> = sections
                    .iter()
                    .filter(|(_, live, _)| *live > 0)
                    .map(|(s, _, _)| s.as_str())
                    .collect();
                // Each section's own newest, one bounded index walk each.
                let keys: Vec<(DateTime<Utc>, String)> =
                    sqlx::query_as(page_sql::NEWEST_OF_SECTIONS)
                        .bind(&live)
                        .bind(limit_param)
                        .fetch_all(&mut *tx)
                        .await?;
                let ids = pages::newest_ids(keys, limit);
                pages::in_order(articles_by_id(&mut tx, &ids).await?, &ids)
            }
        };

        let since = pages::window_start(&entries, limit).map(db_time);
        let all_deleted = page_sql::deleted();
        let deleted = match subtree {
            None => sqlx::query(&all_deleted).bind(since).bind(limit_param),
            Some(_) => sqlx::query(page_sql::DELETED_OF_SECTIONS)
                .bind(since)
                .bind(limit_param)
                .bind(
                    sections
                        .iter()
                        .map(|(s, _, _)| s.as_str())
                        .collect::<Vec<_>>(),
                ),
        }
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let published = db_time(before.published);
        let id = before.id.as_str();
        let limit_param = i64::from(limit);
        let entries = match path {
            None => sqlx::query(&page_sql::older())
                .bind(published)
                .bind(id)
                .bind(limit_param)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(stored_from_row)
                .collect::<Result<Vec<_>, _>>()?,
            Some(path) => {
                let live = live_sections(&mut tx, path).await?;
                let keys: Vec<(DateTime<Utc>, String)> =
                    sqlx::query_as(page_sql::OLDER_OF_SECTIONS)
                        .bind(&live)
                        .bind(published)
                        .bind(id)
                        .bind(limit_param)
                        .fetch_all(&mut *tx)
                        .await?;
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let published = db_time(from.published);
        let id = from.id.as_str();
        let limit_param = i64::from(limit);
        let keys: Vec<(DateTime<Utc>, String)> = match path {
            None => {
                sqlx::query_as(page_sql::NEWER_FROM)
                    .bind(published)
                    .bind(id)
                    .bind(limit_param)
                    .fetch_all(&mut *tx)
                    .await?
            }
            Some(path) => {
                let live = live_sections(&mut tx, path).await?;
                sqlx::query_as(page_sql::NEWER_FROM_SECTIONS)
                    .bind(&live)
                    .bind(published)
                    .bind(id)
                    .bind(limit_param)
                    .fetch_all(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        crate::store::oldest_keys(keys, limit)
    }

    /// A consumer's cursor and the events after it, oldest first.
    pub async fn pending_events(
        &self,
        consumer: &str,
        limit: u32,
    ) -> Result<(i64, Vec<Event>), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let cursor: i64 = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = $1")
            .bind(consumer)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0);
        Ok((cursor, events_since(&mut conn, cursor, limit).await?))
    }

    /// The articles (live or tombstones) with these ids; unknown ids are left out.
    pub async fn articles(&self, ids: &[ArticleId]) -> Result<Vec<StoredArticle>, StoreError> {
        let ids: Vec<&str> = ids.iter().map(ArticleId::as_str).collect();
        articles_by_id(&mut *self.pool.acquire().await?, &ids).await
    }

    /// Events after the cursor `after`, oldest first.
    #[tracing::instrument(skip_all, fields(after, limit))]
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        events_since(&mut conn, after, limit).await
    }

    /// The sections changed by the events after `after`, oldest first.
    pub async fn section_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SectionChange>, StoreError> {
        let rows: Vec<SectionChangeRow> = sqlx::query_as(
            "SELECT seq, section, moved_from, tags FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SectionChange::from_row).collect()
    }

    /// The cursor of the newest event (0 when there is none).
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Live articles per section (not including descendants).
    pub async fn article_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT section, live FROM sections WHERE live > 0 ORDER BY section")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(section, n)| (section, n.max(0) as u64))
            .collect())
    }
}

/// The articles (live or tombstones) with these ids, in no order; unknown ids are left out.
/// The sections of `path`'s subtree that hold live articles.
async fn live_sections(
    conn: &mut PgConnection,
    path: &SectionPath,
) -> Result<Vec<String>, StoreError> {
    let filter = ScopeFilter::of(Some(path), 1);
    let sections: Vec<(String, i64, DateTime<Utc>)> = filter
        .bind_as(sqlx::query_as(&page_sql::sections(&filter.sql)))
        .fetch_all(&mut *conn)
        .await?;
    Ok(sections
        .into_iter()
        .filter(|(_, live, _)| *live > 0)
        .map(|(section, _, _)| section)
        .collect())
}

async fn articles_by_id(
    conn: &mut PgConnection,
    ids: &[impl AsRef<str>],
) -> Result<Vec<StoredArticle>, StoreError> {
    let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    sqlx::query(&format!(
        "SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(stored_from_row)
    .collect()
}

/// Records in the `sections` table that an article write changed `section` at `at`, with
/// `live` more (or fewer) live articles there.
async fn touch_section(
    tx: &mut PgConnection,
    section: &SectionPath,
    live: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sections (section, live, modified_at) VALUES ($1, $2, $3)
         ON CONFLICT (section) DO UPDATE
         SET live = sections.live + excluded.live,
             modified_at = greatest(sections.modified_at, excluded.modified_at)",
    )
    .bind(section.as_str())
    .bind(live)
    .bind(db_time(at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Events after `after`, oldest first.
pub(super) async fn events_since(
    conn: &mut PgConnection,
    after: i64,
    limit: u32,
) -> Result<Vec<Event>, StoreError> {
    sqlx::query(super::super::EVENTS_SQL)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

/// The statements of a feed page (see [`PgStore::feed_page`]).
mod page_sql {
    use super::ARTICLE_COLUMNS;

    /// The sections of a scope (`filter` from [`super::ScopeFilter`], from `$1`).
    pub fn sections(filter: &str) -> String {
        format!("SELECT section, live, modified_at FROM sections WHERE {filter}")
    }

    /// The `$1` newest live articles of the whole site.
    pub fn newest() -> String {
        format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE deleted_at IS NULL
             ORDER BY published_utc DESC, id DESC LIMIT $1"
        )
    }

    /// The keys of the `$2` newest live articles of each section of `$1`, one bounded index
    /// walk each.
    pub const NEWEST_OF_SECTIONS: &str =
        "SELECT a.published_utc, a.id FROM unnest($1::text[]) AS s (section)
         CROSS JOIN LATERAL (
           SELECT published_utc, id FROM articles
           WHERE deleted_at IS NULL AND section = s.section COLLATE \"C\"
           ORDER BY published_utc DESC, id DESC LIMIT $2) AS a";

    /// The `$3` newest live articles of the whole site before the key (`$1`, `$2`).
    pub fn older() -> String {
        format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE deleted_at IS NULL
               AND (published_utc, id) < ($1, $2 COLLATE \"C\")
             ORDER BY published_utc DESC, id DESC LIMIT $3"
        )
    }

    /// The keys of the `$4` newest live articles of each section of `$1` before the key
    /// (`$2`, `$3`), one bounded index walk each.
    pub const OLDER_OF_SECTIONS: &str =
        "SELECT a.published_utc, a.id FROM unnest($1::text[]) AS s (section)
         CROSS JOIN LATERAL (
           SELECT published_utc, id FROM articles
           WHERE deleted_at IS NULL AND section = s.section COLLATE \"C\"
             AND (published_utc, id) < ($2, $3 COLLATE \"C\")
           ORDER BY published_utc DESC, id DESC LIMIT $4) AS a";

    /// The keys of the `$3` oldest live articles of the whole site at or after the key (`$1`,
    /// `$2`).
    pub const NEWER_FROM: &str = "SELECT published_utc, id FROM articles
         WHERE deleted_at IS NULL AND (published_utc, id) >= ($1, $2 COLLATE \"C\")
         ORDER BY published_utc, id LIMIT $3";

    /// As [`NEWER_FROM`], for each section of `$1`, from the key (`$2`, `$3`), `$4` each.
    pub const NEWER_FROM_SECTIONS: &str =
        "SELECT a.published_utc, a.id FROM unnest($1::text[]) AS s (section)
         CROSS JOIN LATERAL (
           SELECT published_utc, id FROM articles
           WHERE deleted_at IS NULL AND section = s.section COLLATE \"C\"
             AND (published_utc, id) >= ($2, $3 COLLATE \"C\")
           ORDER BY published_utc, id LIMIT $4) AS a";

    /// At most `$2` tombstones of the whole site published since `$1` (NULL: ever), the
    /// newest published first.
    pub fn deleted() -> String {
        format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles
             WHERE deleted_at IS NOT NULL
               AND published_utc >= coalesce($1, '-infinity'::timestamptz)
             ORDER BY published_utc DESC LIMIT $2"
        )
    }

    /// As [`deleted`], for each section of `$3`.
    pub const DELETED_OF_SECTIONS: &str = "SELECT a.* FROM unnest($3::text[]) AS s (section)
         CROSS JOIN LATERAL (
           SELECT body, version, created_at, modified_at, deleted_at FROM articles
           WHERE deleted_at IS NOT NULL AND section = s.section COLLATE \"C\"
             AND published_utc >= coalesce($1, '-infinity'::timestamptz)
           ORDER BY published_utc DESC LIMIT $2) AS a";
}

/// The rows of a section's subtree, or of the whole site (`None`): SQL, with its parameters
/// numbered from `first`, bound after those before them.
///
/// A section's subtree is the section itself and the paths in ['path/', 'path0'): `0` is the
/// character after `/`, so the range holds exactly the descendants and can use the index. The
/// column is COLLATE "C", so that the range compares bytes as SQLite does; under a linguistic
/// collation it would miss descendants. The whole site is a different statement rather than a
/// `$n IS NULL OR …` filter, which would keep a generic plan from using the index.
struct ScopeFilter {
    sql: String,
    binds: Option<[String; 3]>,
}

impl ScopeFilter {
    fn of(subtree: Option<&SectionPath>, first: usize) -> Self {
        match subtree {
            None => Self {
                sql: "TRUE".into(),
                binds: None,
            },
            Some(path) => Self {
                sql: format!(
                    "(section = ${} OR (section >= ${} AND section < ${}))",
                    first,
                    first + 1,
                    first + 2
                ),
                binds: Some([path.to_string(), format!("{path}/"), format!("{path}0")]),
            },
        }
    }

    fn bind_as<'q, T>(
        &self,
        mut query: sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments> {
        for value in self.binds.iter().flatten() {
            query = query.bind(value.clone());
        }
        query
    }
}

/// What is stored under these ids, each with its content hash.
async fn stored_with_hashes(
    conn: &mut PgConnection,
    ids: &[&str],
) -> Result<Vec<(StoredArticle, String)>, StoreError> {
    sqlx::query(&format!(
        "SELECT {ARTICLE_COLUMNS}, content_hash FROM articles WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((stored_from_row(row)?, row.try_get("content_hash")?)))
    .collect()
}

/// What a batch decided for one item: an answer already, or the nth write.
enum Decided {
    Unchanged(Box<Upserted>),
    Written(usize),
}

/// Writes the decided upserts of a batch (see [`versions::Batch`]) and their events, in
/// order: each article's last state once (an article sent twice in a batch is written as its
/// final version, inserted if the batch created it), then every event, in one statement each.
/// The transaction must hold [`EVENTS_LOCK`]; the batch writes the sections' changes.
async fn write_all(
    tx: &mut PgConnection,
    writes: &[(versions::Write, &str)],
) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Ok(());
    }
    // Each article's final write, and whether the batch created it, in order of first sight.
    // Each article's first write, too.
    let mut last: Vec<(usize, bool)> = Vec::new();
    let mut first: Vec<usize> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, (write, _)) in writes.iter().enumerate() {
        let id = write.stored.article.id.as_str();
        match seen.get(id) {
            Some(&at) => last[at].0 = i,
            None => {
                seen.insert(id, last.len());
                last.push((i, write.is_new));
                first.push(i);
            }
        }
    }
    for created in [true, false] {
        let rows = ArticleColumns::of(
            last.iter()
                .filter(|(_, is_new)| *is_new == created)
                .map(|(i, _)| &writes[*i]),
        );
        if rows.id.is_empty() {
            continue;
        }
        let sql = if created {
            "INSERT INTO articles (id, section, body, content_hash, published_utc, version, created_at, modified_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::timestamptz[],
                                  $6::bigint[], $7::timestamptz[], $8::timestamptz[])"
        } else {
            "UPDATE articles a SET section = v.section, body = v.body, content_hash = v.hash,
                    published_utc = v.published, version = v.version, modified_at = v.modified,
                    deleted_at = NULL
             FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::timestamptz[],
                         $6::bigint[], $7::timestamptz[], $8::timestamptz[])
                  AS v (id, section, body, hash, published, version, created, modified)
             WHERE a.id = v.id"
        };
        sqlx::query(sql)
            .bind(&rows.id)
            .bind(&rows.section)
            .bind(&rows.body)
            .bind(&rows.hash)
            .bind(&rows.published)
            .bind(&rows.version)
            .bind(&rows.created)
            .bind(&rows.modified)
            .execute(&mut *tx)
            .await?;
    }
    super::tags::replace(tx, last.iter().map(|(i, _)| &writes[*i].0.stored.article)).await?;
    // The versions stored before the batch that it replaces: each article's first write says
    // which. A version the batch itself replaces gets its snapshot with its event below.
    let superseded: Vec<&StoredArticle> = first
        .iter()
        .filter_map(|&i| writes[i].0.superseded.as_deref())
        .collect();
    keep_snapshots(tx, &superseded).await?;
    let is_last: Vec<bool> = {
        let mut flags = vec![false; writes.len()];
        for (i, _) in &last {
            flags[*i] = true;
        }
        flags
    };
    let mut events = EventColumns::default();
    for (i, (write, _)) in writes.iter().enumerate() {
        let stored = &write.stored;
        events
            .id
            .push(format!("evt_{}", uuid::Uuid::now_v7().simple()));
        events.kind.push(write.event.as_str());
        events.article.push(stored.article.id.as_str());
        events.section.push(stored.article.section.as_str());
        events
            .moved_from
            .push(write.moved_from.as_ref().map(SectionPath::as_str));
        events.version.push(stored.version);
        events.at.push(db_time(stored.modified_at));
        events.tags.push(event_tags(&write.touched_tags()));
        // The last version of the batch is the article's row; an earlier one is replaced.
        events.payload.push(if is_last[i] {
            None
        } else {
            Some(Json(versions::snapshot(stored)?))
        });
    }
    // In the batch's order: the events' seqs follow the rows as the ordered SELECT gives them.
    sqlx::query(
        "INSERT INTO events (id, type, article_id, section, moved_from, version, occurred_at, payload, tags)
         SELECT v.id, v.type, v.article_id, v.section, v.moved_from, v.version, v.occurred_at, v.payload, v.tags
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                     $7::timestamptz[], $8::jsonb[], $9::jsonb[])
              WITH ORDINALITY AS v (id, type, article_id, section, moved_from, version, occurred_at, payload, tags, n)
         ORDER BY v.n",
    )
    .bind(&events.id)
    .bind(&events.kind)
    .bind(&events.article)
    .bind(&events.section)
    .bind(&events.moved_from)
    .bind(&events.version)
    .bind(&events.at)
    .bind(&events.payload)
    .bind(&events.tags)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Article rows of [`write_all`], one array per column.
#[derive(Default)]
struct ArticleColumns<'a> {
    id: Vec<&'a str>,
    section: Vec<&'a str>,
    body: Vec<Json<&'a Article>>,
    hash: Vec<&'a str>,
    published: Vec<DateTime<Utc>>,
    version: Vec<i64>,
    created: Vec<DateTime<Utc>>,
    modified: Vec<DateTime<Utc>>,
}

impl<'a> ArticleColumns<'a> {
    fn of(writes: impl Iterator<Item = &'a (versions::Write, &'a str)>) -> Self {
        let mut rows = Self::default();
        for (write, hash) in writes {
            let stored = &write.stored;
            let article = &stored.article;
            rows.id.push(article.id.as_str());
            rows.section.push(article.section.as_str());
            rows.body.push(Json(article));
            rows.hash.push(hash);
            rows.published
                .push(db_time(article.published.with_timezone(&Utc)));
            rows.version.push(stored.version);
            rows.created.push(db_time(stored.created_at));
            rows.modified.push(db_time(stored.modified_at));
        }
        rows
    }
}

/// Event rows of [`write_all`], one array per column.
#[derive(Default)]
struct EventColumns<'a> {
    id: Vec<String>,
    kind: Vec<&'static str>,
    article: Vec<&'a str>,
    section: Vec<&'a str>,
    moved_from: Vec<Option<&'a str>>,
    version: Vec<i64>,
    at: Vec<DateTime<Utc>>,
    payload: Vec<Option<Json<serde_json::Value>>>,
    tags: Vec<Option<Json<Vec<String>>>>,
}

/// Writes an event; the transaction must hold [`EVENTS_LOCK`].
/// The event reads its payload from the article's row, which holds `stored` now (see
/// [`versions::snapshot`]).
async fn insert_event(
    tx: &mut PgConnection,
    kind: EventType,
    stored: &StoredArticle,
    moved_from: Option<&SectionPath>,
    tags: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO events (id, type, article_id, section, moved_from, version, occurred_at, tags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(format!("evt_{}", uuid::Uuid::now_v7().simple()))
    .bind(kind.as_str())
    .bind(stored.article.id.as_str())
    .bind(stored.article.section.as_str())
    .bind(moved_from.map(SectionPath::as_str))
    .bind(stored.version)
    .bind(db_time(now))
    .bind(event_tags(tags))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// An event's `tags`: NULL for none.
fn event_tags(tags: &[String]) -> Option<Json<Vec<String>>> {
    (!tags.is_empty()).then(|| Json(tags.to_vec()))
}

/// Gives the events of `superseded`, versions a write is about to replace in their articles'
/// rows, a snapshot of their own, where the snapshot's reader has not passed them yet.
async fn keep_snapshots(
    tx: &mut PgConnection,
    superseded: &[&StoredArticle],
) -> Result<(), StoreError> {
    if superseded.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = superseded.iter().map(|s| s.article.id.as_str()).collect();
    let versions: Vec<i64> = superseded.iter().map(|s| s.version).collect();
    // Which of them still need one, before building any: usually none.
    let needed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT e.article_id, e.version
           FROM events e JOIN unnest($1::text[], $2::bigint[]) AS v (article_id, version)
                ON e.article_id = v.article_id AND e.version = v.version
          WHERE e.payload IS NULL
            AND e.seq > coalesce((SELECT seq FROM cursors WHERE name = $3), 0)",
    )
    .bind(&ids)
    .bind(&versions)
    .bind(super::super::SNAPSHOT_READER)
    .fetch_all(&mut *tx)
    .await?;
    if needed.is_empty() {
        return Ok(());
    }
    let mut rows = (Vec::new(), Vec::new(), Vec::new());
    for stored in superseded {
        if needed
            .iter()
            .any(|(id, v)| id == stored.article.id.as_str() && *v == stored.version)
        {
            rows.0.push(stored.article.id.as_str());
            rows.1.push(stored.version);
            rows.2.push(Json(versions::snapshot(stored)?));
        }
    }
    sqlx::query(
        "UPDATE events e SET payload = v.payload
           FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) AS v (article_id, version, payload)
          WHERE e.article_id = v.article_id AND e.version = v.version AND e.payload IS NULL",
    )
    .bind(&rows.0)
    .bind(&rows.1)
    .bind(&rows.2)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(super) fn stored_from_row(row: &PgRow) -> Result<StoredArticle, StoreError> {
    let Json(article): Json<Article> = row
        .try_get("body")
        .map_err(|e| StoreError::Corrupt(format!("article body: {e}")))?;
    Ok(StoredArticle {
        article,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

fn event_from_row(row: &PgRow) -> Result<Event, StoreError> {
    let kind: String = row.try_get("type")?;
    let article_id: String = row.try_get("article_id")?;
    let section: String = row.try_get("section")?;
    let moved_from: Option<String> = row.try_get("moved_from")?;
    let own: Option<Json<serde_json::Value>> = row.try_get("payload")?;
    let article_row = if sqlx::ValueRef::is_null(&row.try_get_raw("body")?) {
        None
    } else {
        Some(stored_from_row(row)?)
    };
    let version: i64 = row.try_get("event_version")?;
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
        occurred_at: row.try_get("occurred_at")?,
        payload: versions::event_payload(own.map(|Json(p)| p), version, article_row)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::plans::{PlanDb, assert_bounded, plan};
    use super::*;

    #[tokio::test]
    async fn feed_pages_walk_indexes_and_sort_nothing() {
        let Some(db) = PlanDb::open().await else {
            return;
        };
        let pool = &db.store.pool;
        let section = SectionPath::parse("hnyw").expect("a path");
        let filter = ScopeFilter::of(Some(&section), 1);
        let sections = vec!["hnyw", "hnyw/ldhd"];
        let explain = |sql: &str| format!("EXPLAIN {sql}");
        let since = Some(db_time(Utc::now()));
        let plans = [
            (
                "sections of a section",
                plan(
                    pool,
                    filter.binds.iter().flatten().fold(
                        sqlx::query(&explain(&page_sql::sections(&filter.sql))),
                        |q, v| q.bind(v.clone()),
                    ),
                )
                .await,
            ),
            (
                "newest of everything",
                plan(
                    pool,
                    sqlx::query(&explain(&page_sql::newest())).bind(50_i64),
                )
                .await,
            ),
            (
                "newest of sections",
                plan(
                    pool,
                    sqlx::query(&explain(page_sql::NEWEST_OF_SECTIONS))
                        .bind(&sections)
                        .bind(50_i64),
                )
                .await,
            ),
            (
                "tombstones of everything",
                plan(
                    pool,
                    sqlx::query(&explain(&page_sql::deleted()))
                        .bind(since)
                        .bind(50_i64),
                )
                .await,
            ),
            (
                "tombstones of sections",
                plan(
                    pool,
                    sqlx::query(&explain(page_sql::DELETED_OF_SECTIONS))
                        .bind(since)
                        .bind(50_i64)
                        .bind(&sections),
                )
                .await,
            ),
        ];
        for (name, plan) in &plans {
            assert_bounded(name, plan);
        }
        db.close().await;
    }
}
