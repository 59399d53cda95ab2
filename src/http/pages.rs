//! Pages for people: each scope's page beside its feeds (`/feeds/hnyw/ldhd.html`, reached
//! through the feeds' route), and the search (`/search?q=`).
//!
//! Pages are rendered from the store at each request (a read bounded like a feed's), with
//! validators from the rendered bytes: a matching conditional request answers 304 and saves
//! the transfer, not the work. Every request that renders counts against its client's rate of
//! feed misses.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::DateTime;

use super::AppState;
use super::clients::Client;
use super::error::ApiError;
use crate::catalog::Scope;
use crate::domain::SearchQuery;
use crate::feed_cache::{CachedFeed, Encoding};
use crate::render::{PageContext, render_search_page, render_section_page};
use crate::service::blocking;

/// How many articles a search shows, the newest.
const SEARCH_RESULTS: usize = 50;

const HTML: &str = "text/html; charset=utf-8";

pub fn router() -> Router<AppState> {
    Router::new().route("/search", get(get_search))
}

/// `GET /feeds/hnyw/ldhd.html`: the scope's page, with as many of its latest articles as its
/// feeds show by default.
pub(super) async fn get_section_page(
    state: &AppState,
    client: Client,
    scope: &Scope,
    request: &HeaderMap,
) -> Result<Response, ApiError> {
    count_render(state, client)?;
    let service = &state.service;
    let page = service
        .latest(scope, service.config.feeds.default_limit)
        .await?;
    // An empty scope has no change to date from: the epoch, as its feeds say.
    let updated = page.updated.unwrap_or(DateTime::UNIX_EPOCH);
    let catalog = service.catalog.clone();
    let base = service.config.public_base().to_owned();
    let hub_url = service.hub_url();
    let scope = scope.clone();
    // Summaries are the text of bodies, up to megabytes each: CPU work, off the async workers.
    // The rendered page is not cached, but is held as the feeds' documents are, for their
    // validators and compression.
    let document = blocking(move || {
        let ctx = PageContext {
            catalog: &catalog,
            base: &base,
            hub_url: &hub_url,
        };
        let html = render_section_page(&ctx, &scope, &page.entries);
        Arc::new(CachedFeed::new(html.into_bytes(), updated))
    })
    .await;
    Ok(respond(state, document, request).await)
}

/// `GET /search?q=双拥`: the newest articles whose title or summary contains the text.
async fn get_search(
    State(state): State<AppState>,
    client: Client,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = search_query(raw.as_deref())?;
    count_render(&state, client)?;
    let service = &state.service;
    let (results, more) = service.search(&query, SEARCH_RESULTS).await?;
    let catalog = service.catalog.clone();
    let base = service.config.public_base().to_owned();
    let html = blocking(move || render_search_page(&catalog, &base, &query, &results, more)).await;
    Ok(([(header::CONTENT_TYPE, HTML)], html).into_response())
}

/// The `q` parameter (the first, when repeated), parsed; a missing one is an empty one.
fn search_query(raw: Option<&str>) -> Result<SearchQuery, ApiError> {
    let text = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .find(|(name, _)| name == "q")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    SearchQuery::parse(&text).map_err(|invalid| ApiError::bad_field("q", invalid.0))
}

/// Counts a request that renders against its client's rate of feed misses.
fn count_render(state: &AppState, Client(client): Client) -> Result<(), ApiError> {
    state.limits.misses.check(client).map_err(|wait| {
        let per_minute = state.service.config.feeds.max_misses_per_client_per_minute;
        ApiError::TooManyRequests {
            reason: format!(
                "at most {per_minute} requests a minute from one client may render a feed or page"
            ),
            retry_after_secs: wait.as_secs() + 1,
        }
    })
}

/// The page with the feeds' caching headers (no WebSub `Link`: a page is not a topic), or
/// 304 when the request's validators match.
async fn respond(state: &AppState, document: Arc<CachedFeed>, request: &HeaderMap) -> Response {
    let encoding = Encoding::negotiate(
        request
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let max_age = state.service.config.feeds.max_age_secs;
    let mut headers = HeaderMap::new();
    let values = [
        (header::ETAG, document.etag(encoding)),
        (
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(document.last_modified.into()),
        ),
        (header::CACHE_CONTROL, format!("public, max-age={max_age}")),
        (header::VARY, "Accept-Encoding".to_owned()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    if is_not_modified(&document, request) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    if let Some(coding) = encoding.header() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    let body = match document.encoded_if_ready(encoding) {
        Some(body) => body,
        // Compressing is CPU work: off the async workers.
        None => blocking(move || document.encoded(encoding)).await,
    };
    (StatusCode::OK, headers, Body::from(body)).into_response()
}

/// RFC 9110 §13.2.2, as for feeds: `If-None-Match` decides when present, `If-Modified-Since`
/// only otherwise.
fn is_not_modified(document: &CachedFeed, request: &HeaderMap) -> bool {
    if let Some(tags) = request.get(header::IF_NONE_MATCH) {
        return tags
            .to_str()
            .is_ok_and(|tags| document.matches_if_none_match(tags));
    }
    request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| std::time::SystemTime::from(document.last_modified) <= since)
}
