//! The use cases shared by every front door (HTTP, CLI): publish, delete, read feeds.

mod live;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, Scope};
use crate::config::Config;
use crate::delivery::client::{AddressPolicy, ClientSettings, Lookup, Outbound};
use crate::delivery::{Channel, DeliveryEngine, Waker};
use crate::domain::{
    Article, ArticleId, EventSummary, FeedCursor, FeedFormat, QueueStats, SearchQuery,
    StoredArticle, Tag, Tombstone,
};
use crate::feed_cache::{CachedFeed, FeedCache, FeedKey};
use crate::ingest::{FieldError, Normalizer, Rejection};
use crate::metrics::Metrics;
use crate::render::{FeedContext, History, render_feed, shown_summary};
use crate::store::{DeleteOutcome, FeedPage, Store, StoreError, Upserted};
use crate::webhooks::{WebhookChannel, Webhooks};
use crate::websub::Hub;

pub use live::{LiveLog, NoSlot, StreamSlot, changes_scope};

/// How many rendered documents the feed cache keeps.
const FEED_CACHE_CAPACITY: usize = 2048;

/// How many candidates a search reads from the store at a time.
const SEARCH_BATCH: u32 = 100;

/// Runs CPU work (sanitising, rendering, compressing) on the blocking pool, so that the async
/// workers stay free for every other request; a panic in it carries on in the caller.
pub async fn blocking<T, F>(work: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(err) => match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => panic!("blocking work was cancelled: the runtime is shutting down"),
        },
    }
}

/// Why a publication did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the outbound HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Everything a request or command needs; cheap to clone.
/// Where a feed document stands: its own URL and its [`History`] links, owned.
struct Place {
    self_url: String,
    older: Option<String>,
    newer: Option<String>,
    current: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub config: Arc<Config>,
    pub catalog: Arc<Catalog>,
    store: Store,
    pub cache: Arc<FeedCache>,
    pub metrics: Arc<Metrics>,
    /// Pushes events to subscribers; only `serve` runs it, others just wake it.
    pub delivery: DeliveryEngine,
    /// Webhook endpoints, their delivery log and the event log.
    pub webhooks: Webhooks,
    /// The WebSub hub.
    pub hub: Hub,
    /// Checks and sends outbound requests (also to check URLs when they are registered).
    pub outbound: Outbound,
    /// The last event whose sections' feeds were invalidated.
    applied_seq: Arc<tokio::sync::Mutex<i64>>,
    /// The same, for the live streams of the event log, and their bound.
    pub live: LiveLog,
    /// Bounds the CPU given to normalising (sanitising) articles: one batch per core.
    normalizing: Arc<tokio::sync::Semaphore>,
    /// When this process opened the store, to the second (see [`Service::updated`]).
    opened_at: DateTime<Utc>,
}

impl Service {
    /// Opens the store (migrating it) and starts from the newest event.
    pub async fn open(config: Config, catalog: Catalog) -> Result<Self, OpenError> {
        Self::open_with(config, catalog, Lookup::System).await
    }

    /// [`Service::open`], resolving the names of outbound requests with `lookup`.
    pub async fn open_with(
        config: Config,
        catalog: Catalog,
        lookup: Lookup,
    ) -> Result<Self, OpenError> {
        let config = config.settled();
        let store = Store::connect(&config.database_url, &config.database).await?;
        let applied = store.last_event_seq().await?;
        let catalog = Arc::new(catalog);
        let metrics = Arc::new(Metrics::new());
        let d = &config.delivery;
        let outbound = Outbound::new(ClientSettings {
            connect_timeout: Duration::from_secs_f64(d.connect_timeout_secs),
            timeout: Duration::from_secs_f64(d.request_timeout_secs),
            max_response_bytes: d.max_response_bytes,
            policy: AddressPolicy {
                allow_private: d.allow_private_destinations,
            },
            lookup,
        })?;
        let hub = Hub::new(
            store.clone(),
            catalog.clone(),
            &config.websub,
            config.public_base(),
            outbound.clone(),
            metrics.clone(),
        );
        let waker = Waker::default();
        // Webhooks first: they are sent at once, while WebSub waits for its window.
        let channels: Vec<Arc<dyn Channel>> = vec![
            Arc::new(WebhookChannel::new(
                store.clone(),
                catalog.clone(),
                d,
                metrics.clone(),
            )),
            Arc::new(hub.channel()),
        ];
        let delivery =
            DeliveryEngine::new(store.clone(), d, outbound.clone(), waker.clone(), channels);
        let webhooks = Webhooks::new(store.clone(), waker, d, metrics.clone());
        let live = LiveLog::new(applied, config.events.max_streams, metrics.clone());
        Ok(Self {
            opened_at: Utc::now().trunc_subsecs(0),
            config: Arc::new(config),
            catalog,
            store,
            cache: Arc::new(FeedCache::new(FEED_CACHE_CAPACITY)),
            metrics,
            delivery,
            webhooks,
            hub,
            outbound,
            applied_seq: Arc::new(tokio::sync::Mutex::new(applied)),
            live,
            normalizing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, usize::from),
            )),
        })
    }

    /// The store, for the use cases beside this one that keep their own state in it (sources).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The present, in the site's time zone.
    pub fn now(&self) -> DateTime<FixedOffset> {
        Utc::now()
            .with_timezone(&self.catalog.site.time_zone)
            .fixed_offset()
    }

    pub fn generator(&self) -> String {
        format!("tidings/{}", env!("CARGO_PKG_VERSION"))
    }

    /// Validates, stores and (after commit) makes the change visible in feeds.
    pub async fn publish(&self, document: Value) -> Result<Upserted, PublishError> {
        let normalized = self
            .normalizing(move |normalizer| normalizer.article(&document))
            .await?;
        let upserted = self
            .store
            .upsert_article(&normalized.article, &normalized.content_hash, self.now())
            .await?;
        self.apply_changes_after_write().await;
        Ok(upserted)
    }

    /// Validates every document, then stores the valid ones in one transaction: all of them,
    /// or (on a store error, or when `caller_gone` is cancelled before the commit) none.
    /// Returns one result per document, in order.
    pub async fn publish_batch(
        &self,
        documents: Vec<Result<Value, String>>,
        caller_gone: CancellationToken,
    ) -> Result<Vec<Result<Upserted, Rejection>>, StoreError> {
        // The valid articles go to the store; each document keeps its place as `Ok(())` (its
        // result comes from the store, in order) or its rejection.
        let (valid, places) = self
            .normalizing(move |normalizer| {
                let mut valid: Vec<(Article, String)> = Vec::new();
                let places: Vec<Result<(), Rejection>> = documents
                    .iter()
                    .map(|doc| {
                        let normalized = match doc {
                            Ok(value) => normalizer.article(value)?,
                            Err(reason) => {
                                return Err(Rejection(vec![FieldError::new("", reason.clone())]));
                            }
                        };
                        valid.push((normalized.article, normalized.content_hash));
                        Ok(())
                    })
                    .collect();
                (valid, places)
            })
            .await;
        let mut stored = if valid.is_empty() {
            Vec::new()
        } else {
            self.store
                .upsert_articles(valid, self.now(), caller_gone)
                .await?
        }
        .into_iter();
        self.apply_changes_after_write().await;
        places
            .into_iter()
            .map(|place| match place {
                Ok(()) => stored
                    .next()
                    .map(Ok)
                    .ok_or_else(|| StoreError::Corrupt("a batch result is missing".into())),
                Err(rejection) => Ok(Err(rejection)),
            })
            .collect()
    }

    /// Runs `work` with a normaliser on the blocking pool, one batch per core at a time:
    /// sanitising is CPU work, and the async workers must stay free for feeds and health
    /// checks. The permit goes with the work, so an abandoned request still counts until its
    /// work ends.
    async fn normalizing<T, F>(&self, work: F) -> T
    where
        F: FnOnce(&Normalizer<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .normalizing
            .clone()
            .acquire_owned()
            .await
            .expect("the normalising semaphore is never closed");
        let catalog = self.catalog.clone();
        let config = self.config.clone();
        let now = self.now();
        blocking(move || {
            let _permit = permit;
            work(&Normalizer {
                catalog: &catalog,
                limits: &config.ingest,
                now,
            })
        })
        .await
    }

    /// Leaves a tombstone and makes the deletion visible in feeds.
    pub async fn delete(&self, id: &ArticleId) -> Result<DeleteOutcome, StoreError> {
        let outcome = self.store.delete_article(id, Utc::now()).await?;
        self.apply_changes_after_write().await;
        Ok(outcome)
    }

    /// After a committed write: the change is stored whatever happens here, so a failure to
    /// invalidate is logged, not answered (the watcher catches up at its next poll).
    async fn apply_changes_after_write(&self) {
        if let Err(err) = self.apply_changes().await {
            tracing::warn!(error = %err, "cannot apply a committed change to the feed cache yet");
        }
    }

    /// Invalidates the feeds touched by events not yet applied, whoever wrote them (this
    /// process, the CLI, another instance). Called after each local write and periodically.
    pub async fn apply_changes(&self) -> Result<(), StoreError> {
        let mut applied = self.applied_seq.lock().await;
        loop {
            let changes = self.store.section_changes_after(*applied, 500).await?;
            let Some(last) = changes.last() else {
                return Ok(());
            };
            self.delivery.wake();
            *applied = last.seq;
            // A set: a batch of changes can name many tags (up to 100 an article).
            let mut scopes: std::collections::BTreeSet<Scope> = Default::default();
            for change in &changes {
                scopes.extend(self.catalog.scopes_including(&change.section, &change.tags));
                if let Some(from) = &change.moved_from {
                    scopes.extend(self.catalog.scopes_including(from, &[]));
                }
            }
            self.cache
                .invalidate(&scopes.into_iter().collect::<Vec<_>>());
            // After the feeds: a stream's client that reads a feed on an event finds it new.
            self.live.advance(last.seq);
        }
    }

    /// Resolves when another process may have changed the store (see [`Store::changed`]).
    pub async fn changed(&self) {
        self.store.changed().await
    }

    /// The WebSub hub's absolute URL.
    pub fn hub_url(&self) -> String {
        self.hub.url()
    }

    /// One article, live or tombstone.
    pub async fn article(&self, id: &ArticleId) -> Result<Option<StoredArticle>, StoreError> {
        self.store.article(id).await
    }

    /// Live articles per section (not including descendants).
    pub async fn article_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.store.article_counts().await
    }

    /// The tags live articles carry, the most carried first, with their counts: at most
    /// `limit`. A tag that could name no feed (stored before the rules it breaks) is left out.
    pub async fn tag_counts(&self, limit: u32) -> Result<Vec<(Tag, u64)>, StoreError> {
        let counts = self.store.tag_counts(limit).await?;
        Ok(counts
            .into_iter()
            .filter_map(|(tag, n)| Some((Tag::parse(&tag).ok()?, n)))
            .collect())
    }

    /// The newest `limit` live articles of a scope and the time of its newest change, read
    /// from the store (for pages, which are not cached).
    pub async fn latest(&self, scope: &Scope, limit: u32) -> Result<FeedPage, StoreError> {
        self.store.feed_page(scope, limit).await
    }

    /// The `limit` newest live articles of a scope published before `before`, in the feeds'
    /// order (for the console's pages of a section).
    pub async fn articles_before(
        &self,
        scope: &Scope,
        before: &FeedCursor,
        limit: u32,
    ) -> Result<Vec<StoredArticle>, StoreError> {
        self.store.articles_before(scope, before, limit).await
    }

    /// The events of an article, newest version first, at most `limit`.
    pub async fn article_events(
        &self,
        id: &ArticleId,
        limit: u32,
    ) -> Result<Vec<EventSummary>, StoreError> {
        self.store.article_events(id, limit).await
    }

    /// Live articles whose title or shown summary (their own, or the start of the body's
    /// text, as feeds and pages show it) contains `query`, ASCII letters in either case:
    /// newest first, at most `limit`, and whether older ones match too.
    ///
    /// The store finds candidates in the body's HTML; only those whose shown text matches
    /// are kept, so markup (`img`, `style`) never matches, and matches from the part of a body
    /// beyond its summary are not shown.
    pub async fn search(
        &self,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<(Vec<StoredArticle>, bool), StoreError> {
        let mut found = Vec::new();
        let mut after: Option<StoredArticle> = None;
        loop {
            let batch = self
                .store
                .search_articles(query, after.as_ref(), SEARCH_BATCH)
                .await?;
            let is_last = batch.len() < SEARCH_BATCH as usize;
            after = batch.last().cloned();
            let query = query.clone();
            // A summary is the text of a body, up to megabytes: CPU work, off the async workers.
            found.extend(
                blocking(move || {
                    batch
                        .into_iter()
                        .filter(|stored| shows(&query, &stored.article))
                        .collect::<Vec<_>>()
                })
                .await,
            );
            if found.len() > limit || is_last {
                break;
            }
        }
        let more = found.len() > limit;
        found.truncate(limit);
        Ok((found, more))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// The delivery queue's figures, for metrics.
    pub async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        self.store.queue_stats(Utc::now()).await
    }

    /// Waits for in-flight background work (WebSub verifications) and closes the store.
    pub async fn close(&self) {
        self.hub.shutdown().await;
        self.store.close().await;
    }

    /// The absolute URL of a feed.
    pub fn feed_url(&self, scope: &Scope, format: FeedFormat) -> String {
        scope.feed_url(self.config.public_base(), format)
    }

    /// Whether [`Service::feed`] would answer from the cache now.
    pub fn is_cached(&self, scope: &Scope, format: FeedFormat, limit: u32) -> bool {
        let key = FeedKey {
            scope: scope.clone(),
            format,
            limit,
        };
        self.cache.get(&key).is_some()
    }

    /// A cached feed; rendered (one store read) on a miss, once however many readers miss it
    /// together.
    #[tracing::instrument(skip_all, fields(scope = scope.as_str(), format = %format, limit))]
    pub async fn feed(
        &self,
        scope: &Scope,
        format: FeedFormat,
        limit: u32,
    ) -> Result<Arc<CachedFeed>, StoreError> {
        let key = FeedKey {
            scope: scope.clone(),
            format,
            limit,
        };
        if let Some(feed) = self.cache.get(&key) {
            return Ok(feed);
        }
        // Single flight: readers who miss together get the first one's render.
        let _turn = self.cache.render_turn(&key).await;
        if let Some(feed) = self.cache.get(&key) {
            return Ok(feed);
        }
        let generation = self.cache.generation(scope);
        let page = self.store.feed_page(scope, limit).await?;
        self.metrics.feed_renders.inc();
        let updated = self.updated(&page);
        let place = Place {
            self_url: self.feed_url(scope, format),
            older: self.older_url(scope, format, &page.entries, limit),
            newer: None,
            current: None,
        };
        // Rendering up to `max_limit` entries is CPU work: off the async workers.
        let body = self
            .render(scope, format, updated, place, page.entries, page.tombstones)
            .await;
        let feed = Arc::new(CachedFeed::new(body, updated));
        self.cache.insert(key, generation, feed.clone());
        Ok(feed)
    }

    /// Renders a feed document on the blocking pool: up to `max_limit` entries is CPU work.
    async fn render(
        &self,
        scope: &Scope,
        format: FeedFormat,
        updated: DateTime<Utc>,
        place: Place,
        entries: Vec<StoredArticle>,
        tombstones: Vec<Tombstone>,
    ) -> Vec<u8> {
        let hub_url = self.hub_url();
        let generator = self.generator();
        let public_base = self.config.public_base().to_owned();
        let catalog = self.catalog.clone();
        let scope = scope.clone();
        blocking(move || {
            let ctx = FeedContext {
                catalog: &catalog,
                scope: &scope,
                self_url: &place.self_url,
                hub_url: Some(&hub_url),
                updated,
                generator: &generator,
                public_base: &public_base,
                history: History {
                    older: place.older.as_deref(),
                    newer: place.newer.as_deref(),
                    current: place.current.as_deref(),
                },
            };
            render_feed(format, &ctx, &entries, &tombstones)
        })
        .await
    }

    /// The `updated` time of a feed page: its scope's newest change, or, for a scope with
    /// nothing in it yet, the time this process opened the store (a real time, not the epoch,
    /// which validators call implausible).
    pub fn updated(&self, page: &FeedPage) -> DateTime<Utc> {
        page.updated.unwrap_or(self.opened_at)
    }

    /// The URL of the page behind `entries`, a full page of a feed, newest first (RFC 5005);
    /// `None` when the page is not full, as nothing is behind it then.
    fn older_url(
        &self,
        scope: &Scope,
        format: FeedFormat,
        entries: &[StoredArticle],
        limit: u32,
    ) -> Option<String> {
        let oldest = entries.get(limit as usize - 1)?;
        Some(self.archive_url(scope, format, &FeedCursor::after(oldest)))
    }

    /// The URL of the page behind a feed that holds the articles before `cursor`.
    pub fn archive_url(&self, scope: &Scope, format: FeedFormat, cursor: &FeedCursor) -> String {
        format!("{}?before={}", self.feed_url(scope, format), cursor.token())
    }

    /// The URL of the page in front of the page behind `before`: the one whose oldest entry is
    /// the article at `before`, that is, the `limit` articles from it on. `None` when those are
    /// the newest, as the feed itself is in front then.
    async fn newer_url(
        &self,
        scope: &Scope,
        format: FeedFormat,
        before: &FeedCursor,
        limit: u32,
    ) -> Result<Option<String>, StoreError> {
        let keys = self
            .store
            .article_keys_from(scope, before, limit + 1)
            .await?;
        Ok(keys
            .get(limit as usize)
            .map(|front| self.archive_url(scope, format, front)))
    }

    /// A page behind a feed: its `limit` articles published before `before`, rendered as an
    /// archive document (RFC 5005 §4) at `{feed}?before=…`. Its digest is its version, so that
    /// each version can be served at a URL that never changes what it holds.
    pub async fn feed_archive(
        &self,
        scope: &Scope,
        format: FeedFormat,
        before: &FeedCursor,
        limit: u32,
    ) -> Result<Arc<CachedFeed>, StoreError> {
        // The page and where the one in front of it begins: two bounded reads, together.
        let (entries, newer) = tokio::try_join!(
            self.store.articles_before(scope, before, limit),
            self.newer_url(scope, format, before, limit),
        )?;
        self.metrics.feed_renders.inc();
        let updated = entries
            .iter()
            .map(|e| e.modified_at)
            .max()
            .unwrap_or(before.published);
        let place = Place {
            self_url: self.archive_url(scope, format, before),
            older: self.older_url(scope, format, &entries, limit),
            newer,
            current: Some(self.feed_url(scope, format)),
        };
        let body = self
            .render(scope, format, updated, place, entries, Vec::new())
            .await;
        Ok(Arc::new(CachedFeed::new(body, updated)))
    }
}

/// Whether a search for `query` shows `article`: its title or its shown summary contains it.
fn shows(query: &SearchQuery, article: &Article) -> bool {
    query.is_in(&article.title) || query.is_in(&shown_summary(article))
}
