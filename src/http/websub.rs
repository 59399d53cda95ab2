//! `/websub`: the hub's public endpoint, and the admin view of its subscriptions.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::AppState;
use super::clients::Client;
use super::error::ApiError;
use super::extract::Caller;
use crate::config::Scope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/websub", get(describe_hub).post(subscription_request))
        .route("/api/v1/websub/subscriptions", get(list_subscriptions))
}

/// Marks a plain-text error answer that must stay plain text (the hub's protocol), so the
/// problem+json mapping leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct PlainTextError;

fn plain(status: StatusCode, text: String) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response();
    response.extensions_mut().insert(PlainTextError);
    response
}

/// `POST /websub`: §5.1 subscribe / unsubscribe. Answers 202 at once and verifies intent in
/// the background (§5.3); a bad request gets a 4xx with a plain-text reason.
async fn subscription_request(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(wait) = state.limits.hub.check(client) {
        let secs = wait.as_secs() + 1;
        let mut response = plain(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "at most {} subscription requests a minute from one client; retry in {secs} s\n",
                state
                    .service
                    .config
                    .websub
                    .max_requests_per_client_per_minute
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        return response;
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/x-www-form-urlencoded\n".into(),
        );
    }
    // The form holds a few URLs and a secret: read no more than that, whatever the length
    // announced, so that the public door cannot be made to hold megabytes per request.
    let limit = state.service.config.websub.max_request_bytes;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a subscription request is at most {limit} bytes\n"),
        );
    };
    match state.service.hub.request(&body, client).await {
        Ok(()) => plain(
            StatusCode::ACCEPTED,
            "accepted; the hub will verify intent with the callback\n".into(),
        ),
        Err(refusal) => {
            let mut response = plain(refusal.status, format!("{}\n", refusal.reason));
            if let Some(secs) = refusal.retry_after_secs {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            }
            response
        }
    }
}

/// `GET /websub`: what this is, for a person who opens the link.
async fn describe_hub(State(state): State<AppState>) -> Response {
    let text = format!(
        "This is the WebSub hub of {base}. Every feed under {base}/feeds/ is a topic; \
         subscribe with a form-encoded POST to this URL (W3C WebSub).\n",
        base = state.service.config.public_base()
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `GET /api/v1/websub/subscriptions?topic=`: subscriptions with their state, lease expiry,
/// whether a secret is set (never its value), and the latest delivery.
async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Scope::Admin, "list WebSub subscriptions")?;
    let query = query.unwrap_or_default();
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let topic = param("topic");
    let limit = match param("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}, not {raw:?}"),
                ));
            }
        },
    };
    let after = match param("after") {
        None => None,
        Some(cursor) if cursor.is_empty() => None,
        Some(cursor) => Some(decode_cursor(&cursor).ok_or_else(|| {
            ApiError::bad_field("after", "is not a cursor this list gave (its `next`)")
        })?),
    };
    let page = state
        .service
        .hub
        .subscriptions(
            topic.as_deref(),
            after.as_ref().map(|(t, c)| (t.as_str(), c.as_str())),
            limit,
        )
        .await?;
    let next = (page.len() == limit as usize)
        .then(|| page.last())
        .flatten()
        .map(|last| {
            encode_cursor(
                &last.subscription.topic,
                last.subscription.callback.as_str(),
            )
        });
    Ok(Json(json!({ "subscriptions": page, "next": next })))
}

/// Subscriptions in one page of the admin list, unless `?limit=` says otherwise.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// A page's cursor: the last (topic, callback), base64url-encoded.
fn encode_cursor(topic: &str, callback: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{topic}\n{callback}"))
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (topic, callback) = text.split_once('\n')?;
    Some((topic.to_owned(), callback.to_owned()))
}
