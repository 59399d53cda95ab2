//! Article pages → article documents: the importer's parser, pure (bytes in, a value out).
//!
//! A page comes in one of two forms:
//! - **HTML**, as the portal's CMS (TRS WCM and kin) writes it: the government-site meta tags
//!   (`ArticleTitle`, `PubDate`, `ContentSource`, `ColumnName` …), a breadcrumb
//!   (`当前位置：首页 > 黄南要闻 > 领导动态`), the body in a known container (`.TRS_Editor`),
//!   and, on pages without metadata, visible lines such as `来源：黄南报 发布时间：2021-06-01`
//!   (module `html`);
//! - **text**, the page's text as a reader sees it: breadcrumb line, title, the 来源/发布时间
//!   line, paragraphs, image file names on lines of their own, `[责任编辑:]` (module `text`).
//!
//! [`read_page`] returns the JSON document the API accepts, for [`Normalizer::article`]
//! (which validates, sanitises the body and maps the breadcrumb to a section): this module
//! decides nothing the normaliser decides.
//!
//! [`Normalizer::article`]: crate::ingest::Normalizer::article

mod charset;
mod fields;
mod html;
#[cfg(test)]
mod tests;
mod text;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::domain::{ArticleId, MAX_TAG_CHARS};

/// Per-site rules for reading pages. Every field has a default that fits the Chinese
/// government CMSs (TRS WCM, UCAP …); configuration replaces a list whole.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageRules {
    /// CSS selectors tried in order for the title when the page has no `ArticleTitle` meta;
    /// the first element with text wins.
    pub title: Vec<String>,
    /// CSS selectors tried in order for the body; the first element with text or an image
    /// wins, and its inner HTML is the article's `content_html`.
    pub body: Vec<String>,
    /// CSS selectors for the breadcrumb's container. Without a match, the element whose text
    /// starts with "当前位置" (or 您的位置, 现在的位置, 所在位置 …) is the breadcrumb.
    pub breadcrumb: Vec<String>,
    /// Base for the bare image file names of the text form, and for relative `<img>` sources
    /// of an HTML page read without its URL.
    pub image_base: Option<Url>,
}

impl Default for PageRules {
    fn default() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        Self {
            // The specific class names first: `.title` and `h1` also name site banners.
            title: list(&[".article-title", ".detail-title", ".title", "h1"]),
            body: list(&[
                ".TRS_Editor",
                ".article-content",
                "#zoom",
                "#UCAP-CONTENT",
                ".pages_content",
                "article",
                ".content",
            ]),
            // `.dqwz`: 当前位置's initials, a common class on government templates.
            breadcrumb: list(&[
                ".position",
                ".breadcrumb",
                ".location",
                "#position",
                ".crumb",
                ".dqwz",
            ]),
            image_base: None,
        }
    }
}

/// One fetched page.
#[derive(Debug, Clone, Copy)]
pub struct PageInput<'a> {
    pub bytes: &'a [u8],
    /// The HTTP `Content-Type`, if any: its type chooses the form, its `charset` the decoding.
    pub content_type: Option<&'a str>,
    /// Where the page was fetched from, if known: the article's URL unless the page names
    /// its own (canonical link, `og:url`, `Url` meta).
    pub url: Option<&'a Url>,
}

/// Why a page gave no article. Each message is a predicate about the page, to be written
/// after its address: `format!("{url} {error}")`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("is empty")]
    Empty,
    #[error("is binary ({kind}), not a page")]
    Binary { kind: String },
    #[error("declares charset {label:?}, which is not known")]
    UnknownCharset { label: String },
    #[error("is not an article page: no title found")]
    NoTitle,
    #[error("has no publication date (no PubDate meta, no 发布时间 line)")]
    NoDate,
    #[error(
        "gives the publication date {found:?}, which is not a date such as 2021-06-01 or \
         2021-06-01 09:30"
    )]
    BadDate { found: String },
    #[error("is not an article page: no body found (tried {tried})")]
    NoBody { tried: String },
    #[error("has no URL: give the page's URL")]
    NoUrl,
    #[error("cannot be read with the selector {selector:?}, which is not valid CSS: {reason}")]
    BadSelector { selector: String, reason: String },
}

/// What the page gave: an article document for [`Normalizer::article`], in the JSON shape
/// the API accepts.
///
/// The document has `id`, `url`, `title`, `section_titles` (the breadcrumb as found, a
/// leading 首页 included, which the catalogue drops), `source`, `editor`, `authors`,
/// `published` (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS`, or with the page's offset: a time
/// without an offset is the site's local time), `content_html` (unsanitised, images with
/// absolute `src`), `images`, `tags` and `summary`; no `language`, so the site's applies.
/// The `id` is [`article_id`] of the article's URL.
///
/// [`Normalizer::article`]: crate::ingest::Normalizer::article
pub fn read_page(input: &PageInput<'_>, rules: &PageRules) -> Result<Value, PageError> {
    let decoded = charset::decode(input)?;
    if decoded.text.trim().is_empty() {
        return Err(PageError::Empty);
    }
    let found = if decoded.is_text_form {
        text::read(&decoded.text, input.url, rules)?
    } else {
        html::read(&decoded.text, input.url, rules)?
    };
    Ok(found.into_document())
}

/// Most items of each list the normaliser accepts: a page with more keeps the first ones
/// rather than being refused whole.
const MAX_IMAGES: usize = 200;
const MAX_TAGS: usize = 100;
const MAX_AUTHORS: usize = 50;
const MAX_SECTION_TITLES: usize = 20;
const MAX_NAME_CHARS: usize = 200;

/// What a page gave, before it becomes a document.
#[derive(Debug)]
struct Found {
    url: Url,
    title: String,
    breadcrumb: Vec<String>,
    source: Option<String>,
    editor: Option<String>,
    authors: Vec<String>,
    published: String,
    content_html: String,
    images: Vec<FoundImage>,
    tags: Vec<String>,
    summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct FoundImage {
    url: Url,
    caption: Option<String>,
}

impl Found {
    fn into_document(self) -> Value {
        let mut images: Vec<FoundImage> = Vec::new();
        for image in self.images {
            if images.len() < MAX_IMAGES && !images.iter().any(|i| i.url == image.url) {
                images.push(image);
            }
        }
        let images: Vec<Value> = images
            .into_iter()
            .map(|i| json!({ "url": i.url.as_str(), "caption": i.caption }))
            .collect();
        let mut breadcrumb = self.breadcrumb;
        breadcrumb.truncate(MAX_SECTION_TITLES);
        json!({
            "id": article_id(&self.url),
            "url": self.url.as_str(),
            "title": self.title,
            "section_titles": breadcrumb,
            "source": self.source,
            "editor": self.editor,
            "authors": self.authors.into_iter().take(MAX_AUTHORS).collect::<Vec<_>>(),
            "published": self.published,
            "content_html": self.content_html,
            "images": images,
            "tags": self.tags,
            "summary": self.summary,
        })
    }
}

/// A page's text, decoded as [`read_page`] decodes it (for reading a list page's links).
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Result<String, PageError> {
    let input = PageInput {
        bytes,
        content_type,
        url: None,
    };
    charset::decode(&input).map(|decoded| decoded.text)
}

/// The article id of a page that names none: derived from its URL, the same URL always
/// giving the same id.
///
/// A URL of plain host and path characters (`A-Z a-z 0-9 . _ -` and `/`), without port or
/// query, reads as itself with `/` written `:`:
/// `https://www.huangnan.gov.cn/hnyw/ldhd/202106/t20210601_1.html` →
/// `www.huangnan.gov.cn:hnyw:ldhd:202106:t20210601_1.html`. Any other URL (a query, a port,
/// percent-encoded path, over 200 characters) becomes a readable prefix, `~`, and 20 hex
/// digits of the SHA-256 of host, port, path and query; only these ids contain `~`, so the two
/// kinds never collide. Scheme and fragment are left out: `http` and `https` name one page.
pub fn article_id(url: &Url) -> String {
    let is_plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let host = url.host_str().unwrap_or_default();
    let path = url.path();
    if url.port().is_none()
        && url.query().is_none()
        && host.chars().all(is_plain)
        && path.chars().all(|c| c == '/' || is_plain(c))
    {
        let id = format!("{host}{}", path.replace('/', ":"));
        if id.len() <= ArticleId::MAX_LEN {
            return id;
        }
    }
    let key = &url[url::Position::BeforeHost..url::Position::AfterQuery];
    let digest = hex::encode(&Sha256::digest(key.as_bytes())[..10]);
    let prefix: String = key
        .chars()
        .map(|c| match c {
            '/' => ':',
            c if is_plain(c) => c,
            _ => '-',
        })
        .take(ArticleId::MAX_LEN - digest.len() - 1)
        .collect();
    format!("{prefix}~{digest}")
}

/// Folds every run of white space, no-break and ideographic spaces included, to one space:
/// on a page they are layout.
fn squash(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits a list as pages write them (`双拥, 拥军；优属 拥政`), dropping empty items,
/// duplicates and, when `max_chars` is given, items longer than that.
fn split_list(raw: &str, max_chars: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in
        raw.split(|c: char| c.is_whitespace() || matches!(c, ',' | '，' | ';' | '；' | '、' | '|'))
    {
        let item = item.trim();
        if !item.is_empty() && item.chars().count() <= max_chars && !out.iter().any(|o| o == item) {
            out.push(item.to_owned());
        }
    }
    out
}

/// Tags from a `keywords` meta: at most as many, and as long, as the normaliser accepts.
/// A `/` would make the tag's feed unreachable, so such a keyword is dropped.
fn tags_from_keywords(raw: &str) -> Vec<String> {
    split_list(raw, MAX_TAG_CHARS)
        .into_iter()
        .filter(|t| !t.contains('/'))
        .take(MAX_TAGS)
        .collect()
}

/// The publication date: the first candidate that reads as a date, normalised. Candidates
/// that are all empty count as none.
fn published<'a>(candidates: impl Iterator<Item = &'a str>) -> Result<String, PageError> {
    let mut first_found = None;
    for raw in candidates.map(str::trim).filter(|c| !c.is_empty()) {
        if let Some(date) = fields::normalize_date(raw) {
            return Ok(date);
        }
        first_found.get_or_insert(raw);
    }
    Err(match first_found {
        Some(raw) => PageError::BadDate {
            found: raw.chars().take(100).collect(),
        },
        None => PageError::NoDate,
    })
}

/// An absolute http(s) URL from a page's reference, resolved against `base` when relative.
fn resolve(raw: &str, base: Option<&Url>) -> Option<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let url = match base {
        Some(base) => base.join(raw).ok()?,
        None => Url::parse(raw).ok()?,
    };
    (matches!(url.scheme(), "http" | "https") && url.has_host()).then_some(url)
}
