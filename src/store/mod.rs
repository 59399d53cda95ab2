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

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::domain::{
    Article, ArticleId, CallbackUrl, Endpoint, FeedFormat, Scope, Secret, StoredArticle,
    Subscription, Tombstone,
};
pub use crate::domain::{Event, EventType, QueueStats, Target, TargetKind};

mod types;
mod versions;

use crate::config::DatabaseConfig;
use postgres::PgStore;
use sqlite::SqliteStore;
pub use types::{
    Attempt, AttemptOutcome, Claimed, CursorMove, DeliveryView, EndpointPatch, Enqueued,
    LastDelivery, NewDelivery, NewEndpoint, NewMessage, Resend, SubscriptionView, Upserted,
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
        if postgres::is_unavailable(&err) || sqlite::is_busy(&err) {
            StoreError::Unavailable(err.to_string())
        } else {
            StoreError::Database(err)
        }
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

// After the macro, which it uses.
mod copy;
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

    /// Events after the cursor `after`, oldest first.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        on_backend!(&self.backend, s => s.events_after(after, limit).await)
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

    /// A consumer's cursor in the event log, and the events after it (at most `limit`),
    /// oldest first.
    pub async fn pending_events(
        &self,
        consumer: &str,
        limit: u32,
    ) -> Result<(i64, Vec<Event>), StoreError> {
        on_backend!(&self.backend, s => s.pending_events(consumer, limit).await)
    }

    /// Queues messages with their deliveries and, when given, moves a consumer's cursor, all
    /// in one transaction. The cursor moves only from where it was read (compare-and-set), so
    /// that two dispatchers (two instances) never queue the same events twice: the loser gets
    /// [`Enqueued::Raced`] and nothing is queued. Deliveries to targets that are gone are
    /// skipped, and so are duplicates of (target, message).
    pub async fn enqueue(
        &self,
        cursor: Option<CursorMove>,
        messages: Vec<NewMessage>,
        now: DateTime<Utc>,
    ) -> Result<Enqueued, StoreError> {
        self.detached(move |b| async move {
            on_backend!(b, s => s.enqueue(cursor, &messages, now).await)
        })
        .await
    }

    /// The articles (live or tombstones) with these ids, in no particular order; unknown ids
    /// are left out.
    pub async fn articles(&self, ids: &[ArticleId]) -> Result<Vec<StoredArticle>, StoreError> {
        on_backend!(&self.backend, s => s.articles(ids).await)
    }

    /// The subscriptions whose lease has not ended.
    pub async fn active_subscriptions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        on_backend!(&self.backend, s => s.active_subscriptions(now).await)
    }

    /// Leases up to `limit` due deliveries until `lease_until`: pending, due, not leased, to
    /// a live target, and not behind an earlier pending delivery with the same order key to
    /// the same target.
    pub async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.detached(move |b| async move {
            on_backend!(b, s => s.claim_due_deliveries(now, lease_until, limit).await)
        })
        .await
    }

    /// Gives a claimed delivery back without an attempt (rate limit, shutdown), unless its
    /// lease already passed to another worker.
    pub async fn release_delivery(
        &self,
        claim: &Claimed,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (seq, lease) = (claim.seq, claim.lease_until);
        self.detached(move |b| async move {
            on_backend!(b, s => s.release_delivery(seq, lease, next_attempt_at).await)
        })
        .await
    }

    /// Records an attempt and its outcome, and keeps a webhook endpoint's failure history;
    /// returns the endpoint's `failing_since` afterwards. Only while the delivery still holds
    /// this claim's lease: otherwise nothing is recorded ([`StoreError::LeaseLost`]), so that
    /// a worker whose lease ran out can never overwrite the result of the one that took over.
    pub async fn record_attempt(
        &self,
        claim: &Claimed,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (seq, lease, target) = (claim.seq, claim.lease_until, claim.target.clone());
        let attempt = attempt.clone();
        self.detached(move |b| async move {
            on_backend!(b, s => s.record_attempt(seq, lease, &target, &attempt, outcome).await)
        })
        .await
    }

    /// The delivery log of an endpoint, oldest first, after the cursor `after`.
    pub async fn deliveries_of(
        &self,
        endpoint_id: &str,
        status: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        on_backend!(&self.backend, s => s.deliveries_of(endpoint_id, status, after, limit).await)
    }

    /// One delivery by its public id.
    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryView>, StoreError> {
        on_backend!(&self.backend, s => s.delivery(id).await)
    }

    /// Puts a delivery back in the queue, due now, with a fresh schedule (same `webhook-id`);
    /// one being sent right now is left alone.
    pub async fn resend_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Resend, StoreError> {
        let id = id.to_owned();
        self.detached(
            move |b| async move { on_backend!(b, s => s.resend_delivery(&id, now).await) },
        )
        .await
    }

    /// Re-queues every failed delivery of an endpoint created since `since`.
    pub async fn recover_deliveries(
        &self,
        endpoint_id: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.detached(move |b| async move {
            on_backend!(b, s => s.recover_deliveries(&endpoint_id, since, now).await)
        })
        .await
    }

    /// The earliest time a pending delivery becomes due, if any.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_backend!(&self.backend, s => s.next_due().await)
    }

    /// Queue figures for metrics.
    pub async fn queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats, StoreError> {
        on_backend!(&self.backend, s => s.queue_stats(now).await)
    }

    /// Registers an endpoint; it receives the events after the newest one at this moment.
    pub async fn create_endpoint(
        &self,
        new: NewEndpoint,
        now: DateTime<Utc>,
    ) -> Result<Endpoint, StoreError> {
        self.detached(
            move |b| async move { on_backend!(b, s => s.create_endpoint(new, now).await) },
        )
        .await
    }

    pub async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        on_backend!(&self.backend, s => s.endpoints().await)
    }

    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        on_backend!(&self.backend, s => s.endpoint(id).await)
    }

    /// Applies a patch; `None` when there is no such endpoint.
    pub async fn update_endpoint(
        &self,
        id: &str,
        patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        let id = id.to_owned();
        self.detached(move |b| async move {
            on_backend!(b, s => s.update_endpoint(&id, patch, now).await)
        })
        .await
    }

    /// Removes an endpoint and its queue; `false` when there was none.
    pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.detached(move |b| async move { on_backend!(b, s => s.delete_endpoint(&id).await) })
            .await
    }

    /// Replaces the secret; the old one keeps signing until `grace_until`.
    pub async fn rotate_secret(
        &self,
        id: &str,
        secret: &Secret,
        grace_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        let (id, secret) = (id.to_owned(), secret.clone());
        self.detached(move |b| async move {
            on_backend!(b, s => s.rotate_secret(&id, &secret, grace_until, now).await)
        })
        .await
    }

    /// Disables an endpoint, recording why.
    pub async fn disable_endpoint(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (id, reason) = (id.to_owned(), reason.to_owned());
        self.detached(move |b| async move {
            on_backend!(b, s => s.disable_endpoint(&id, &reason, now).await)
        })
        .await
    }

    /// Stores a verified subscription, or renews one (lease and secret replaced).
    #[allow(clippy::too_many_arguments)]
    pub async fn upsert_subscription(
        &self,
        topic: &str,
        scope: &Scope,
        format: FeedFormat,
        callback: &CallbackUrl,
        secret: Option<&str>,
        lease_seconds: i64,
        now: DateTime<Utc>,
    ) -> Result<Subscription, StoreError> {
        let (topic, scope, callback) = (topic.to_owned(), scope.clone(), callback.clone());
        let secret = secret.map(str::to_owned);
        self.detached(move |b| async move {
            on_backend!(b, s => s.upsert_subscription(
                &topic, &scope, format, &callback, secret.as_deref(), lease_seconds, now,
            ).await)
        })
        .await
    }

    /// Ends a subscription and drops what was queued for it; `false` when there was none.
    pub async fn remove_subscription(
        &self,
        topic: &str,
        callback: &str,
    ) -> Result<bool, StoreError> {
        let (topic, callback) = (topic.to_owned(), callback.to_owned());
        self.detached(move |b| async move {
            on_backend!(b, s => s.remove_subscription(&topic, &callback).await)
        })
        .await
    }

    /// Ends a subscription by id (a callback answered 410 Gone).
    pub async fn remove_subscription_by_id(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.detached(move |b| async move {
            on_backend!(b, s => s.remove_subscription_by_id(&id).await)
        })
        .await
    }

    /// Deletes expired subscriptions and their queues; returns how many.
    pub async fn purge_expired_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.detached(move |b| async move {
            on_backend!(b, s => s.purge_expired_subscriptions(now).await)
        })
        .await
    }

    /// Subscriptions (of one topic, if given), each with its latest delivery.
    pub async fn subscriptions(
        &self,
        topic: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SubscriptionView>, StoreError> {
        on_backend!(&self.backend, s => s.subscriptions(topic, now).await)
    }

    /// Active subscribers per topic: (scope, format extension) → count.
    pub async fn subscriber_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<(String, String), u64>, StoreError> {
        on_backend!(&self.backend, s => s.subscriber_counts(now).await)
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
