//! A section's page for people (`/feeds/hnyw/ldhd.html`): what the section is, how to
//! subscribe to it (its feed URLs, each with a Copy button), its WebSub hub for developers,
//! its subsections and its latest articles. Rendered by maud, which escapes every value.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::listing::{ICON, ListContext, STYLE, article_list};
use super::words::Labels;
use crate::catalog::{Catalog, Scope, Section};
use crate::domain::{FeedFormat, SectionPath, StoredArticle};

/// What a section's page needs besides its scope and articles.
#[derive(Debug, Clone, Copy)]
pub struct PageContext<'a> {
    pub catalog: &'a Catalog,
    /// The service's absolute base URL, without a trailing slash.
    pub base: &'a str,
    /// The WebSub hub's absolute URL.
    pub hub_url: &'a str,
    /// The scope's live stream of events, when public streams are on: the page then tells of
    /// new articles as they come.
    pub live_url: Option<&'a str>,
}

/// Renders the page of `scope` (a section, or `all`) showing `articles`, its newest first: a
/// complete HTML5 document whose only script is the Copy buttons' and, with a `live_url`, the
/// live notice's (inline, no assets).
pub fn render_section_page(
    ctx: &PageContext<'_>,
    scope: &Scope,
    articles: &[StoredArticle],
) -> String {
    let language = ctx.catalog.feed_language(scope);
    let page = SectionPage {
        ctx,
        scope,
        language,
        labels: Labels::for_language(language),
    };
    page.render(articles).into_string()
}

/// Copies a feed's URL: with the asynchronous clipboard where the browser allows it, or else
/// by selecting the address and asking for a copy, which leaves it selected for the reader
/// when that fails too.
const COPY_SCRIPT: &str = r#"(function(){
function show(button,text){button.textContent=text;setTimeout(function(){button.textContent=button.dataset.label;},2500);}
function select(field){var range=document.createRange();range.selectNodeContents(field);var selection=window.getSelection();selection.removeAllRanges();selection.addRange(range);}
document.addEventListener("click",function(event){
var button=event.target.closest("button[data-copy]");if(!button)return;
var field=document.getElementById(button.dataset.copy);if(!field)return;
function fallback(){select(field);var copied=false;try{copied=document.execCommand("copy");}catch(e){}show(button,copied?button.dataset.copied:button.dataset.selected);}
if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(field.textContent).then(function(){show(button,button.dataset.copied);},fallback);}else{fallback();}
});
})();"#;

/// Shows the newest article published in the scope since the page was loaded, from its live
/// stream: the notice is hidden until then, and stays hidden without script or `EventSource`.
/// Text goes in as text, and only an http(s) URL becomes a link.
const LIVE_SCRIPT: &str = r#"(function(){
var notice=document.getElementById("live");if(!notice||!window.EventSource)return;
var source=new EventSource(notice.dataset.stream);
source.addEventListener("article.published",function(event){
var article;try{article=JSON.parse(event.data).article;}catch(e){return;}
if(!article||typeof article.title!=="string")return;
var link=notice.querySelector("a.new");link.textContent=article.title;
if(/^https?:\/\//.test(article.url))link.href=article.url;else link.removeAttribute("href");
notice.hidden=false;
});
})();"#;

struct SectionPage<'a> {
    ctx: &'a PageContext<'a>,
    scope: &'a Scope,
    language: &'a str,
    labels: Labels,
}

impl SectionPage<'_> {
    fn render(&self, articles: &[StoredArticle]) -> Markup {
        let catalog = self.ctx.catalog;
        let title = catalog.feed_title(self.scope);
        let description = catalog.feed_description(self.scope);
        html! {
            (DOCTYPE)
            html lang=(self.language) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    @if !description.trim().is_empty() {
                        meta name="description" content=(description);
                    }
                    @for format in FeedFormat::ALL {
                        link rel="alternate" type=(format.media_type())
                            title={ (title) " (" (format.label()) ")" }
                            href=(self.feed_url(format));
                    }
                    link rel="icon" href=(ICON);
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    div.page {
                        (self.breadcrumb())
                        header {
                            (self.heading())
                            @if !description.trim().is_empty() {
                                p.lead { (description) }
                            }
                        }
                        main {
                            (self.subscribe())
                            (self.subsections())
                            section #latest {
                                h2 { (self.labels.latest) }
                                (self.live_notice())
                                (article_list(&self.list_context(), articles))
                            }
                        }
                        (self.footer())
                    }
                    script { (PreEscaped(COPY_SCRIPT)) }
                    @if self.ctx.live_url.is_some() {
                        script { (PreEscaped(LIVE_SCRIPT)) }
                    }
                }
            }
        }
    }

    /// The notice of a new article, hidden until the live script fills it in (see
    /// [`LIVE_SCRIPT`]); nothing without a live stream. The reload link is to the page itself.
    fn live_notice(&self) -> Markup {
        html! {
            @if let Some(stream) = self.ctx.live_url {
                p.live #live role="status" data-stream=(stream) hidden {
                    (self.labels.new_article)
                    a.new { }
                    " · "
                    a.reload href=(self.scope.page_url(self.ctx.base)) { (self.labels.reload) }
                }
            }
        }
    }

    /// The feed's title: the site's, then the section's trail, each part kept whole on a line
    /// of its own when the line is too narrow for them all.
    fn heading(&self) -> Markup {
        let catalog = self.ctx.catalog;
        let mut parts = vec![catalog.site.title.clone()];
        if let Scope::Section(path) = self.scope {
            parts.extend(catalog.titles_of(path));
        }
        html! {
            h1 {
                @for (i, part) in parts.iter().enumerate() {
                    @if i > 0 { " " }
                    span.part {
                        (part)
                        @if i + 1 < parts.len() { " -" }
                    }
                }
            }
        }
    }

    fn list_context(&self) -> ListContext<'_> {
        ListContext {
            catalog: self.ctx.catalog,
            base: self.ctx.base,
            labels: &self.labels,
            language: self.language,
            scope: self.scope,
        }
    }

    fn feed_url(&self, format: FeedFormat) -> String {
        self.scope.feed_url(self.ctx.base, format)
    }

    /// The index, then the section's ancestors, then the page itself (not a link).
    fn breadcrumb(&self) -> Markup {
        let catalog = self.ctx.catalog;
        let trail: Vec<&Section> = match self.scope {
            Scope::All | Scope::Tag(_) => Vec::new(),
            Scope::Section(path) => {
                let mut paths = path.self_and_ancestors();
                paths.reverse();
                paths.iter().filter_map(|p| catalog.section(p)).collect()
            }
        };
        let (current, ancestors) = match (trail.split_last(), self.scope) {
            (Some((current, ancestors)), _) => (current.title.as_str(), ancestors),
            (None, Scope::Tag(tag)) => (tag.as_str(), &[][..]),
            (None, _) => (self.labels.whole_site, &[][..]),
        };
        html! {
            nav.crumbs aria-label=(self.labels.breadcrumb) {
                ol {
                    li { a href={ (self.ctx.base) "/" } { (catalog.site.title) } }
                    @for section in ancestors {
                        li { a href=(self.section_page(&section.path)) { (section.title) } }
                    }
                    li aria-current="page" { (current) }
                }
            }
        }
    }

    /// What a feed is, the three feed URLs to copy, and the hub for developers.
    fn subscribe(&self) -> Markup {
        let labels = &self.labels;
        html! {
            section #subscribe {
                h2 { (labels.subscribe) }
                p { (labels.what_is_a_feed) }
                @for format in FeedFormat::ALL {
                    @let id = format!("feed-{}", format.extension());
                    div.feed {
                        span.format { (format.label()) }
                        code.url #(id) { (self.feed_url(format)) }
                        button type="button" data-copy=(id) aria-label=(labels.copy_address(format))
                            data-label=(labels.copy) data-copied=(labels.copied)
                            data-selected=(labels.selected) {
                            (labels.copy)
                        }
                    }
                }
                p.note {
                    strong { (labels.developers) }
                    (labels.websub_hint) " "
                    code.hub { (self.ctx.hub_url) }
                }
            }
        }
    }

    /// Links to the pages of the scope's children (the top-level sections for `all`).
    fn subsections(&self) -> Markup {
        let (children, heading): (Vec<&Section>, _) = match self.scope {
            Scope::All => (
                self.ctx.catalog.children(None).collect(),
                self.labels.sections,
            ),
            Scope::Section(path) => (
                self.ctx.catalog.children(Some(path)).collect(),
                self.labels.subsections,
            ),
            // A tag's page has no sections of its own.
            Scope::Tag(_) => (Vec::new(), self.labels.subsections),
        };
        html! {
            @if !children.is_empty() {
                section #sections {
                    h2 { (heading) }
                    ul.children {
                        @for child in children {
                            li { a href=(self.section_page(&child.path)) { (child.title) } }
                        }
                    }
                }
            }
        }
    }

    fn footer(&self) -> Markup {
        let base = self.ctx.base;
        html! {
            footer {
                p {
                    a href={ (base) "/" } { (self.ctx.catalog.site.title) }
                    " · "
                    a href={ (base) "/feeds.opml" } { (self.labels.opml) }
                }
            }
        }
    }

    fn section_page(&self, path: &SectionPath) -> String {
        Scope::Section(path.clone()).page_url(self.ctx.base)
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::fixtures::*;
    use super::*;

    const BASE: &str = "http://127.0.0.1:8080";

    fn render(scope: &Scope, articles: &[StoredArticle]) -> String {
        let catalog = catalog();
        let ctx = PageContext {
            catalog: &catalog,
            base: BASE,
            hub_url: HUB_URL,
            live_url: None,
        };
        render_section_page(&ctx, scope, articles)
    }

    fn ldhd() -> Scope {
        Scope::Section(SectionPath::parse("hnyw/ldhd").unwrap())
    }

    #[test]
    fn the_page_names_the_section_and_how_to_subscribe() {
        let html = render(&ldhd(), &[leader_article()]);
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"zh-CN\"><head>"));
        assert!(
            html.contains(
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            )
        );
        assert!(html.contains(&format!(
            "<h1><span class=\"part\">{SITE_TITLE} -</span> <span class=\"part\">黄南要闻 -</span> \
             <span class=\"part\">领导动态</span></h1>"
        )));
        assert!(html.contains("<p class=\"lead\">州领导的活动</p>"));
        assert!(
            html.contains("<li><a href=\"http://127.0.0.1:8080/\">黄南藏族自治州人民政府</a></li>")
        );
        assert!(html.contains(
            "<li><a href=\"http://127.0.0.1:8080/feeds/hnyw.html\">黄南要闻</a></li>\
             <li aria-current=\"page\">领导动态</li>"
        ));
        assert!(html.contains("订阅源（RSS）让你不必反复访问网站"));
        for ext in ["rss", "atom", "json"] {
            assert!(html.contains(&format!(
                "<code class=\"url\" id=\"feed-{ext}\">{BASE}/feeds/hnyw/ldhd.{ext}</code>"
            )));
            assert!(html.contains(&format!("data-copy=\"feed-{ext}\"")));
            assert!(html.contains(&format!(
                "<link rel=\"alternate\" type=\"{}\"",
                FeedFormat::from_extension(ext).unwrap().media_type()
            )));
        }
        assert!(html.contains(&format!("<code class=\"hub\">{HUB_URL}</code>")));
        assert_eq!(html.matches("<script>").count(), 1);
    }

    #[test]
    fn a_live_stream_adds_a_hidden_notice_and_its_script() {
        assert!(!render(&ldhd(), &[]).contains("id=\"live\""));
        let catalog = catalog();
        let stream = ldhd().events_url(BASE);
        let ctx = PageContext {
            catalog: &catalog,
            base: BASE,
            hub_url: HUB_URL,
            live_url: Some(&stream),
        };
        let html = render_section_page(&ctx, &ldhd(), &[leader_article()]);
        assert!(html.contains(&format!(
            "<p class=\"live\" id=\"live\" role=\"status\" data-stream=\"{BASE}/feeds/hnyw/ldhd.events\" \
             hidden>有新文章：<a class=\"new\"></a> · <a class=\"reload\" \
             href=\"{BASE}/feeds/hnyw/ldhd.html\">刷新页面</a></p>"
        )));
        assert_eq!(html.matches("<script>").count(), 2);
        assert!(html.contains("new EventSource(notice.dataset.stream)"));
    }

    #[test]
    fn articles_show_date_with_offset_source_editor_image_and_summary() {
        let html = render(&scope(), &[leader_article()]);
        assert!(html.contains(
            "<h3><a href=\"http://www.huangnan.gov.cn/html/hnyw/ldhd/2021/0601/1.html\">州委书记调研乡村振兴工作</a></h3>"
        ));
        assert!(html.contains(
            "<time datetime=\"2021-06-01T00:00:00+08:00\">2021-06-01 00:00 +08:00</time>"
        ));
        assert!(html.contains(
            "<a class=\"section\" href=\"http://127.0.0.1:8080/feeds/hnyw/ldhd.html\">领导动态</a>"
        ));
        assert!(html.contains("<span class=\"source\">来源：黄南报</span>"));
        assert!(html.contains("<span class=\"editor\">责任编辑：卓玛</span>"));
        assert!(html.contains(&format!(
            "<img class=\"thumb\" src=\"{IMAGE_IN_CONTENT}\" alt=\"调研现场\" loading=\"lazy\""
        )));
        assert!(html.contains(&format!("<p class=\"summary\">{PARAGRAPH}")));
        // 黄南要闻 lists its subsection.
        assert!(html.contains("<h2>下级栏目</h2>"));
    }

    #[test]
    fn hostile_text_is_escaped_and_other_languages_are_marked() {
        let html = render(&scope(), &[hostile_article()]);
        assert!(!html.contains("<b>&amp;"), "the title's markup is text");
        assert!(html.contains("]]&gt; &lt;b&gt;&amp;amp; 😀"));
        assert!(html.contains("href=\"http://www.huangnan.gov.cn/show?id=1&amp;x=%3C\""));
        assert!(html.contains("<li lang=\"en\">"));
        assert!(html.contains(
            "<time datetime=\"2021-05-31T12:00:00-05:00\">2021-05-31 12:00 -05:00</time>"
        ));
    }

    #[test]
    fn the_whole_site_lists_the_top_sections_and_an_english_site_speaks_english() {
        let mut catalog = catalog();
        catalog.site.language = "en-GB".into();
        let ctx = PageContext {
            catalog: &catalog,
            base: BASE,
            hub_url: HUB_URL,
            live_url: None,
        };
        let html = render_section_page(&ctx, &Scope::All, &[]);
        assert!(html.contains("<html lang=\"en-GB\">"));
        assert!(html.contains("<li aria-current=\"page\">All sections</li>"));
        assert!(html.contains("<h2>Sections</h2>"));
        assert!(html.contains("href=\"http://127.0.0.1:8080/feeds/zwgk.html\">政务公开</a>"));
        assert!(!html.contains("feeds/hnyw/ldhd.html"), "only the top level");
        assert!(html.contains("<p class=\"note\">No articles yet.</p>"));
        assert!(html.contains("A feed lets you follow this section"));
    }
}
