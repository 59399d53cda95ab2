//! The event log followed live: what `GET /api/v1/events/stream` and each scope's public
//! stream (`/feeds/{scope}.events`) send.
//!
//! The streams share one value: the last event this process applied (see
//! [`Service::apply_changes`]), which moves after every local write, at every change another
//! instance signals (PostgreSQL's `NOTIFY`) and at every poll (`feeds.poll_interval_ms`). A
//! stream that is up to date sleeps until that value passes its cursor, then reads what is new
//! from the store. No stream polls on its own, and one that fell behind (a resumption, a slow
//! reader) catches up from the store in batches, at the pace its client reads.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::Service;
use crate::catalog::Scope;
use crate::domain::Event;
use crate::metrics::Metrics;
use crate::store::Store;

/// How many events a stream reads from the store at a time.
const BATCH: u32 = 100;

/// How long a stream that could not read the store waits before it tries again: doubling
/// from the first to the most.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Where the log stands for the streams that follow it, and how many may; cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveLog {
    /// The last event applied by this process.
    head: watch::Sender<i64>,
    /// One permit per open stream (`events.max_streams`).
    slots: Arc<Semaphore>,
    /// Cancelled when the server stops: every stream ends and no new one opens.
    closed: CancellationToken,
    metrics: Arc<Metrics>,
}

/// One stream's place among the `events.max_streams`, given back when the stream ends.
#[derive(Debug)]
pub struct StreamSlot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

/// Why a stream could not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// `events.max_streams` are open.
    Full,
    /// The server is stopping.
    Stopping,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.metrics.event_streams.dec();
    }
}

impl LiveLog {
    pub(super) fn new(head: i64, max_streams: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            head: watch::Sender::new(head),
            slots: Arc::new(Semaphore::new(max_streams)),
            closed: CancellationToken::new(),
            metrics,
        }
    }

    /// The last event applied: where a stream that starts at the end of the log starts.
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// Moves the head forward to `seq` (never back), waking the streams that wait for it.
    pub(super) fn advance(&self, seq: i64) {
        self.head.send_if_modified(|head| {
            let moved = seq > *head;
            if moved {
                *head = seq;
            }
            moved
        });
    }

    /// A place for one more stream, unless `events.max_streams` are open or the server is
    /// stopping.
    pub fn open_slot(&self) -> Result<StreamSlot, NoSlot> {
        if self.closed.is_cancelled() {
            return Err(NoSlot::Stopping);
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| NoSlot::Full)?;
        self.metrics.event_streams.inc();
        Ok(StreamSlot {
            _permit: permit,
            metrics: self.metrics.clone(),
        })
    }

    /// Ends every stream and opens no more. A stream never ends on its own, and a graceful
    /// shutdown waits for every answer to end: the server calls this as it stops.
    pub fn close(&self) {
        self.closed.cancel();
    }
}

/// Whether `event` changes the feeds of `scope`: its article is in the scope, or was before
/// this update moved it out (the same events that invalidate the scope's cached feeds).
pub fn changes_scope(scope: &Scope, event: &Event) -> bool {
    scope.includes(&event.section, &event.tags)
        || event
            .moved_from
            .as_ref()
            .is_some_and(|from| scope.includes(from, &[]))
}

impl Service {
    /// The events after the cursor `after`, oldest first, each once: those in the log already,
    /// then each new one as soon as this process applies it. With `scope`, only the events
    /// that change its feeds ([`changes_scope`]). The stream holds `slot` while it lasts.
    ///
    /// It ends only when the server stops ([`LiveLog::close`]); a client that reconnects after
    /// the last event it received misses nothing. While the store cannot be read it waits and
    /// tries again (from 1 s, doubling to 30 s), logging the first failure.
    pub fn follow_events(
        &self,
        slot: StreamSlot,
        after: i64,
        scope: Option<Scope>,
    ) -> impl Stream<Item = Event> + Send + 'static {
        let follower = Follower {
            store: self.store.clone(),
            head: self.live.head.subscribe(),
            closed: self.live.closed.clone(),
            cursor: after,
            pending: VecDeque::new(),
            scope,
            failures: 0,
            _slot: slot,
        };
        futures::stream::unfold(follower, |mut follower| async move {
            let event = follower.next().await?;
            Some((event, follower))
        })
    }
}

/// One stream's state.
struct Follower {
    store: Store,
    head: watch::Receiver<i64>,
    closed: CancellationToken,
    /// The last event read from the store (sent, or passed over by the scope).
    cursor: i64,
    /// Read, not yet sent.
    pending: VecDeque<Event>,
    scope: Option<Scope>,
    /// Reads of the store that failed in a row.
    failures: u32,
    _slot: StreamSlot,
}

impl Follower {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.closed.is_cancelled() {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            // Read before the store is: every event up to it was committed before the read.
            let head = *self.head.borrow_and_update();
            let read = tokio::select! {
                biased;
                () = self.closed.cancelled() => return None,
                read = self.store.events_after(self.cursor, BATCH) => read,
            };
            let events = match read {
                Ok(events) => events,
                Err(err) => {
                    // Kept open, heartbeats and all, rather than ended: every client would
                    // reconnect at once, and again, while the store is away.
                    if self.failures == 0 {
                        tracing::warn!(error = %err, "a live stream of events cannot read the log; it tries again");
                    }
                    let pause = RETRY_FIRST
                        .saturating_mul(1 << self.failures.min(5))
                        .min(RETRY_MAX);
                    self.failures += 1;
                    tokio::select! {
                        biased;
                        () = self.closed.cancelled() => return None,
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            self.failures = 0;
            if let Some(last) = events.last() {
                self.cursor = last.seq;
                let scope = self.scope.as_ref();
                self.pending.extend(
                    events
                        .into_iter()
                        .filter(|event| scope.is_none_or(|scope| changes_scope(scope, event))),
                );
                continue;
            }
            if head > self.cursor {
                // Nothing between the cursor and a head committed before the read: numbers
                // the log never used. Passing over them keeps the wait below from spinning.
                self.cursor = head;
                continue;
            }
            let cursor = self.cursor;
            tokio::select! {
                biased;
                () = self.closed.cancelled() => return None,
                moved = self.head.wait_for(|head| *head > cursor) => {
                    if moved.is_err() {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ArticleId, EventType, SectionPath};

    fn event(section: &str, moved_from: Option<&str>, tags: &[&str]) -> Event {
        Event {
            seq: 1,
            id: "evt_1".into(),
            kind: EventType::Updated,
            article_id: ArticleId::parse("a-1").unwrap(),
            section: SectionPath::parse(section).unwrap(),
            moved_from: moved_from.map(|s| SectionPath::parse(s).unwrap()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            version: 2,
            occurred_at: chrono::Utc::now(),
            payload: None,
        }
    }

    fn scope(name: &str) -> Scope {
        Scope::parse_name(name).unwrap()
    }

    #[test]
    fn a_scope_sees_its_sections_descendants_tags_and_articles_moved_out() {
        let ldhd = event("hnyw/ldhd", None, &["双拥"]);
        assert!(changes_scope(&scope("all"), &ldhd));
        assert!(changes_scope(&scope("hnyw"), &ldhd));
        assert!(changes_scope(&scope("hnyw/ldhd"), &ldhd));
        assert!(changes_scope(&scope("tags/双拥"), &ldhd));
        assert!(!changes_scope(&scope("zwgk"), &ldhd));
        assert!(!changes_scope(&scope("tags/其他"), &ldhd));
        let moved = event("zwgk/tzgg", Some("hnyw/ldhd"), &[]);
        assert!(changes_scope(&scope("hnyw"), &moved));
        assert!(changes_scope(&scope("zwgk"), &moved));
        assert!(!changes_scope(&scope("zjhn"), &moved));
    }

    #[tokio::test]
    async fn the_head_only_moves_forward_and_slots_run_out() {
        let live = LiveLog::new(5, 2, Arc::new(Metrics::new()));
        live.advance(3);
        assert_eq!(live.head(), 5);
        live.advance(8);
        assert_eq!(live.head(), 8);
        let first = live.open_slot().expect("a first slot");
        let _second = live.open_slot().expect("a second slot");
        assert_eq!(live.open_slot().unwrap_err(), NoSlot::Full, "two at most");
        drop(first);
        assert!(live.open_slot().is_ok(), "a slot given back is free again");
        live.close();
        assert_eq!(live.open_slot().unwrap_err(), NoSlot::Stopping);
    }
}
