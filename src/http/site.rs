//! The site's front door for readers and portals: the HTML index, OPML, the section tree,
//! the tags, and the health check.

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::extract::limit_param;
use crate::catalog::{Catalog, Scope, Section};
use crate::domain::FeedFormat;
use crate::render::{IndexEntry, SourceLine, render_index, render_opml};
use crate::sources::SourceView;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(get_index))
        .route("/feeds.opml", get(get_opml))
        .route("/api/v1/sections", get(get_sections))
        .route("/api/v1/tags", get(get_tags))
        .route("/healthz", get(get_health))
        .route("/metrics", get(get_metrics))
        .route("/api/v1/openapi.json", get(get_openapi))
}

/// How many of the whole site's latest articles the index shows.
const INDEX_LATEST: u32 = 10;
/// How many tags the index shows, the most carried first.
const INDEX_TAGS: u32 = 30;

/// `GET /`: a search box, the site's latest articles, every section with its page and feeds,
/// and autodiscovery links.
async fn get_index(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let counts = state.service.article_counts().await?;
    let tags = state.service.tag_counts(INDEX_TAGS).await?;
    let subscribers = state.service.hub.subscriber_counts().await?;
    let catalog = &state.service.catalog;
    let entries: Vec<IndexEntry> = catalog
        .scopes()
        .map(|scope| {
            let articles = scope.live_articles(&counts);
            let subscribers = FeedFormat::ALL.map(|format| {
                let topic = (scope.as_str().to_owned(), format.extension().to_owned());
                subscribers.get(&topic).copied().unwrap_or(0)
            });
            IndexEntry {
                scope,
                articles,
                subscribers,
            }
        })
        .collect();
    let latest = state
        .service
        .latest(&Scope::All, INDEX_LATEST)
        .await?
        .entries;
    let sources: Vec<SourceLine> = state
        .sources
        .views()
        .await?
        .into_iter()
        .map(SourceView::line)
        .collect();
    let catalog = catalog.clone();
    let base = state.service.config.public_base().to_owned();
    // Summaries are the text of bodies, up to megabytes each: off the async workers.
    let html = crate::service::blocking(move || {
        render_index(&catalog, &base, &entries, &latest, &tags, &sources)
    })
    .await;
    Ok(Html(html))
}

/// `GET /feeds.opml`: every feed, for readers to import.
async fn get_opml(State(state): State<AppState>) -> Response {
    let body = render_opml(&state.service.catalog, state.service.config.public_base());
    ([(header::CONTENT_TYPE, "text/x-opml; charset=utf-8")], body).into_response()
}

/// A section in `GET /api/v1/sections`, with its children nested.
#[derive(Serialize)]
struct SectionNode {
    path: String,
    title: String,
    description: String,
    link: String,
    language: String,
    feeds: Feeds,
    children: Vec<SectionNode>,
}

#[derive(Serialize)]
struct Feeds {
    rss: String,
    atom: String,
    json: String,
}

#[derive(Serialize)]
struct SiteTree {
    title: String,
    home: String,
    language: String,
    time_zone: String,
    feeds: Feeds,
    sections: Vec<SectionNode>,
}

/// `GET /api/v1/sections`: the section tree with feed URLs.
async fn get_sections(State(state): State<AppState>) -> Json<SiteTree> {
    let service = &state.service;
    let catalog = &service.catalog;
    let feeds = |scope: &Scope| Feeds {
        rss: service.feed_url(scope, FeedFormat::Rss),
        atom: service.feed_url(scope, FeedFormat::Atom),
        json: service.feed_url(scope, FeedFormat::Json),
    };
    fn nodes(
        catalog: &Catalog,
        parent: Option<&Section>,
        feeds: &dyn Fn(&Scope) -> Feeds,
    ) -> Vec<SectionNode> {
        catalog
            .children(parent.map(|p| &p.path))
            .map(|s| SectionNode {
                path: s.path.to_string(),
                title: s.title.clone(),
                description: s.description.clone(),
                link: s.link.to_string(),
                language: s.language.clone(),
                feeds: feeds(&Scope::Section(s.path.clone())),
                children: nodes(catalog, Some(s), feeds),
            })
            .collect()
    }
    Json(SiteTree {
        title: catalog.site.title.clone(),
        home: catalog.site.home.to_string(),
        language: catalog.site.language.clone(),
        time_zone: catalog.site.time_zone.to_string(),
        feeds: feeds(&Scope::All),
        sections: nodes(catalog, None, &feeds),
    })
}

/// A tag in `GET /api/v1/tags`.
#[derive(Serialize)]
struct TagNode {
    tag: String,
    articles: u64,
    page: String,
    feeds: Feeds,
}

/// `GET /api/v1/tags?limit=`: the tags live articles carry, the most carried first (then by
/// name), each with its page and feeds; 100 by default, 1000 at most.
async fn get_tags(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = limit_param(query.as_deref(), 100, 1000)?;
    let service = &state.service;
    let tags: Vec<TagNode> = service
        .tag_counts(limit)
        .await?
        .into_iter()
        .map(|(tag, articles)| {
            let name = tag.as_str().to_owned();
            let scope = Scope::Tag(tag);
            TagNode {
                tag: name,
                articles,
                page: scope.page_url(service.config.public_base()),
                feeds: Feeds {
                    rss: service.feed_url(&scope, FeedFormat::Rss),
                    atom: service.feed_url(&scope, FeedFormat::Atom),
                    json: service.feed_url(&scope, FeedFormat::Json),
                },
            }
        })
        .collect();
    Ok(Json(serde_json::json!({ "tags": tags })))
}

/// `GET /healthz`: 200 when the store can write (one row written and committed); 503
/// problem+json otherwise.
async fn get_health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.service.ping().await?;
    crate::store::report_working();
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

/// `GET /metrics`: Prometheus (OpenMetrics) text.
async fn get_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let service = &state.service;
    let stats = service.queue_stats().await?;
    service.webhooks.refresh_failing_gauge().await?;
    let body = service.metrics.render(&stats);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// `GET /api/v1/openapi.json`: the API described (OpenAPI 3.1), kept in `openapi/openapi.json`.
async fn get_openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi/openapi.json"),
    )
        .into_response()
}
