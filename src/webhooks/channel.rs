//! What webhook endpoints add to the delivery engine: which events each endpoint receives,
//! Standard Webhooks headers, per-endpoint rate limits, and endpoint health (a 410 disables
//! at once; a long run of failures is reported, then disables).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::event_body;
use super::signature::signature_header;
use crate::catalog::Catalog;
use crate::config::DeliveryConfig;
use crate::delivery::client::Exchange;
use crate::delivery::limiter::RateLimiter;
use crate::delivery::parts::{Dispatching, InProgress};
use crate::delivery::{AttemptReport, Channel, Prepared, Refusal};
use crate::domain::{Endpoint, EndpointRoute, EventType, Target, TargetKind};
use crate::metrics::{AttemptLabel, Metrics, OutcomeLabel};
use crate::store::{
    AttemptOutcome, Claimed, CursorMove, Enqueued, NewDelivery, NewMessage, Store, StoreError,
};

/// The event-log consumer name of the webhook dispatcher. The store keeps each event's article snapshot until this consumer has read it.
const CURSOR: &str = crate::store::SNAPSHOT_READER;

/// Events read from the log per dispatch.
const DISPATCH_BATCH: u32 = 500;

/// The webhook channel; built once per service.
#[derive(Debug)]
pub struct WebhookChannel {
    store: Store,
    catalog: Arc<Catalog>,
    config: DeliveryConfig,
    metrics: Arc<Metrics>,
    limiter: RateLimiter,
    /// A batch of events being queued in parts, between two calls of `dispatch`.
    in_progress: InProgress,
    /// The endpoints' routes as last read, with the revision they were read at.
    routes: Mutex<Option<(i64, Arc<Vec<EndpointRoute>>)>>,
}

impl WebhookChannel {
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        config: &DeliveryConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            catalog,
            config: config.clone(),
            metrics,
            limiter: RateLimiter::default(),
            in_progress: InProgress::default(),
            routes: Mutex::new(None),
        }
    }

    /// Reads a batch of undispatched events, decides which endpoints get each and renders its
    /// body (no transaction open), for [`Dispatching`] to queue in parts, the last of which
    /// moves the cursor. A disabled endpoint's deliveries are queued too, and wait:
    /// re-enabling it sends them. `None` when no event waits.
    async fn plan_batch(&self) -> Result<Option<Dispatching>, StoreError> {
        let (cursor, events) = self.store.pending_events(CURSOR, DISPATCH_BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            // Idle: bring the routes up to date now rather than on the next publish (reading
            // 50,000 endpoints' routes takes a good part of a second).
            self.routes().await?;
            return Ok(None);
        };
        let endpoints = self.routes().await?;
        // The store keeps each event's article until this dispatcher has read it.
        if let Some(lost) = events
            .iter()
            .find(|e| e.kind != EventType::Deleted && e.payload.is_none())
        {
            return Err(StoreError::Corrupt(format!(
                "event {} has lost its article snapshot",
                lost.id
            )));
        }
        let messages = events
            .iter()
            .filter_map(|event| {
                let deliveries: Vec<NewDelivery> = endpoints
                    .iter()
                    .filter(|e| e.matches(event))
                    .map(|e| NewDelivery {
                        target: TargetKind::Webhook,
                        target_id: e.id.clone(),
                        // One article's versions reach an endpoint in order.
                        order_key: event.article_id.to_string(),
                        expires_at: None,
                    })
                    .collect();
                (!deliveries.is_empty()).then(|| NewMessage {
                    id: event.id.clone(),
                    kind: event.kind.as_str().to_owned(),
                    event_seq: Some(event.seq),
                    body: event_body(event, &self.catalog),
                    content_type: "application/json".into(),
                    link: None,
                    deliveries,
                })
            })
            .collect();
        let moved = CursorMove {
            consumer: CURSOR,
            from: cursor,
            to: last,
        };
        Ok(Some(Dispatching::new(moved, events.len(), messages)))
    }

    /// Every endpoint's routes, read again only when they have changed since the last read.
    async fn routes(&self) -> Result<Arc<Vec<EndpointRoute>>, StoreError> {
        let revision = self.store.endpoint_routes_revision().await?;
        if let Ok(known) = self.routes.lock()
            && let Some((at, routes)) = known.as_ref()
            && *at == revision
        {
            return Ok(routes.clone());
        }
        // Read after the revision: routes newer than it only make the next read reload.
        let routes = Arc::new(self.store.endpoint_routes().await?);
        if let Ok(mut known) = self.routes.lock() {
            *known = Some((revision, routes.clone()));
        }
        Ok(routes)
    }

    /// Takes a slot of the endpoint's rate limit (a robot's default when it sets none), or
    /// says how long until one is free.
    fn admit(&self, endpoint: &Endpoint) -> Result<(), Duration> {
        // Robots take about 20 messages a minute: theirs is the default limit.
        let rate = endpoint.rate_limit.or(endpoint.kind.default_rate());
        if let Some(rate) = rate
            && let Err(wait) = self.limiter.acquire(&endpoint.id, rate)
        {
            self.metrics
                .deliveries
                .get_or_create(&OutcomeLabel {
                    outcome: "released",
                })
                .inc();
            return Err(wait);
        }
        Ok(())
    }

    /// Reports an endpoint failing for long, and disables one failing for too long.
    async fn check_health(&self, endpoint_id: &str, since: DateTime<Utc>, now: DateTime<Utc>) {
        let failing_for = (now - since).num_milliseconds() as f64 / 1000.0;
        if failing_for >= self.config.disable_after_secs {
            let reason = format!(
                "failing without a success since {} (longer than {} s)",
                since.to_rfc3339(),
                self.config.disable_after_secs
            );
            self.disable(endpoint_id, &reason).await;
        } else if failing_for >= self.config.failing_after_secs {
            tracing::warn!(endpoint = endpoint_id, since = %since, "endpoint.failing");
        }
    }

    async fn disable(&self, endpoint_id: &str, reason: &str) {
        tracing::warn!(endpoint = endpoint_id, reason, "endpoint.disabled");
        if let Err(err) = self
            .store
            .disable_endpoint(endpoint_id, reason, Utc::now())
            .await
        {
            tracing::error!(error = %err, "cannot disable an endpoint");
        }
    }
}

impl Channel for WebhookChannel {
    fn kind(&self) -> TargetKind {
        TargetKind::Webhook
    }

    fn dispatch(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>> {
        async move {
            // Webhooks never wait on purpose: every event is dispatched at once, a large
            // fan-out one part per call, so that the engine sends the first parts while the
            // next are queued.
            loop {
                let dispatching = match self.in_progress.take() {
                    Some(d) => d,
                    None => match self.plan_batch().await? {
                        Some(d) => d,
                        None => return Ok(None),
                    },
                };
                let events = dispatching.events;
                match self
                    .in_progress
                    .queue_next(dispatching, &self.store, Utc::now())
                    .await?
                {
                    None => return Ok(Some(Utc::now())),
                    Some(Enqueued::Queued(_)) => {
                        self.metrics.events_dispatched.inc_by(events as u64);
                    }
                    // Another instance dispatched these events first.
                    Some(Enqueued::Raced) => {}
                }
                if events < DISPATCH_BATCH as usize {
                    return Ok(None);
                }
            }
        }
        .boxed()
    }

    fn prepare(&self, claimed: &Claimed, now: DateTime<Utc>) -> Result<Prepared, Duration> {
        let Target::Webhook(endpoint) = &claimed.target else {
            return Err(Duration::ZERO);
        };
        self.admit(endpoint)?;
        if endpoint.kind.is_robot() {
            return Ok(super::robots::prepare(endpoint, claimed, now));
        }
        Ok(Prepared::with_headers(webhook_headers(
            claimed, endpoint, now,
        )))
    }

    /// A chat robot's article messages claimed together (the rate limit held them back) go as
    /// one digest, unless the endpoint renders its own template.
    fn coalesce_limit(&self, claimed: &Claimed) -> usize {
        match &claimed.target {
            Target::Webhook(endpoint)
                if endpoint.kind.is_robot()
                    && endpoint.template.is_none()
                    && claimed.message_type.starts_with("article.") =>
            {
                super::robots::DIGEST_MAX
            }
            _ => 1,
        }
    }

    fn prepare_digest(&self, claims: &[Claimed], now: DateTime<Utc>) -> Result<Prepared, Duration> {
        let Target::Webhook(endpoint) = &claims[0].target else {
            return Err(Duration::ZERO);
        };
        self.admit(endpoint)?;
        Ok(super::robots::prepare_digest(endpoint, claims, now))
    }

    /// Chat robots answer `200` whatever happened: their error code decides.
    fn judge(&self, claimed: &Claimed, exchange: &Exchange) -> Option<Refusal> {
        let Target::Webhook(endpoint) = &claimed.target else {
            return None;
        };
        let busy_wait = Duration::try_from_secs_f64(self.config.robot_busy_wait_secs)
            .unwrap_or(Duration::from_secs(60));
        super::robots::judge(endpoint.kind, &exchange.body, busy_wait)
    }

    fn after_attempt<'a>(&'a self, report: AttemptReport<'a>) -> BoxFuture<'a, ()> {
        async move {
            let outcome = match report.outcome {
                AttemptOutcome::Delivered => "delivered",
                AttemptOutcome::RetryAt(_) => "retrying",
                AttemptOutcome::GaveUp => "failed",
            };
            self.metrics
                .attempts
                .get_or_create(&AttemptLabel {
                    result: report.result,
                })
                .inc();
            self.metrics
                .deliveries
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
            let endpoint_id = report.claimed.target.id();
            if report.status == Some(410) {
                // The receiver says it is gone for good: stop sending at once.
                self.disable(endpoint_id, "the receiver answered 410 Gone")
                    .await;
            } else if let Some(since) = report.failing_since {
                self.check_health(endpoint_id, since, report.attempted_at)
                    .await;
            }
        }
        .boxed()
    }
}

/// Standard Webhooks headers, signed afresh for this attempt with every live secret.
fn webhook_headers(claimed: &Claimed, endpoint: &Endpoint, now: DateTime<Utc>) -> HeaderMap {
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
