//! The use cases of webhook endpoints, their delivery log and the event log: what the admin
//! API does, whatever front door calls it.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{TEST_EVENT_TYPE, test_body};
use crate::config::DeliveryConfig;
use crate::delivery::Waker;
use crate::domain::{Endpoint, Event, Secret, TargetKind};
use crate::metrics::Metrics;
use crate::store::{
    DeliveryView, EndpointPatch, Enqueued, NewDelivery, NewEndpoint, NewMessage, Resend, Store,
    StoreError,
};

/// Webhook administration; cheap to clone.
#[derive(Debug, Clone)]
pub struct Webhooks {
    store: Store,
    waker: Waker,
    config: Arc<DeliveryConfig>,
    metrics: Arc<Metrics>,
}

/// A queued test message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSent {
    pub message_id: String,
    pub delivery_id: String,
}

impl Webhooks {
    pub fn new(store: Store, waker: Waker, config: &DeliveryConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            waker,
            config: Arc::new(config.clone()),
            metrics,
        }
    }

    /// Registers an endpoint; it receives the events after the newest one at this moment.
    pub async fn create(&self, new: NewEndpoint) -> Result<Endpoint, StoreError> {
        self.store.create_endpoint(new, Utc::now()).await
    }

    pub async fn list(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.store.endpoints().await
    }

    pub async fn get(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        self.store.endpoint(id).await
    }

    /// Applies a patch (re-enabling sends what waited); `None` when there is no such endpoint.
    pub async fn update(
        &self,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Option<Endpoint>, StoreError> {
        let updated = self.store.update_endpoint(id, patch, Utc::now()).await?;
        self.waker.wake();
        Ok(updated)
    }

    /// Removes an endpoint with its queue; `false` when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.store.delete_endpoint(id).await
    }

    /// A new secret; the old one keeps signing beside it for `grace_secs` (the configured
    /// grace when `None`). Returns the endpoint and when the old secret stops signing.
    pub async fn rotate_secret(
        &self,
        id: &str,
        secret: &Secret,
        grace_secs: Option<f64>,
    ) -> Result<Option<(Endpoint, DateTime<Utc>)>, StoreError> {
        let grace = grace_secs.unwrap_or(self.config.rotation_grace_secs);
        let now = Utc::now();
        let until = now + chrono::Duration::milliseconds((grace * 1000.0) as i64);
        let rotated = self.store.rotate_secret(id, secret, until, now).await?;
        Ok(rotated.map(|endpoint| (endpoint, until)))
    }

    /// Queues a `webhook.test` message for an endpoint; `None` when it is gone.
    pub async fn send_test(&self, endpoint_id: &str) -> Result<Option<TestSent>, StoreError> {
        let now = Utc::now();
        let message_id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let message = NewMessage {
            id: message_id.clone(),
            kind: TEST_EVENT_TYPE.to_owned(),
            event_seq: None,
            body: test_body(endpoint_id, now),
            content_type: "application/json".into(),
            link: None,
            deliveries: vec![NewDelivery {
                target: TargetKind::Webhook,
                target_id: endpoint_id.to_owned(),
                order_key: message_id.clone(),
                expires_at: None,
            }],
        };
        let Enqueued::Queued(ids) = self.store.enqueue(None, vec![message], now).await? else {
            return Ok(None);
        };
        self.waker.wake();
        Ok(ids.into_iter().next().map(|delivery_id| TestSent {
            message_id,
            delivery_id,
        }))
    }

    /// The delivery log of an endpoint, oldest first, after the cursor `after`.
    pub async fn deliveries(
        &self,
        endpoint_id: &str,
        status: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        self.store
            .deliveries_of(endpoint_id, status, after, limit)
            .await
    }

    /// The delivery log of an endpoint from its newest end: the `limit` deliveries before the
    /// cursor `before` (from the newest when `None`), newest first.
    pub async fn latest_deliveries(
        &self,
        endpoint_id: &str,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        self.store
            .latest_deliveries_of(endpoint_id, status, before, limit)
            .await
    }

    /// When the endpoint last took a delivery (its newest delivered one); `None` if never.
    pub async fn last_success(
        &self,
        endpoint_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.last_success_of(endpoint_id).await
    }

    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryView>, StoreError> {
        self.store.delivery(id).await
    }

    /// Sends a delivery again, with the same `webhook-id`.
    pub async fn resend(&self, id: &str) -> Result<Resend, StoreError> {
        let resent = self.store.resend_delivery(id, Utc::now()).await?;
        if resent == Resend::Queued {
            self.waker.wake();
        }
        Ok(resent)
    }

    /// Re-queues every failed delivery of an endpoint created since `since`.
    pub async fn recover(
        &self,
        endpoint_id: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let requeued = self
            .store
            .recover_deliveries(endpoint_id, since, Utc::now())
            .await?;
        self.waker.wake();
        Ok(requeued)
    }

    /// The event log after the cursor `after`, oldest first.
    pub async fn events(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.store.events_after(after, limit).await
    }

    /// Counts endpoints failing without a success for longer than the threshold (metrics).
    pub async fn refresh_failing_gauge(&self) -> Result<(), StoreError> {
        let now = Utc::now();
        let threshold = self.config.failing_after_secs;
        let failing = self
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
        self.metrics.endpoints_failing.set(failing as i64);
        Ok(())
    }
}
