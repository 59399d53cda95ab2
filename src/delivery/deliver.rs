//! One attempt: prepare → send (no transaction open) → judge → record each delivery sent, and
//! what follows once recorded.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::Method;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::client::{ErrorClass, Exchange};
use super::hosts::HostSlot;
use super::retry::Next;
use super::{AttemptReport, Channel, DeliveryEngine, PendingRecord, Prepared, REJECTED, Refusal};
use crate::store::{Attempt, AttemptOutcome, AttemptRecord, Claimed, StoreError};

impl DeliveryEngine {
    /// Sends claimed deliveries to one target as one message (one delivery, or several that
    /// its channel coalesces into a digest), and records what happened to each.
    #[tracing::instrument(skip_all, fields(delivery = %batch[0].id, target = %batch[0].target.id(), url = %batch[0].target.url(), attempt = batch[0].attempts + 1, digest = batch.len()))]
    pub(super) async fn deliver(
        &self,
        batch: Vec<Claimed>,
        host_slot: HostSlot,
        recorder: mpsc::Sender<PendingRecord>,
        follow_ups: TaskTracker,
    ) {
        let inner = &self.inner;
        let first = &batch[0];
        let Some(channel) = inner.channels.get(&first.target.kind()) else {
            tracing::error!(
                kind = first.target.kind().as_str(),
                "no channel for this kind of target"
            );
            return;
        };
        let now = Utc::now();
        let prepared = if batch.len() > 1 {
            channel.prepare_digest(&batch, now)
        } else {
            channel.prepare(first, now)
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(wait) => {
                let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                for claimed in &batch {
                    if let Err(err) = inner.store.release_delivery(claimed, at).await {
                        tracing::error!(error = %err, "cannot give a delivery back");
                    }
                }
                return;
            }
        };
        let Prepared { headers, url, body } = prepared;
        let exchange = inner
            .outbound
            .send_within(
                Method::POST,
                url.as_ref().unwrap_or(first.target.url()),
                headers,
                Some(body.unwrap_or_else(|| first.body.clone()).into()),
                host_slot.timeout,
            )
            .await;
        host_slot.record(matches!(exchange.error, Some((ErrorClass::Timeout, _))));
        drop(host_slot);

        let refusal = exchange
            .is_success()
            .then(|| channel.judge(first, &exchange))
            .flatten();
        for claimed in batch {
            self.settle(
                claimed,
                now,
                &exchange,
                refusal.as_ref(),
                channel,
                &recorder,
                &follow_ups,
            )
            .await;
        }
    }

    /// Records one delivery's attempt, with its own next step (each delivery keeps its own
    /// schedule), and leaves what follows the record to a follow-up task.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        claimed: Claimed,
        now: DateTime<Utc>,
        exchange: &Exchange,
        refusal: Option<&Refusal>,
        channel: &Arc<dyn Channel>,
        recorder: &mpsc::Sender<PendingRecord>,
        follow_ups: &TaskTracker,
    ) {
        let inner = &self.inner;
        let status = exchange.status.map(|s| s.as_u16());
        let outcome = if exchange.is_success() && refusal.is_none() {
            AttemptOutcome::Delivered
        } else {
            // Retry-After is honoured only where it means "come back later" (RFC 9110 §10.2.3).
            let retry_after = match status {
                Some(429 | 502 | 503 | 504) => exchange.retry_after,
                _ => None,
            };
            let random: f64 = rand::thread_rng().r#gen();
            let retry_at = Utc::now();
            let next =
                match inner
                    .schedule
                    .next(claimed.attempts + 1, retry_at, retry_after, random)
                {
                    // A receiver that said "too fast" is not asked again before it said it may be.
                    Next::RetryAt(at) => {
                        let least = refusal
                            .and_then(|r| r.retry_after)
                            .and_then(|wait| chrono::Duration::from_std(wait).ok())
                            .and_then(|wait| retry_at.checked_add_signed(wait));
                        Next::RetryAt(least.map_or(at, |least| at.max(least)))
                    }
                    Next::GiveUp => Next::GiveUp,
                };
            match next {
                // A target with an end (a WebSub lease) gets no retry past it: past the end
                // as it stands now, since the subscriber may have renewed its lease while
                // this attempt ran.
                Next::RetryAt(at) if claimed.expires_at.is_some_and(|end| at > end) => {
                    match inner.store.delivery_end(claimed.seq).await {
                        Ok(Some(end)) if at <= end => AttemptOutcome::RetryAt(at),
                        Ok(_) => AttemptOutcome::GaveUp,
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot read the lease's end; giving up");
                            AttemptOutcome::GaveUp
                        }
                    }
                }
                Next::RetryAt(at) => AttemptOutcome::RetryAt(at),
                Next::GiveUp => AttemptOutcome::GaveUp,
            }
        };
        let (error_class, error) = match (&exchange.error, refusal) {
            (Some((class, message)), _) => (Some(class.as_str().to_owned()), Some(message.clone())),
            (None, Some(refusal)) => (Some(REJECTED.to_owned()), Some(refusal.reason.clone())),
            (None, None) => (None, None),
        };
        let attempt = Attempt {
            attempted_at: now,
            status_code: status,
            duration_ms: exchange.duration.as_millis() as u64,
            error_class,
            error,
            response_body: exchange.body.clone(),
        };
        match outcome {
            AttemptOutcome::GaveUp => {
                tracing::warn!(delivery = %claimed.id, status, error = ?attempt.error, "delivery failed; giving up")
            }
            AttemptOutcome::RetryAt(at) => {
                tracing::info!(delivery = %claimed.id, status, error = ?attempt.error, retry_at = %at, "delivery attempt failed")
            }
            AttemptOutcome::Delivered => {
                tracing::debug!(delivery = %claimed.id, status, "delivered")
            }
        }
        let (reply, recorded) = oneshot::channel();
        let record = AttemptRecord::new(&claimed, attempt, outcome);
        if recorder.send((record, reply)).await.is_err() {
            tracing::error!("the attempt recorder has stopped; the lease will run out");
            return;
        }
        // The worker is free once the attempt is queued for recording: what follows waits for
        // the record's transaction, and the delivery keeps its lease (so nothing overtakes it)
        // until that commits.
        let channel = channel.clone();
        let result = match (&exchange.error, refusal) {
            (Some((class, _)), _) => class.as_str(),
            (None, Some(_)) => REJECTED,
            (None, None) => "success",
        };
        let follow_up = async move {
            let recorded = recorded.await.unwrap_or_else(|_| {
                Err(StoreError::Interrupted(
                    "the attempt recorder stopped before answering".into(),
                ))
            });
            let failing_since = match recorded {
                Ok(since) => since,
                Err(StoreError::LeaseLost) => {
                    // Too slow: the lease ran out and another worker took the delivery over;
                    // its result stands, this one is dropped (the receiver may see the message
                    // twice, with the same id).
                    tracing::warn!("the lease ran out before the attempt was recorded; dropped");
                    return;
                }
                Err(err) => {
                    // The lease will expire and the delivery will be tried again: at least once.
                    tracing::error!(error = %err, "cannot record a delivery attempt");
                    return;
                }
            };
            channel
                .after_attempt(AttemptReport {
                    claimed: &claimed,
                    attempted_at: now,
                    status,
                    result,
                    outcome,
                    failing_since,
                })
                .await;
        };
        follow_ups.spawn(follow_up.instrument(tracing::Span::current()));
    }
}
