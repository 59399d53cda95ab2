//! Sources: articles taken from where they already live. A crawled section (a list page and
//! the article pages it links to) or an upstream feed (polled, or pushed by its WebSub hub),
//! each configured in `sources.toml` beside the catalogue.
//!
//! Everything a source takes goes through [`Service::publish`], the same validation path as
//! the API, so that feeds, webhooks and WebSub notifications follow. A source's state (last
//! fetch, outcome, counts, validators, hub subscription, the pages it fetched) lives in the
//! store: a restart forgets nothing, and with several instances on one database each run is
//! held by one of them ([`Store::claim_source`]).

mod crawl;
mod feed;
pub mod fetch;
mod hub;
mod import;
mod robots;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::catalog::{SourceKind, SourceSpec};
use crate::domain::{ArticleId, HubState, RunCounts, SourceRecord, SourceRow};
use crate::service::{PublishError, Service};
use crate::store::{DeleteOutcome, Store, StoreError, UpsertOutcome};
use fetch::{FetchPolicy, Fetcher};
pub use hub::{HubAnswer, Notified};
pub use import::{ImportError, PageSource};

/// How long an instance holds a source it runs; a run taking longer may be taken over.
const HOLD: Duration = Duration::from_secs(15 * 60);
/// How often the runner looks for due sources when none is due sooner.
const IDLE_LOOK: Duration = Duration::from_secs(5);
/// Sources run at once by one instance (each host is fetched politely whatever this is).
const PARALLEL_RUNS: usize = 4;

/// What the runner reports as a run goes, for a progress bar.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A run started; `pages` is how many article pages it will fetch, when known.
    Pages { source: String, pages: u64 },
    /// One list page, article page or feed was fetched (or failed).
    Fetched { source: String, url: String },
}

/// Receives [`Progress`]; the CLI draws it.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// What one run of one source did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub source: String,
    pub counts: RunCounts,
    /// Why the run failed (it fetched nothing), naming the URL.
    pub error: Option<String>,
    /// The source was running elsewhere (another instance) and was left alone.
    pub skipped: bool,
}

/// A source as operators see it (`GET /api/v1/sources`, the index page).
#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    pub name: String,
    pub kind: &'static str,
    pub url: String,
    pub section: Option<String>,
    pub interval_secs: u64,
    #[serde(flatten)]
    pub record: SourceRecord,
    pub next_run_at: Option<DateTime<Utc>>,
    pub running: bool,
    pub hub: Option<HubView>,
}

impl SourceView {
    /// The line the index and the console show of it.
    pub fn line(self) -> crate::render::SourceLine {
        crate::render::SourceLine {
            name: self.name,
            kind: self.kind,
            url: self.url,
            last_fetch_at: self.record.last_fetch_at,
            outcome: self.record.last_outcome,
            error: self.record.last_error,
            failing_since: self.record.failing_since,
            articles_taken: self.record.articles_taken,
            next_run_at: self.next_run_at,
            running: self.running,
            hub: self.hub.map(|h| (h.state.as_str(), h.lease_until)),
        }
    }
}

/// A source's subscription at its upstream hub, without the secret.
#[derive(Debug, Clone, Serialize)]
pub struct HubView {
    pub hub: String,
    pub topic: String,
    pub state: HubState,
    pub requested_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_notification_at: Option<DateTime<Utc>>,
    pub notifications: u64,
    pub error: Option<String>,
}

/// The sources of the catalogue and what runs them; cheap to clone.
#[derive(Clone)]
pub struct Sources {
    inner: Arc<Inner>,
}

struct Inner {
    service: Service,
    store: Store,
    specs: Vec<SourceSpec>,
    fetcher: Fetcher,
    /// For the hub subscription requests.
    client: reqwest::Client,
    /// This process, as the holder of the runs it takes.
    holder: String,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("sources", &self.inner.specs.len())
            .finish_non_exhaustive()
    }
}

impl Sources {
    pub fn new(service: Service) -> Self {
        let settings = &service.catalog.fetch;
        let user_agent = match &settings.contact {
            Some(contact) => format!(
                "{} (+{}; {contact})",
                service.generator(),
                service.config.public_base()
            ),
            None => format!(
                "{} (+{})",
                service.generator(),
                service.config.public_base()
            ),
        };
        let fetcher = Fetcher::new(FetchPolicy {
            user_agent: user_agent.clone(),
            max_bytes: settings.max_bytes,
            max_redirects: 5,
            timeout: settings.timeout,
            per_host_concurrency: settings.concurrency_per_host,
            per_host_delay: settings.delay,
            respect_robots: settings.robots,
            // The delivery client's rule: a source on a private address, or a redirect into
            // the private network, needs `delivery.allow_private_destinations`.
            addresses: service.outbound.policy(),
            lookup: service.outbound.lookup(),
        });
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        for spec in &service.catalog.sources {
            service.metrics.add_source(&spec.name);
        }
        Self {
            inner: Arc::new(Inner {
                store: service.store().clone(),
                specs: service.catalog.sources.clone(),
                service,
                fetcher,
                client,
                holder: format!("run_{}", uuid::Uuid::now_v7().simple()),
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.inner.specs.is_empty()
    }

    pub fn specs(&self) -> &[SourceSpec] {
        &self.inner.specs
    }

    fn spec(&self, name: &str) -> Option<&SourceSpec> {
        self.inner.specs.iter().find(|s| s.name == name)
    }

    /// Runs every source when it is due, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.is_empty() {
            return;
        }
        let names: Vec<String> = self.inner.specs.iter().map(|s| s.name.clone()).collect();
        let mut ensured = false;
        let runs = Arc::new(tokio::sync::Semaphore::new(PARALLEL_RUNS));
        let mut running = tokio::task::JoinSet::new();
        loop {
            if !ensured {
                match self
                    .inner
                    .store
                    .ensure_sources(names.clone(), Utc::now())
                    .await
                {
                    Ok(()) => ensured = true,
                    Err(err) => tracing::warn!(error = %err, "cannot record the sources yet"),
                }
            }
            while running.try_join_next().is_some() {}
            let mut next = IDLE_LOOK;
            if ensured {
                for spec in &self.inner.specs {
                    let Ok(permit) = runs.clone().try_acquire_owned() else {
                        break;
                    };
                    let now = Utc::now();
                    match self.claim(&spec.name, now, false).await {
                        Ok(Some(row)) => {
                            let this = self.clone();
                            let spec = spec.clone();
                            running.spawn(async move {
                                let _permit = permit;
                                this.run_claimed(&spec, row, None).await;
                            });
                        }
                        Ok(None) => {}
                        Err(err) => {
                            tracing::warn!(source = %spec.name, error = %err, "cannot claim a source");
                            break;
                        }
                    }
                }
                if let Ok(rows) = self.inner.store.sources().await {
                    let now = Utc::now();
                    for row in rows.iter().filter(|r| r.held_until.is_none()) {
                        let wait = (row.due_at - now).to_std().unwrap_or_default();
                        next = next.min(wait.max(Duration::from_millis(200)));
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(next) => {}
            }
        }
        // Runs in flight stop where they are: what they stored stays, and their sources are
        // free at once for the next start or another instance.
        running.abort_all();
        while running.join_next().await.is_some() {}
        for name in &names {
            if let Err(err) = self
                .inner
                .store
                .release_source(name, &self.inner.holder)
                .await
            {
                tracing::warn!(source = %name, error = %err, "cannot release a source");
            }
        }
    }

    /// Runs each source (or only `only`) once now, due or not: `tidings crawl --once`. Once
    /// `shutdown` is cancelled the run in progress stops and its source is released; the rest
    /// are not run, and each says so.
    pub async fn run_once(
        &self,
        only: Option<&str>,
        progress: Option<ProgressFn>,
        shutdown: &CancellationToken,
    ) -> Result<Vec<RunReport>, StoreError> {
        let names: Vec<String> = self.inner.specs.iter().map(|s| s.name.clone()).collect();
        self.inner.store.ensure_sources(names, Utc::now()).await?;
        let mut reports = Vec::new();
        for spec in self
            .inner
            .specs
            .iter()
            .filter(|s| only.is_none_or(|o| o == s.name))
        {
            if shutdown.is_cancelled() {
                reports.push(RunReport {
                    source: spec.name.clone(),
                    counts: RunCounts::default(),
                    error: Some("not run: interrupted".to_owned()),
                    skipped: false,
                });
                continue;
            }
            match self.claim(&spec.name, Utc::now(), true).await? {
                Some(row) => {
                    let run = self.run_claimed(spec, row, progress.clone());
                    tokio::select! {
                        report = run => reports.push(report),
                        () = shutdown.cancelled() => {
                            // What the run stored stays; the source is free at once for
                            // the next start or another instance.
                            if let Err(err) = self
                                .inner
                                .store
                                .release_source(&spec.name, &self.inner.holder)
                                .await
                            {
                                tracing::warn!(source = %spec.name, error = %err, "cannot release a source");
                            }
                            reports.push(RunReport {
                                source: spec.name.clone(),
                                counts: RunCounts::default(),
                                error: Some(
                                    "interrupted: what it had taken is kept, and the source is \
                                     free to run again"
                                        .to_owned(),
                                ),
                                skipped: false,
                            });
                        }
                    }
                }
                None => reports.push(RunReport {
                    source: spec.name.clone(),
                    counts: RunCounts::default(),
                    error: None,
                    skipped: true,
                }),
            }
        }
        Ok(reports)
    }

    async fn claim(
        &self,
        name: &str,
        now: DateTime<Utc>,
        force: bool,
    ) -> Result<Option<SourceRow>, StoreError> {
        let hold_until = now + chrono::Duration::from_std(HOLD).unwrap_or_default();
        self.inner
            .store
            .claim_source(name, &self.inner.holder, now, hold_until, force)
            .await
    }

    /// Runs a source this instance holds, and records what it did.
    async fn run_claimed(
        &self,
        spec: &SourceSpec,
        row: SourceRow,
        progress: Option<ProgressFn>,
    ) -> RunReport {
        let mut record = row.record;
        let mut counts = RunCounts::default();
        let started = Utc::now();
        let result = match &spec.kind {
            SourceKind::Pages { .. } => {
                self.crawl(spec, &mut record, &mut counts, progress.as_ref())
                    .await
            }
            SourceKind::Feed { .. } => {
                self.poll_feed(spec, row.hub, &mut record, &mut counts, progress.as_ref())
                    .await
            }
        };
        let mut due = started + chrono::Duration::from_std(spec.interval).unwrap_or_default();
        record.last_fetch_at = Some(started);
        let error = match result {
            Ok(outcome) => {
                record.last_outcome = Some(outcome.label.to_owned());
                record.last_error = None;
                record.last_success_at = Some(started);
                record.failing_since = None;
                if let Some(at) = outcome.next_run {
                    due = at;
                }
                None
            }
            Err(reason) => {
                tracing::warn!(source = %spec.name, error = %reason, "a source run failed; it runs again at its next interval");
                record.last_outcome = Some("failed".to_owned());
                record.last_error = Some(reason.clone());
                record.failing_since.get_or_insert(started);
                Some(reason)
            }
        };
        record.articles_taken += counts.created + counts.updated;
        record.articles_deleted += counts.deleted;
        record.rejected += counts.rejected;
        record.last_run = counts;
        if let Err(err) = self
            .inner
            .store
            .finish_source(&spec.name, &self.inner.holder, &record, due, Utc::now())
            .await
        {
            tracing::warn!(source = %spec.name, error = %err, "cannot record a source run");
        }
        tracing::info!(
            source = %spec.name,
            created = counts.created,
            updated = counts.updated,
            unchanged = counts.unchanged,
            deleted = counts.deleted,
            rejected = counts.rejected,
            fetched = counts.fetched,
            next_run = %due,
            "source run finished"
        );
        RunReport {
            source: spec.name.clone(),
            counts,
            error,
            skipped: false,
        }
    }

    /// Every configured source with its state, in configuration order.
    pub async fn views(&self) -> Result<Vec<SourceView>, StoreError> {
        let rows = self.inner.store.sources().await?;
        Ok(self
            .inner
            .specs
            .iter()
            .map(|spec| {
                let row = rows.iter().find(|r| r.name == spec.name);
                let (kind, url) = match &spec.kind {
                    SourceKind::Pages { list, .. } => ("pages", list.to_string()),
                    SourceKind::Feed { url, .. } => ("feed", url.to_string()),
                };
                SourceView {
                    name: spec.name.clone(),
                    kind,
                    url,
                    section: spec.section.as_ref().map(ToString::to_string),
                    interval_secs: spec.interval.as_secs(),
                    record: row.map(|r| r.record.clone()).unwrap_or_default(),
                    next_run_at: row.map(|r| r.due_at),
                    running: row.is_some_and(|r| r.held_until.is_some_and(|t| t > Utc::now())),
                    hub: row.and_then(|r| r.hub.as_ref()).map(|h| HubView {
                        hub: h.hub.to_string(),
                        topic: h.topic.to_string(),
                        state: h.state,
                        requested_at: h.requested_at,
                        lease_until: h.lease_until,
                        last_notification_at: h.last_notification_at,
                        notifications: h.notifications,
                        error: h.error.clone(),
                    }),
                }
            })
            .collect())
    }

    /// Publishes one document taken from `source`, counting what it did.
    async fn take(&self, source: &str, document: Value, counts: &mut RunCounts) -> Taken {
        let url = document
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match self.inner.service.publish(document).await {
            Ok(upserted) => {
                let label = match upserted.outcome {
                    UpsertOutcome::Created => {
                        counts.created += 1;
                        "created"
                    }
                    UpsertOutcome::Updated => {
                        counts.updated += 1;
                        "updated"
                    }
                    UpsertOutcome::Unchanged => {
                        counts.unchanged += 1;
                        "unchanged"
                    }
                };
                self.inner
                    .service
                    .metrics
                    .count_source(false, source, label);
                Taken::Stored {
                    outcome: label,
                    id: upserted.article.article.id,
                }
            }
            Err(PublishError::Rejected(rejection)) => {
                counts.rejected += 1;
                self.inner
                    .service
                    .metrics
                    .count_source(false, source, "rejected");
                tracing::warn!(source, url = %url, reason = %rejection, "an article from a source was rejected");
                Taken::Rejected(rejection.to_string())
            }
            Err(PublishError::Store(err)) => Taken::Failed(err.to_string()),
        }
    }

    /// Deletes an article a source says is gone (an upstream tombstone).
    async fn take_deletion(
        &self,
        source: &str,
        id: &ArticleId,
        counts: &mut RunCounts,
    ) -> Result<(), String> {
        match self.inner.service.delete(id).await {
            Ok(DeleteOutcome::Deleted(_)) => {
                counts.deleted += 1;
                self.inner
                    .service
                    .metrics
                    .count_source(false, source, "deleted");
                Ok(())
            }
            Ok(DeleteOutcome::AlreadyDeleted(_) | DeleteOutcome::NotFound) => Ok(()),
            Err(err) => Err(err.to_string()),
        }
    }
}

/// What became of one document a source gave.
enum Taken {
    Stored {
        outcome: &'static str,
        id: ArticleId,
    },
    /// Refused by validation: the reason, as the API would give it.
    Rejected(String),
    /// The store failed: the run stops, and the page is tried again next time.
    Failed(String),
}

/// How a run that fetched ended.
struct RunOutcome {
    /// `ok` or `not_modified`.
    label: &'static str,
    /// When to run next, if not after the source's interval.
    next_run: Option<DateTime<Utc>>,
}
