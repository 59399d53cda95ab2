//! The delivery engine: durable, retried, ordered pushes to other systems.
//!
//! The dispatcher turns events of the outbox into deliveries for the endpoints whose filters
//! match; workers claim due deliveries with a lease, send them with no transaction open
//! through the hardened [`client::Outbound`], and record each attempt. Webhooks are its first
//! client; the WebSub hub will be its second.

pub mod client;
mod limiter;
pub mod retry;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::config::{DeliveryConfig, WebSubConfig};
use crate::metrics::{AttemptLabel, Metrics, OutcomeLabel};
use crate::store::{Attempt, AttemptOutcome, Claimed, Store, StoreError, Target};
use crate::webhooks::{event_body, signature::signature_header};
use crate::websub::hub::render_notification;
use client::{AddressPolicy, ClientSettings, Outbound};
use limiter::RateLimiter;
use retry::{Next, Schedule};

/// Events read from the log per dispatch transaction.
const DISPATCH_BATCH: u32 = 500;

/// The engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct DeliveryEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    catalog: Arc<Catalog>,
    config: DeliveryConfig,
    websub: WebSubConfig,
    /// Where feeds are served (`base_url`), for WebSub notifications' links.
    public_base: String,
    schedule: Schedule,
    outbound: Outbound,
    limiter: RateLimiter,
    metrics: Arc<Metrics>,
    wake: Notify,
}

impl DeliveryEngine {
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        config: &crate::config::Config,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let public_base = config.public_base().to_owned();
        let websub = config.websub.clone();
        let config = config.delivery.clone();
        let outbound = Outbound::new(ClientSettings {
            connect_timeout: Duration::from_secs_f64(config.connect_timeout_secs),
            timeout: Duration::from_secs_f64(config.request_timeout_secs),
            max_response_bytes: config.max_response_bytes,
            policy: AddressPolicy {
                allow_private: config.allow_private_destinations,
            },
        })?;
        let schedule = Schedule {
            delays: config
                .retry_schedule_secs
                .iter()
                .map(|s| Duration::from_secs_f64(*s))
                .collect(),
            jitter: config.jitter,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                catalog,
                config,
                websub,
                public_base,
                schedule,
                outbound,
                limiter: RateLimiter::default(),
                metrics,
                wake: Notify::new(),
            }),
        })
    }

    /// The address policy outbound requests follow (also used to check URLs when registered).
    pub fn policy(&self) -> AddressPolicy {
        self.inner.outbound.policy()
    }

    /// Tells the engine there may be new work (an event committed, a delivery re-queued).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The outbound client, shared with the WebSub hub's verifications.
    pub fn outbound(&self) -> &Outbound {
        &self.inner.outbound
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Dispatches every undispatched event to webhooks, and (once their coalescing window has
    /// passed) to WebSub subscribers; returns how many events were dispatched to webhooks.
    pub async fn dispatch_pending(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let window = Duration::from_millis(inner.websub.coalesce_window_ms);
        let generator = format!("tidings/{}", env!("CARGO_PKG_VERSION"));
        let hub_url = inner.websub.hub_url(&inner.public_base);
        inner
            .store
            .dispatch_notifications(window, Utc::now(), |scope, format, entries, tombstones| {
                render_notification(
                    &inner.catalog,
                    &inner.public_base,
                    &hub_url,
                    &generator,
                    scope,
                    format,
                    entries,
                    tombstones,
                )
            })
            .await?;
        let mut total = 0;
        loop {
            let n = inner
                .store
                .dispatch_events(
                    DISPATCH_BATCH,
                    |event| event_body(event, &inner.catalog),
                    Utc::now(),
                )
                .await?;
            inner.metrics.events_dispatched.inc_by(n as u64);
            total += n;
            if n < DISPATCH_BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// One step, for tests and tools: dispatch, then claim what is due and deliver it all.
    /// Returns how many deliveries were attempted.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        self.dispatch_pending().await?;
        let claimed = self.claim(self.inner.config.concurrency).await?;
        let n = claimed.len();
        let mut set = JoinSet::new();
        for c in claimed {
            let engine = self.clone();
            set.spawn(async move { engine.deliver(c).await });
        }
        while set.join_next().await.is_some() {}
        Ok(n)
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, StoreError> {
        let now = Utc::now();
        let lease = chrono::Duration::milliseconds((self.inner.config.lease_secs * 1000.0) as i64);
        self.inner
            .store
            .claim_due_deliveries(now, now + lease, limit as u32)
            .await
    }

    /// Runs until `shutdown`; deliveries in flight then finish (each is bounded by the request
    /// timeout). A crash instead leaves leases that expire, and the work is taken up again.
    pub async fn run(self, shutdown: CancellationToken) {
        let concurrency = self.inner.config.concurrency;
        let poll = Duration::from_millis(self.inner.config.poll_interval_ms.max(10));
        let mut inflight: JoinSet<()> = JoinSet::new();
        while !shutdown.is_cancelled() {
            if let Err(err) = self.dispatch_pending().await {
                tracing::error!(error = %err, "cannot dispatch events");
            }
            let free = concurrency.saturating_sub(inflight.len());
            let claimed = if free > 0 {
                self.claim(free).await.unwrap_or_else(|err| {
                    tracing::error!(error = %err, "cannot claim deliveries");
                    Vec::new()
                })
            } else {
                Vec::new()
            };
            let got_work = !claimed.is_empty();
            for c in claimed {
                let engine = self.clone();
                inflight.spawn(async move { engine.deliver(c).await });
            }
            if got_work && inflight.len() < concurrency {
                continue;
            }
            let sleep = self.idle_wait(poll).await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.inner.wake.notified() => {}
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
            while inflight.try_join_next().is_some() {}
        }
        while inflight.join_next().await.is_some() {}
    }

    /// How long to sleep when idle: until the next delivery is due, at most `poll` (and at
    /// most the WebSub coalescing window, which may close in the meantime), at least a little,
    /// so that a delivery due now but not claimable cannot make the loop spin.
    async fn idle_wait(&self, poll: Duration) -> Duration {
        let longest = poll.min(Duration::from_millis(
            self.inner.websub.coalesce_window_ms.max(10),
        ));
        let until_due = match self.inner.store.next_due().await {
            Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or(Duration::ZERO),
            _ => longest,
        };
        until_due.clamp(Duration::from_millis(5), longest)
    }

    /// Sends one claimed delivery and records what happened.
    #[tracing::instrument(skip_all, fields(delivery = %claimed.id, target = %claimed.target.id(), attempt = claimed.attempts + 1))]
    async fn deliver(&self, claimed: Claimed) {
        let inner = &self.inner;
        let now = Utc::now();
        let (url, headers) = match &claimed.target {
            Target::Webhook(endpoint) => {
                if let Some(rate) = endpoint.rate_limit
                    && let Err(wait) = inner.limiter.acquire(&endpoint.id, rate)
                {
                    let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    inner
                        .metrics
                        .deliveries
                        .get_or_create(&OutcomeLabel {
                            outcome: "released",
                        })
                        .inc();
                    if let Err(err) = inner.store.release_delivery(claimed.seq, at).await {
                        tracing::error!(error = %err, "cannot release a rate-limited delivery");
                    }
                    return;
                }
                (&endpoint.url, webhook_headers(&claimed, endpoint, now))
            }
            Target::WebSub(subscription) => (
                &subscription.callback,
                self.websub_headers(&claimed, subscription),
            ),
        };
        let exchange = inner
            .outbound
            .send(
                Method::POST,
                url,
                headers,
                Some(claimed.body.clone().into()),
            )
            .await;

        let status = exchange.status.map(|s| s.as_u16());
        let outcome = if exchange.is_success() {
            AttemptOutcome::Delivered
        } else {
            // Retry-After is honoured only where it means "come back later" (RFC 9110 §10.2.3).
            let retry_after = match status {
                Some(429 | 502 | 503 | 504) => exchange.retry_after,
                _ => None,
            };
            let random: f64 = rand::thread_rng().r#gen();
            match inner
                .schedule
                .next(claimed.attempts + 1, Utc::now(), retry_after, random)
            {
                // WebSub §7: retries stay within the lease; past it the notification is dropped.
                Next::RetryAt(at) if claimed.expires_at.is_some_and(|end| at > end) => {
                    AttemptOutcome::GaveUp
                }
                Next::RetryAt(at) => AttemptOutcome::RetryAt(at),
                Next::GiveUp => AttemptOutcome::GaveUp,
            }
        };
        let attempt = Attempt {
            attempted_at: now,
            status_code: status,
            duration_ms: exchange.duration.as_millis() as u64,
            error_class: exchange.error.as_ref().map(|(c, _)| c.as_str().to_owned()),
            error: exchange.error.as_ref().map(|(_, m)| m.clone()),
            response_body: exchange.body.clone(),
        };
        self.count(&claimed.target, &exchange, outcome);
        match outcome {
            AttemptOutcome::GaveUp => {
                tracing::warn!(status, error = ?attempt.error, "delivery failed; giving up")
            }
            AttemptOutcome::RetryAt(at) => {
                tracing::info!(status, error = ?attempt.error, retry_at = %at, "delivery attempt failed")
            }
            AttemptOutcome::Delivered => tracing::debug!(status, "delivered"),
        }

        let failing_since = match inner
            .store
            .record_attempt(claimed.seq, &claimed.target, &attempt, outcome)
            .await
        {
            Ok(since) => since,
            Err(err) => {
                // The lease will expire and the delivery will be tried again: at least once.
                tracing::error!(error = %err, "cannot record a delivery attempt");
                return;
            }
        };
        match (&claimed.target, status) {
            (Target::Webhook(endpoint), Some(410)) => {
                // The receiver says it is gone for good: stop sending at once.
                self.disable(&endpoint.id, "the receiver answered 410 Gone")
                    .await;
            }
            (Target::Webhook(endpoint), _) => {
                if let Some(since) = failing_since {
                    self.check_health(&endpoint.id, since, now).await;
                }
            }
            (Target::WebSub(subscription), Some(410)) => {
                // §7: a callback MAY answer 410 to say the subscription is deleted, and the hub
                // MAY end it; every other non-2xx is a failure (redirects included).
                tracing::info!(subscription = %subscription.id, "callback answered 410 Gone; unsubscribed");
                if let Err(err) = inner
                    .store
                    .remove_subscription_by_id(&subscription.id)
                    .await
                {
                    tracing::error!(error = %err, "cannot remove a subscription");
                }
            }
            (Target::WebSub(_), _) => {}
        }
    }

    fn count(&self, target: &Target, exchange: &client::Exchange, outcome: AttemptOutcome) {
        let metrics = &self.inner.metrics;
        let result = exchange
            .error
            .as_ref()
            .map(|(c, _)| c.as_str())
            .unwrap_or("success");
        let outcome = match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retrying",
            AttemptOutcome::GaveUp => "failed",
        };
        match target {
            Target::Webhook(_) => {
                metrics
                    .attempts
                    .get_or_create(&AttemptLabel { result })
                    .inc();
                metrics
                    .deliveries
                    .get_or_create(&OutcomeLabel { outcome })
                    .inc();
            }
            Target::WebSub(_) => {
                metrics
                    .websub_deliveries
                    .get_or_create(&OutcomeLabel { outcome })
                    .inc();
            }
        }
    }

    /// WebSub §7: the request MUST have the topic's `Content-Type` and a `Link` header with
    /// rel=hub and rel=self (the topic's canonical URL); a `Content-Length` is sent (reqwest does
    /// for a bytes body: never chunked, never compressed). §8: with a hub.secret the hub MUST
    /// sign the body, `X-Hub-Signature: method=hex`.
    fn websub_headers(
        &self,
        claimed: &Claimed,
        subscription: &crate::websub::Subscription,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&claimed.content_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        if let Some(link) = claimed
            .link
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            headers.insert(reqwest::header::LINK, link);
        }
        if let Some(secret) = &subscription.secret {
            let signature = self
                .inner
                .websub
                .signature_algorithm
                .signature_header(secret, claimed.body.as_bytes());
            if let Ok(v) = HeaderValue::from_str(&signature) {
                headers.insert(HeaderName::from_static("x-hub-signature"), v);
            }
        }
        headers
    }

    /// Reports an endpoint failing for long, and disables one failing for too long.
    async fn check_health(&self, endpoint_id: &str, since: DateTime<Utc>, now: DateTime<Utc>) {
        let failing_for = (now - since).num_milliseconds() as f64 / 1000.0;
        let config = &self.inner.config;
        if failing_for >= config.disable_after_secs {
            let reason = format!(
                "failing without a success since {} (longer than {} s)",
                since.to_rfc3339(),
                config.disable_after_secs
            );
            self.disable(endpoint_id, &reason).await;
        } else if failing_for >= config.failing_after_secs {
            tracing::warn!(endpoint = endpoint_id, since = %since, "endpoint.failing");
        }
    }

    async fn disable(&self, endpoint_id: &str, reason: &str) {
        tracing::warn!(endpoint = endpoint_id, reason, "endpoint.disabled");
        if let Err(err) = self
            .inner
            .store
            .disable_endpoint(endpoint_id, reason, Utc::now())
            .await
        {
            tracing::error!(error = %err, "cannot disable an endpoint");
        }
    }

    /// Counts endpoints currently failing for longer than the threshold (for metrics).
    pub async fn refresh_failing_gauge(&self) -> Result<(), StoreError> {
        let now = Utc::now();
        let threshold = self.inner.config.failing_after_secs;
        let failing = self
            .inner
            .store
            .endpoints()
            .await?
            .iter()
            .filter(|e| {
                e.enabled
                    && e.failing_since
                        .is_some_and(|s| (now - s).num_milliseconds() as f64 / 1000.0 >= threshold)
            })
            .count();
        self.inner.metrics.endpoints_failing.set(failing as i64);
        Ok(())
    }
}

/// Standard Webhooks headers, signed afresh for this attempt with every live secret.
fn webhook_headers(
    claimed: &Claimed,
    endpoint: &crate::webhooks::Endpoint,
    now: DateTime<Utc>,
) -> HeaderMap {
    let timestamp = now.timestamp();
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let signature = signature_header(
        &endpoint.signing_secrets(now),
        &claimed.message_id,
        timestamp,
        claimed.body.as_bytes(),
    );
    for (name, value) in [
        ("webhook-id", claimed.message_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}
