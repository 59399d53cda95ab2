//! Webhook endpoints: who receives which article events, and what they receive.

mod admin;
mod channel;
pub mod fields;
pub mod robots;
pub mod signature;

pub use admin::{TestSent, Webhooks};
pub use channel::WebhookChannel;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::catalog::Catalog;
pub use crate::domain::{Endpoint, Secret};
use crate::store::{Event, EventType};

/// The largest webhook body; an article above it is sent without its `content_html`.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The type of the message `POST /api/v1/webhooks/{id}/test` sends.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

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
    let mut fields: Vec<(usize, &str)> = ["content_html", "images", "summary", "tags", "authors"]
        .into_iter()
        .map(|field| {
            let size = data["article"]
                .get(field)
                .map_or(0, |value| value.to_string().len());
            (size, field)
        })
        .collect();
    fields.sort_by_key(|&(size, _)| std::cmp::Reverse(size));
    for (_, field) in fields {
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
