//! The contract's second half: what consumes the outbox. Dispatch (pending events, queuing
//! with a cursor compare-and-set), claims, attempts and replay, webhook endpoints and WebSub
//! subscriptions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    Attempt, AttemptOutcome, AttemptRecord, Backend, Claimed, CursorMove, DeliveryView,
    EndpointPatch, Enqueued, NewEndpoint, NewMessage, Recorded, Resend, Store, StoreError,
    SubscriptionView,
};
use crate::domain::{
    ArticleId, CallbackUrl, Endpoint, EndpointRoute, Event, FeedFormat, QueueStats, Scope, Secret,
    StoredArticle, Subscription, TargetKind,
};

impl Store {
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
    /// the same target; of one kind of target only, when `kind` is given.
    pub async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        kind: Option<TargetKind>,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.detached(move |b| async move {
            on_backend!(b, s => s.claim_due_deliveries(now, lease_until, limit, kind).await)
        })
        .await
    }

    /// Past when a delivery is no longer tried (its WebSub lease's end, moved by a renewal),
    /// if ever.
    pub async fn delivery_end(&self, seq: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_backend!(&self.backend, s => s.delivery_end(seq).await)
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
        let record = AttemptRecord::new(claim, attempt.clone(), outcome);
        self.record_attempts(vec![record])
            .await?
            .pop()
            .unwrap_or_else(|| Err(StoreError::Corrupt("an attempt's result is missing".into())))
    }

    /// Records several attempts in one transaction (see [`Store::record_attempt`]): all of
    /// them or, on an error of the transaction, none. Each has its own answer, in order: a
    /// lost lease loses only its own record.
    pub async fn record_attempts(
        &self,
        records: Vec<AttemptRecord>,
    ) -> Result<Vec<Recorded>, StoreError> {
        self.detached(
            move |b| async move { on_backend!(b, s => s.record_attempts(&records).await) },
        )
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

    /// Every endpoint's routing filters, in the order of [`Store::endpoints`]: what dispatch
    /// needs, read without decoding secrets and addresses.
    pub async fn endpoint_routes(&self) -> Result<Vec<EndpointRoute>, StoreError> {
        on_backend!(&self.backend, s => s.endpoint_routes().await)
    }

    /// A number that moves whenever [`Store::endpoint_routes`] would answer differently (an
    /// endpoint created, deleted, or its filters changed), committed with that change. Read
    /// before the routes, it lets a reader keep the routes until it moves.
    pub async fn endpoint_routes_revision(&self) -> Result<i64, StoreError> {
        on_backend!(&self.backend, s => s.endpoint_routes_revision().await)
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

    /// Subscriptions (of one topic, if given), each with its latest delivery: at most `limit`,
    /// in (topic, callback) order, after the (topic, callback) given.
    pub async fn subscriptions(
        &self,
        topic: Option<&str>,
        after: Option<(&str, &str)>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<SubscriptionView>, StoreError> {
        on_backend!(&self.backend, s => s.subscriptions(topic, after, limit, now).await)
    }

    /// Active subscriptions to one feed (any spelling of its topic), and with callbacks on the
    /// callback's host (any scheme or port): what the hub's caps are checked against; and
    /// whether (topic, callback) is active already.
    pub async fn subscription_counts(
        &self,
        topic: &str,
        scope: &crate::domain::Scope,
        format: crate::domain::FeedFormat,
        callback: &crate::domain::CallbackUrl,
        now: DateTime<Utc>,
    ) -> Result<super::SubscriptionCounts, StoreError> {
        let [p1, p2, p3, p4] = super::callback_host_patterns(callback.host_str().unwrap_or(""));
        let params = [
            scope.as_str(),
            format.extension(),
            &p1,
            &p2,
            &p3,
            &p4,
            topic,
            callback.as_str(),
        ];
        on_backend!(&self.backend, s => s.subscription_counts(params, now).await)
    }

    /// Active subscribers per topic: (scope, format extension) → count.
    pub async fn subscriber_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<(String, String), u64>, StoreError> {
        on_backend!(&self.backend, s => s.subscriber_counts(now).await)
    }
}
