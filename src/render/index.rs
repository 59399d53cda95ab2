//! The HTML index of all feeds: autodiscovery links in `<head>` (one per scope and format), a
//! search box, the latest articles of the whole site, and the section tree with each
//! section's page and feeds, rendered by maud, which escapes every value.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::listing::{ICON, ListContext, STYLE, article_list, search_form};
use super::words::Labels;
use crate::catalog::{Catalog, Scope, Section};
use crate::domain::{FeedFormat, SectionPath, StoredArticle, Tag};

/// How many live articles a scope's feed draws from, and how many WebSub subscribers each of
/// its topics (one per format, in `FeedFormat::ALL` order) has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub scope: Scope,
    pub articles: u64,
    pub subscribers: [u64; 3],
}

/// One source's state as the index and the console show it (see `GET /api/v1/sources` for
/// all of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    pub name: String,
    /// `pages` or `feed`.
    pub kind: &'static str,
    pub url: String,
    pub last_fetch_at: Option<DateTime<Utc>>,
    /// `ok`, `not_modified` or `failed`, with the reason of a failure.
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub articles_taken: u64,
    pub next_run_at: Option<DateTime<Utc>>,
    /// An instance runs it now.
    pub running: bool,
    /// The hub subscription's state (`requested`, `active`, `failed`), and its lease's end.
    pub hub: Option<(&'static str, Option<DateTime<Utc>>)>,
}

/// Renders the index page: a complete HTML5 document without scripts, `latest` being the
/// newest articles of the whole site. Scopes missing from `entries` are shown without a count.
///
/// `feeds_base` is the service's absolute base URL without a trailing slash.
pub fn render_index(
    catalog: &Catalog,
    feeds_base: &str,
    entries: &[IndexEntry],
    latest: &[StoredArticle],
    tags: &[(Tag, u64)],
    sources: &[SourceLine],
) -> String {
    let page = Page {
        catalog,
        feeds_base,
        counts: entries
            .iter()
            .map(|e| (&e.scope, (e.articles, e.subscribers)))
            .collect(),
        labels: Labels::for_language(&catalog.site.language),
    };
    page.render(latest, tags, sources).into_string()
}

struct Page<'a> {
    catalog: &'a Catalog,
    feeds_base: &'a str,
    counts: HashMap<&'a Scope, (u64, [u64; 3])>,
    labels: Labels,
}

impl Page<'_> {
    fn render(
        &self,
        latest: &[StoredArticle],
        tags: &[(Tag, u64)],
        sources: &[SourceLine],
    ) -> Markup {
        let site = &self.catalog.site;
        let opml_url = format!("{}/feeds.opml", self.feeds_base);
        html! {
            (DOCTYPE)
            html lang=(site.language) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (site.title) }
                    @if !site.description.trim().is_empty() {
                        meta name="description" content=(site.description);
                    }
                    // Feed autodiscovery: one alternate link per scope and format.
                    @for scope in self.catalog.scopes() {
                        @let title = self.catalog.feed_title(&scope);
                        @for format in FeedFormat::ALL {
                            link rel="alternate" type=(format.media_type())
                                title={ (title) " (" (format.label()) ")" }
                                href=(scope.feed_url(self.feeds_base, format));
                        }
                    }
                    link rel="alternate" type="text/x-opml" title=(self.labels.opml) href=(opml_url);
                    link rel="icon" href=(ICON);
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    div.page {
                        header {
                            h1 { (site.title) }
                            @if !site.description.trim().is_empty() {
                                p.lead { (site.description) }
                            }
                            p { a href=(site.home.as_str()) { (self.labels.home) } }
                            (search_form(self.feeds_base, &self.labels, ""))
                        }
                        main {
                            section #latest {
                                h2 { (self.labels.latest_site) }
                                (article_list(&self.list_context(), latest))
                                p { a href=(Scope::All.page_url(self.feeds_base)) { (self.labels.more) " ›" } }
                            }
                            section #all {
                                h2 {
                                    a href=(Scope::All.page_url(self.feeds_base)) { (self.labels.whole_site) }
                                }
                                (self.feeds(&Scope::All))
                            }
                            section #sections {
                                h2 { (self.labels.sections) }
                                (self.tree(None))
                            }
                            @if !tags.is_empty() {
                                section #tags {
                                    h2 { (self.labels.tags) }
                                    ul.tags {
                                        @for (tag, n) in tags {
                                            li {
                                                a href=(Scope::Tag(tag.clone()).page_url(self.feeds_base)) { (tag.as_str()) }
                                                " " span.count { (n) " " (self.labels.tag_count) }
                                            }
                                        }
                                    }
                                }
                            }
                            @if !sources.is_empty() {
                                section #sources {
                                    h2 { (self.labels.sources) }
                                    (self.sources(sources))
                                }
                            }
                        }
                        footer {
                            p { a href=(opml_url) { (self.labels.opml) } }
                        }
                    }
                }
            }
        }
    }

    /// The sources and what each did last, in a table that scrolls sideways on a phone.
    fn sources(&self, sources: &[SourceLine]) -> Markup {
        let zone = self.catalog.site.time_zone;
        let time = |t: &Option<DateTime<Utc>>| {
            t.map(|t| {
                t.with_timezone(&zone)
                    .format("%Y-%m-%d %H:%M:%S %:z")
                    .to_string()
            })
            .unwrap_or_else(|| "—".to_owned())
        };
        html! {
            div.scroll {
                table.sources {
                    thead { tr { @for column in self.labels.source_columns { th { (column) } } } }
                    tbody {
                        @for source in sources {
                            tr {
                                td { (source.name) " (" (source.kind) ")" }
                                td { a href=(source.url) { (source.url) } }
                                td { time { (time(&source.last_fetch_at)) } }
                                td {
                                    (source.outcome.as_deref().unwrap_or("—"))
                                    @if let Some(error) = &source.error { br; small { (error) } }
                                }
                                td { (source.articles_taken) }
                                td { time { (time(&source.next_run_at)) } }
                                td {
                                    @match &source.hub {
                                        Some((state, lease)) => { (state) @if lease.is_some() { " → " (time(lease)) } }
                                        None => "—",
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn list_context(&self) -> ListContext<'_> {
        ListContext {
            catalog: self.catalog,
            base: self.feeds_base,
            labels: &self.labels,
            language: &self.catalog.site.language,
            scope: &Scope::All,
        }
    }

    /// The sections under `parent` (top level for `None`) as a nested list; nothing when there
    /// are none.
    fn tree(&self, parent: Option<&SectionPath>) -> Markup {
        let children: Vec<&Section> = self.catalog.children(parent).collect();
        html! {
            @if !children.is_empty() {
                ul.tree {
                    @for section in children {
                        li {
                            a.title href=(Scope::Section(section.path.clone()).page_url(self.feeds_base)) {
                                (section.title)
                            }
                            code.path { (section.path) }
                            @if !section.description.trim().is_empty() {
                                p.description { (section.description) }
                            }
                            (self.feeds(&Scope::Section(section.path.clone())))
                            (self.tree(Some(&section.path)))
                        }
                    }
                }
            }
        }
    }

    /// A scope's article count (when known) and the links to its three feeds.
    fn feeds(&self, scope: &Scope) -> Markup {
        html! {
            p.feeds {
                @if let Some((articles, _)) = self.counts.get(scope) {
                    span.count { (self.labels.articles(*articles)) }
                }
                @for (i, format) in FeedFormat::ALL.into_iter().enumerate() {
                    a href=(scope.feed_url(self.feeds_base, format)) type=(format.media_type()) {
                        (format.label())
                    }
                    // Only topics that have WebSub subscribers say so; zeros would be noise.
                    @if let Some((_, subscribers)) = self.counts.get(scope).filter(|(_, n)| n[i] > 0) {
                        span.count.subscribers title=(self.labels.subscribers_title()) {
                            (self.labels.subscribers(subscribers[i]))
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::fixtures::*;
    use super::*;

    const BASE: &str = "http://127.0.0.1:8080";

    fn entries() -> Vec<IndexEntry> {
        vec![
            IndexEntry {
                scope: Scope::All,
                articles: 12,
                subscribers: [0, 0, 0],
            },
            IndexEntry {
                scope: scope(),
                articles: 7,
                subscribers: [0, 0, 0],
            },
        ]
    }

    #[test]
    fn the_page_is_a_complete_document() {
        let html = render_index(&catalog(), BASE, &entries(), &[], &[], &[]);
        assert!(
            html.starts_with("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">")
        );
        assert!(html.contains(&format!("<title>{SITE_TITLE}</title>")));
        assert!(!html.contains("<script"));
        assert!(html.contains("<h2>栏目</h2>"));
    }

    #[test]
    fn every_feed_is_discoverable() {
        let html = render_index(&catalog(), BASE, &entries(), &[], &[], &[]);
        // 5 scopes (all and 4 sections) × 3 formats, plus the OPML list.
        assert_eq!(html.matches("<link rel=\"alternate\"").count(), 16);
        assert!(html.contains(
            "<link rel=\"alternate\" type=\"application/rss+xml\" \
             title=\"黄南藏族自治州人民政府 (RSS 2.0)\" href=\"http://127.0.0.1:8080/feeds/all.rss\">"
        ));
        assert!(html.contains(
            "<link rel=\"alternate\" type=\"application/feed+json\" \
             title=\"黄南藏族自治州人民政府 - 黄南要闻 - 领导动态 (JSON Feed 1.1)\" \
             href=\"http://127.0.0.1:8080/feeds/hnyw/ldhd.json\">"
        ));
        assert!(html.contains("href=\"http://127.0.0.1:8080/feeds/zwgk/tzgg.atom\""));
        assert!(html.contains("<a href=\"http://127.0.0.1:8080/feeds.opml\">"));
    }

    #[test]
    fn the_sections_are_nested_with_counts_and_escaped() {
        let html = render_index(&catalog(), BASE, &entries(), &[], &[], &[]);
        assert!(html.contains("<span class=\"count\">12 篇文章</span>"));
        assert!(html.contains("<span class=\"count\">7 篇文章</span>"));
        assert_eq!(
            html.matches("class=\"count\"").count(),
            2,
            "only known counts"
        );
        assert!(html.contains("<p class=\"description\">通知 &amp; 公告</p>"));
        // 领导动态 sits in a list inside 黄南要闻's item.
        let title = |path: &str, title: &str| {
            let link = format!("<a class=\"title\" href=\"{BASE}/feeds/{path}.html\">{title}</a>");
            html.find(&link).unwrap_or_else(|| panic!("{link}"))
        };
        let hnyw = title("hnyw", "黄南要闻");
        let ldhd = title("hnyw/ldhd", "领导动态");
        let zwgk = title("zwgk", "政务公开");
        assert!(hnyw < ldhd && ldhd < zwgk);
        assert!(html[hnyw..ldhd].contains("<ul class=\"tree\">"));
        assert!(html[ldhd..zwgk].contains("</ul></li>"));
        assert!(html.contains("<code class=\"path\">hnyw/ldhd</code>"));
    }

    #[test]
    fn an_english_site_gets_english_labels() {
        let mut catalog = catalog();
        catalog.site.language = "en-GB".to_owned();
        let html = render_index(
            &catalog,
            BASE,
            &[IndexEntry {
                scope: Scope::All,
                articles: 1,
                subscribers: [0, 0, 0],
            }],
            &[],
            &[],
            &[],
        );
        assert!(html.contains("<html lang=\"en-GB\">"));
        assert!(html.contains("1 article<"));
        assert!(html.contains("<h2>Sections</h2>"));
        assert!(html.contains("<h2>Latest across the site</h2>"));
        assert!(html.contains("No articles yet."));
    }

    #[test]
    fn the_latest_articles_and_a_search_box_come_first() {
        let html = render_index(&catalog(), BASE, &entries(), &[leader_article()], &[], &[]);
        let search = html
            .find("<form class=\"search\" role=\"search\" method=\"get\" action=\"http://127.0.0.1:8080/search\">")
            .expect("the search box");
        let latest = html.find("<h2>全站最新文章</h2>").expect("the latest");
        let sections = html.find("<h2>栏目</h2>").expect("the sections");
        assert!(search < latest && latest < sections);
        assert!(
            html.contains(
                "<input type=\"search\" name=\"q\" value=\"\" required maxlength=\"200\""
            )
        );
        assert!(html[latest..sections].contains("州委书记调研乡村振兴工作</a></h3>"));
        assert!(html[latest..sections].contains("2021-06-01 00:00 +08:00"));
        assert!(html.contains("<a href=\"http://127.0.0.1:8080/feeds/all.html\">全站</a>"));
    }

    #[test]
    fn the_index_lists_tags_by_how_many_carry_them_with_their_pages() {
        let tags = [
            (Tag::parse("双拥").unwrap(), 3),
            (Tag::parse("乡村 振兴").unwrap(), 1),
        ];
        let html = render_index(&catalog(), BASE, &entries(), &[], &tags, &[]);
        let section = &html[html.find("<section id=\"tags\">").expect("the tags")..];
        let first = section.find(">双拥</a>").unwrap();
        let second = section.find(">乡村 振兴</a>").unwrap();
        assert!(first < second, "the most carried first");
        assert!(section.contains("<span class=\"count\">3 篇</span>"));
        assert!(section.contains(&format!(
            "href=\"{BASE}/feeds/tags/%E4%B9%A1%E6%9D%91%20%E6%8C%AF%E5%85%B4.html\""
        )));
        let none = render_index(&catalog(), BASE, &entries(), &[], &[], &[]);
        assert!(!none.contains("id=\"tags\""), "no tags, no section");
    }
}
