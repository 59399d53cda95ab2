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
use crate::config::DeliveryConfig;
use crate::metrics::{AttemptLabel, Metrics, OutcomeLabel};
use crate::store::{Attempt, AttemptOutcome, Claimed, Store, StoreError};
use crate::webhooks::{event_body, signature::signature_header};
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
        config: DeliveryConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
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

    /// Dispatches every undispatched event; returns how many there were.
    pub async fn dispatch_pending(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
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

    /// How long to sleep when idle: until the next delivery is due, at most `poll`.
    async fn idle_wait(&self, poll: Duration) -> Duration {
        match self.inner.store.next_due().await {
            Ok(Some(due)) => (due - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(poll),
            _ => poll,
        }
    }

    /// Sends one claimed delivery and records what happened.
    #[tracing::instrument(skip_all, fields(delivery = %claimed.id, endpoint = %claimed.endpoint.id, attempt = claimed.attempts + 1))]
    async fn deliver(&self, claimed: Claimed) {
        let inner = &self.inner;
        let endpoint = &claimed.endpoint;
        if let Some(rate) = endpoint.rate_limit
            && let Err(wait) = inner.limiter.acquire(&endpoint.id, rate)
        {
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
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

        let now = Utc::now();
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
        let exchange = inner
            .outbound
            .send(
                Method::POST,
                &endpoint.url,
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
        let result_label = exchange
            .error
            .as_ref()
            .map(|(c, _)| c.as_str())
            .unwrap_or("success");
        inner
            .metrics
            .attempts
            .get_or_create(&AttemptLabel {
                result: result_label,
            })
            .inc();
        let outcome_label = match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retrying",
            AttemptOutcome::GaveUp => "failed",
        };
        inner
            .metrics
            .deliveries
            .get_or_create(&OutcomeLabel {
                outcome: outcome_label,
            })
            .inc();
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
            .record_attempt(claimed.seq, &endpoint.id, &attempt, outcome)
            .await
        {
            Ok(since) => since,
            Err(err) => {
                // The lease will expire and the delivery will be tried again: at least once.
                tracing::error!(error = %err, "cannot record a delivery attempt");
                return;
            }
        };
        if status == Some(410) {
            // The receiver says it is gone for good: stop sending at once.
            self.disable(&endpoint.id, "the receiver answered 410 Gone")
                .await;
        } else if let Some(since) = failing_since {
            self.check_health(&endpoint.id, since, now).await;
        }
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
