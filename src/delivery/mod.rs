//! The delivery engine: durable, retried, ordered pushes to other systems.
//!
//! The engine knows no protocol. It does claim → send → record → retry: workers claim due
//! deliveries with a lease, send them with no transaction open through the hardened
//! [`client::Outbound`], record each attempt, and schedule the next one. What differs between
//! webhook endpoints and WebSub subscribers (which events become which messages, the headers
//! of an attempt, rate limits, what a 410 or a run of failures means) comes from a
//! [`Channel`] per kind of target, supplied by `webhooks` and `websub`.

pub mod client;
mod deliver;
mod hosts;
pub mod limiter;
pub mod parts;
pub mod retry;

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use crate::config::DeliveryConfig;
use crate::domain::TargetKind;
use crate::store::{AttemptOutcome, AttemptRecord, Claimed, Recorded, Store, StoreError};
use client::{Exchange, Outbound};
use hosts::{Busy, Hosts};
use retry::Schedule;

/// An attempt as recorded, for the channel to draw its consequences from.
#[derive(Debug)]
pub struct AttemptReport<'a> {
    pub claimed: &'a Claimed,
    pub attempted_at: DateTime<Utc>,
    pub status: Option<u16>,
    /// `success`, or the error class (`dns`, `refused`, `connect`, `tls`, `timeout`, `http`).
    pub result: &'static str,
    pub outcome: AttemptOutcome,
    /// Start of the target's current run of failures, as recorded (webhook endpoints).
    pub failing_since: Option<DateTime<Utc>>,
}

/// One attempt as the channel shapes it: its headers and, where this attempt differs from the
/// stored message (a message rendered for one target, a URL signed for this moment), the URL
/// and body to send instead.
#[derive(Debug, Default)]
pub struct Prepared {
    pub headers: HeaderMap,
    /// Sent to instead of the target's URL; `None` keeps it.
    pub url: Option<Url>,
    /// Sent instead of the stored message body; `None` keeps it.
    pub body: Option<String>,
}

impl Prepared {
    /// The stored message to the target's URL, with these headers.
    pub fn with_headers(headers: HeaderMap) -> Self {
        Self {
            headers,
            ..Self::default()
        }
    }
}

/// A success answer that the channel reads as a failure: a receiver that answers `200` with an
/// error code in its body (chat robots do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why, as the receiver said it: kept in the attempt log.
    pub reason: String,
    /// The least wait before the next attempt (the receiver said "too fast"); the schedule's
    /// own delay when longer.
    pub retry_after: Option<Duration>,
}

/// The attempt log's error class of an attempt answered with a success status that the
/// channel judged a failure (see [`Channel::judge`]).
pub const REJECTED: &str = "rejected";

/// What one kind of target adds to the engine.
pub trait Channel: Send + Sync + Debug {
    /// The kind of target whose deliveries this channel shapes.
    fn kind(&self) -> TargetKind;

    /// Turns undispatched events of the log into queued messages. When some wait (on purpose:
    /// a coalescing window still open; or the rest of a fan-out queued in parts), says by
    /// when to be asked again: a time not after now means at once, once what is queued has
    /// been claimed.
    fn dispatch(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>>;

    /// The headers of this attempt, and the URL and body when they are not the stored ones;
    /// or, when the target may not receive yet (a rate limit), how long to wait: the delivery
    /// is then given back without an attempt.
    fn prepare(&self, claimed: &Claimed, now: DateTime<Utc>) -> Result<Prepared, Duration>;

    /// Reads a success answer (`2xx`): `Some` makes it a failed attempt, retried like any
    /// other, with the reason in the attempt log. Every `2xx` is a success unless a channel
    /// says otherwise.
    fn judge(&self, _claimed: &Claimed, _exchange: &Exchange) -> Option<Refusal> {
        None
    }

    /// How many deliveries to this claim's target, claimed together, may go as one message (a
    /// digest, see [`Channel::prepare_digest`]); 1: each goes alone. Deliveries that a rate
    /// limit held back become due together, and so go out as one.
    fn coalesce_limit(&self, _claimed: &Claimed) -> usize {
        1
    }

    /// One attempt for several deliveries to one target, oldest first, sent as one message;
    /// asked only of channels whose [`Channel::coalesce_limit`] allows it. Its outcome is
    /// recorded for each of them.
    fn prepare_digest(&self, claims: &[Claimed], now: DateTime<Utc>) -> Result<Prepared, Duration> {
        self.prepare(&claims[0], now)
    }

    /// After an attempt is recorded: what it means for the target (gone, failing for long)
    /// and for the channel's metrics.
    fn after_attempt<'a>(&'a self, report: AttemptReport<'a>) -> BoxFuture<'a, ()>;
}

/// Wakes the engine when there may be new work; cheap to clone, and available before the
/// engine exists (the use cases that queue work are built before it).
#[derive(Debug, Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    async fn woken(&self) {
        self.0.notified().await;
    }
}

/// An attempt waiting to be recorded, and where its answer goes.
type PendingRecord = (AttemptRecord, oneshot::Sender<Recorded>);

/// At most this many attempts are recorded in one transaction.
const RECORD_BATCH: usize = 64;

/// When a delivery given back because its host had all it may have at once is tried again.
const HOST_FULL_WAIT: Duration = Duration::from_millis(100);

/// Records finished attempts, as many as are waiting in one transaction: while one batch is
/// written the next gathers, so that a busy engine commits once per batch rather than once
/// per delivery, and an idle one records each attempt at once. Ends when every sender is gone.
async fn record_batches(store: Store, mut pending: mpsc::Receiver<PendingRecord>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while pending.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let (records, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        match store.record_attempts(records).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                // Nothing of the batch is recorded; each lease runs out and its delivery is
                // tried again: at least once.
                let reason = err.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Interrupted(reason.clone())));
                }
            }
        }
    }
}

/// The engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct DeliveryEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    config: DeliveryConfig,
    schedule: Schedule,
    outbound: Outbound,
    channels: HashMap<TargetKind, Arc<dyn Channel>>,
    /// The channels in the order given: the order they dispatch in.
    dispatch_order: Vec<Arc<dyn Channel>>,
    waker: Waker,
    /// WebSub deliveries being sent: they may hold at most `websub_workers` of the workers, so
    /// that anonymous subscribers whose callbacks hang never starve the operator's webhooks.
    websub_inflight: Arc<std::sync::atomic::AtomicUsize>,
    /// Deliveries in flight per destination host, and the hosts that keep timing out.
    hosts: Arc<Hosts>,
}

/// One WebSub delivery counted as in flight until dropped.
struct WebSubSlot(Arc<std::sync::atomic::AtomicUsize>);

impl WebSubSlot {
    fn take(counter: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter.clone())
    }
}

impl Drop for WebSubSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl DeliveryEngine {
    pub fn new(
        store: Store,
        config: &DeliveryConfig,
        outbound: Outbound,
        waker: Waker,
        channels: Vec<Arc<dyn Channel>>,
    ) -> Self {
        let schedule = Schedule {
            delays: config
                .retry_schedule_secs
                .iter()
                .map(|s| Duration::from_secs_f64(*s))
                .collect(),
            jitter: config.jitter,
        };
        Self {
            inner: Arc::new(Inner {
                store,
                config: config.clone(),
                schedule,
                outbound,
                channels: channels.iter().map(|c| (c.kind(), c.clone())).collect(),
                dispatch_order: channels,
                waker,
                websub_inflight: Arc::default(),
                hosts: Arc::new(Hosts::new(config)),
            }),
        }
    }

    /// Tells the engine there may be new work (an event committed, a delivery re-queued).
    pub fn wake(&self) {
        self.inner.waker.wake();
    }

    /// Runs every channel's dispatcher once, in the order the channels were given (those
    /// that send at once before those that wait on purpose); returns the earliest time one of
    /// them wants to be asked again.
    async fn dispatch_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut again_at = None;
        for channel in &self.inner.dispatch_order {
            if let Some(at) = channel.dispatch().await? {
                again_at = Some(again_at.map_or(at, |earlier: DateTime<Utc>| earlier.min(at)));
            }
        }
        Ok(again_at)
    }

    async fn claim(
        &self,
        limit: usize,
        kind: Option<TargetKind>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = Utc::now();
        let lease = chrono::Duration::milliseconds((self.inner.config.lease_secs * 1000.0) as i64);
        self.inner
            .store
            .claim_due_deliveries(now, now + lease, limit as u32, kind)
            .await
    }

    /// How many workers WebSub deliveries may hold at once (at least one).
    fn websub_workers(&self) -> usize {
        let config = &self.inner.config;
        ((config.concurrency as f64 * config.websub_max_share).ceil() as usize)
            .clamp(1, config.concurrency.max(1))
    }

    /// Claims up to `room` deliveries, WebSub ones only within `websub_room`: past it, the rest
    /// of the room goes to webhooks alone, unless a claim of webhooks alone came back short
    /// (`webhooks_drained`) since the last dispatch and within the last poll interval.
    async fn claim_fairly(
        &self,
        room: usize,
        websub_room: usize,
        webhooks_drained: &mut Option<std::time::Instant>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let any = room.min(websub_room);
        let mut claimed = if any > 0 {
            self.claim(any, None).await?
        } else {
            Vec::new()
        };
        // A short answer means nothing more is due, of either kind.
        let poll = Duration::from_millis(self.inner.config.poll_interval_ms.max(10));
        let drained = webhooks_drained.is_some_and(|at| at.elapsed() < poll);
        if room > any && claimed.len() == any && !drained {
            let webhooks = self.claim(room - any, Some(TargetKind::Webhook)).await?;
            *webhooks_drained = (webhooks.len() < room - any).then(std::time::Instant::now);
            claimed.extend(webhooks);
        }
        Ok(claimed)
    }

    /// Runs until `shutdown`; deliveries in flight then finish (each is bounded by the request
    /// timeout), and claimed ones not yet started are given back. A crash instead leaves
    /// leases that expire, and the work is taken up again.
    pub async fn run(self, shutdown: CancellationToken) {
        let concurrency = self.inner.config.concurrency;
        let poll = Duration::from_millis(self.inner.config.poll_interval_ms.max(10));
        let mut inflight: JoinSet<()> = JoinSet::new();
        // What follows a sent attempt once it is queued for recording (see `deliver`).
        let follow_ups = TaskTracker::new();
        let (recorder, records) = mpsc::channel(concurrency.max(1) * 2);
        let recording = tokio::spawn(record_batches(self.inner.store.clone(), records));
        // Claimed deliveries waiting for a worker. A claim is a write, whatever its size: the
        // engine claims ahead, up to `concurrency` more than its free workers, so that a busy
        // engine makes one claim per many deliveries rather than one per delivery. Only while
        // a lease comfortably outlives a request and a wait for a worker (see `startable`).
        let mut ready: VecDeque<Claimed> = VecDeque::new();
        let ahead = if self.inner.config.lease_secs >= 3.0 * self.inner.config.request_timeout_secs
        {
            concurrency
        } else {
            0
        };
        // Claims are made for a quarter of the workers at a time at least, not for each one
        // that finishes. New work is claimed at once whatever the number of free workers.
        let claim_batch = (concurrency / 4).max(1);
        // WebSub's share of the workers, and of the claims made ahead.
        let websub_workers = self.websub_workers();
        let websub_ahead = if ahead > 0 { websub_workers } else { 0 };
        // Dispatch only when there may be new events: at the start, when woken, when another
        // instance signals a change, and at each poll. A finished delivery makes none.
        let mut dispatch = true;
        let mut again_at = None;
        // When a claim of webhooks alone last came back short: none is tried again until the
        // next dispatch or poll interval, so that a WebSub fan-out past its share of the workers
        // does not make an empty claim per finished delivery.
        let mut webhooks_drained = None;
        while !shutdown.is_cancelled() {
            let woken = std::mem::take(&mut dispatch);
            if woken {
                webhooks_drained = None;
            }
            if woken {
                again_at = match self.dispatch_pending().await {
                    Ok(again_at) => {
                        crate::store::report_working();
                        again_at
                    }
                    Err(err) => {
                        crate::store::report_fault("cannot dispatch events", &err);
                        None
                    }
                };
            }
            // Free workers take what is already claimed before the engine claims more.
            self.start_ready(&mut ready, &mut inflight, &recorder, &follow_ups);
            let free = concurrency.saturating_sub(inflight.len());
            let room = (free + ahead).saturating_sub(ready.len());
            let mut got_work = false;
            if room > 0
                && (room >= claim_batch || (inflight.is_empty() && ready.is_empty()) || woken)
            {
                let websub_held = self.inner.websub_inflight.load(Ordering::Relaxed)
                    + ready
                        .iter()
                        .filter(|c| c.target.kind() == TargetKind::WebSub)
                        .count();
                let websub_room = (websub_workers + websub_ahead).saturating_sub(websub_held);
                let claimed = self
                    .claim_fairly(room, websub_room, &mut webhooks_drained)
                    .await
                    .unwrap_or_else(|err| {
                        crate::store::report_fault("cannot claim deliveries", &err);
                        Vec::new()
                    });
                got_work = !claimed.is_empty();
                ready.extend(claimed);
            }
            self.start_ready(&mut ready, &mut inflight, &recorder, &follow_ups);
            if got_work && inflight.len() < concurrency {
                continue;
            }
            if again_at.is_some_and(|at| at <= Utc::now()) {
                // More of a fan-out to queue: the next part, now that the first are sent.
                dispatch = true;
                while inflight.try_join_next().is_some() {}
                continue;
            }
            let free = concurrency.saturating_sub(inflight.len());
            if !inflight.is_empty() && (free < claim_batch || !ready.is_empty()) {
                // Too few workers free to claim for: wait for more to finish, or for new work.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.inner.waker.woken() => dispatch = true,
                    _ = self.inner.store.changed() => dispatch = true,
                    _ = inflight.join_next() => {}
                }
            } else {
                let sleep = self.idle_wait(poll, again_at).await;
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.inner.waker.woken() => dispatch = true,
                    // Another instance queued work (PostgreSQL); polling covers a lost signal.
                    _ = self.inner.store.changed() => dispatch = true,
                    Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
                    _ = tokio::time::sleep(sleep) => dispatch = true,
                }
            }
            while inflight.try_join_next().is_some() {}
        }
        // Claimed but not started: given back, due now, for this or another instance.
        let now = Utc::now();
        for claimed in ready {
            if let Err(err) = self.inner.store.release_delivery(&claimed, now).await {
                tracing::warn!(error = %err, "cannot give a claimed delivery back; its lease will run out");
            }
        }
        while inflight.join_next().await.is_some() {}
        follow_ups.close();
        follow_ups.wait().await;
        // The last records are written before the engine ends.
        drop(recorder);
        let _ = recording.await;
    }

    /// Starts claimed deliveries on the free workers.
    fn start_ready(
        &self,
        ready: &mut VecDeque<Claimed>,
        inflight: &mut JoinSet<()>,
        recorder: &mpsc::Sender<PendingRecord>,
        follow_ups: &TaskTracker,
    ) {
        let websub_workers = self.websub_workers();
        // WebSub deliveries waiting for their share of the workers, in order.
        let mut waiting: Vec<Claimed> = Vec::new();
        // Deliveries to hosts that have all they may have at once, and when to try them again.
        let mut held_back: Vec<(Claimed, Duration)> = Vec::new();
        while inflight.len() < self.inner.config.concurrency {
            let Some(claimed) = ready.pop_front() else {
                break;
            };
            let websub = claimed.target.kind() == TargetKind::WebSub;
            if websub && self.inner.websub_inflight.load(Ordering::Relaxed) >= websub_workers {
                waiting.push(claimed);
                continue;
            }
            if !self.startable(&claimed) {
                // Its lease could run out during the request: leave it to a later claim once
                // the lease has expired, rather than risk two workers sending it.
                tracing::info!(delivery = %claimed.id, "a claimed delivery waited too long for a worker; left to a later claim");
                continue;
            }
            // Deliveries to the same target claimed with it go along, when its channel
            // coalesces them into one message.
            let mut batch = vec![claimed];
            let limit = self
                .inner
                .channels
                .get(&batch[0].target.kind())
                .map_or(1, |channel| channel.coalesce_limit(&batch[0]));
            if limit > 1 {
                let channel = &self.inner.channels[&batch[0].target.kind()];
                let mut i = 0;
                while i < ready.len() && batch.len() < limit {
                    let other = &ready[i];
                    if other.target.kind() == batch[0].target.kind()
                        && other.target.id() == batch[0].target.id()
                        && channel.coalesce_limit(other) > 1
                        && self.startable(other)
                    {
                        batch.extend(ready.remove(i));
                    } else {
                        i += 1;
                    }
                }
                batch.sort_by_key(|c| c.seq);
            }
            let claimed = &batch[0];
            let host = claimed.target.url().host_str().unwrap_or_default();
            let host_slot = match self.inner.hosts.try_take(host) {
                Ok(slot) => slot,
                Err(busy) => {
                    // Given back rather than kept: kept, deliveries to one host could fill the
                    // claimed-ahead room and keep the others' from being claimed.
                    let wait = match busy {
                        Busy::Full => HOST_FULL_WAIT,
                        Busy::Slow(wait) => wait,
                    };
                    tracing::debug!(delivery = %claimed.id, ?busy, "the host has all the deliveries it may have at once; given back");
                    held_back.extend(batch.into_iter().map(|c| (c, wait)));
                    continue;
                }
            };
            let engine = self.clone();
            let recorder = recorder.clone();
            let follow_ups = follow_ups.clone();
            let websub_slot = websub.then(|| WebSubSlot::take(&self.inner.websub_inflight));
            inflight.spawn(async move {
                engine.deliver(batch, host_slot, recorder, follow_ups).await;
                drop(websub_slot);
            });
        }
        for claimed in waiting.into_iter().rev() {
            ready.push_front(claimed);
        }
        if !held_back.is_empty() {
            let store = self.inner.store.clone();
            follow_ups.spawn(async move {
                let now = Utc::now();
                for (claimed, wait) in held_back {
                    let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    if let Err(err) = store.release_delivery(&claimed, at).await {
                        tracing::warn!(error = %err, "cannot give a claimed delivery back; its lease will run out");
                    }
                }
            });
        }
    }

    /// Whether a claimed delivery's lease leaves time for its request and its record: a lease
    /// must not run out while the delivery is being sent, or another worker could take it. A
    /// fresh claim always may start (at least half its lease is left).
    fn startable(&self, claimed: &Claimed) -> bool {
        let config = &self.inner.config;
        let request = config.request_timeout_secs + config.connect_timeout_secs;
        let needed = Duration::from_secs_f64(request.min(config.lease_secs / 2.0));
        (claimed.lease_until - Utc::now())
            .to_std()
            .is_ok_and(|left| left >= needed)
    }

    /// How long to sleep when idle: until the next delivery is due or a dispatcher wants to
    /// look again, at most `poll`, and at least a little, so that a delivery due now but not
    /// claimable cannot make the loop spin.
    async fn idle_wait(&self, poll: Duration, again_at: Option<DateTime<Utc>>) -> Duration {
        let now = Utc::now();
        let until = |t: DateTime<Utc>| (t - now).to_std().unwrap_or(Duration::ZERO);
        let due = match self.inner.store.next_due().await {
            Ok(Some(due)) => until(due),
            _ => poll,
        };
        let again = again_at.map_or(poll, until);
        due.min(again)
            .clamp(Duration::from_millis(5), poll.max(Duration::from_millis(5)))
    }
}
