//! What the HTML pages share: their style, the list of articles (title, date with its offset,
//! section, source, editor, first image, summary), the search box, and the pages' URLs.

use chrono::{DateTime, FixedOffset};
use maud::{Markup, html};

use super::entry;
use super::words::Labels;
use crate::catalog::{Catalog, Scope};
use crate::domain::{Article, StoredArticle};

/// Kept small and inline: every page is served alone, without assets. A CJK font stack and a
/// line height for Chinese; long unbroken text (URLs) breaks anywhere rather than widening the
/// page; one column that narrows with the screen.
pub(super) const STYLE: &str = "\
*{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}\
body{margin:0;color:#1f1f1f;background:#fff;line-height:1.7;overflow-wrap:anywhere;\
font-family:system-ui,-apple-system,\"PingFang SC\",\"Hiragino Sans GB\",\"Noto Sans CJK SC\",\
\"Source Han Sans SC\",\"Microsoft YaHei\",sans-serif}\
.page{max-width:52rem;margin:0 auto;padding:1rem 1.25rem 2.5rem}\
a{color:#0b57d0}\
h1{font-size:1.6rem;line-height:1.4;margin:.5rem 0}\
h2{font-size:1.2rem;line-height:1.4;margin:2rem 0 .75rem;padding-bottom:.3rem;border-bottom:1px solid #e3e3e3}\
h3{font-size:1.05rem;line-height:1.5;margin:0 0 .2rem}\
p{margin:.4rem 0}\
h1,h2,h3,p{text-wrap:pretty}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}\
.crumbs ol{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:0 .4rem;font-size:.9rem;color:#555}\
.crumbs li+li::before{content:\"›\";margin-right:.4rem;color:#999}\
.lead{color:#444}\
.note{font-size:.9rem;color:#555}\
ul.tree{list-style:none;padding-left:1.25rem;border-left:1px solid #ddd}\
section>ul.tree{padding-left:0;border-left:none}\
ul.tree li{margin:.6rem 0}\
.title{font-weight:600}\
.path{color:#666;margin-left:.5em}\
.description{margin:.1rem 0;color:#444}\
.feeds{margin:.1rem 0}\
.feeds a{margin-right:.75em;white-space:nowrap}\
.count{color:#666;margin-right:.75em;white-space:nowrap}\
ul.tags{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4rem 1rem}\
h1 .part{display:inline-block}\
.feed{display:flex;flex-wrap:wrap;align-items:center;gap:.35rem .5rem;margin:.6rem 0}\
.format{flex:0 0 8rem;font-weight:600}\
code.url{flex:1 1 16rem;min-width:0;padding:.4rem .5rem;border:1px solid #c7c7c7;border-radius:4px;\
background:#f7f7f7;font-size:.85rem;line-height:1.4;-webkit-user-select:all;user-select:all}\
button,.search button{padding:.4rem .9rem;border:1px solid #0b57d0;border-radius:4px;background:#0b57d0;\
color:#fff;font:inherit;line-height:1.4;cursor:pointer}\
.search{display:flex;gap:.5rem;margin:1rem 0}\
.search input{flex:1 1 auto;min-width:0;padding:.4rem .6rem;border:1px solid #b5b5b5;border-radius:4px;font:inherit;line-height:1.4}\
ol.articles{list-style:none;margin:0;padding:0}\
ol.articles>li{display:flow-root;padding:1rem 0;border-bottom:1px solid #eee}\
.meta{display:flex;flex-wrap:wrap;gap:0 1rem;margin:0 0 .3rem;font-size:.85rem;color:#5f5f5f}\
.summary{margin:.3rem 0 0;color:#333}\
img.thumb{float:right;width:10rem;height:6.5rem;margin:.2rem 0 .4rem 1rem;object-fit:cover;\
border-radius:4px;background:#f1f1f1}\
.scroll{overflow-x:auto}\
table.sources{border-collapse:collapse;font-size:.85rem;min-width:40rem}\
table.sources th,table.sources td{padding:.3rem .5rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
.live{margin:.5rem 0;padding:.5rem .75rem;border:1px solid #c6d7f5;border-radius:4px;background:#eef4ff}\
footer{margin-top:2.5rem;padding-top:.5rem;border-top:1px solid #ddd;font-size:.9rem}\
@media (max-width:34rem){\
.page{padding:.75rem 1rem 2rem}\
h1{font-size:1.35rem}\
.format{flex-basis:100%}\
img.thumb{float:none;display:block;width:100%;height:auto;max-height:14rem;margin:.5rem 0}}";

/// The pages' icon, inline like everything else: a feed's symbol. (Without one, browsers ask
/// for `/favicon.ico`, and log its 404.)
pub(super) const ICON: &str = "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' \
viewBox='0 0 16 16'><rect width='16' height='16' rx='3' fill='%23f26522'/>\
<circle cx='4.5' cy='11.5' r='1.6' fill='white'/><path d='M3 7.2a5.8 5.8 0 0 1 5.8 5.8M3 \
3a10 10 0 0 1 10 10' stroke='white' stroke-width='2' fill='none'/></svg>";

/// The absolute URL of the search page.
pub(super) fn search_url(base: &str) -> String {
    format!("{base}/search")
}

/// The search box: a GET form to the search page, holding `query`.
pub(super) fn search_form(base: &str, labels: &Labels, query: &str) -> Markup {
    html! {
        form.search role="search" method="get" action=(search_url(base)) {
            input type="search" name="q" value=(query) required maxlength="200"
                placeholder=(labels.search_placeholder) aria-label=(labels.search_placeholder);
            button type="submit" { (labels.search) }
        }
    }
}

/// Where a list of articles stands: the page's language (an article in another one says
/// so, for its fonts and line breaking) and scope (an article of the scope's own section does
/// not name it again).
pub(super) struct ListContext<'a> {
    pub catalog: &'a Catalog,
    pub base: &'a str,
    pub labels: &'a Labels,
    pub language: &'a str,
    pub scope: &'a Scope,
}

/// The articles as a list, in the order given (newest first).
pub(super) fn article_list(ctx: &ListContext<'_>, articles: &[StoredArticle]) -> Markup {
    html! {
        @if articles.is_empty() {
            p.note { (ctx.labels.no_articles) }
        } @else {
            ol.articles {
                @for stored in articles {
                    (article_item(ctx, &stored.article))
                }
            }
        }
    }
}

fn article_item(ctx: &ListContext<'_>, article: &Article) -> Markup {
    // An article in another language than the page's is labelled in its own, as it is marked
    // (`lang`): "Source: Huangnan Daily" on a Chinese page, not "来源：Huangnan Daily".
    let language = entry::language_override(article, ctx.language);
    let own_labels = language.map(Labels::for_language);
    let labels = own_labels.as_ref().unwrap_or(ctx.labels);
    let section = ctx
        .catalog
        .section(&article.section)
        .filter(|s| !matches!(ctx.scope, Scope::Section(path) if *path == s.path));
    let summary = entry::summary(article);
    html! {
        li lang=[language] {
            h3 { a href=(article.url.as_str()) { (article.title) } }
            p.meta {
                time datetime=(entry::rfc3339(&article.published)) {
                    (display_time(&article.published))
                }
                @if let Some(section) = section {
                    a.section href=(Scope::Section(section.path.clone()).page_url(ctx.base)) {
                        (section.title)
                    }
                }
                @if let Some(source) = article.source.as_deref().filter(|s| !s.trim().is_empty()) {
                    span.source { (labels.source) (source) }
                }
                @if let Some(editor) = article.editor.as_deref().filter(|s| !s.trim().is_empty()) {
                    span.editor { (labels.editor) (editor) }
                }
            }
            @if let Some((src, alt)) = first_image(article) {
                img.thumb src=(src) alt=(alt) loading="lazy" decoding="async";
            }
            @if !summary.is_empty() {
                p.summary { (summary) }
            }
        }
    }
}

/// A date as people read it, with the offset it was published with: `2021-06-01 00:00 +08:00`.
pub(super) fn display_time(date: &DateTime<FixedOffset>) -> String {
    date.format("%Y-%m-%d %H:%M %:z").to_string()
}

/// The article's first image and its text alternative (the caption, or none): the first of
/// its images, or else the first `<img>` of its body.
pub(super) fn first_image(article: &Article) -> Option<(String, String)> {
    if let Some(image) = article.images.first() {
        let caption = image.caption.clone().unwrap_or_default();
        return Some((image.url.to_string(), caption));
    }
    body_image(&article.content_html).map(|src| (src, String::new()))
}

/// The `src` of the first `<img>` in a sanitised body, whose attribute values are always
/// double-quoted (a `>` may stand inside one) and whose URLs are absolute.
fn body_image(html: &str) -> Option<String> {
    let start = html.find("<img ")?;
    let mut in_quotes = false;
    let end = html[start..].find(|c: char| {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        c == '>' && !in_quotes
    })?;
    let tag = &html[start..start + end];
    let value = tag.split(" src=\"").nth(1)?;
    let src = html_escape::decode_html_entities(&value[..value.find('"')?]);
    (src.starts_with("http://") || src.starts_with("https://")).then(|| src.into_owned())
}

#[cfg(test)]
mod tests {
    use super::super::entry::fixtures::*;
    use super::*;

    #[test]
    fn dates_keep_their_offset() {
        let date = DateTime::parse_from_rfc3339("2021-06-01T00:00:00+08:00").unwrap();
        assert_eq!(display_time(&date), "2021-06-01 00:00 +08:00");
        let date = DateTime::parse_from_rfc3339("2021-05-30T08:15:00-04:00").unwrap();
        assert_eq!(display_time(&date), "2021-05-30 08:15 -04:00");
    }

    #[test]
    fn the_first_image_comes_from_the_images_then_the_body() {
        let mut article = leader_article().article;
        let (src, alt) = first_image(&article).expect("an image");
        assert_eq!(src, article.images[0].url.as_str());
        assert_eq!(alt, article.images[0].caption.clone().unwrap_or_default());
        article.images.clear();
        article.content_html =
            "<p>x</p><img alt=\"a>b\" src=\"https://e.example/a.png?x=1&amp;y=2\">".into();
        assert_eq!(
            first_image(&article),
            Some(("https://e.example/a.png?x=1&y=2".into(), String::new()))
        );
        article.content_html = "<p>no image</p>".into();
        assert_eq!(first_image(&article), None);
    }

    #[test]
    fn an_article_in_another_language_is_labelled_in_its_own() {
        let catalog = catalog();
        let labels = Labels::for_language("zh-CN");
        let ctx = ListContext {
            catalog: &catalog,
            base: "https://news.example",
            labels: &labels,
            language: "zh-CN",
            scope: &Scope::All,
        };
        let mut stored = leader_article();
        stored.article.source = Some("Huangnan Daily".into());
        stored.article.editor = Some("Dorje".into());
        let chinese = article_list(&ctx, std::slice::from_ref(&stored)).into_string();
        assert!(chinese.contains("<span class=\"source\">来源：Huangnan Daily</span>"));
        stored.article.language = Some("en".into());
        let english = article_list(&ctx, &[stored]).into_string();
        assert!(english.contains("<li lang=\"en\">"));
        assert!(english.contains("<span class=\"source\">Source: Huangnan Daily</span>"));
        assert!(english.contains("<span class=\"editor\">Editor: Dorje</span>"));
    }
}
