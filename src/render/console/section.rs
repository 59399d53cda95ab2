//! A section's history: its articles (descendants included), newest first, each with its
//! version and its events; and the articles deleted lately.

use maud::{Markup, html};

use super::ConsoleContext;
use super::live::Live;
use super::words::ConsoleLabels;
use crate::catalog::Scope;
use crate::domain::{EventSummary, StoredArticle, Tombstone};

/// An article and its events, newest first.
#[derive(Debug, Clone)]
pub struct ArticleHistory {
    pub article: StoredArticle,
    pub events: Vec<EventSummary>,
}

/// What a section's history shows.
#[derive(Debug, Clone)]
pub struct SectionHistory<'a> {
    pub scope: &'a Scope,
    pub articles: &'a [ArticleHistory],
    /// Deleted articles of the scope, most recently deleted first, with their events.
    pub deleted: &'a [(Tombstone, Vec<EventSummary>)],
    /// The cursor of the next page (`?before=`), when the page is full.
    pub older: Option<String>,
    /// Whether this is the newest page.
    pub is_first: bool,
}

/// How often the newest page of a section is fetched again (besides when an event comes), in
/// seconds.
const REFRESH_SECS: u32 = 60;

pub fn render_section_history(ctx: &ConsoleContext<'_>, history: &SectionHistory<'_>) -> String {
    let labels = ctx.labels();
    let title = match history.scope {
        Scope::Section(path) => ctx.catalog.titles_of(path).join(" / "),
        _ => labels.whole_site.to_owned(),
    };
    let name = history.scope.as_str().to_owned();
    let children: Vec<_> = match history.scope {
        Scope::Section(path) => ctx.catalog.children(Some(path)).collect(),
        _ => ctx.catalog.children(None).collect(),
    };
    let content = html! {
        p {
            code { (name) } " · "
            a href=(history.scope.page_url(ctx.prefix)) { (ctx.catalog.feed_title(history.scope)) }
        }
        @if !children.is_empty() {
            p {
                (labels.subsections) ": "
                @for child in children {
                    a href=(ctx.path(&format!("/sections/{}", child.path))) { (child.title) } " "
                }
            }
        }
        section #articles data-live {
            h2 { (labels.articles) }
            @if history.articles.is_empty() {
                p.muted { (labels.no_articles_here) }
            } @else {
                div.scroll {
                    table.grid.wide.articles {
                        thead { tr { @for column in labels.article_columns { th { (column) } } } }
                        tbody {
                            @for item in history.articles {
                                (article_row(ctx, &labels, item))
                            }
                        }
                    }
                }
            }
            @if let Some(cursor) = &history.older {
                p {
                    a href=(ctx.path(&format!("/sections/{name}?before={cursor}"))) { (labels.older_articles) }
                }
            }
        }
        section #deleted data-live {
            @if !history.deleted.is_empty() {
                h2 { (labels.deleted_articles) }
                div.scroll {
                    table.grid {
                        tbody {
                            @for (tombstone, events) in history.deleted {
                                tr {
                                    td { code { (tombstone.id) } br; a href=(tombstone.url.as_str()) { (tombstone.url.as_str()) } }
                                    td { (ctx.time(Some(tombstone.deleted_at))) }
                                    td { (events_list(ctx, events)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    // New articles show while the operator reads; an older page stays as it is.
    let live = history.is_first.then_some(Live {
        every_secs: REFRESH_SECS,
        reload: None,
    });
    ctx.page(&title, live, content)
}

fn article_row(ctx: &ConsoleContext<'_>, labels: &ConsoleLabels, item: &ArticleHistory) -> Markup {
    let a = &item.article;
    let moved = a.article.section.as_str();
    html! {
        tr data-article=(a.article.id) {
            td {
                a href=(a.article.url.as_str()) { (a.article.title) }
                br;
                small.muted { code { (a.article.id) } " · " (moved) }
            }
            td { "v" (a.version) }
            td {
                (a.article.published.format("%Y-%m-%d %H:%M %:z"))
                @if let Some(updated) = a.article.updated {
                    br; small.muted { (updated.format("%Y-%m-%d %H:%M %:z")) }
                }
            }
            td {
                (events_list(ctx, &item.events))
                @if item.events.is_empty() { span.muted { (labels.never) } }
            }
        }
    }
}

fn events_list(ctx: &ConsoleContext<'_>, events: &[EventSummary]) -> Markup {
    html! {
        ul.events {
            @for e in events {
                li {
                    code { (e.kind.as_str()) } " v" (e.version) " · " (ctx.time(Some(e.occurred_at)))
                    @if let Some(from) = &e.moved_from { " · " (from) " → " (e.section) }
                    " · " small.muted { (e.id) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::entry::fixtures::{catalog, leader_article, tombstone, utc};
    use super::super::tests::context;
    use super::*;
    use crate::domain::{EventType, SectionPath};

    #[test]
    fn each_article_shows_its_version_and_events() {
        let catalog = catalog();
        let ctx = context(&catalog);
        let article = leader_article();
        let events = vec![EventSummary {
            seq: 9,
            id: "evt_abc".into(),
            kind: EventType::Updated,
            article_id: article.article.id.clone(),
            section: article.article.section.clone(),
            moved_from: Some(SectionPath::parse("hnyw").unwrap()),
            version: 2,
            occurred_at: utc("2026-04-30T00:00:00Z"),
        }];
        let scope = Scope::Section(SectionPath::parse("hnyw").unwrap());
        let items = [ArticleHistory {
            article: article.clone(),
            events: events.clone(),
        }];
        let deleted = [(tombstone(), events)];
        let html = render_section_history(
            &ctx,
            &SectionHistory {
                scope: &scope,
                articles: &items,
                deleted: &deleted,
                older: Some("123.abc".into()),
                is_first: true,
            },
        );
        assert!(html.contains("<h1>黄南要闻</h1>"));
        assert!(html.contains(&format!("<td>v{}</td>", article.version)));
        assert!(html.contains(
            "<code>article.updated</code> v2 · <time datetime=\"2026-04-30T00:00:00Z\">2026-04-30 08:00:00 +08:00</time> · hnyw → hnyw/ldhd"
        ));
        assert!(html.contains("href=\"/news/admin/sections/hnyw?before=123.abc\""));
        assert!(html.contains("<h2>已删除的文章</h2>"));
        assert!(html.contains("href=\"/news/admin/sections/hnyw/ldhd\">领导动态</a>"));
    }
}
