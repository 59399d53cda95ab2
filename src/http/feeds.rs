//! `/feeds/{scope}.{rss,atom,json}`: the feeds of `all`, of each section and of each tag
//! (`/feeds/tags/{tag}.atom`), with HTTP caching done right; beside them `/feeds/{scope}.html`,
//! the scope's page (see `pages`), and `/feeds/{scope}.events`, its live stream (see `events`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::clients::Client;
use super::error::ApiError;
use crate::catalog::Scope;
use crate::domain::{FeedCursor, FeedFormat, TAG_SCOPE_PREFIX, Tag};
use crate::feed_cache::{CachedFeed, Encoding};

pub fn router() -> Router<AppState> {
    // `get` also answers HEAD, with the same headers and no body.
    Router::new().route("/feeds/{*feed}", get(get_feed))
}

/// `GET /feeds/hnyw/ldhd.atom?limit=20`, `GET /feeds/tags/%E5%8F%8C%E6%8B%A5.json`
async fn get_feed(
    State(state): State<AppState>,
    Client(client): Client,
    Path(feed): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no feed at /feeds/{feed}"));
    let (name, ext) = feed.rsplit_once('.').ok_or_else(not_found)?;
    // Beside the feeds, the scope's page for people and its live stream: not feed formats.
    let format = match ext {
        "html" | "events" => None,
        ext => Some(FeedFormat::from_extension(ext).ok_or_else(not_found)?),
    };
    let scope = match name.strip_prefix(TAG_SCOPE_PREFIX) {
        // The path arrives percent-decoded: `tags/%E5%8F%8C%E6%8B%A5.atom` is the tag 双拥.
        Some(tag) => Tag::parse(tag)
            .map(Scope::Tag)
            .map_err(|err| ApiError::NotFound(format!("no feed for the tag {tag:?}: {err}")))?,
        None => state.service.catalog.scope(name).ok_or_else(|| {
            let suggestions = state.service.catalog.suggest(name, 3);
            let hint = if suggestions.is_empty() {
                String::new()
            } else {
                format!("; did you mean {}?", suggestions.join(", "))
            };
            ApiError::NotFound(format!("no section {name:?}{hint}"))
        })?,
    };
    let Some(format) = format else {
        if ext == "events" {
            let query = query.as_deref();
            return super::events::stream_scope(&state, Client(client), &scope, query, &headers)
                .await;
        }
        return super::pages::get_section_page(&state, Client(client), &scope, &headers).await;
    };
    if let Some(before) = query_value(query.as_deref(), "before") {
        let version = query_value(query.as_deref(), "v");
        return archive(&state, client, &scope, format, &before, version, &headers).await;
    }
    let limit = parse_limit(&state, query.as_deref())?;

    // Only a request that renders counts against its client; the cache serves everyone.
    if !state.service.is_cached(&scope, format, limit) {
        charge_render(&state, client)?;
    }
    let feed = state.service.feed(&scope, format, limit).await?;
    let self_url = state.service.feed_url(&scope, format);
    let how = Delivery::feed(&state, format, &self_url, feed_cache_control(&state));
    Ok(respond(&feed, how, &headers).await)
}

/// `/feeds/hnyw.atom?before=CURSOR[&v=VERSION]`: a page behind the feed (RFC 5005), of the
/// default number of entries.
///
/// A page's contents change only when one of its articles does, or one is published into its
/// time range, so each version is served at a URL of its own, cacheable forever: without `v`,
/// or with a version that is no longer current, the answer redirects to the current one.
async fn archive(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    scope: &Scope,
    format: FeedFormat,
    before: &str,
    version: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let cursor = FeedCursor::parse(before).ok_or_else(|| {
        ApiError::bad_field(
            "before",
            "must be a cursor from a feed's `next` or `prev-archive` link",
        )
    })?;
    // Pages behind a feed are rendered for each request: every one counts against its client.
    charge_render(state, client)?;
    let page = state
        .service
        .feed_archive(
            scope,
            format,
            &cursor,
            state.service.config.feeds.default_limit,
        )
        .await?;
    let self_url = state.service.archive_url(scope, format, &cursor);
    if version.as_deref() != Some(page.digest()) {
        let mut answer = HeaderMap::new();
        let link = crate::websub::link_header(&state.service.hub_url(), &self_url);
        insert_header(&mut answer, header::LINK, &link);
        let location = format!("{self_url}&v={}", page.digest());
        insert_header(&mut answer, header::LOCATION, &location);
        insert_header(
            &mut answer,
            header::CACHE_CONTROL,
            &feed_cache_control(state),
        );
        return Ok((StatusCode::FOUND, answer).into_response());
    }
    let forever = "public, max-age=31536000, immutable".to_owned();
    let how = Delivery::feed(state, format, &self_url, forever);
    Ok(respond(&page, how, headers).await)
}

/// The first value of `name` in a query string.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn insert_header(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Counts a request that renders (a feed missing from the cache, a page behind a feed, a page
/// for people, a search) against its client's rate of feed misses.
pub(super) fn charge_render(
    state: &AppState,
    client: Option<std::net::IpAddr>,
) -> Result<(), ApiError> {
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

/// `Cache-Control` of what changes with the store: feeds and pages.
pub(super) fn feed_cache_control(state: &AppState) -> String {
    format!(
        "public, max-age={}",
        state.service.config.feeds.max_age_secs
    )
}

/// `?limit=N`, 1 to the configured maximum, rounded up to a step (see
/// [`crate::config::FeedsConfig::limit_step`]); other parameters are ignored.
fn parse_limit(state: &AppState, query: Option<&str>) -> Result<u32, ApiError> {
    let feeds = &state.service.config.feeds;
    let Some(raw) = query_value(query, "limit") else {
        return Ok(feeds.default_limit);
    };
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=feeds.max_limit).contains(&n) => Ok(feeds.limit_step(n)),
        _ => Err(ApiError::bad_field(
            "limit",
            format!(
                "must be a whole number from 1 to {}, not {raw:?}",
                feeds.max_limit
            ),
        )),
    }
}

/// How a document is answered besides its bytes and validators.
pub(super) struct Delivery {
    pub content_type: &'static str,
    pub cache_control: String,
    /// A feed's WebSub links (§4: at least one `rel=hub` and exactly one `rel=self`, in every
    /// answer, 200 and 304, GET and HEAD alike); none for a page, which is not a topic.
    pub link: Option<String>,
}

impl Delivery {
    fn feed(state: &AppState, format: FeedFormat, self_url: &str, cache_control: String) -> Self {
        Self {
            content_type: format.content_type(),
            cache_control,
            link: Some(crate::websub::link_header(
                &state.service.hub_url(),
                self_url,
            )),
        }
    }
}

/// Answers a rendered document with its validators (a strong `ETag` per coding and
/// `Last-Modified`), `304` when the request's match, else its bytes in the negotiated coding.
pub(super) async fn respond(
    document: &Arc<CachedFeed>,
    how: Delivery,
    request: &HeaderMap,
) -> Response {
    let encoding = Encoding::negotiate(
        request
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let mut headers = HeaderMap::new();
    let last_modified = httpdate::fmt_http_date(document.last_modified.into());
    insert_header(&mut headers, header::ETAG, &document.etag(encoding));
    insert_header(&mut headers, header::LAST_MODIFIED, &last_modified);
    insert_header(&mut headers, header::CACHE_CONTROL, &how.cache_control);
    insert_header(&mut headers, header::VARY, "Accept-Encoding");
    if let Some(link) = &how.link {
        insert_header(&mut headers, header::LINK, link);
    }
    if is_not_modified(document, request) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    insert_header(&mut headers, header::CONTENT_TYPE, how.content_type);
    if let Some(coding) = encoding.header() {
        insert_header(&mut headers, header::CONTENT_ENCODING, coding);
    }
    let body = match document.encoded_if_ready(encoding) {
        Some(body) => body,
        // The first compression of a document is CPU work: off the async workers.
        None => {
            let document = document.clone();
            crate::service::blocking(move || document.encoded(encoding)).await
        }
    };
    (StatusCode::OK, headers, Body::from(body)).into_response()
}

/// RFC 9110 §13.2.2: `If-None-Match` decides when present; `If-Modified-Since` only otherwise.
fn is_not_modified(document: &CachedFeed, request: &HeaderMap) -> bool {
    if let Some(inm) = request.get(header::IF_NONE_MATCH) {
        return inm
            .to_str()
            .is_ok_and(|value| document.matches_if_none_match(value));
    }
    request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| std::time::SystemTime::from(document.last_modified) <= since)
}
