//! The event log: `/api/v1/events`, a page at a time, for consumers that reconcile what they
//! missed; `/api/v1/events/stream`, the same events live as Server-Sent Events; and, when
//! `events.public_streams` is on, each scope's public stream (`/feeds/{scope}.events`, reached
//! through the feeds' route) with the articles' public fields.
//!
//! A stream's event ids are the log's cursors. A client resumes with `Last-Event-ID` (what
//! `EventSource` sends when it reconnects) or `?after=`, and gets every event after that
//! cursor, once; with neither it starts at the end of the log.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{Stream, StreamExt};
use serde_json::{Map, Value, json};

use super::AppState;
use super::clients::Client;
use super::error::ApiError;
use super::extract::{Caller, cursor_param, cursor_value, limit_param, query_param};
use crate::catalog::Scope;
use crate::config::Scope as TokenScope;
use crate::domain::{Event, EventType};
use crate::service::NoSlot;

/// How long a client refused a stream (too many open) is asked to wait, in seconds.
const STREAM_RETRY_AFTER_SECS: u64 = 30;

/// The article fields a public stream shows: what its feeds show of an article.
const PUBLIC_FIELDS: [&str; 13] = [
    "id",
    "section",
    "title",
    "url",
    "published",
    "updated",
    "summary",
    "source",
    "editor",
    "authors",
    "images",
    "tags",
    "language",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", get(list_events))
        .route("/api/v1/events/stream", get(stream_events))
}

/// `GET /api/v1/events?after=CURSOR&limit=`: the event log, oldest first. Each event's `id` is
/// the `webhook-id` of its deliveries, so a consumer can reconcile what it missed.
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(&[TokenScope::Read, TokenScope::Admin], "read the event log")?;
    let query = query.as_deref();
    let after = cursor_param(query)?;
    let limit = limit_param(query, 100, 1000)?;
    let events = state.service.webhooks.events(after, limit).await?;
    let next = events.last().map(|e| e.seq.to_string());
    let events: Vec<Value> = events.iter().map(log_item).collect();
    // `next` is always given (the last cursor seen, or the one asked for), so a consumer can
    // poll with it and get only what is new.
    let next = next.unwrap_or_else(|| after.to_string());
    Ok(Json(json!({ "events": events, "next": next })))
}

/// An event as the log shows it to a token holder: in `GET /api/v1/events` and, the same, as
/// each message of `GET /api/v1/events/stream`.
fn log_item(e: &Event) -> Value {
    json!({
        "id": e.id, "cursor": e.seq.to_string(), "type": e.kind, "article_id": e.article_id,
        "section": e.section, "version": e.version, "occurred_at": e.occurred_at,
    })
}

/// `GET /api/v1/events/stream`: every event of the log, live, as Server-Sent Events.
async fn stream_events(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require_any(&[TokenScope::Read, TokenScope::Admin], "read the event log")?;
    let events = follow_log(&state, query.as_deref(), &headers, None)?
        .map(|event| message(&event, &log_item(&event)));
    Ok(live_answer(&state, events))
}

/// `GET /feeds/hnyw.events`: the events that change a scope's feeds, live, with the articles'
/// public fields; no token. A 404 unless `events.public_streams` is on.
pub(super) async fn stream_scope(
    state: &AppState,
    client: Client,
    scope: &Scope,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if !state.service.config.events.public_streams {
        return Err(ApiError::NotFound(format!(
            "no stream at /feeds/{}.events: public streams are off on this server",
            scope.url_path()
        )));
    }
    let held = state.limits.streams.hold(client.0).map_err(|_| {
        let max = state.service.config.events.max_public_streams_per_client;
        ApiError::TooManyRequests {
            reason: format!("one client may hold at most {max} public streams open at once"),
            retry_after_secs: STREAM_RETRY_AFTER_SECS,
        }
    })?;
    let events = follow_log(state, query, headers, Some(scope.clone()))?.map(move |event| {
        // The client's count goes down when the stream ends.
        let _ = &held;
        message(&event, &public_item(&event))
    });
    Ok(live_answer(state, events))
}

/// The log's events from where the client resumes ([`resume_after`]), live, in one of the
/// server's stream slots (`503` when none is free); only `scope`'s when given.
pub(super) fn follow_log(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    scope: Option<Scope>,
) -> Result<impl Stream<Item = Event> + Send + 'static, ApiError> {
    let after = resume_after(state, query, headers)?;
    let slot = state
        .service
        .live
        .open_slot()
        .map_err(|why| no_slot(state, why))?;
    Ok(state.service.follow_events(slot, after, scope))
}

/// Where a stream starts: after `Last-Event-ID` when the client sends one (an `EventSource`
/// reconnecting to the same URL sends the last id it got, which must win over the URL's
/// `?after=`), else after `?after=`, else at the end of the log. The end is the last event
/// this process has applied, so that opening a stream never waits on the store.
fn resume_after(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<i64, ApiError> {
    if let Some(value) = headers.get("last-event-id") {
        let raw = value.to_str().map(str::trim).map_err(|_| {
            ApiError::bad_field("Last-Event-ID", "must be the id of an event of a stream")
        })?;
        if !raw.is_empty() {
            return cursor_value(raw, "Last-Event-ID");
        }
    }
    match query_param(query, "after") {
        Some(raw) if !raw.is_empty() => cursor_value(&raw, "after"),
        _ => Ok(state.service.live.head()),
    }
}

/// The answer when a stream cannot open.
fn no_slot(state: &AppState, why: NoSlot) -> ApiError {
    let reason = match why {
        NoSlot::Full => format!(
            "{} event streams are open, as many as this server allows; try again later",
            state.service.config.events.max_streams
        ),
        NoSlot::Stopping => "the server is stopping; try again shortly".to_owned(),
    };
    ApiError::Unavailable {
        reason,
        retry_after_secs: STREAM_RETRY_AFTER_SECS,
    }
}

/// One event as one message: its cursor as `id`, its type as `event`, `data` as one line of
/// JSON.
pub(super) fn message(event: &Event, data: &Value) -> SseEvent {
    SseEvent::default()
        .id(event.seq.to_string())
        .event(event.kind.as_str())
        .data(data.to_string())
}

/// An event of a public stream: its cursor, type and time, and the article's public fields (a
/// deletion: its id and section). An update whose version a later one replaced may carry only
/// the id and section too; the later update follows with the fields.
fn public_item(event: &Event) -> Value {
    let mut article = Map::new();
    if event.kind != EventType::Deleted
        && let Some(Value::Object(fields)) = &event.payload
    {
        for field in PUBLIC_FIELDS {
            if let Some(value) = fields.get(field) {
                article.insert(field.to_owned(), value.clone());
            }
        }
    }
    article.insert("id".to_owned(), json!(event.article_id));
    article.insert("section".to_owned(), json!(event.section));
    json!({
        "cursor": event.seq.to_string(), "type": event.kind, "occurred_at": event.occurred_at,
        "article": article,
    })
}

/// A stream's answer: `retry:` first, then the messages, and a comment (`: keep-alive`) after
/// every `events.heartbeat_secs` of silence.
pub(super) fn live_answer<S>(state: &AppState, messages: S) -> Response
where
    S: Stream<Item = SseEvent> + Send + 'static,
{
    let config = &state.service.config.events;
    let retry = SseEvent::default().retry(Duration::from_millis(config.retry_ms));
    let stream = futures::stream::once(async move { retry })
        .chain(messages)
        .map(Ok::<_, Infallible>);
    let heartbeat = KeepAlive::new()
        .interval(Duration::from_secs_f64(config.heartbeat_secs))
        .text("keep-alive");
    let mut answer = Sse::new(stream).keep_alive(heartbeat).into_response();
    // A proxy that buffers answers (nginx does by default) would hold the messages back.
    answer
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    answer
}
