//! The HTTP interface: one router per resource, merged here on one screen.

mod articles;
mod assets;
mod clients;
mod console;
mod deliveries;
pub mod error;
mod events;
mod extract;
mod feeds;
mod pages;
pub mod server;
mod site;
mod sources;
mod webhooks;
mod websub;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use articles::ndjson_items;
use error::ApiError;
use extract::Tokens;

use crate::service::Service;
use crate::sources::Sources;

/// What every handler gets; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: Service,
    /// The sources of the catalogue (the same runner the server runs).
    pub sources: Sources,
    tokens: Arc<Tokens>,
    limits: Arc<clients::PublicLimits>,
}

impl AppState {
    pub fn new(service: Service, sources: Sources) -> Self {
        let tokens = Arc::new(Tokens::from_config(&service.config));
        let limits = Arc::new(clients::PublicLimits {
            hub: clients::PerClient::per_minute(
                service.config.websub.max_requests_per_client_per_minute,
            ),
            misses: clients::PerClient::per_minute(
                service.config.feeds.max_misses_per_client_per_minute,
            ),
            logins: clients::Failures::per_minute(
                service.config.admin.max_failed_logins_per_client_per_minute,
            ),
            streams: clients::OpenPerClient::new(
                service.config.events.max_public_streams_per_client,
            ),
        });
        Self {
            service,
            sources,
            tokens,
            limits,
        }
    }
}

/// The whole application's routes.
pub fn router(state: AppState) -> Router {
    let http = &state.service.config.http;
    let body_limit = http.max_body_bytes;
    let timeout = Duration::from_secs(http.request_timeout_secs);
    Router::new()
        .merge(site::router())
        .merge(assets::router())
        .merge(feeds::router())
        .merge(pages::router())
        .merge(articles::router())
        .merge(webhooks::router())
        .merge(deliveries::router())
        .merge(events::router())
        .merge(websub::router())
        .merge(sources::router())
        .merge(console::router())
        .route_layer(axum::middleware::from_fn(note_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_limits,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            problems_only,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("a request handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ))
        .with_state(state)
}

/// Where [`note_route`] leaves the route a request matched, for [`count_request`]: set
/// before the handler runs, so that a request cut short by its time-out still has it.
#[derive(Clone, Default)]
struct RouteSlot(Arc<std::sync::OnceLock<String>>);

async fn note_route(
    matched: axum::extract::MatchedPath,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(slot) = request.extensions().get::<RouteSlot>() {
        let _ = slot.0.set(matched.as_str().to_owned());
    }
    next.run(request).await
}

/// Counts every request by method, route (the template it matched, or `unmatched`) and
/// status, and times it until its answer's head is ready.
async fn count_request(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.service.metrics.record_request(
        &method,
        slot.0.get().map_or("unmatched", String::as_str),
        response.status(),
        started.elapsed(),
    );
    response
}

/// Turns any error answer not already made by [`ApiError`] (a framework rejection, such as a
/// path that is not valid UTF-8) into `application/problem+json`, so that clients meet one
/// error format.
async fn problems_only(State(state): State<AppState>, response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let is_plain_by_protocol = response
        .extensions()
        .get::<websub::PlainTextError>()
        .is_some();
    let is_console_page = response.extensions().get::<console::Page>().is_some();
    if !(status.is_client_error() || status.is_server_error())
        || is_problem
        || is_plain_by_protocol
        || is_console_page
    {
        return response;
    }
    let text = to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let reason = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut problem = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(reason),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: state.service.config.http.max_body_bytes,
        },
        s if s.is_server_error() => ApiError::Internal(anyhow::anyhow!(reason)),
        _ => ApiError::bad_field("", reason),
    }
    .into_response();
    *problem.status_mut() = status;
    problem
}

/// Refuses a request whose target or header fields pass the configured sizes, before any
/// handler reads them.
async fn request_limits(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let http = &state.service.config.http;
    let uri = request.uri();
    let target = uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > http.max_uri_bytes {
        return ApiError::UriTooLong {
            limit: http.max_uri_bytes,
        }
        .into_response();
    }
    let headers = request.headers();
    if headers.len() > http.max_headers {
        return ApiError::HeadersTooLarge {
            reason: format!(
                "the request has {} header fields; at most {} are accepted",
                headers.len(),
                http.max_headers
            ),
        }
        .into_response();
    }
    // As sent: "name: value" and a line end per field.
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > http.max_header_bytes {
        return ApiError::HeadersTooLarge {
            reason: format!(
                "the request's header fields take {bytes} bytes; at most {} are accepted",
                http.max_header_bytes
            ),
        }
        .into_response();
    }
    next.run(request).await
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("nothing at {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
