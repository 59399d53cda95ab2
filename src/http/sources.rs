//! Sources: their state for operators (`/api/v1/sources`), one page imported on request
//! (`/api/v1/articles/import`), and the callback upstream hubs verify and push to
//! (`/websub/callback/{source}/{token}`).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, parse_json, query_param};
use crate::config::Scope;
use crate::domain::SectionPath;
use crate::ingest::FieldError;
use crate::sources::{HubAnswer, ImportError, Notified, PageSource};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sources", get(list_sources))
        .route("/api/v1/articles/import", post(import_page))
        .route(
            "/websub/callback/{source}/{token}",
            get(verify_intent).post(take_notification),
        )
}

/// `GET /api/v1/sources`: every source with its last fetch, outcome, counts, next run and hub
/// subscription.
async fn list_sources(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Scope::Admin, "see the sources")?;
    let views = state.sources.views().await?;
    Ok(Json(json!({ "sources": views })).into_response())
}

/// What `POST /api/v1/articles/import` takes as JSON: a page to fetch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    url: String,
    section: Option<String>,
    image_base: Option<String>,
}

/// `POST /api/v1/articles/import`: one article page, fetched (JSON `{"url": …}`) or sent
/// (`text/html` or `text/plain`, in any declared charset, with `?url=` where it lives), read
/// and published like any article.
async fn import_page(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Scope::Publish, "publish articles")?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (page, section, image_base) = match media_type.as_str() {
        "application/json" => {
            let request: ImportRequest =
                serde_json::from_value(parse_json(&body)?).map_err(|e| {
                    ApiError::bad_field("", format!("the body is not an import request: {e}"))
                })?;
            let url = absolute_url("url", &request.url)?;
            (PageSource::Url(url), request.section, request.image_base)
        }
        "text/html" | "application/xhtml+xml" | "text/plain" => {
            let query = uri.query();
            let url = query_param(query, "url")
                .map(|raw| absolute_url("url", &raw))
                .transpose()?;
            let page = PageSource::Bytes {
                bytes: body,
                content_type: Some(content_type.clone()),
                url,
            };
            (
                page,
                query_param(query, "section"),
                query_param(query, "image_base"),
            )
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                expected: "Content-Type: application/json ({\"url\": …}), text/html or text/plain",
            });
        }
    };
    let section = section
        .map(|raw| {
            SectionPath::parse(raw.trim())
                .ok()
                .filter(|p| state.service.catalog.section(p).is_some())
                .ok_or_else(|| {
                    let mut err = FieldError::new("section", format!("unknown section {raw:?}"));
                    err.suggestions = state.service.catalog.suggest(&raw, 3);
                    ApiError::Invalid(vec![err])
                })
        })
        .transpose()?;
    let image_base = image_base
        .map(|raw| absolute_url("image_base", &raw))
        .transpose()?;
    let upserted = state
        .sources
        .import_page(page, section.as_ref(), image_base)
        .await
        .map_err(|e| match e {
            ImportError::Fetch(reason) => ApiError::bad_field("url", reason),
            ImportError::Page(err) => ApiError::bad_field("page", err.to_string()),
            ImportError::Rejected(rejection) => ApiError::Invalid(rejection.0),
            ImportError::Store(err) => err.into(),
        })?;
    tracing::info!(
        token = %caller.name,
        article = %upserted.article.article.id,
        outcome = ?upserted.outcome,
        "article page imported"
    );
    Ok(super::articles::upsert_response(&state, upserted))
}

fn absolute_url(field: &str, raw: &str) -> Result<Url, ApiError> {
    match Url::parse(raw.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(ApiError::bad_field(
            field,
            format!("{raw:?} is not an absolute http or https URL"),
        )),
    }
}

/// `GET /websub/callback/{source}/{token}`: an upstream hub verifies our intent.
async fn verify_intent(
    State(state): State<AppState>,
    Path((source, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match state
        .sources
        .hub_verification(&source, &token, &query)
        .await
    {
        HubAnswer::Challenge(challenge) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge,
        )
            .into_response(),
        HubAnswer::Noted => StatusCode::OK.into_response(),
        HubAnswer::Unknown => {
            ApiError::NotFound("no subscription of ours waits for this".into()).into_response()
        }
    }
}

/// `POST /websub/callback/{source}/{token}`: an upstream hub pushes its feed.
async fn take_notification(
    State(state): State<AppState>,
    Path((source, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
    match state
        .sources
        .hub_notification(&source, &token, signature, &body)
        .await
    {
        Notified::Taken(_) => StatusCode::NO_CONTENT.into_response(),
        // WebSub §8: acknowledged, and ignored.
        Notified::BadSignature => StatusCode::ACCEPTED.into_response(),
        Notified::Unknown => {
            ApiError::NotFound("no subscription of ours has this callback".into()).into_response()
        }
        Notified::Refused(reason) => ApiError::bad_field("", reason).into_response(),
    }
}
