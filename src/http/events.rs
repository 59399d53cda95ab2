//! `/api/v1/events`: the event log, for consumers that reconcile what they missed.

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, cursor_param, limit_param};
use crate::config::Scope;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(list_events))
}

/// `GET /api/v1/events?after=CURSOR&limit=`: the event log, oldest first. Each event's `id` is
/// the `webhook-id` of its deliveries, so a consumer can reconcile what it missed.
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(&[Scope::Read, Scope::Admin], "read the event log")?;
    let query = query.as_deref();
    let after = cursor_param(query)?;
    let limit = limit_param(query, 100, 1000)?;
    let events = state.service.webhooks.events(after, limit).await?;
    let next = events.last().map(|e| e.seq.to_string());
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "cursor": e.seq.to_string(), "type": e.kind, "article_id": e.article_id,
                "section": e.section, "version": e.version, "occurred_at": e.occurred_at,
            })
        })
        .collect();
    // `next` is always given (the last cursor seen, or the one asked for), so a consumer can
    // poll with it and get only what is new.
    let next = next.unwrap_or_else(|| after.to_string());
    Ok(Json(json!({ "events": events, "next": next })))
}
