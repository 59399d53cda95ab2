//! Prometheus metrics (OpenMetrics text at `GET /metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::domain::QueueStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// delivered, retrying, failed, released; for verifications verified, failed, retried
    pub outcome: &'static str,
}

/// One kind of HTTP request: its method (the standard ones, else `OTHER`), the route template
/// it matched (`/feeds/{*feed}`, or `unmatched`) and the answer's status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

/// The outcomes each delivery counter knows, shown from the start at zero.
const DELIVERY_OUTCOMES: [&str; 4] = ["delivered", "retrying", "failed", "released"];
const VERIFICATION_OUTCOMES: [&str; 3] = ["verified", "failed", "retried"];
const ATTEMPT_RESULTS: [&str; 7] = [
    "success", "dns", "refused", "connect", "tls", "timeout", "http",
];

/// One source (`sources.toml`) and what one of its fetches or imports led to.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
    /// Fetches: ok, not_modified, failed. Imports: created, updated, unchanged, deleted,
    /// rejected.
    pub outcome: &'static str,
}

/// The outcomes each source counter knows, shown from the start at zero.
pub const FETCH_OUTCOMES: [&str; 3] = ["ok", "not_modified", "failed"];
pub const IMPORT_OUTCOMES: [&str; 5] = ["created", "updated", "unchanged", "deleted", "rejected"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabel {
    /// success, or the error class (dns, refused, connect, tls, timeout, http)
    pub result: &'static str,
}

/// Every metric tidings exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub deliveries: Family<OutcomeLabel, Counter>,
    pub attempts: Family<AttemptLabel, Counter>,
    pub events_dispatched: Counter,
    /// Feed documents rendered (cache misses that read the store).
    pub feed_renders: Counter,
    pub websub_deliveries: Family<OutcomeLabel, Counter>,
    pub websub_verifications: Family<OutcomeLabel, Counter>,
    pub endpoints_failing: Gauge,
    queue_pending: Gauge,
    queue_failed: Gauge,
    oldest_due_seconds: Gauge<f64, AtomicU64>,
    endpoints_disabled: Gauge,
    endpoints: Gauge,
    requests: Family<RequestLabel, Counter>,
    request_seconds: Family<RequestLabel, Histogram>,
    /// Fetches of sources' list pages, article pages and feeds, by outcome.
    pub source_fetches: Family<SourceLabel, Counter>,
    /// Articles taken from sources (pages, feeds, hub notifications), by outcome.
    pub source_imports: Family<SourceLabel, Counter>,
    /// Live streams of the event log open now, the API's and the public ones.
    pub event_streams: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tidings");
        let deliveries = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by what they led to",
            deliveries.clone(),
        );
        let attempts = Family::<AttemptLabel, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook HTTP attempts by result",
            attempts.clone(),
        );
        let events_dispatched = Counter::default();
        registry.register(
            "events_dispatched",
            "Events of the log turned into deliveries",
            events_dispatched.clone(),
        );
        let feed_renders = Counter::default();
        registry.register(
            "feed_renders",
            "Feed documents rendered from the store (cache misses; concurrent misses of one document render once)",
            feed_renders.clone(),
        );
        let websub_deliveries = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "websub_deliveries",
            "WebSub notification attempts by what they led to",
            websub_deliveries.clone(),
        );
        let websub_verifications = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "websub_verifications",
            "WebSub intent verifications by outcome (verified, failed, retried)",
            websub_verifications.clone(),
        );
        let endpoints_failing = Gauge::default();
        registry.register(
            "webhook_endpoints_failing",
            "Endpoints failing continuously for longer than delivery.failing_after_secs",
            endpoints_failing.clone(),
        );
        let queue_pending = Gauge::default();
        registry.register(
            "delivery_queue_depth",
            "Deliveries pending",
            queue_pending.clone(),
        );
        let queue_failed = Gauge::default();
        registry.register(
            "delivery_failed",
            "Deliveries given up (replayable)",
            queue_failed.clone(),
        );
        let oldest_due_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "delivery_oldest_due_age_seconds",
            "How long the oldest due delivery has been waiting",
            oldest_due_seconds.clone(),
        );
        let endpoints_disabled = Gauge::default();
        registry.register(
            "webhook_endpoints_disabled",
            "Disabled endpoints",
            endpoints_disabled.clone(),
        );
        let endpoints = Gauge::default();
        registry.register(
            "webhook_endpoints",
            "Registered endpoints",
            endpoints.clone(),
        );
        let requests = Family::<RequestLabel, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        // 0.5 ms to 16 s.
        let request_seconds = Family::<RequestLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time until an HTTP answer's head is ready, by method, route and status",
            request_seconds.clone(),
        );
        let source_fetches = Family::<SourceLabel, Counter>::default();
        registry.register(
            "source_fetches",
            "Fetches of sources' list pages, article pages and feeds, by source and outcome",
            source_fetches.clone(),
        );
        let source_imports = Family::<SourceLabel, Counter>::default();
        registry.register(
            "source_imports",
            "Articles taken from sources, by source and outcome",
            source_imports.clone(),
        );
        let event_streams = Gauge::default();
        registry.register(
            "event_streams",
            "Live streams of the event log open now (API and public)",
            event_streams.clone(),
        );
        for outcome in DELIVERY_OUTCOMES {
            let _ = deliveries.get_or_create(&OutcomeLabel { outcome });
            let _ = websub_deliveries.get_or_create(&OutcomeLabel { outcome });
        }
        for outcome in VERIFICATION_OUTCOMES {
            let _ = websub_verifications.get_or_create(&OutcomeLabel { outcome });
        }
        for result in ATTEMPT_RESULTS {
            let _ = attempts.get_or_create(&AttemptLabel { result });
        }
        Self {
            registry,
            deliveries,
            attempts,
            events_dispatched,
            feed_renders,
            websub_deliveries,
            websub_verifications,
            endpoints_failing,
            queue_pending,
            queue_failed,
            oldest_due_seconds,
            endpoints_disabled,
            endpoints,
            requests,
            request_seconds,
            source_fetches,
            source_imports,
            event_streams,
        }
    }

    /// Shows a source's counters at zero from the start.
    pub fn add_source(&self, source: &str) {
        for outcome in FETCH_OUTCOMES {
            let _ = self.source_fetches.get_or_create(&SourceLabel {
                source: source.to_owned(),
                outcome,
            });
        }
        for outcome in IMPORT_OUTCOMES {
            let _ = self.source_imports.get_or_create(&SourceLabel {
                source: source.to_owned(),
                outcome,
            });
        }
    }

    /// Counts one fetch (`FETCH_OUTCOMES`) or import (`IMPORT_OUTCOMES`) of `source`.
    pub fn count_source(&self, fetch: bool, source: &str, outcome: &'static str) {
        let family = if fetch {
            &self.source_fetches
        } else {
            &self.source_imports
        };
        family
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts and times one HTTP request.
    pub fn record_request(
        &self,
        method: &axum::http::Method,
        route: &str,
        status: axum::http::StatusCode,
        took: Duration,
    ) {
        use axum::http::Method;
        let method = match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            Method::OPTIONS => "OPTIONS",
            _ => "OTHER",
        };
        let label = RequestLabel {
            method,
            route: route.to_owned(),
            status: status.as_u16(),
        };
        self.request_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        self.requests.get_or_create(&label).inc();
    }

    /// The exposition text, with the queue gauges taken from `stats`.
    pub fn render(&self, stats: &QueueStats) -> String {
        self.queue_pending.set(stats.pending);
        self.queue_failed.set(stats.failed);
        self.oldest_due_seconds.set(stats.oldest_due_secs);
        self.endpoints_disabled.set(stats.disabled_endpoints);
        self.endpoints.set(stats.endpoints);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
