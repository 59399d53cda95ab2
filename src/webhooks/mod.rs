//! Webhook endpoints: who receives which article events, and what they receive.

pub mod signature;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

use crate::catalog::Catalog;
use crate::domain::SectionPath;
use crate::store::{Event, EventType};
pub use signature::Secret;

/// The largest webhook body; an article above it is sent without its `content_html`.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The type of the message `POST /api/v1/webhooks/{id}/test` sends.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// A registered receiver.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub url: Url,
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

impl Endpoint {
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

/// The JSON body sent for an article event (Standard Webhooks' `type`, `timestamp`, `data`).
///
/// `data.article` is the article as `GET /api/v1/articles/{id}` returned it at this version;
/// `data.sections` its section and the ancestors. A deletion carries id, section and version.
/// A body is kept under [`MAX_BODY_BYTES`]: past it, the largest fields are sent empty and
/// named in `data.article.omitted`.
pub fn event_body(event: &Event, catalog: &Catalog) -> String {
    let sections: Vec<String> = event
        .section
        .self_and_ancestors()
        .into_iter()
        .map(String::from)
        .collect();
    let timestamp = event
        .occurred_at
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let data = match event.kind {
        EventType::Deleted => json!({
            "id": event.article_id, "section": event.section, "version": event.version,
        }),
        EventType::Published | EventType::Updated => json!({
            "article": event.payload, "sections": sections, "version": event.version,
            "section_titles": catalog.titles_of(&event.section),
        }),
    };
    let envelope = |data: &Value| {
        json!({ "type": event.kind.as_str(), "timestamp": timestamp, "data": data }).to_string()
    };
    let body = envelope(&data);
    if body.len() <= MAX_BODY_BYTES {
        return body;
    }
    // Too large for receivers' limits: send the largest fields empty, one at a time, naming
    // them in `omitted`; the whole article stays readable through the API.
    let mut data = data;
    let mut omitted = Vec::new();
    for field in ["content_html", "images", "summary", "tags", "authors"] {
        if let Some(article) = data.get_mut("article").and_then(Value::as_object_mut) {
            let empty = match field {
                "content_html" => json!(""),
                "summary" => Value::Null,
                _ => json!([]),
            };
            article.insert(field.into(), empty);
            omitted.push(field);
            article.insert("omitted".into(), json!(omitted));
        }
        let body = envelope(&data);
        if body.len() <= MAX_BODY_BYTES {
            return body;
        }
    }
    envelope(&data)
}

/// The body of a `webhook.test` message.
pub fn test_body(endpoint_id: &str, now: DateTime<Utc>) -> String {
    json!({
        "type": TEST_EVENT_TYPE,
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": { "endpoint_id": endpoint_id },
    })
    .to_string()
}
