//! HTML pages as government CMSs write them.
//!
//! What each field comes from, first found wins:
//! - title: `ArticleTitle` meta, `rules.title`, `og:title`, `<title>` without the site's name;
//! - published: `PubDate`, `firstpublishedtime`, `article:published_time` metas, a visible
//!   发布时间 (发布日期, 时间 …) line;
//! - source: `ContentSource` meta, a visible 来源 line; editor: a visible 责任编辑 line;
//! - authors: `author` meta, a visible 作者 line; tags: `keywords`; summary: `description`;
//! - breadcrumb: `rules.breadcrumb`, the element that starts with 当前位置 (or kin), the
//!   `ColumnName` meta as a one-title breadcrumb;
//! - URL: `<link rel="canonical">`, `og:url`, the `Url` meta, the URL it was fetched from;
//! - body: the first of `rules.body` with text or an image, images made absolute.

use scraper::{ElementRef, Html, Node, Selector};
use url::Url;

use super::fields::{self, CRUMB_EDGE, Field, Labelled};
use super::{
    Found, FoundImage, PageError, PageRules, published, resolve, split_list, squash,
    tags_from_keywords,
};
use crate::ingest::sanitize::LAZY_SRC_ATTRIBUTES;

/// Elements whose text no reader sees.
const HIDDEN: [&str; 6] = ["script", "style", "noscript", "template", "head", "select"];
/// Elements that start a line of the page's text.
const BLOCKS: [&str; 29] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "section",
    "table",
];
/// Cells and rows break lines too: older templates lay the page out in tables.
const TABLE_PARTS: [&str; 4] = ["tr", "td", "th", "ul"];
/// `src` values that stand in for a lazily loaded image.
const PLACEHOLDERS: [&str; 6] = [
    "placeholder",
    "loading",
    "lazy",
    "blank.gif",
    "spacer",
    "grey.gif",
];

pub(super) fn read(
    text: &str,
    input_url: Option<&Url>,
    rules: &PageRules,
) -> Result<Found, PageError> {
    let title_selectors = compile(&rules.title)?;
    let body_selectors = compile(&rules.body)?;
    let breadcrumb_selectors = compile(&rules.breadcrumb)?;
    let doc = Html::parse_document(text);
    let metas = Metas::of(&doc);
    let labelled: Vec<Labelled> = visible_text(doc.root_element(), |name| {
        (BLOCKS.contains(&name) || TABLE_PARTS.contains(&name)).then_some('\n')
    })
    .lines()
    .flat_map(fields::labelled)
    .collect();
    let visible = |field: Field| {
        fields::values_of(&labelled, field)
            .map(squash)
            .find(|v| !v.is_empty())
    };

    let site_name = metas.get("sitename").map(squash);
    let title = metas
        .get("articletitle")
        .map(squash)
        .filter(|t| !t.is_empty())
        .or_else(|| first_text(&doc, &title_selectors))
        .or_else(|| metas.get("og:title").map(squash))
        .or_else(|| {
            let title = first_text(&doc, &[sel("title")])?;
            Some(strip_site_name(&title, site_name.as_deref()))
        })
        .filter(|t| !t.is_empty())
        .ok_or(PageError::NoTitle)?;

    let date_candidates = ["pubdate", "firstpublishedtime", "article:published_time"]
        .into_iter()
        .filter_map(|name| metas.get(name))
        .chain(fields::values_of(&labelled, Field::Published));
    let published = published(date_candidates)?;

    let mut url = page_url(&doc, &metas, input_url).ok_or(PageError::NoUrl)?;
    url.set_fragment(None);

    let base = doc
        .select(&sel("base[href]"))
        .find_map(|b| resolve(b.attr("href")?, input_url.or(Some(&url))))
        .or_else(|| input_url.cloned())
        .or_else(|| rules.image_base.clone())
        .unwrap_or_else(|| url.clone());
    let body = body_selectors
        .iter()
        .find_map(|s| doc.select(s).find(|el| has_content(*el)))
        .ok_or_else(|| PageError::NoBody {
            tried: rules.body.join(", "),
        })?;
    let (content_html, images) = absolute_images(body.inner_html().trim(), &base);

    let mut breadcrumb = breadcrumb_selectors
        .iter()
        .flat_map(|s| doc.select(s))
        .map(|el| fields::breadcrumb(&visible_text(el, |_| Some(CRUMB_EDGE))))
        .find(|crumbs| !crumbs.is_empty())
        .or_else(|| labelled_breadcrumb(&doc))
        .or_else(|| Some(vec![squash(metas.get("columnname")?)]))
        .unwrap_or_default();
    // The catalogue drops a leading 首页; a breadcrumb that opens with the site's name means
    // the same.
    if let (Some(first), Some(site)) = (breadcrumb.first_mut(), site_name.as_deref())
        && first == site
    {
        *first = "首页".to_owned();
    }
    if breadcrumb.len() > 1 && breadcrumb.last() == Some(&title) {
        breadcrumb.pop();
    }

    let authors = match metas.get("author") {
        Some(raw) => split_list(raw, super::MAX_NAME_CHARS),
        None => fields::values_of(&labelled, Field::Author)
            .flat_map(|v| split_list(v, super::MAX_NAME_CHARS))
            .collect(),
    };
    Ok(Found {
        url,
        title,
        breadcrumb,
        source: metas
            .get("contentsource")
            .map(squash)
            .or_else(|| visible(Field::Source)),
        editor: visible(Field::Editor),
        authors,
        published,
        content_html,
        images,
        tags: metas
            .get("keywords")
            .map(tags_from_keywords)
            .unwrap_or_default(),
        summary: metas.get("description").map(squash),
    })
}

/// The page's `<meta>` values by lowercase `name` (or `property`, for Open Graph), the first
/// non-empty one of each.
struct Metas(Vec<(String, String)>);

impl Metas {
    fn of(doc: &Html) -> Self {
        let mut found = Vec::new();
        for meta in doc.select(&sel("meta[content]")) {
            let element = meta.value();
            let Some(key) = element.attr("name").or_else(|| element.attr("property")) else {
                continue;
            };
            let content = element.attr("content").unwrap_or_default().trim();
            if !content.is_empty() {
                found.push((key.trim().to_ascii_lowercase(), content.to_owned()));
            }
        }
        Self(found)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn compile(selectors: &[String]) -> Result<Vec<Selector>, PageError> {
    selectors
        .iter()
        .map(|raw| {
            Selector::parse(raw).map_err(|e| PageError::BadSelector {
                selector: raw.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// A selector written in this file.
fn sel(css: &str) -> Selector {
    Selector::parse(css).expect("the selectors written here are valid CSS")
}

/// The folded text of the first element any selector matches that has text.
fn first_text(doc: &Html, selectors: &[Selector]) -> Option<String> {
    selectors.iter().find_map(|s| {
        doc.select(s)
            .map(|el| squash(&el.text().collect::<String>()))
            .find(|t| !t.is_empty())
    })
}

/// `标题 - 黄南州人民政府` → `标题`: the site's name, or the last part after a separator.
fn strip_site_name(title: &str, site_name: Option<&str>) -> String {
    const SEPARATORS: [&str; 7] = [" - ", " – ", " — ", " | ", "_", "｜", "－"];
    let trimmed = |t: &str| {
        t.trim_end_matches(|c: char| c.is_whitespace() || "-_|–—｜－".contains(c))
            .to_owned()
    };
    if let Some(head) = site_name.and_then(|site| title.strip_suffix(site))
        && !trimmed(head).is_empty()
    {
        return trimmed(head);
    }
    SEPARATORS
        .iter()
        .filter_map(|sep| title.rsplit_once(sep))
        .map(|(head, _)| head.trim())
        .filter(|head| !head.is_empty())
        .max_by_key(|head| head.len())
        .unwrap_or(title)
        .to_owned()
}

/// The article's URL as the page names it, else where it was fetched. A page's own URL that
/// is the site's home page is a template's mistake, not the article's address.
fn page_url(doc: &Html, metas: &Metas, input_url: Option<&Url>) -> Option<Url> {
    let links = sel("link[rel][href]");
    let canonical = doc
        .select(&links)
        .filter(|l| {
            l.attr("rel").is_some_and(|rel| {
                rel.split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("canonical"))
            })
        })
        .filter_map(|l| l.attr("href"));
    canonical
        .chain(
            ["og:url", "url"]
                .into_iter()
                .filter_map(|name| metas.get(name)),
        )
        .filter_map(|raw| resolve(raw, input_url))
        .find(|url| !matches!(url.path(), "" | "/") || input_url == Some(url))
        .or_else(|| input_url.cloned())
}

fn has_content(el: ElementRef<'_>) -> bool {
    el.text().any(|t| !t.trim().is_empty()) || el.select(&sel("img")).next().is_some()
}

/// The body with every image's `src` absolute (a lazy-loading attribute's value when `src`
/// is missing or a placeholder, those attributes then removed so that the sanitiser keeps
/// this `src`), and the images in order. `data:` images stay in the body but are not listed.
fn absolute_images(body: &str, base: &Url) -> (String, Vec<FoundImage>) {
    let mut images = Vec::new();
    let rewritten = lol_html::rewrite_str(
        body,
        lol_html::RewriteStrSettings {
            element_content_handlers: vec![lol_html::element!("img", |el| {
                let is_real = |src: &String| {
                    let lower = src.trim().to_ascii_lowercase();
                    !lower.is_empty() && !lower.starts_with("data:")
                };
                let src = el
                    .get_attribute("src")
                    .filter(is_real)
                    .filter(|src| {
                        let lower = src.to_ascii_lowercase();
                        !PLACEHOLDERS.iter().any(|p| lower.contains(p))
                    })
                    .or_else(|| {
                        LAZY_SRC_ATTRIBUTES
                            .iter()
                            .find_map(|name| el.get_attribute(name).filter(is_real))
                    });
                if let Some(url) = src.and_then(|raw| resolve(&raw, Some(base))) {
                    el.set_attribute("src", url.as_str())?;
                    for name in LAZY_SRC_ATTRIBUTES {
                        el.remove_attribute(name);
                    }
                    let caption = el
                        .get_attribute("alt")
                        .map(|alt| squash(&alt))
                        .filter(|alt| !alt.is_empty());
                    images.push(FoundImage { url, caption });
                }
                Ok(())
            })],
            ..lol_html::RewriteStrSettings::new()
        },
    );
    match rewritten {
        Ok(html) => (html, images),
        // lol_html fails only on memory limits; the body is kept as the page had it.
        Err(_) => (body.to_owned(), Vec::new()),
    }
}

/// The breadcrumb of a page without a known container: the nearest element around a text
/// that starts with 当前位置 (or kin) that holds more than the label.
fn labelled_breadcrumb(doc: &Html) -> Option<Vec<String>> {
    let root = doc.root_element();
    let label = root.descendants().find(|node| {
        node.value()
            .as_text()
            .is_some_and(|t| fields::starts_with_location_label(t))
            && node
                .ancestors()
                .filter_map(ElementRef::wrap)
                .all(|el| !HIDDEN.contains(&el.value().name()) && el.value().name() != "title")
    })?;
    label
        .ancestors()
        .filter_map(ElementRef::wrap)
        .take(4)
        .map(|el| fields::breadcrumb(&visible_text(el, |_| Some(CRUMB_EDGE))))
        .find(|crumbs| !crumbs.is_empty())
}

/// The text of an element as a reader sees it (scripts and styles left out, line breaks in
/// the source as spaces), with `edge(name)` written at both edges of each element that has one.
fn visible_text(root: ElementRef<'_>, edge: impl Fn(&str) -> Option<char>) -> String {
    enum Step<N> {
        Enter(N),
        Leave(char),
    }
    let mut out = String::new();
    // A stack, not recursion: html5ever builds trees as deep as the page nests.
    let mut stack = vec![Step::Enter(*root)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Leave(c) => out.push(c),
            Step::Enter(node) => match node.value() {
                Node::Text(text) => out.extend(text.chars().map(|c| match c {
                    '\n' | '\r' | '\t' => ' ',
                    c => c,
                })),
                Node::Element(el) if HIDDEN.contains(&el.name()) => {}
                Node::Element(el) => {
                    if let Some(c) = edge(el.name()) {
                        out.push(c);
                        stack.push(Step::Leave(c));
                    }
                    stack.extend(node.children().rev().map(Step::Enter));
                }
                _ => {}
            },
        }
    }
    out
}
