//! Persistence: the contract every backend implements, as use cases that each own their
//! transaction.
//!
//! [`Store`] is the contract. It holds one backend, chosen by the database URL; each backend
//! is a module of SQL behind the same method names. An enum rather than a trait object: the
//! set of backends is closed and known here, the methods are `async` (which trait objects
//! make awkward), and a `match` keeps every call static and every backend's code plain.
//!
//! **Backends.** `sqlite:` URLs open the embedded SQLite backend: one process at a time
//! writes, the file lives beside the service. `postgres:` and `postgresql:` URLs open the
//! PostgreSQL backend, which several instances share: a pool sized by [`DatabaseConfig`],
//! event sequence numbers that become visible in commit order, claims that two instances never
//! both win, and [`Store::changed`] to hear of the writes of other instances. Both run the same
//! conformance suite (`tests/store`), so that everything above this module is backend-blind.
//! [`Store::copy_to`] copies a whole store into another of either backend (`tidings copy`),
//! from one description of the tables (`copy`).
//!
//! **Units of work finish whatever happens to their caller.** Every write runs as its own
//! task: when the caller is dropped (a client hangs up, a request times out, a worker shuts
//! down), the transaction still commits or rolls back, and its connection returns to the pool
//! outside any transaction. A caller that must not have its write committed once it is gone
//! (a batch whose client will never see the per-item results) says so with a cancellation
//! token that the unit checks before it commits.

mod postgres;
mod sqlite;

use std::future::Future;

use chrono::{DateTime, FixedOffset, SecondsFormat, Timelike, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::domain::{Article, ArticleId, FeedCursor, Scope, SearchQuery, StoredArticle, Tombstone};
pub use crate::domain::{Event, EventType, QueueStats, Target, TargetKind};

mod pages;
mod search;
mod types;
mod versions;

use crate::config::DatabaseConfig;
use postgres::PgStore;
use sqlite::SqliteStore;
use types::SectionChangeRow;
pub use types::{
    Attempt, AttemptOutcome, AttemptRecord, Claimed, CursorMove, DeliveryView, EndpointPatch,
    Enqueued, LastDelivery, NewDelivery, NewEndpoint, NewMessage, PendingVerification, Recorded,
    Resend, SectionChange, SubscriptionView, Upserted,
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
    Database(#[source] sqlx::Error),
    /// The database cannot be reached or cannot answer now (connection lost or refused, no
    /// free connection in time, server shutting down, statement timeout): try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot prepare the database location: {0}")]
    Io(#[from] std::io::Error),
    /// The delivery's lease ran out and another worker took it over: this worker's result is
    /// not recorded (the other one's will be).
    #[error("the lease of this delivery ran out; another worker has it")]
    LeaseLost,
    /// The caller went away before the commit, and asked for nothing to be committed then.
    #[error("the caller went away; nothing was committed")]
    Abandoned,
    /// A unit of work ended without an answer (it panicked); its transaction rolled back.
    #[error("a unit of work was interrupted: {0}")]
    Interrupted(String),
}

impl From<sqlx::Error> for StoreError {
    /// Connection trouble becomes [`StoreError::Unavailable`], whichever the backend; anything
    /// else stays a database error. (sqlx's messages never carry the connection URL.)
    fn from(err: sqlx::Error) -> Self {
        if let Some(reason) = sqlite::storage_fault(&err) {
            StoreError::Unavailable(format!("{reason}: {err}"))
        } else if postgres::is_unavailable(&err) || sqlite::is_busy(&err) {
            StoreError::Unavailable(err.to_string())
        } else {
            StoreError::Database(err)
        }
    }
}

/// Active subscriptions to one feed and on one callback host (see
/// [`Store::subscription_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionCounts {
    pub feed: u64,
    pub host: u64,
    /// The (topic, callback) asked about is active already: a request would renew it.
    pub renewal: bool,
}

impl From<CountsRow> for SubscriptionCounts {
    fn from((feed, host, renewal): CountsRow) -> Self {
        Self {
            feed: feed as u64,
            host: host as u64,
            renewal,
        }
    }
}

/// The consumer of the event log that reads the events' article snapshots: the webhook
/// dispatcher. An event whose version a later write replaced keeps a snapshot of its own only
/// while this consumer has not read it (see `versions::snapshot`).
pub const SNAPSHOT_READER: &str = "webhooks";

/// The events after `$1`, oldest first, at most `$2`; the same SQL on both engines. An event
/// without a snapshot of its own comes with its article's row, which holds the event's
/// version unless a later write replaced it.
const EVENTS_SQL: &str = "SELECT e.seq, e.id, e.type, e.article_id, e.section, e.moved_from,
       e.tags, e.version AS event_version, e.occurred_at, e.payload,
       a.body, a.version, a.created_at, a.modified_at, a.deleted_at
  FROM events e LEFT JOIN articles a ON e.payload IS NULL AND a.id = e.article_id
 WHERE e.seq > $1 ORDER BY e.seq LIMIT $2";

/// See [`Store::subscription_counts`]; the same SQL on both engines. `$1` is now; `$2` and
/// `$3` the feed's scope and format; `$4` to `$7` the callback host's patterns
/// ([`callback_host_patterns`]); `$8` and `$9` the topic and callback asked about.
const SUBSCRIPTION_COUNTS_SQL: &str = "SELECT
       (SELECT count(*) FROM websub_subscriptions
         WHERE expires_at > $1 AND scope = $2 AND format = $3) AS feed,
       (SELECT count(*) FROM websub_subscriptions
         WHERE expires_at > $1 AND (callback LIKE $4 ESCAPE '\\' OR callback LIKE $5 ESCAPE '\\'
            OR callback LIKE $6 ESCAPE '\\' OR callback LIKE $7 ESCAPE '\\')) AS host,
       EXISTS (SELECT 1 FROM websub_subscriptions
         WHERE topic = $8 AND callback = $9 AND expires_at > $1) AS renewal";

/// A row of [`SUBSCRIPTION_COUNTS_SQL`], as either engine decodes it.
type CountsRow = (i64, i64, bool);

/// `LIKE` patterns (escape `\`) matching the callbacks on `host` with any scheme and port.
/// Stored callbacks are serialised by the URL parser (lowercase scheme and host, a path of at
/// least `/`, no credentials), so a prefix names the host exactly.
pub(crate) fn callback_host_patterns(host: &str) -> [String; 4] {
    let escaped = host
        .to_ascii_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    [
        format!("http://{escaped}/%"),
        format!("http://{escaped}:%"),
        format!("https://{escaped}/%"),
        format!("https://{escaped}:%"),
    ]
}

/// Whether the last use of a store in this process met a storage fault: such faults are logged
/// once per change of state, not once per request or engine turn.
static FAILING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Reports a failed use of the store: a storage fault ([`StoreError::Unavailable`]) is logged
/// at warn the first time after a success, at debug while it lasts; any other error at error.
pub fn report_fault(what: &str, err: &StoreError) {
    use std::sync::atomic::Ordering;
    if !matches!(err, StoreError::Unavailable(_)) {
        tracing::error!(error = %err, "{what}");
    } else if FAILING.swap(true, Ordering::Relaxed) {
        tracing::debug!(error = %err, "{what}");
    } else {
        tracing::warn!(error = %err, "{what}; logged again when it changes");
    }
}

/// Reports a successful use of the store: the end of a storage fault is logged once.
pub fn report_working() {
    use std::sync::atomic::Ordering;
    // Read first: this runs at every engine turn, and a write would bounce the cache line.
    if FAILING.load(Ordering::Relaxed) && FAILING.swap(false, Ordering::Relaxed) {
        tracing::info!("the database answers again");
    }
}

/// The backends.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Runs `$body` with `$s` bound to the backend inside `$backend`.
macro_rules! on_backend {
    ($backend:expr, $s:ident => $body:expr) => {
        match $backend {
            Backend::Sqlite($s) => $body,
            Backend::Postgres($s) => $body,
        }
    };
}

// After the macro, which they use.
mod copy;
mod history;
mod queue;
mod sources;
mod verifications;
pub use copy::{CopyProgress, CopyReport, TableCopy, is_database_url, same_database, sqlite_file};

/// The store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

impl Store {
    /// Opens (creating it if needed) and migrates the database at `url`: `sqlite:` for the
    /// SQLite backend, `postgres:` or `postgresql:` for PostgreSQL, whose pool `settings`
    /// shape (SQLite keeps its own).
    pub async fn connect(url: &str, settings: &DatabaseConfig) -> Result<Self, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(SqliteStore::connect(url).await?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres(PgStore::connect(url, settings).await?)
        } else {
            // Only the scheme is named: the rest of the URL may hold a password.
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported database URL scheme {scheme:?}: use sqlite: or postgres:")
                    .into(),
            )));
        };
        Ok(Self { backend })
    }

    /// Resolves when another process (another instance, the CLI) may have changed the store,
    /// so that what was read from it may be stale: at the next change signalled after this
    /// call (a caller also polls, for a signal lost before its call). Writes of this process
    /// signal it too. SQLite has no such signal: there it never resolves, and callers rely on
    /// polling alone. On PostgreSQL every write that changes articles, events, deliveries,
    /// endpoints or subscriptions signals it at its commit, and so does every reconnection of
    /// the listening connection (a signal may have been missed while it was down). Once the
    /// store is closed it never resolves.
    pub async fn changed(&self) {
        match &self.backend {
            Backend::Sqlite(_) => std::future::pending().await,
            Backend::Postgres(s) => s.changed().await,
        }
    }

    /// Runs a unit of work as its own task, so that it completes (or rolls back) even when
    /// the caller is dropped half-way.
    async fn detached<T, Fut>(&self, work: impl FnOnce(Backend) -> Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let unit = work(self.backend.clone()).in_current_span();
        match tokio::spawn(unit).await {
            Ok(result) => result,
            Err(err) => Err(StoreError::Interrupted(err.to_string())),
        }
    }

    /// Stores an article unless an identical one (same `content_hash`) is stored, and writes
    /// its event in the same transaction. When the article changed and the publisher gave no
    /// `updated` time, `now` becomes it.
    pub async fn upsert_article(
        &self,
        article: &Article,
        content_hash: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Upserted, StoreError> {
        let items = vec![(article.clone(), content_hash.to_owned())];
        let mut upserted = self
            .upsert_articles(items, now, CancellationToken::new())
            .await?;
        upserted
            .pop()
            .ok_or_else(|| StoreError::Corrupt("an upsert gave no result".into()))
    }

    /// Stores many articles in one transaction, all or none, with one result per item in
    /// order. If `caller_gone` is cancelled before the commit, nothing is committed
    /// ([`StoreError::Abandoned`]).
    pub async fn upsert_articles(
        &self,
        items: Vec<(Article, String)>,
        now: DateTime<FixedOffset>,
        caller_gone: CancellationToken,
    ) -> Result<Vec<Upserted>, StoreError> {
        self.detached(move |b| async move {
            on_backend!(b, s => s.upsert_articles(&items, now, &caller_gone).await)
        })
        .await
    }

    /// Turns an article into a tombstone and writes its `article.deleted` event, together.
    pub async fn delete_article(
        &self,
        id: &ArticleId,
        now: DateTime<Utc>,
    ) -> Result<DeleteOutcome, StoreError> {
        let id = id.clone();
        self.detached(move |b| async move { on_backend!(b, s => s.delete_article(&id, now).await) })
            .await
    }

    /// One article, live or tombstone.
    pub async fn article(&self, id: &ArticleId) -> Result<Option<StoredArticle>, StoreError> {
        on_backend!(&self.backend, s => s.article(id).await)
    }

    /// The newest `limit` live articles of a scope, the tombstones inside that window, and the
    /// time of the scope's newest change. A tombstone is inside the window when the deleted
    /// article was published no earlier than the oldest live entry shown (or at any time,
    /// when the feed is not full).
    pub async fn feed_page(&self, scope: &Scope, limit: u32) -> Result<FeedPage, StoreError> {
        on_backend!(&self.backend, s => s.feed_page(scope, limit).await)
    }

    /// The tags live articles carry, the most carried first (then by name), with how many
    /// live articles carry each; at most `limit` of them. One walk of the live tags' index.
    pub async fn tag_counts(&self, limit: u32) -> Result<Vec<(String, u64)>, StoreError> {
        on_backend!(&self.backend, s => s.tag_counts(limit).await)
    }

    /// The `limit` newest live articles of a scope published before `before`, in the feeds'
    /// order: the page behind a feed page whose oldest entry `before` marks (RFC 5005).
    pub async fn articles_before(
        &self,
        scope: &Scope,
        before: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<StoredArticle>, StoreError> {
        on_backend!(&self.backend, s => s.articles_before(scope, before, limit).await)
    }

    /// The keys of the `limit` oldest live articles of a scope at or after `from`, oldest
    /// first: where the page in front of a page behind a feed begins (RFC 5005
    /// `next-archive`).
    pub async fn article_keys_from(
        &self,
        scope: &Scope,
        from: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<FeedCursor>, StoreError> {
        on_backend!(&self.backend, s => s.article_keys_from(scope, from, limit).await)
    }

    /// Live articles whose title, own summary or body contains `query` (ASCII letters in
    /// either case, every other character as written), in the feeds' order: newest
    /// publication first, then the greater id. At most `limit`, and, given `after` (the last
    /// article of a previous batch), only those that come after it in that order, so that a
    /// caller can read on.
    ///
    /// The body is searched as stored, HTML: its markup may match (a caller that wants only
    /// text checks the candidates again), and a phrase that markup interrupts
    /// (`双<b>拥</b>`) does not. The read walks the live articles newest first and stops at
    /// `limit` matches, so its cost grows with how far back the matches lie: a query that
    /// matches nothing reads every live article once.
    pub async fn search_articles(
        &self,
        query: &SearchQuery,
        after: Option<&StoredArticle>,
        limit: u32,
    ) -> Result<Vec<StoredArticle>, StoreError> {
        on_backend!(&self.backend, s => s.search_articles(query, after, limit).await)
    }

    /// Events after the cursor `after`, oldest first.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        on_backend!(&self.backend, s => s.events_after(after, limit).await)
    }

    /// The sections and tags changed by the events after the cursor `after`, oldest first:
    /// what a reader of events needs to invalidate feeds, without the events' payloads.
    pub async fn section_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SectionChange>, StoreError> {
        on_backend!(&self.backend, s => s.section_changes_after(after, limit).await)
    }

    /// The cursor of the newest event (0 when there is none).
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        on_backend!(&self.backend, s => s.last_event_seq().await)
    }

    /// Live articles per section (not including descendants).
    pub async fn article_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        on_backend!(&self.backend, s => s.article_counts().await)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(&self.backend, s => s.ping().await)
    }

    pub async fn close(&self) {
        on_backend!(&self.backend, s => s.close().await)
    }
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

/// Every endpoint's routes, in the order of [`Store::endpoints`]; the same SQL on both engines.
const ROUTES_SQL: &str =
    "SELECT id, event_types, sections, after_seq FROM webhook_endpoints ORDER BY created_at, id";

/// See [`Store::endpoint_routes_revision`]; the same SQL on both engines.
const ROUTES_REVISION_SQL: &str = "SELECT n FROM endpoint_routes_revision WHERE id = 1";

/// A row of [`ROUTES_SQL`], as either engine decodes it.
type RouteRow = (
    String,
    sqlx::types::Json<Vec<String>>,
    sqlx::types::Json<Vec<crate::domain::SectionPath>>,
    i64,
);

fn route_from_row(
    (id, types, sections, after_seq): RouteRow,
) -> Result<crate::domain::EndpointRoute, StoreError> {
    Ok(crate::domain::EndpointRoute {
        id,
        event_types: stored_event_types(&types.0)?,
        sections: sections.0,
        after_seq,
    })
}

/// An endpoint's stored event type names, read back.
pub(crate) fn stored_event_types(names: &[String]) -> Result<Vec<EventType>, StoreError> {
    names
        .iter()
        .map(|t| {
            EventType::parse(t)
                .ok_or_else(|| StoreError::Corrupt(format!("endpoint event_types: {t}")))
        })
        .collect()
}

/// An endpoint's stored kind, read back.
pub(crate) fn stored_kind(name: &str) -> Result<crate::domain::EndpointKind, StoreError> {
    crate::domain::EndpointKind::parse(name)
        .ok_or_else(|| StoreError::Corrupt(format!("endpoint kind: {name}")))
}

/// A time as both engines store it: to the microsecond.
/// The `limit` oldest of `keys` (from one walk per section), as cursors, oldest first.
pub(crate) fn oldest_keys(
    mut keys: Vec<(DateTime<Utc>, String)>,
    limit: u32,
) -> Result<Vec<FeedCursor>, StoreError> {
    keys.sort_unstable();
    keys.truncate(limit as usize);
    keys.into_iter()
        .map(|(published, id)| {
            let id =
                ArticleId::parse(&id).map_err(|_| StoreError::Corrupt(format!("id {id:?}")))?;
            Ok(FeedCursor { published, id })
        })
        .collect()
}

pub(crate) fn to_microsecond(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}
