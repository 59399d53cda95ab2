//! The HTTP interface: one router per resource, merged here on one screen.

mod articles;
pub mod error;
mod extract;
mod feeds;
mod site;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use articles::ndjson_items;
use error::ApiError;
use extract::Tokens;

use crate::service::Service;

/// What every handler gets; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: Service,
    tokens: Arc<Tokens>,
}

impl AppState {
    pub fn new(service: Service) -> Self {
        let tokens = Arc::new(Tokens::from_config(&service.config));
        Self { service, tokens }
    }
}

/// The whole application's routes.
pub fn router(state: AppState) -> Router {
    let http = &state.service.config.http;
    let body_limit = http.max_body_bytes;
    let timeout = Duration::from_secs(http.request_timeout_secs);
    Router::new()
        .merge(site::router())
        .merge(feeds::router())
        .merge(articles::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("nothing at {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
