//! Pages for people: each scope's page beside its feeds (`/feeds/hnyw/ldhd.html`, reached
//! through the feeds' route), and the search (`/search?q=`).
//!
//! Pages are rendered from the store at each request (a read bounded like a feed's), with
//! validators from the rendered bytes: a matching conditional request answers 304 and saves
//! the transfer, not the work. Every request that renders counts against its client's rate of
//! feed misses.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::clients::Client;
use super::error::ApiError;
use super::feeds::{Delivery, charge_render, feed_cache_control, respond};
use crate::catalog::Scope;
use crate::domain::SearchQuery;
use crate::feed_cache::CachedFeed;
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
    charge_render(state, client.0)?;
    let service = &state.service;
    let page = service
        .latest(scope, service.config.feeds.default_limit)
        .await?;
    let updated = service.updated(&page);
    let catalog = service.catalog.clone();
    let base = service.config.public_base().to_owned();
    let hub_url = service.hub_url();
    let live_url = service
        .config
        .events
        .public_streams
        .then(|| scope.events_url(&base));
    let scope = scope.clone();
    // Summaries are the text of bodies, up to megabytes each: CPU work, off the async workers.
    // The rendered page is not cached, but is held as the feeds' documents are, for their
    // validators and compression.
    let document = blocking(move || {
        let ctx = PageContext {
            catalog: &catalog,
            base: &base,
            hub_url: &hub_url,
            live_url: live_url.as_deref(),
        };
        let html = render_section_page(&ctx, &scope, &page.entries);
        Arc::new(CachedFeed::new(html.into_bytes(), updated))
    })
    .await;
    let how = Delivery {
        content_type: HTML,
        cache_control: feed_cache_control(state),
        link: None,
    };
    Ok(respond(&document, how, request).await)
}

/// `GET /search?q=双拥`: the newest articles whose title or summary contains the text.
async fn get_search(
    State(state): State<AppState>,
    client: Client,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = search_query(raw.as_deref())?;
    charge_render(&state, client.0)?;
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
