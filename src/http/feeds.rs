//! `/feeds/{scope}.{rss,atom,json}`: the feeds of `all`, of each section and of each tag
//! (`/feeds/tags/{tag}.atom`), with HTTP caching done right; beside them `/feeds/{scope}.html`,
//! the scope's page (see `pages`).

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
    // Beside the feeds, the scope's page for people: not a feed format.
    let format = match ext {
        "html" => None,
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
        return super::pages::get_section_page(&state, Client(client), &scope, &headers).await;
    };
    if let Some(before) = query_value(query.as_deref(), "before") {
        let version = query_value(query.as_deref(), "v");
        return archive(&state, client, &scope, format, &before, version, &headers).await;
    }
    let limit = parse_limit(&state, query.as_deref())?;

    // Only a request that renders counts against its client; the cache serves everyone.
    if !state.service.is_cached(&scope, format, limit)
        && let Err(wait) = state.limits.misses.check(client)
    {
        return Err(ApiError::TooManyRequests {
            reason: format!(
                "at most {} feed requests a minute from one client may find no cached feed",
                state.service.config.feeds.max_misses_per_client_per_minute
            ),
            retry_after_secs: wait.as_secs() + 1,
        });
    }
    let feed = state.service.feed(&scope, format, limit).await?;
    let encoding = Encoding::negotiate(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let self_url = state.service.feed_url(&scope, format);
    Ok(respond(&state, &feed, format, encoding, &self_url, &headers).await)
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
    if let Err(wait) = state.limits.misses.check(client) {
        return Err(ApiError::TooManyRequests {
            reason: format!(
                "at most {} feed requests a minute from one client may find no cached feed",
                state.service.config.feeds.max_misses_per_client_per_minute
            ),
            retry_after_secs: wait.as_secs() + 1,
        });
    }
    let feeds = &state.service.config.feeds;
    let page = state
        .service
        .feed_archive(scope, format, &cursor, feeds.default_limit)
        .await?;
    let self_url = format!(
        "{}?before={}",
        state.service.feed_url(scope, format),
        cursor.token()
    );
    let mut answer = HeaderMap::new();
    let link = crate::websub::link_header(&state.service.hub_url(), &self_url);
    insert_header(&mut answer, header::LINK, &link);
    if version.as_deref() != Some(page.version.as_str()) {
        let location = format!("{self_url}&v={}", page.version);
        insert_header(&mut answer, header::LOCATION, &location);
        let cache = format!("public, max-age={}", feeds.max_age_secs);
        insert_header(&mut answer, header::CACHE_CONTROL, &cache);
        return Ok((StatusCode::FOUND, answer).into_response());
    }
    let etag = format!("\"{}\"", page.version);
    insert_header(&mut answer, header::ETAG, &etag);
    let last_modified = httpdate::fmt_http_date(page.updated.into());
    insert_header(&mut answer, header::LAST_MODIFIED, &last_modified);
    insert_header(
        &mut answer,
        header::CACHE_CONTROL,
        "public, max-age=31536000, immutable",
    );
    let revalidated = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if revalidated {
        return Ok((StatusCode::NOT_MODIFIED, answer).into_response());
    }
    insert_header(&mut answer, header::CONTENT_TYPE, format.content_type());
    Ok((StatusCode::OK, answer, Body::from(page.body)).into_response())
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

/// `?limit=N`, 1 to the configured maximum, rounded up to a step (see
/// [`crate::config::FeedsConfig::limit_step`]); other parameters are ignored.
fn parse_limit(state: &AppState, query: Option<&str>) -> Result<u32, ApiError> {
    let feeds = &state.service.config.feeds;
    let Some(raw) = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| v.into_owned())
    else {
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

async fn respond(
    state: &AppState,
    feed: &Arc<CachedFeed>,
    format: FeedFormat,
    encoding: Encoding,
    self_url: &str,
    request: &HeaderMap,
) -> Response {
    let mut headers = HeaderMap::new();
    let etag = feed.etag(encoding);
    let last_modified = httpdate::fmt_http_date(feed.last_modified.into());
    let max_age = state.service.config.feeds.max_age_secs;
    let insert = insert_header;
    insert(&mut headers, header::ETAG, &etag);
    insert(&mut headers, header::LAST_MODIFIED, &last_modified);
    insert(
        &mut headers,
        header::CACHE_CONTROL,
        &format!("public, max-age={max_age}"),
    );
    insert(&mut headers, header::VARY, "Accept-Encoding");
    // WebSub §4: the publisher MUST include at least one Link rel=hub and exactly one Link
    // rel=self; sent in every answer, 200 and 304, GET and HEAD alike.
    let link = crate::websub::link_header(&state.service.hub_url(), self_url);
    insert(&mut headers, header::LINK, &link);

    if is_not_modified(feed, request) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    insert(&mut headers, header::CONTENT_TYPE, format.content_type());
    if let Some(coding) = encoding.header() {
        insert(&mut headers, header::CONTENT_ENCODING, coding);
    }
    let body = match feed.encoded_if_ready(encoding) {
        Some(body) => body,
        // The first compression of a document is CPU work: off the async workers.
        None => {
            let feed = feed.clone();
            crate::service::blocking(move || feed.encoded(encoding)).await
        }
    };
    (StatusCode::OK, headers, Body::from(body)).into_response()
}

/// RFC 9110 §13.2.2: `If-None-Match` decides when present; `If-Modified-Since` only otherwise.
fn is_not_modified(feed: &CachedFeed, request: &HeaderMap) -> bool {
    if let Some(inm) = request.get(header::IF_NONE_MATCH) {
        return inm
            .to_str()
            .is_ok_and(|value| feed.matches_if_none_match(value));
    }
    request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| {
            let last: std::time::SystemTime = feed.last_modified.into();
            last <= since
        })
}
