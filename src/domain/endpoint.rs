//! Webhook endpoints: who receives which article events.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{EndpointUrl, Event, EventType, Secret, SectionPath};

/// A registered receiver.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub url: EndpointUrl,
    pub description: String,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
    /// Empty: every section. A section matches its descendants.
    pub sections: Vec<SectionPath>,
    #[serde(skip)]
    pub secret: Secret,
    /// The secret being rotated out, and until when it still signs.
    #[serde(skip)]
    pub previous_secret: Option<(Secret, DateTime<Utc>)>,
    /// Deliveries per second; `None`: unlimited.
    pub rate_limit: Option<f64>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Start of the current run of failures, if failing.
    pub failing_since: Option<DateTime<Utc>>,
    /// The endpoint receives events after this cursor (those after its creation).
    #[serde(skip)]
    pub after_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What decides which events an endpoint receives, without the rest of it (its secrets,
/// its address): all the dispatcher reads of each endpoint for each batch of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRoute {
    pub id: String,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
    /// Empty: every section. A section matches its descendants.
    pub sections: Vec<SectionPath>,
    /// The endpoint receives events after this cursor (those after its creation).
    pub after_seq: i64,
}

impl EndpointRoute {
    /// Whether `event` is for this endpoint: its type and section pass the filters.
    pub fn matches(&self, event: &Event) -> bool {
        let type_ok = self.event_types.is_empty() || self.event_types.contains(&event.kind);
        let section_ok = self.sections.is_empty()
            || self.sections.iter().any(|filter| {
                event.section.is_within(filter)
                    || event
                        .moved_from
                        .as_ref()
                        .is_some_and(|m| m.is_within(filter))
            });
        event.seq > self.after_seq && type_ok && section_ok
    }
}

impl Endpoint {
    /// The secrets that sign a message sent at `now`: the current one, and the previous one
    /// during its grace period.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&Secret> {
        let mut secrets = vec![&self.secret];
        if let Some((old, until)) = &self.previous_secret
            && *until > now
        {
            secrets.push(old);
        }
        secrets
    }
}
