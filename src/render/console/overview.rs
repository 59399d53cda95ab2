//! The console's overview: the delivery queue, every webhook endpoint's health, the WebSub
//! subscriptions, the sources, and the sections with their article counts.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::live::{Live, LiveItem, latest_events};
use super::{ConsoleContext, words::ConsoleLabels};
use crate::catalog::Scope;
use crate::domain::{Endpoint, QueueStats, SectionPath, SubscriptionView};
use crate::render::SourceLine;
use crate::render::words::Labels;

/// How often the overview is fetched again (besides when an event comes), in seconds.
const REFRESH_SECS: u32 = 30;

/// An endpoint and when it last took a delivery.
#[derive(Debug, Clone)]
pub struct EndpointHealth {
    pub endpoint: Endpoint,
    pub last_success: Option<DateTime<Utc>>,
}

/// A WebSub subscription and when its callback last took a notification.
#[derive(Debug, Clone)]
pub struct SubscriptionHealth {
    pub view: SubscriptionView,
    pub last_success: Option<DateTime<Utc>>,
}

/// What the overview shows.
#[derive(Debug, Clone, Copy)]
pub struct Overview<'a> {
    pub queue: QueueStats,
    /// The endpoints listed, those that need attention first.
    pub endpoints: &'a [EndpointHealth],
    /// Endpoints not listed.
    pub hidden_endpoints: usize,
    pub subscriptions: &'a [SubscriptionHealth],
    /// Whether there are subscriptions past those listed.
    pub more_subscriptions: bool,
    pub sources: &'a [SourceLine],
    /// Live articles per section, not counting descendants.
    pub counts: &'a [(String, u64)],
    /// The latest events of the log, the newest first, and the cursor the page's stream
    /// starts after.
    pub events: &'a [LiveItem],
    pub events_after: i64,
}

/// The overview page: live (see [`super::live`]), and without scripts it reloads itself every
/// half minute.
pub fn render_overview(ctx: &ConsoleContext<'_>, overview: &Overview<'_>) -> String {
    let labels = ctx.labels();
    let content = html! {
        section #queue data-live {
            h2 { (labels.queue) }
            (queue(&labels, &overview.queue))
        }
        section #endpoints data-live {
            h2 { (labels.endpoints) }
            (endpoints(ctx, &labels, overview))
        }
        (latest_events(ctx, overview.events, overview.events_after))
        section #subscriptions data-live {
            h2 { (labels.subscriptions) }
            (subscriptions(ctx, &labels, overview))
        }
        section #sources data-live {
            h2 { (labels.sources) }
            (sources(ctx, &labels, overview.sources))
        }
        section #sections data-live {
            h2 { (labels.sections) }
            (sections(ctx, &labels, overview.counts))
        }
    };
    let live = Live {
        every_secs: REFRESH_SECS,
        reload: Some(""),
    };
    ctx.page(labels.overview, Some(live), content)
}

fn queue(labels: &ConsoleLabels, q: &QueueStats) -> Markup {
    let scheduled = (q.pending - q.due - q.in_flight).max(0);
    let c = &labels.queue_columns;
    let figures = [
        (c[0], q.due.to_string(), "due"),
        (c[1], q.in_flight.to_string(), "in-flight"),
        (c[2], scheduled.to_string(), "scheduled"),
        (c[3], q.failed.to_string(), "failed"),
        (c[4], q.delivered.to_string(), "delivered"),
        (c[5], labels.wait(q.oldest_due_secs), "oldest-due"),
    ];
    html! {
        div.figures {
            @for (label, n, id) in figures {
                div.figure #(format!("queue-{id}")) {
                    span.n { (n) }
                    span.label { (label) }
                }
            }
        }
        p.hint { (labels.oldest_due_hint) }
    }
}

/// The word and class of an endpoint's state.
pub(super) fn endpoint_state(labels: &ConsoleLabels, endpoint: &Endpoint) -> Markup {
    let (class, word) = if !endpoint.enabled {
        ("disabled", labels.disabled)
    } else if endpoint.failing_since.is_some() {
        ("failing", labels.failing)
    } else {
        ("healthy", labels.healthy)
    };
    html! { span class={ "state " (class) } { (word) } }
}

fn endpoints(ctx: &ConsoleContext<'_>, labels: &ConsoleLabels, overview: &Overview<'_>) -> Markup {
    html! {
        @if overview.endpoints.is_empty() {
            p.muted { (labels.no_endpoints) }
        } @else {
            div.scroll {
                table.grid.wide.endpoints {
                    thead { tr { @for column in labels.endpoint_columns { th { (column) } } } }
                    tbody {
                        @for health in overview.endpoints {
                            @let e = &health.endpoint;
                            tr data-endpoint=(e.id) {
                                td {
                                    a href=(ctx.path(&format!("/endpoints/{}", e.id))) { (e.kind.shown_url(&e.url)) }
                                    @if !e.description.is_empty() { br; small { (e.description) } }
                                }
                                td { (endpoint_state(labels, e)) }
                                td {
                                    @if health.last_success.is_some() {
                                        (ctx.time(health.last_success))
                                    } @else {
                                        span.muted { (labels.never) }
                                    }
                                }
                                td { (ctx.time(e.failing_since)) }
                                td { (e.disabled_reason.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        @if overview.hidden_endpoints > 0 {
            p.hint { (labels.more_endpoints(overview.hidden_endpoints)) }
        }
    }
}

fn subscriptions(
    ctx: &ConsoleContext<'_>,
    labels: &ConsoleLabels,
    overview: &Overview<'_>,
) -> Markup {
    html! {
        @if overview.subscriptions.is_empty() {
            p.muted { (labels.no_subscriptions) }
        } @else {
            div.scroll {
                table.grid.wide {
                    thead { tr { @for column in labels.subscription_columns { th { (column) } } } }
                    tbody {
                        @for health in overview.subscriptions {
                            @let view = &health.view;
                            @let s = &view.subscription;
                            tr {
                                td { code { (s.topic) } }
                                td { code { (s.callback.as_str()) } }
                                td { span class={ "state " (view.state) } { (labels.status(view.state)) } }
                                td { (ctx.time(Some(s.expires_at))) }
                                td { (if view.has_secret { labels.yes } else { labels.no }) }
                                td {
                                    @if let Some(last) = &view.last_delivery {
                                        span class={ "state " (last.status) } { (labels.status(&last.status)) }
                                        " " (last.last_status.map(|s| s.to_string()).unwrap_or_default())
                                        br;
                                        small { (ctx.time(Some(last.created_at))) }
                                    } @else {
                                        span.muted { "—" }
                                    }
                                }
                                td {
                                    @if health.last_success.is_some() { (ctx.time(health.last_success)) }
                                    @else { span.muted { (labels.never) } }
                                }
                            }
                        }
                    }
                }
            }
            @if overview.more_subscriptions {
                p.hint { (labels.more_subscriptions(overview.subscriptions.len())) }
            }
        }
    }
}

fn sources(ctx: &ConsoleContext<'_>, labels: &ConsoleLabels, sources: &[SourceLine]) -> Markup {
    html! {
        @if sources.is_empty() {
            p.muted { (labels.no_sources) }
        } @else {
            div.scroll {
                table.grid.wide {
                    thead { tr { @for column in labels.source_columns { th { (column) } } } }
                    tbody {
                        @for s in sources {
                            tr {
                                td {
                                    (s.name) " (" (s.kind) ")"
                                    @if s.running { " " span.state.pending { (labels.running) } }
                                }
                                td { a href=(s.url) { (s.url) } }
                                td { (ctx.time(s.last_fetch_at)) }
                                td {
                                    @if let Some(outcome) = &s.outcome {
                                        span class={ "state " (outcome) } { (outcome) }
                                    }
                                    @if let Some(error) = &s.error { br; small { (error) } }
                                }
                                td { (ctx.time(s.failing_since)) }
                                td { (s.articles_taken) }
                                td { (ctx.time(s.next_run_at)) }
                                td {
                                    @match &s.hub {
                                        Some((state, lease)) => {
                                            (state)
                                            @if lease.is_some() { " → " (ctx.time(*lease)) }
                                        }
                                        None => span.muted { "—" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The section tree, each with its live articles (descendants included), linked to its
/// history.
fn sections(ctx: &ConsoleContext<'_>, labels: &ConsoleLabels, counts: &[(String, u64)]) -> Markup {
    let words = Labels::for_language(&ctx.catalog.site.language);
    let count = |scope: &Scope| scope.live_articles(counts);
    html! {
        ul.tree {
            li {
                a.title href=(ctx.path("/sections/all")) { (labels.whole_site) }
                " " span.count { (words.articles(count(&Scope::All))) }
                (tree(ctx, &words, &count, None))
            }
        }
    }
}

fn tree(
    ctx: &ConsoleContext<'_>,
    words: &Labels,
    count: &dyn Fn(&Scope) -> u64,
    parent: Option<&SectionPath>,
) -> Markup {
    let children: Vec<_> = ctx.catalog.children(parent).collect();
    html! {
        @if !children.is_empty() {
            ul.tree {
                @for section in children {
                    li {
                        a.title href=(ctx.path(&format!("/sections/{}", section.path))) { (section.title) }
                        code.path { (section.path) }
                        " " span.count { (words.articles(count(&Scope::Section(section.path.clone())))) }
                        (tree(ctx, words, count, Some(&section.path)))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::entry::fixtures::{catalog, utc};
    use super::super::tests::context;
    use super::*;
    use crate::domain::{EndpointUrl, Secret};

    fn endpoint(id: &str, enabled: bool, failing: bool) -> Endpoint {
        Endpoint {
            id: id.into(),
            url: EndpointUrl::new(
                url::Url::parse(&format!("https://hooks.example.org/{id}?a=1&b=<2>")).unwrap(),
            ),
            description: "搜索索引 <b>".into(),
            event_types: Vec::new(),
            sections: Vec::new(),
            secret: Secret::generate(),
            previous_secret: None,
            rate_limit: None,
            enabled,
            disabled_reason: (!enabled).then(|| "410 Gone".to_owned()),
            failing_since: failing.then(|| utc("2026-04-30T01:00:00Z")),
            after_seq: 0,
            kind: crate::domain::EndpointKind::Standard,
            template: None,
            robot_secret: None,
            created_at: utc("2026-04-01T00:00:00Z"),
            updated_at: utc("2026-04-01T00:00:00Z"),
        }
    }

    #[test]
    fn the_overview_shows_the_queue_each_endpoints_health_and_the_sections() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let endpoints = [
            EndpointHealth {
                endpoint: endpoint("ep_off", false, true),
                last_success: None,
            },
            EndpointHealth {
                endpoint: endpoint("ep_ok", true, false),
                last_success: Some(utc("2026-04-30T02:00:00Z")),
            },
        ];
        let overview = Overview {
            queue: QueueStats {
                pending: 7,
                due: 2,
                in_flight: 1,
                failed: 3,
                delivered: 40,
                oldest_due_secs: 300.0,
                ..QueueStats::default()
            },
            endpoints: &endpoints,
            hidden_endpoints: 0,
            subscriptions: &[],
            more_subscriptions: false,
            sources: &[],
            counts: &[("hnyw/ldhd".into(), 4), ("zwgk".into(), 1)],
            events: &[],
            events_after: 12,
        };
        let html = render_overview(&ctx, &overview);
        assert!(html.contains(
            "<noscript><meta http-equiv=\"refresh\" content=\"30; url=/news/admin\"></noscript>\
             <script src=\"/news/admin/live.js\" defer></script>"
        ));
        assert!(
            html.contains("<body data-every=\"30\" data-stream=\"/news/admin/events/stream\">")
        );
        assert!(html.contains("data-after=\"12\""));
        assert!(html.contains("<p class=\"muted\" id=\"no-events\">"));
        for (id, n) in [
            ("due", "2"),
            ("in-flight", "1"),
            ("scheduled", "4"),
            ("failed", "3"),
        ] {
            assert!(
                html.contains(&format!("id=\"queue-{id}\"><span class=\"n\">{n}</span>")),
                "{id}"
            );
        }
        assert!(html.contains("<span class=\"n\">5 分钟</span>"));
        assert!(html.contains(
            "<a href=\"/news/admin/endpoints/ep_off\">https://hooks.example.org/ep_off?a=1&amp;b=%3C2%3E</a>"
        ));
        assert!(html.contains("<small>搜索索引 &lt;b&gt;</small>"));
        assert!(html.contains("<span class=\"state disabled\">已停用</span>"));
        assert!(html.contains("<td>410 Gone</td>"));
        assert!(html.contains("<span class=\"state healthy\">正常</span>"));
        assert!(
            html.contains("2026-04-30 10:00:00 +08:00"),
            "the site's clock"
        );
        assert!(html.contains("从未"));
        assert!(html.contains("还没有订阅。"));
        assert!(html.contains("<a class=\"title\" href=\"/news/admin/sections/all\">全站</a> <span class=\"count\">5 篇文章</span>"));
        assert!(html.contains("href=\"/news/admin/sections/hnyw/ldhd\">领导动态</a>"));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "the console's own script alone"
        );
    }
}
