//! The console's pages: the overview (or the login form), an endpoint, the add-endpoint form,
//! a section's history.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::{StreamExt, TryStreamExt};

use super::{AppState, Operator, context, html, not_found, prefix, session_of};
use crate::catalog::Scope;
use crate::domain::{FeedCursor, SectionPath};
use crate::http::error::ApiError;
use crate::http::extract::query_param;
use crate::render::SourceLine;
use crate::render::console::{
    ArticleHistory, EndpointHealth, EndpointPage, Flash, LiveItem, LoginProblem, NewEndpointForm,
    Overview, SectionHistory, SubscriptionHealth, render_endpoint_page, render_login,
    render_new_endpoint_form, render_overview, render_section_history,
};
use crate::sources::SourceView;
use crate::webhooks::robots;

/// The most endpoints the overview lists (those needing attention first).
const OVERVIEW_ENDPOINTS: usize = 200;
/// The most WebSub subscriptions the overview lists.
const OVERVIEW_SUBSCRIPTIONS: u32 = 100;
/// Deliveries on one page of an endpoint.
const DELIVERIES_PAGE: u32 = 20;
/// Articles on one page of a section's history, and the events shown of each.
const ARTICLES_PAGE: u32 = 50;
const EVENTS_PER_ARTICLE: u32 = 10;
/// Events the overview lists when it opens.
const LATEST_EVENTS: u32 = 20;
/// Reads run side by side for one page (one per endpoint, one per article).
const READS_AT_ONCE: usize = 8;

/// What the last action said, from the query.
fn flash(query: Option<&str>) -> Option<Flash> {
    Flash::parse(
        query_param(query, "done").as_deref(),
        query_param(query, "n").as_deref(),
    )
}

/// `GET /admin`: the overview, or the login form without a session.
pub(super) async fn overview_or_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let prefix = prefix(&state);
    let query = query.as_deref();
    let Some(session) = session_of(&headers, &state) else {
        let problem = (query_param(query, "done").as_deref() == Some("logged-out"))
            .then_some(LoginProblem::LoggedOut);
        let page = render_login(&context(&state, &prefix, None, None), problem);
        return Ok(html(StatusCode::OK, page));
    };
    let service = &state.service;
    let queue = service.queue_stats().await?;
    let mut endpoints = service.webhooks.list().await?;
    // Disabled ones first, then the failing (the longest failing first), then the rest.
    endpoints.sort_by_key(|e| (e.enabled, e.failing_since.is_none(), e.failing_since));
    let hidden_endpoints = endpoints.len().saturating_sub(OVERVIEW_ENDPOINTS);
    endpoints.truncate(OVERVIEW_ENDPOINTS);
    let endpoints: Vec<EndpointHealth> = futures::stream::iter(endpoints)
        .map(|endpoint| async {
            let last_success = service.webhooks.last_success(&endpoint.id).await?;
            Ok::<_, ApiError>(EndpointHealth {
                endpoint,
                last_success,
            })
        })
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await?;
    let mut subscriptions = service
        .hub
        .subscriptions(None, None, OVERVIEW_SUBSCRIPTIONS + 1)
        .await?;
    let more_subscriptions = subscriptions.len() > OVERVIEW_SUBSCRIPTIONS as usize;
    subscriptions.truncate(OVERVIEW_SUBSCRIPTIONS as usize);
    let subscriptions: Vec<SubscriptionHealth> = futures::stream::iter(subscriptions)
        .map(|view| async {
            // A subscription's notifications are deliveries to it, as an endpoint's are.
            let last_success = service.webhooks.last_success(&view.subscription.id).await?;
            Ok::<_, ApiError>(SubscriptionHealth { view, last_success })
        })
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await?;
    let sources: Vec<SourceLine> = state
        .sources
        .views()
        .await?
        .into_iter()
        .map(SourceView::line)
        .collect();
    let counts = service.article_counts().await?;
    // The latest events: those just before what this process has applied (the cursor is the
    // log's sequence, so a few may be missing where it skips), then the stream goes on from
    // the last one listed.
    let head = service.live.head();
    let latest = service
        .webhooks
        .events((head - LATEST_EVENTS as i64).max(0), LATEST_EVENTS)
        .await?;
    let events_after = latest.last().map_or(head, |e| e.seq.max(head));
    let csrf = session.csrf_token();
    let ctx = context(&state, &prefix, Some(&csrf), flash(query));
    let events: Vec<LiveItem> = latest
        .iter()
        .rev()
        .map(|event| LiveItem::new(&ctx, event))
        .collect();
    let page = render_overview(
        &ctx,
        &Overview {
            queue,
            endpoints: &endpoints,
            hidden_endpoints,
            subscriptions: &subscriptions,
            more_subscriptions,
            sources: &sources,
            counts: &counts,
            events: &events,
            events_after,
        },
    );
    Ok(html(StatusCode::OK, page))
}

/// `GET /admin/endpoints/{id}?before=`: the endpoint, and a page of its deliveries, newest
/// first.
pub(super) async fn endpoint_page(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let webhooks = &state.service.webhooks;
    let Some(endpoint) = webhooks.get(&id).await? else {
        return Ok(not_found(&state, &operator));
    };
    let query = query.as_deref();
    let before = query_param(query, "before").and_then(|b| b.parse::<i64>().ok());
    let mut deliveries = webhooks
        .latest_deliveries(&id, None, before, DELIVERIES_PAGE + 1)
        .await?;
    let older = (deliveries.len() > DELIVERIES_PAGE as usize).then(|| {
        deliveries.truncate(DELIVERIES_PAGE as usize);
        deliveries.last().map(|d| d.cursor)
    });
    let last_success = webhooks.last_success(&id).await?;
    let prefix = prefix(&state);
    let csrf = operator.0.csrf_token();
    let ctx = context(&state, &prefix, Some(&csrf), flash(query));
    let preview = endpoint.kind.is_robot().then(|| {
        let message = robots::published_preview(endpoint.kind, endpoint.template.as_deref());
        serde_json::to_string_pretty(&message).unwrap_or_default()
    });
    let page = render_endpoint_page(
        &ctx,
        &EndpointPage {
            endpoint: &endpoint,
            last_success,
            disable_after_secs: state.service.config.delivery.disable_after_secs,
            deliveries: &deliveries,
            older: older.flatten(),
            is_behind: before.is_some(),
            preview: preview.as_deref(),
        },
    );
    Ok(html(StatusCode::OK, page))
}

/// `GET /admin/endpoints/new`: the form that adds an endpoint.
pub(super) async fn new_endpoint_form(
    State(state): State<AppState>,
    operator: Operator,
) -> Response {
    let prefix = prefix(&state);
    let csrf = operator.0.csrf_token();
    let ctx = context(&state, &prefix, Some(&csrf), None);
    html(
        StatusCode::OK,
        render_new_endpoint_form(&ctx, &NewEndpointForm::default()),
    )
}

/// `GET /admin/sections/{path}?before=`: a section's articles (`all`: the whole site's),
/// newest first, each with its version and events, and its articles deleted lately.
pub(super) async fn section_page(
    State(state): State<AppState>,
    operator: Operator,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let service = &state.service;
    let scope = if path == "all" {
        Some(Scope::All)
    } else {
        SectionPath::parse(&path)
            .ok()
            .filter(|p| service.catalog.section(p).is_some())
            .map(Scope::Section)
    };
    let Some(scope) = scope else {
        return Ok(not_found(&state, &operator));
    };
    let query = query.as_deref();
    let before = query_param(query, "before").and_then(|b| FeedCursor::parse(&b));
    let (articles, tombstones) = match &before {
        Some(cursor) => (
            service
                .articles_before(&scope, cursor, ARTICLES_PAGE)
                .await?,
            Vec::new(),
        ),
        None => {
            let page = service.latest(&scope, ARTICLES_PAGE).await?;
            (page.entries, page.tombstones)
        }
    };
    let older = (articles.len() == ARTICLES_PAGE as usize)
        .then(|| articles.last().map(|a| FeedCursor::after(a).token()))
        .flatten();
    let articles: Vec<ArticleHistory> = futures::stream::iter(articles)
        .map(|article| async {
            let events = service
                .article_events(&article.article.id, EVENTS_PER_ARTICLE)
                .await?;
            Ok::<_, ApiError>(ArticleHistory { article, events })
        })
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await?;
    let deleted: Vec<_> = futures::stream::iter(tombstones)
        .map(|tombstone| async {
            let events = service
                .article_events(&tombstone.id, EVENTS_PER_ARTICLE)
                .await?;
            Ok::<_, ApiError>((tombstone, events))
        })
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await?;
    let prefix = prefix(&state);
    let csrf = operator.0.csrf_token();
    let ctx = context(&state, &prefix, Some(&csrf), None);
    let page = render_section_history(
        &ctx,
        &SectionHistory {
            scope: &scope,
            articles: &articles,
            deleted: &deleted,
            older,
            is_first: before.is_none(),
        },
    );
    Ok(html(StatusCode::OK, page))
}
