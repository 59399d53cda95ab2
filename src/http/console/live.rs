//! What keeps the console's pages current: its script, and its stream of the event log
//! (Server-Sent Events, like `GET /api/v1/events/stream`, held by the session's cookie rather
//! than a token, each message the event as the overview lists it).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::json;

use super::super::error::ApiError;
use super::super::events::{follow_log, live_answer, message};
use super::{AppState, Operator, context, prefix};
use crate::render::console::{LIVE_SCRIPT, LiveItem};

/// `GET /admin/live.js`: the console's script.
pub(super) async fn script(_operator: Operator) -> Response {
    let mut answer = LIVE_SCRIPT.into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    answer
}

/// `GET /admin/events/stream`: the event log, live, from `Last-Event-ID` or `?after=`, until
/// the session ends.
pub(super) async fn stream(
    State(state): State<AppState>,
    operator: Operator,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let prefix = prefix(&state);
    let left = (operator.0.expires_at() - chrono::Utc::now().timestamp()).max(0);
    let session_ends = tokio::time::sleep(std::time::Duration::from_secs(left as u64));
    let events = follow_log(&state, query.as_deref(), &headers, None)?
        .take_until(session_ends)
        .map({
            let state = state.clone();
            move |event| {
                let ctx = context(&state, &prefix, None, None);
                message(&event, &json!(LiveItem::new(&ctx, &event)))
            }
        });
    Ok(live_answer(&state, events))
}
