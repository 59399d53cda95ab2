//! The HTML index of all feeds: autodiscovery links in `<head>` (one per scope and format) and
//! the section tree with each feed's links, rendered by maud, which escapes every value.

use std::collections::HashMap;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::opml::feed_url;
use crate::catalog::{Catalog, Scope, Section};
use crate::domain::{FeedFormat, SectionPath};

/// How many live articles a scope's feed draws from, and how many WebSub subscribers each of
/// its topics (one per format, in `FeedFormat::ALL` order) has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub scope: Scope,
    pub articles: u64,
    pub subscribers: [u64; 3],
}

/// Renders the index page: a complete HTML5 document without scripts. Scopes missing from
/// `entries` are shown without a count.
///
/// `feeds_base` is the service's absolute base URL without a trailing slash.
pub fn render_index(catalog: &Catalog, feeds_base: &str, entries: &[IndexEntry]) -> String {
    let page = Page {
        catalog,
        feeds_base,
        counts: entries
            .iter()
            .map(|e| (&e.scope, (e.articles, e.subscribers)))
            .collect(),
        labels: Labels::for_language(&catalog.site.language),
    };
    page.render().into_string()
}

/// Kept small and inline: the page is served alone, without assets.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;line-height:1.6;max-width:52rem;margin:0 auto;padding:1rem 1.5rem;color:#222}\
h1{font-size:1.6rem;margin-bottom:.25rem}\
ul{list-style:none;padding-left:1.25rem;border-left:1px solid #ddd}\
main>section>ul{padding-left:0;border-left:none}\
li{margin:.75rem 0}\
.title{font-weight:600}\
.path{color:#666;font-size:.9em;margin-left:.5em}\
.description{margin:.1rem 0;color:#444}\
.feeds a{margin-right:.75em}\
.count{color:#666;margin-right:.75em}\
footer{margin-top:2rem;border-top:1px solid #ddd;padding-top:.5rem;font-size:.9em}";

struct Page<'a> {
    catalog: &'a Catalog,
    feeds_base: &'a str,
    counts: HashMap<&'a Scope, (u64, [u64; 3])>,
    labels: Labels,
}

impl Page<'_> {
    fn render(&self) -> Markup {
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
                                href=(feed_url(self.feeds_base, &scope, format));
                        }
                    }
                    link rel="alternate" type="text/x-opml" title=(self.labels.opml) href=(opml_url);
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    header {
                        h1 { (site.title) }
                        @if !site.description.trim().is_empty() {
                            p { (site.description) }
                        }
                        p { a href=(site.home.as_str()) { (self.labels.home) } }
                    }
                    main {
                        section {
                            h2 { (self.labels.whole_site) }
                            (self.feeds(&Scope::All))
                        }
                        section {
                            h2 { (self.labels.sections) }
                            (self.tree(None))
                        }
                    }
                    footer {
                        p { a href=(opml_url) { (self.labels.opml) } }
                    }
                }
            }
        }
    }

    /// The sections under `parent` (top level for `None`) as a nested list; nothing when there
    /// are none.
    fn tree(&self, parent: Option<&SectionPath>) -> Markup {
        let children: Vec<&Section> = self.catalog.children(parent).collect();
        html! {
            @if !children.is_empty() {
                ul {
                    @for section in children {
                        li {
                            span.title { (section.title) }
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
                    a href=(feed_url(self.feeds_base, scope, format)) type=(format.media_type()) {
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

/// The page's own words, in Chinese for a Chinese site and in English otherwise.
struct Labels {
    chinese: bool,
    whole_site: &'static str,
    sections: &'static str,
    opml: &'static str,
    home: &'static str,
}

impl Labels {
    fn for_language(language: &str) -> Self {
        let chinese = language
            .get(..2)
            .is_some_and(|l| l.eq_ignore_ascii_case("zh"))
            && language.get(2..3).is_none_or(|sep| sep == "-");
        if chinese {
            Self {
                chinese,
                whole_site: "全站",
                sections: "栏目",
                opml: "全部订阅（OPML）",
                home: "网站首页",
            }
        } else {
            Self {
                chinese,
                whole_site: "All sections",
                sections: "Sections",
                opml: "All feeds (OPML)",
                home: "Website",
            }
        }
    }

    /// A topic's WebSub subscriber count, shown after its link.
    fn subscribers(&self, count: u64) -> String {
        match (self.chinese, count) {
            (true, n) => format!("（{n} 个订阅）"),
            (false, 1) => "(1 subscriber)".to_owned(),
            (false, n) => format!("({n} subscribers)"),
        }
    }

    fn subscribers_title(&self) -> &'static str {
        if self.chinese {
            "WebSub 订阅者数量"
        } else {
            "WebSub subscribers of this feed"
        }
    }

    fn articles(&self, count: u64) -> String {
        match (self.chinese, count) {
            (true, n) => format!("{n} 篇文章"),
            (false, 1) => "1 article".to_owned(),
            (false, n) => format!("{n} articles"),
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
        let html = render_index(&catalog(), BASE, &entries());
        assert!(
            html.starts_with("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">")
        );
        assert!(html.contains(&format!("<title>{SITE_TITLE}</title>")));
        assert!(!html.contains("<script"));
        assert!(html.contains("<h2>栏目</h2>"));
    }

    #[test]
    fn every_feed_is_discoverable() {
        let html = render_index(&catalog(), BASE, &entries());
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
        let html = render_index(&catalog(), BASE, &entries());
        assert!(html.contains("<span class=\"count\">12 篇文章</span>"));
        assert!(html.contains("<span class=\"count\">7 篇文章</span>"));
        assert_eq!(
            html.matches("class=\"count\"").count(),
            2,
            "only known counts"
        );
        assert!(html.contains("<p class=\"description\">通知 &amp; 公告</p>"));
        // 领导动态 sits in a list inside 黄南要闻's item.
        let hnyw = html
            .find("<span class=\"title\">黄南要闻</span>")
            .expect("黄南要闻");
        let ldhd = html
            .find("<span class=\"title\">领导动态</span>")
            .expect("领导动态");
        let zwgk = html
            .find("<span class=\"title\">政务公开</span>")
            .expect("政务公开");
        assert!(hnyw < ldhd && ldhd < zwgk);
        assert!(html[hnyw..ldhd].contains("<ul>"));
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
        );
        assert!(html.contains("<html lang=\"en-GB\">"));
        assert!(html.contains("1 article<"));
        assert!(html.contains("<h2>Sections</h2>"));
        assert!(Labels::for_language("zh").chinese);
        assert!(Labels::for_language("zh-Hans-CN").chinese);
        assert!(!Labels::for_language("zha").chinese);
    }
}
