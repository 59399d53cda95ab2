//! Queuing a large fan-out in parts.
//!
//! One event for 50,000 endpoints is 50,000 deliveries. Queued in one transaction, nothing is
//! sent until all are written, and every other write (an article, a record) waits for the
//! whole of it. Queued in parts, the first deliveries leave while the rest is written.
//!
//! Every part but the last is queued without moving the dispatcher's cursor; the last moves
//! it (compare-and-set). A crash in between leaves the cursor before the events, and the next
//! dispatch queues them again: the parts already queued are skipped, as the store keeps one
//! delivery per (target, message). Two dispatchers racing do the same and one of them moves
//! the cursor. Within a part, and from part to part, deliveries keep the order of the
//! messages: one article's versions still reach each target in order.

use std::collections::VecDeque;

use std::sync::Mutex;

use crate::store::{CursorMove, Enqueued, NewMessage, Store, StoreError};

/// A batch of events turned into messages, to be queued part by part.
#[derive(Debug)]
pub struct Dispatching {
    cursor: CursorMove,
    /// Events the batch covers, for metrics.
    pub events: usize,
    parts: VecDeque<Vec<NewMessage>>,
}

impl Dispatching {
    /// The messages of a batch, to be queued [`FIRST_PART`] deliveries first, then [`PART`]
    /// at a time; the last part moves `cursor`.
    pub fn new(cursor: CursorMove, events: usize, messages: Vec<NewMessage>) -> Self {
        Self {
            cursor,
            events,
            parts: in_parts(messages, FIRST_PART, PART),
        }
    }
}

/// A channel's batch between two calls of its dispatcher, while parts of it remain.
#[derive(Debug, Default)]
pub struct InProgress(Mutex<Option<Dispatching>>);

impl InProgress {
    /// The batch left unfinished by the last call, if any.
    pub fn take(&self) -> Option<Dispatching> {
        self.0.lock().map(|mut d| d.take()).unwrap_or(None)
    }

    /// Queues the next part of `dispatching` in one transaction. `None` when parts remain:
    /// they are kept for the next call, which the dispatcher asks for at once. Otherwise the
    /// last part is queued and the cursor moved, or another dispatcher moved it first.
    pub async fn queue_next(
        &self,
        mut dispatching: Dispatching,
        store: &Store,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Enqueued>, StoreError> {
        let part = dispatching.parts.pop_front().unwrap_or_default();
        if dispatching.parts.is_empty() {
            return Ok(Some(
                store.enqueue(Some(dispatching.cursor), part, now).await?,
            ));
        }
        store.enqueue(None, part, now).await?;
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(dispatching);
        }
        Ok(None)
    }
}

/// Deliveries in the first part: enough to keep the engine's workers busy while the next is
/// written.
const FIRST_PART: usize = 100;

/// Deliveries in each later part.
const PART: usize = 2_000;

/// Splits messages into parts of `first`, then `rest` deliveries, in order; a message whose
/// deliveries span parts appears in each with its share. Always at least one part (possibly
/// empty), so that the cursor moves even when the events go to no one.
fn in_parts(messages: Vec<NewMessage>, first: usize, rest: usize) -> VecDeque<Vec<NewMessage>> {
    let (first, rest) = (first.max(1), rest.max(1));
    let mut parts = VecDeque::new();
    let mut part: Vec<NewMessage> = Vec::new();
    let mut room = first;
    for mut message in messages {
        let mut deliveries = std::mem::take(&mut message.deliveries);
        while deliveries.len() > room {
            let tail = deliveries.split_off(room);
            part.push(NewMessage {
                deliveries,
                ..message.clone()
            });
            parts.push_back(std::mem::take(&mut part));
            room = rest;
            deliveries = tail;
        }
        room -= deliveries.len();
        part.push(NewMessage {
            deliveries,
            ..message
        });
        if room == 0 {
            parts.push_back(std::mem::take(&mut part));
            room = rest;
        }
    }
    if !part.is_empty() || parts.is_empty() {
        parts.push_back(part);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TargetKind;
    use crate::store::NewDelivery;

    fn message(id: &str, targets: usize) -> NewMessage {
        NewMessage {
            id: id.into(),
            kind: "article.published".into(),
            event_seq: None,
            body: format!("{{\"id\":\"{id}\"}}"),
            content_type: "application/json".into(),
            link: None,
            deliveries: (0..targets)
                .map(|t| NewDelivery {
                    target: TargetKind::Webhook,
                    target_id: format!("ep_{t}"),
                    order_key: id.into(),
                    expires_at: None,
                })
                .collect(),
        }
    }

    /// (message id, first target, count) for each message of each part.
    fn shape(parts: &VecDeque<Vec<NewMessage>>) -> Vec<Vec<(String, String, usize)>> {
        parts
            .iter()
            .map(|part| {
                part.iter()
                    .map(|m| {
                        (
                            m.id.clone(),
                            m.deliveries
                                .first()
                                .map(|d| d.target_id.clone())
                                .unwrap_or_default(),
                            m.deliveries.len(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_large_message_is_split_small_first_then_in_equal_parts_in_order() {
        let parts = in_parts(
            vec![message("a", 2), message("b", 9), message("c", 1)],
            3,
            5,
        );
        let s = |id: &str, first: &str, n| (id.to_owned(), first.to_owned(), n);
        assert_eq!(
            shape(&parts),
            vec![
                vec![s("a", "ep_0", 2), s("b", "ep_0", 1)],
                vec![s("b", "ep_1", 5)],
                vec![s("b", "ep_6", 3), s("c", "ep_0", 1)],
            ]
        );
        assert!(parts.iter().flatten().all(|m| m.body.contains(&m.id)));
    }

    #[test]
    fn parts_end_exactly_and_nothing_to_queue_is_still_one_part() {
        let parts = in_parts(vec![message("a", 4)], 2, 2);
        assert_eq!(parts.len(), 2);
        assert!(
            parts
                .iter()
                .all(|p| p.len() == 1 && p[0].deliveries.len() == 2)
        );
        let none = in_parts(Vec::new(), 2, 2);
        assert_eq!(none.len(), 1);
        assert!(none[0].is_empty());
        let small = in_parts(vec![message("a", 1)], 100, 2000);
        assert_eq!(shape(&small), vec![vec![("a".into(), "ep_0".into(), 1)]]);
    }
}
