//! The types the store's use cases take and return, the same for every backend.

use chrono::{DateTime, Utc};

pub use crate::domain::{Attempt, DeliveryView, LastDelivery, SubscriptionView};
use crate::domain::{
    Endpoint, EndpointKind, EndpointUrl, EventType, RobotSecret, Secret, SectionPath,
    StoredArticle, Target, TargetKind,
};

use super::UpsertOutcome;

/// One attempt to record (see [`Store::record_attempts`]): the claim it was made under, what
/// happened, and what it leads to.
///
/// [`Store::record_attempts`]: super::Store::record_attempts
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub seq: i64,
    /// The claim's lease: the record is written only while the delivery still holds it.
    pub lease: DateTime<Utc>,
    pub target: Target,
    pub attempt: Attempt,
    pub outcome: AttemptOutcome,
}

/// What recording one attempt gave: its endpoint's `failing_since` afterwards, or
/// [`StoreError::LeaseLost`](super::StoreError::LeaseLost) when nothing was recorded.
pub type Recorded = Result<Option<DateTime<Utc>>, super::StoreError>;

impl AttemptRecord {
    pub fn new(claim: &Claimed, attempt: Attempt, outcome: AttemptOutcome) -> Self {
        Self {
            seq: claim.seq,
            lease: claim.lease_until,
            target: claim.target.clone(),
            attempt,
            outcome,
        }
    }
}

/// Endpoints' runs of failures through a batch of records, replayed in order as if each were
/// recorded alone: a success ends a run, a failure starts one if none is running. Lets an
/// engine read every endpoint of a batch once and write each changed one once.
pub(super) struct FailingRuns {
    /// Each webhook endpoint's `failing_since`, as stored before the batch.
    before: std::collections::HashMap<String, Option<DateTime<Utc>>>,
    now: std::collections::HashMap<String, Option<DateTime<Utc>>>,
}

impl FailingRuns {
    /// From the endpoints' stored `failing_since`; an endpoint absent here no longer exists
    /// and is left alone.
    pub(super) fn new(stored: impl IntoIterator<Item = (String, Option<DateTime<Utc>>)>) -> Self {
        let before: std::collections::HashMap<_, _> = stored.into_iter().collect();
        Self {
            now: before.clone(),
            before,
        }
    }

    /// The webhook endpoints of these records, in id order, each once: those to read (and,
    /// where rows are locked, to lock in that order) before [`FailingRuns::new`].
    pub(super) fn endpoints(records: &[AttemptRecord]) -> Vec<&str> {
        let mut ids: Vec<&str> = records
            .iter()
            .filter(|r| matches!(r.target, Target::Webhook(_)))
            .map(|r| r.target.id())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Each record's answer, in order: its endpoint's `failing_since` after it, or
    /// [`StoreError::LeaseLost`](super::StoreError::LeaseLost) for one whose delivery no
    /// longer held its lease (not in `held`, nothing recorded).
    pub(super) fn replay(
        &mut self,
        records: &[AttemptRecord],
        held: &std::collections::HashSet<i64>,
    ) -> Vec<Recorded> {
        records
            .iter()
            .map(|r| {
                if held.contains(&r.seq) {
                    Ok(self.apply(r))
                } else {
                    Err(super::StoreError::LeaseLost)
                }
            })
            .collect()
    }

    /// Applies one recorded attempt; its endpoint's `failing_since` afterwards.
    fn apply(&mut self, record: &AttemptRecord) -> Option<DateTime<Utc>> {
        if !matches!(record.target, Target::Webhook(_)) {
            return None;
        }
        let since = self.now.get_mut(record.target.id())?;
        if record.outcome == AttemptOutcome::Delivered {
            *since = None;
        } else {
            // As stored: to the microsecond.
            since.get_or_insert(super::to_microsecond(record.attempt.attempted_at));
        }
        *since
    }

    /// The endpoints whose `failing_since` the batch changed, with their new value.
    pub(super) fn changed(&self) -> Vec<(&str, Option<DateTime<Utc>>)> {
        let mut changed: Vec<_> = self
            .now
            .iter()
            .filter(|(id, since)| self.before.get(*id) != Some(since))
            .map(|(id, since)| (id.as_str(), *since))
            .collect();
        // In id order: the order in which rows are locked where that matters.
        changed.sort_by_key(|(id, _)| *id);
        changed
    }
}

/// Where an event changed feeds: what [`Store::section_changes_after`] reads of an event.
///
/// [`Store::section_changes_after`]: super::Store::section_changes_after
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionChange {
    pub seq: i64,
    pub section: SectionPath,
    /// The section the article left, when the change moved it.
    pub moved_from: Option<SectionPath>,
    /// The tags whose feeds the change touches (see [`Event::tags`]).
    ///
    /// [`Event::tags`]: crate::domain::Event::tags
    pub tags: Vec<String>,
}

/// An event row's `seq`, `section`, `moved_from` and `tags`, as either engine reads them.
pub(super) type SectionChangeRow = (
    i64,
    String,
    Option<String>,
    Option<sqlx::types::Json<Vec<String>>>,
);

impl SectionChange {
    /// From an event row's `seq`, `section`, `moved_from` and `tags`.
    pub(super) fn from_row(
        (seq, section, moved_from, tags): SectionChangeRow,
    ) -> Result<Self, super::StoreError> {
        let path = |raw: &str| {
            SectionPath::parse(raw).map_err(|e| super::StoreError::Corrupt(e.to_string()))
        };
        Ok(Self {
            seq,
            section: path(&section)?,
            moved_from: moved_from.as_deref().map(path).transpose()?,
            tags: tags.map(|t| t.0).unwrap_or_default(),
        })
    }
}

/// The result of [`Store::upsert_article`].
#[derive(Debug, Clone)]
pub struct Upserted {
    pub outcome: UpsertOutcome,
    pub article: StoredArticle,
    /// The section the article was in before, when an update moved it.
    pub previous_section: Option<SectionPath>,
}

/// A leased delivery, with what is needed to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub seq: i64,
    pub id: String,
    pub message_id: String,
    pub message_type: String,
    pub body: String,
    pub content_type: String,
    /// A `Link` header to send (WebSub).
    pub link: Option<String>,
    /// Attempts made before this one.
    pub attempts: u32,
    /// Past this, give up rather than retry (a WebSub lease's end).
    pub expires_at: Option<DateTime<Utc>>,
    pub target: Target,
    /// The lease this claim holds: the attempt's result is recorded only while the delivery
    /// still carries exactly this lease (another worker may have taken it over since).
    pub lease_until: DateTime<Utc>,
}

/// What a resend did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    Queued,
    /// It is being sent right now; try again once that attempt is recorded.
    InFlight,
    NotFound,
}

/// What the attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// The schedule is exhausted: `failed`, visible and replayable.
    GaveUp,
}

/// How a recorded attempt leaves its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AttemptEnd {
    /// `delivered`, `pending` or `failed`.
    pub status: &'static str,
    pub next_attempt_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl AttemptOutcome {
    /// The delivery's status afterwards, its next attempt time, and when it finished (if it
    /// did), for an attempt made at `at`.
    pub(super) fn end(self, at: DateTime<Utc>) -> AttemptEnd {
        match self {
            AttemptOutcome::Delivered => AttemptEnd {
                status: "delivered",
                next_attempt_at: at,
                finished_at: Some(at),
            },
            AttemptOutcome::RetryAt(when) => AttemptEnd {
                status: "pending",
                next_attempt_at: when,
                finished_at: None,
            },
            AttemptOutcome::GaveUp => AttemptEnd {
                status: "failed",
                next_attempt_at: at,
                finished_at: Some(at),
            },
        }
    }
}

/// A new endpoint, validated.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    pub description: String,
    pub event_types: Vec<EventType>,
    pub sections: Vec<SectionPath>,
    /// Standard Webhooks' secret; a robot's is generated and never used.
    pub secret: Secret,
    pub rate_limit: Option<f64>,
    pub kind: EndpointKind,
    /// A robot's message template.
    pub template: Option<String>,
    /// A robot's vendor signing secret.
    pub robot_secret: Option<RobotSecret>,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<EndpointUrl>,
    pub description: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub sections: Option<Vec<SectionPath>>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<f64>>,
    /// Re-enabling clears the failure history and the reason.
    pub enabled: Option<bool>,
    pub kind: Option<EndpointKind>,
    /// `Some(None)` goes back to the kind's default message.
    pub template: Option<Option<String>>,
    /// `Some(None)` stops signing.
    pub robot_secret: Option<Option<RobotSecret>>,
}

impl EndpointPatch {
    /// The endpoint as this patch leaves it at `now`: fields not given keep their value;
    /// re-enabling clears the failure history and the reason, disabling records why.
    pub fn apply(self, current: Endpoint, now: DateTime<Utc>) -> Endpoint {
        let enabled = self.enabled.unwrap_or(current.enabled);
        let re_enabled = enabled && !current.enabled;
        let disabled_reason = if enabled {
            None
        } else if self.enabled == Some(false) {
            Some("disabled through the API".to_owned())
        } else {
            current.disabled_reason
        };
        Endpoint {
            url: self.url.unwrap_or(current.url),
            description: self.description.unwrap_or(current.description),
            event_types: self.event_types.unwrap_or(current.event_types),
            sections: self.sections.unwrap_or(current.sections),
            rate_limit: self.rate_limit.unwrap_or(current.rate_limit),
            kind: self.kind.unwrap_or(current.kind),
            template: self.template.unwrap_or(current.template),
            robot_secret: self.robot_secret.unwrap_or(current.robot_secret),
            enabled,
            disabled_reason,
            failing_since: if re_enabled {
                None
            } else {
                current.failing_since
            },
            updated_at: now,
            ..current
        }
    }
}

/// A message to queue: the exact bytes every target of it receives, and who they are.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The stable id receivers see (`webhook-id`): the event's id, `msg_…`, `ntf_…`.
    pub id: String,
    /// `article.published` … `webhook.test`, `websub.notification`.
    pub kind: String,
    /// The event it carries, if one.
    pub event_seq: Option<i64>,
    pub body: String,
    pub content_type: String,
    /// A `Link` header to send (WebSub).
    pub link: Option<String>,
    pub deliveries: Vec<NewDelivery>,
}

/// One target of a message.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub target: TargetKind,
    pub target_id: String,
    /// Deliveries with the same key to the same target go out in queue order (one article's
    /// versions, one topic's notifications).
    pub order_key: String,
    /// Past this, give up rather than retry (a WebSub lease's end).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Moves a consumer's position in the event log from where it read to where it got.
#[derive(Debug, Clone, Copy)]
pub struct CursorMove {
    pub consumer: &'static str,
    pub from: i64,
    pub to: i64,
}

/// What [`super::Store::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued, with the ids of the deliveries made.
    Queued(Vec<String>),
    /// Another dispatcher moved the cursor first; nothing was queued.
    Raced,
}

/// A WebSub subscription request accepted and not yet verified or given up (see
/// [`super::Store::add_verification`]). Its feed is found again from `topic` when it is taken
/// up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingVerification {
    pub id: String,
    /// `subscribe` or `unsubscribe`.
    pub mode: String,
    pub topic: String,
    pub callback: String,
    pub secret: Option<String>,
    /// As requested.
    pub lease_seconds: Option<i64>,
    pub verify_token: Option<String>,
    /// Verification GETs made so far.
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
}
