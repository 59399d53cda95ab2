//! What the feed renderers share about one entry: its content with images, its plain-text
//! summary, authors, categories, Media RSS elements, dates in the two formats feeds use, and the
//! removal of characters XML 1.0 cannot carry.
//!
//! Everything here is format-neutral; `rss.rs` and `atom.rs` map it onto their crate's types.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, SecondsFormat, SubsecRound, Utc};

use crate::catalog::Catalog;
use crate::domain::{Article, Image};

/// The Media RSS namespace (<https://www.rssboard.org/media-rss>), used by RSS and Atom alike.
pub(super) const MEDIA_NS: &str = "http://search.yahoo.com/mrss/";

/// How many characters a summary derived from the content keeps before "…".
const SUMMARY_CHARS: usize = 200;

/// Removes the characters XML 1.0 forbids (§2.2 `Char`): C0 controls other than tab, LF and CR,
/// and U+FFFE / U+FFFF. Lone surrogates, the remaining forbidden code points, cannot occur in a
/// Rust `str`.
///
/// Ingest already strips them; this is defence in depth, since a single such character makes
/// the whole feed unparsable for every subscriber.
pub(super) fn xml_safe(text: &str) -> Cow<'_, str> {
    fn forbidden(c: char) -> bool {
        matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
    }
    if text.contains(forbidden) {
        Cow::Owned(text.chars().filter(|c| !forbidden(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// [`xml_safe`], owned.
pub(super) fn xml_string(text: &str) -> String {
    xml_safe(text).into_owned()
}

/// A date as RSS 2.0 wants it (RFC 822 §5, with a four-digit year as RSS 2.0 recommends):
/// always a two-digit day and a numeric offset, `Tue, 01 Jun 2021 00:00:00 +0800`.
///
/// Not `to_rfc2822`, which writes a one-digit day; never a zone name, which some readers
/// misparse.
pub(super) fn rfc822(date: &DateTime<FixedOffset>) -> String {
    date.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// A date as RFC 3339 with the offset it was given (`+08:00` stays `+08:00`, UTC is `+00:00`),
/// to the second: what Atom (RFC 4287 §3.3) and JSON Feed 1.1 carry.
pub(super) fn rfc3339(date: &DateTime<FixedOffset>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A UTC instant as a date with a zero offset.
pub(super) fn fixed(date: DateTime<Utc>) -> DateTime<FixedOffset> {
    date.fixed_offset()
}

/// The date to the second, as [`rfc3339`] writes it; for writers that format dates themselves
/// (atom_syndication prints fractional seconds when there are any).
pub(super) fn to_second(date: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    date.trunc_subsecs(0)
}

/// When the entry last changed: its `updated`, or its publication when it never changed.
pub(super) fn updated(article: &Article) -> DateTime<FixedOffset> {
    article.updated.unwrap_or(article.published)
}

/// The article's HTML with every image that the HTML does not already show appended as a
/// `<figure>`, so that readers which ignore Media RSS and enclosures still show all images.
pub(super) fn content_html(article: &Article) -> String {
    let mut html = article.content_html.clone();
    for image in &article.images {
        if !shows(&article.content_html, image) {
            html.push_str(&figure(image).into_string());
        }
    }
    html
}

/// Whether the HTML already refers to the image (its URL raw, or with `&` written `&amp;` as an
/// attribute value normally is).
fn shows(html: &str, image: &Image) -> bool {
    let url = image.url.as_str();
    html.contains(url) || (url.contains('&') && html.contains(&url.replace('&', "&amp;")))
}

/// `<figure><img src alt><figcaption>…</figcaption></figure>`, the caption only when there is
/// one; maud escapes the attribute values and text.
fn figure(image: &Image) -> maud::Markup {
    let caption = image.caption.as_deref().filter(|c| !c.trim().is_empty());
    maud::html! {
        figure {
            img src=(image.url.as_str()) alt=(caption.unwrap_or(""));
            @if let Some(caption) = caption {
                figcaption { (caption) }
            }
        }
    }
}

/// The entry's plain-text summary: the article's own, or else the text of its HTML with white
/// space collapsed, cut to 200 characters with "…" when longer.
pub(super) fn summary(article: &Article) -> String {
    summary_text(article.summary.as_deref(), &article.content_html)
}

/// A plain-text summary from an article's own (`own`) or else its body (`content_html`), as
/// feeds show it: see [`summary`].
pub fn summary_text(own: Option<&str>, content_html: &str) -> String {
    if let Some(summary) = own.filter(|s| !s.trim().is_empty()) {
        return summary.to_owned();
    }
    let text = html_text(content_html);
    match text.char_indices().nth(SUMMARY_CHARS) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text,
    }
}

/// The text of an HTML fragment, white space collapsed to single spaces. Where a block
/// element (a paragraph, a heading, a list item…) or a `<br>` separates two runs of text, they
/// are kept apart by a space, unless both sides are CJK text, which is written without spaces.
///
/// The body has been through the sanitiser at ingest, so it is serialised HTML with no
/// comments, scripts or styles, where `<` in text is always escaped and attribute values are
/// double-quoted: dropping every tag (minding quotes) and decoding entities gives the text,
/// far cheaper than parsing it again for every feed rendered.
fn html_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len() / 2);
    // Where the tag being read starts, just after its `<`.
    let mut tag: Option<usize> = None;
    let mut in_quotes = false;
    for (i, c) in html.char_indices() {
        match (tag, c) {
            (None, '<') => tag = Some(i + 1),
            (None, _) => text.push(c),
            (Some(_), '"') => in_quotes = !in_quotes,
            (Some(start), '>') if !in_quotes => {
                if is_block(tag_name(&html[start..i])) {
                    text.push(BREAK);
                }
                tag = None;
            }
            (Some(_), _) => {}
        }
    }
    let text = html_escape::decode_html_entities(&text);
    let mut out = String::with_capacity(text.len());
    // What separates the next character from the last one written.
    #[derive(PartialEq)]
    enum Gap {
        None,
        Space,
        Block,
    }
    let mut gap = Gap::None;
    for c in text.chars() {
        if c == BREAK {
            gap = Gap::Block;
        } else if c.is_whitespace() {
            if gap == Gap::None {
                gap = Gap::Space;
            }
        } else {
            if let Some(last) = out.chars().next_back() {
                match gap {
                    Gap::None => {}
                    Gap::Space => out.push(' '),
                    Gap::Block if is_cjk(last) && is_cjk(c) => {}
                    Gap::Block => out.push(' '),
                }
            }
            gap = Gap::None;
            out.push(c);
        }
    }
    out
}

/// Marks a block boundary in [`html_text`]; ingest removed every such character from the body
/// (XML 1.0 forbids it).
const BREAK: char = '\u{1}';

/// The name in a tag's text (what lies between `<` and `>`): `p` of `/p`, `br` of `br/`.
fn tag_name(tag: &str) -> &str {
    let tag = tag.strip_prefix('/').unwrap_or(tag);
    let end = tag
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(tag.len());
    &tag[..end]
}

/// Elements that end a run of text: blocks, and `<br>`.
const BLOCKS: [&str; 38] = [
    "p",
    "br",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "td",
    "th",
    "thead",
    "tbody",
    "tfoot",
    "caption",
    "blockquote",
    "pre",
    "hr",
    "figure",
    "figcaption",
    "section",
    "article",
    "aside",
    "header",
    "footer",
    "nav",
    "main",
    "address",
    "details",
    "summary",
];

fn is_block(name: &str) -> bool {
    BLOCKS.iter().any(|b| b.eq_ignore_ascii_case(name))
}

/// Characters of scripts written without spaces between words: Chinese and Japanese, with
/// their punctuation and full-width forms. (Korean separates words with spaces.)
fn is_cjk(c: char) -> bool {
    matches!(
        c as u32,
        0x3000..=0x303F
            | 0x3040..=0x30FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xF900..=0xFAFF
            | 0xFF00..=0xFFEF
            | 0x20000..=0x3FFFF
    )
}

/// Who wrote the article: its authors, or else its source (黄南报) as the author, or no one.
pub(super) fn authors(article: &Article) -> Vec<&str> {
    if !article.authors.is_empty() {
        article.authors.iter().map(String::as_str).collect()
    } else {
        article.source.as_deref().into_iter().collect()
    }
}

/// The entry's categories: its section trail from the top (黄南要闻, 领导动态), then its tags,
/// without repeats and in that order.
pub(super) fn categories(catalog: &Catalog, article: &Article) -> Vec<String> {
    let mut seen = HashSet::new();
    catalog
        .titles_of(&article.section)
        .into_iter()
        .chain(article.tags.iter().cloned())
        .filter(|c| !c.trim().is_empty())
        .filter(|c| seen.insert(c.clone()))
        .collect()
}

/// The entry's language when it differs from the feed's (RFC 4287 §2 `xml:lang` is inherited,
/// so repeating the feed's language is noise). Tags compare case-insensitively (BCP 47 §2.1.1).
pub(super) fn language_override<'a>(article: &'a Article, feed_language: &str) -> Option<&'a str> {
    article
        .language
        .as_deref()
        .filter(|lang| !lang.eq_ignore_ascii_case(feed_language))
}

/// The image an RSS `<enclosure>` carries: the first one whose length and type are both known
/// (RSS 2.0 requires `url`, `length` and `type`, and allows one enclosure per item).
pub(super) fn rss_enclosure(article: &Article) -> Option<&Image> {
    article
        .images
        .iter()
        .find(|i| i.length.is_some() && i.media_type.is_some())
}

/// An XML element described independently of the `rss` and `atom_syndication` extension types,
/// which have the same shape but are distinct. Attribute values and text are unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Element {
    /// Qualified name, such as `media:content`.
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: Option<String>,
    pub children: Vec<Element>,
}

impl Element {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            attrs: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attrs.push((name.to_owned(), value.into()));
        self
    }

    /// The local name (`content` for `media:content`), the key of the crates' extension maps.
    pub fn local_name(&self) -> &str {
        self.name
            .split_once(':')
            .map_or(self.name.as_str(), |(_, local)| local)
    }
}

/// Groups elements by local name, converted to a crate's extension type: the shape both
/// crates' extension maps (and extension children) take.
pub(super) fn by_local_name<E>(
    elements: &[Element],
    convert: impl Fn(&Element) -> E,
) -> std::collections::BTreeMap<String, Vec<E>> {
    let mut grouped: std::collections::BTreeMap<String, Vec<E>> = std::collections::BTreeMap::new();
    for element in elements {
        grouped
            .entry(element.local_name().to_owned())
            .or_default()
            .push(convert(element));
    }
    grouped
}

/// The Media RSS elements of an entry (prefix `media`, namespace [`MEDIA_NS`]): one
/// `media:content medium="image"` per image, with `type` and `fileSize` when known and the
/// caption as `media:title`, then the first image again as `media:thumbnail`.
pub(super) fn media_elements(article: &Article) -> Vec<Element> {
    let mut elements: Vec<Element> = article
        .images
        .iter()
        .map(|image| {
            let mut content = Element::new("media:content")
                .attr("url", image.url.as_str())
                .attr("medium", "image");
            if let Some(media_type) = &image.media_type {
                content = content.attr("type", xml_string(media_type));
            }
            if let Some(length) = image.length {
                content = content.attr("fileSize", length.to_string());
            }
            // The caption as media:title rather than media:description: feedparser copies a
            // media:description over the entry's own summary, but keeps the entry's title.
            if let Some(caption) = image.caption.as_deref().filter(|c| !c.trim().is_empty()) {
                let mut title = Element::new("media:title").attr("type", "plain");
                title.text = Some(xml_string(caption));
                content.children.push(title);
            }
            content
        })
        .collect();
    if let Some(first) = article.images.first() {
        elements.push(Element::new("media:thumbnail").attr("url", first.url.as_str()));
    }
    elements
}

/// A small catalogue and articles for the renderers' tests: a 领导动态 article under 黄南要闻
/// with three images, and a hostile one.
#[cfg(test)]
pub(super) mod fixtures {
    use chrono::{DateTime, FixedOffset, Utc};
    use url::Url;

    use crate::catalog::{Catalog, Scope, Section, Site};
    use crate::domain::{Article, ArticleId, Image, SectionPath, StoredArticle, Tombstone};
    use crate::render::{FeedContext, History};

    pub const SITE_TITLE: &str = "黄南藏族自治州人民政府";
    pub const ID_PREFIX: &str = "tag:huangnan.gov.cn,2021:";
    pub const SELF_URL: &str = "http://127.0.0.1:8080/feeds/hnyw.rss";
    pub const HUB_URL: &str = "http://127.0.0.1:8080/websub";
    pub const GENERATOR: &str = "tidings/0.1.0";
    pub const PARAGRAPH: &str = "6月1日，州委书记深入同仁市调研乡村振兴工作。";
    pub const IMAGE_IN_CONTENT: &str = "http://www.huangnan.gov.cn/images/2021/0601/a.jpg";
    pub const IMAGE_CAPTIONED: &str =
        "http://www.huangnan.gov.cn/images/2021/0601/b.jpg?w=800&h=600";
    pub const IMAGE_BARE: &str = "http://www.huangnan.gov.cn/images/2021/0601/c.png";
    pub const CAPTION: &str = "调研\"现场\" <&>";
    pub const HOSTILE_TITLE: &str = "]]> <b>&amp; 😀 שלום مرحبا \u{1}\u{FFFF}end";
    pub const HOSTILE_TITLE_CLEAN: &str = "]]> <b>&amp; 😀 שלום مرحبا end";

    pub fn time(rfc3339: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(rfc3339).expect("a test date")
    }

    pub fn utc(rfc3339: &str) -> DateTime<Utc> {
        time(rfc3339).with_timezone(&Utc)
    }

    fn url(raw: &str) -> Url {
        Url::parse(raw).expect("a test URL")
    }

    fn path(raw: &str) -> SectionPath {
        SectionPath::parse(raw).expect("a test section path")
    }

    fn section(raw: &str, title: &str, description: &str) -> Section {
        Section {
            path: path(raw),
            title: title.to_owned(),
            description: description.to_owned(),
            link: url(&format!("http://www.huangnan.gov.cn/html/{raw}/")),
            language: "zh-CN".to_owned(),
        }
    }

    pub fn catalog() -> Catalog {
        Catalog::new(
            Site {
                title: SITE_TITLE.to_owned(),
                description: "黄南州政府门户网站".to_owned(),
                home: url("http://www.huangnan.gov.cn/"),
                language: "zh-CN".to_owned(),
                time_zone: chrono_tz::Asia::Shanghai,
                icon: Some(url("http://www.huangnan.gov.cn/favicon.ico")),
                logo: Some(url("http://www.huangnan.gov.cn/images/logo.png")),
                id_prefix: ID_PREFIX.to_owned(),
            },
            [
                section("hnyw", "黄南要闻", "黄南州的要闻"),
                section("hnyw/ldhd", "领导动态", "州领导的活动"),
                section("zwgk", "政务公开", ""),
                section("zwgk/tzgg", "通知公告", "通知 & 公告"),
            ],
        )
    }

    fn stored(article: Article) -> StoredArticle {
        StoredArticle {
            article,
            version: 3,
            created_at: utc("2021-06-01T00:05:00+08:00"),
            modified_at: utc("2021-06-02T09:30:00+08:00"),
            deleted_at: None,
        }
    }

    /// 领导动态 under 黄南要闻: source 黄南报, no summary, three images (one in the content, one
    /// captioned and with an `&` in its URL, one bare with a type but no length).
    pub fn leader_article() -> StoredArticle {
        stored(Article {
            id: ArticleId::parse("hn-20210601-ldhd").expect("a test id"),
            section: path("hnyw/ldhd"),
            title: "州委书记调研乡村振兴工作".to_owned(),
            url: url("http://www.huangnan.gov.cn/html/hnyw/ldhd/2021/0601/1.html"),
            source: Some("黄南报".to_owned()),
            editor: Some("卓玛".to_owned()),
            authors: Vec::new(),
            published: time("2021-06-01T00:00:00+08:00"),
            updated: Some(time("2021-06-02T09:30:00+08:00")),
            summary: None,
            content_html: format!(
                "<p>{PARAGRAPH}</p>\n<p><img src=\"{IMAGE_IN_CONTENT}\" alt=\"\"></p>\n<p>调研组一行  走访了 &amp; 慰问了群众。</p>"
            ),
            images: vec![
                Image {
                    url: url(IMAGE_IN_CONTENT),
                    caption: Some("调研现场".to_owned()),
                    media_type: Some("image/jpeg".to_owned()),
                    length: Some(48_213),
                },
                Image {
                    url: url(IMAGE_CAPTIONED),
                    caption: Some(CAPTION.to_owned()),
                    media_type: None,
                    length: None,
                },
                Image {
                    url: url(IMAGE_BARE),
                    caption: None,
                    media_type: Some("image/png".to_owned()),
                    length: None,
                },
            ],
            tags: vec!["乡村振兴".to_owned(), "黄南要闻".to_owned()],
            language: None,
        })
    }

    /// Everything a feed must survive: `]]>`, markup characters, emoji, right-to-left text,
    /// forbidden control characters, a URL with `&`, another language and offset.
    pub fn hostile_article() -> StoredArticle {
        stored(Article {
            id: ArticleId::parse("hostile-1").expect("a test id"),
            section: path("hnyw"),
            title: HOSTILE_TITLE.to_owned(),
            url: url("http://www.huangnan.gov.cn/show?id=1&x=%3C"),
            source: None,
            editor: None,
            authors: vec!["Ann <a@b>".to_owned(), "\u{5}Bob".to_owned()],
            published: time("2021-05-31T12:00:00-05:00"),
            updated: None,
            summary: Some("summary ]]> & <x>\u{FFFE} end".to_owned()),
            content_html: "<p>a ]]> b &lt;c&gt; \u{0}</p><![CDATA[x]]>".to_owned(),
            images: Vec::new(),
            tags: vec!["a&b".to_owned(), "<tag>".to_owned(), "a&b".to_owned()],
            language: Some("en".to_owned()),
        })
    }

    pub fn tombstone() -> Tombstone {
        Tombstone {
            id: ArticleId::parse("gone-1").expect("a test id"),
            section: path("hnyw/ldhd"),
            url: url("http://www.huangnan.gov.cn/html/gone.html?a=1&b=2"),
            deleted_at: utc("2021-06-03T00:00:00Z"),
        }
    }

    pub fn scope() -> Scope {
        Scope::Section(path("hnyw"))
    }

    pub fn context<'a>(
        catalog: &'a Catalog,
        scope: &'a Scope,
        self_url: &'a str,
    ) -> FeedContext<'a> {
        FeedContext {
            catalog,
            scope,
            self_url,
            hub_url: Some(HUB_URL),
            updated: utc("2021-06-03T00:00:00Z"),
            generator: GENERATOR,
            public_base: "http://127.0.0.1:8080",
            history: History::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn blocks_and_line_breaks_separate_words_but_not_cjk_text() {
        assert_eq!(
            html_text("<h2>Regong art</h2><p>Thangka…</p><p>Visit<br>in summer.</p>"),
            "Regong art Thangka… Visit in summer."
        );
        assert_eq!(
            html_text("<p>黄南州</p><p>各族群众<br/>认真学习。</p><ul><li>一</li><li>二</li></ul>"),
            "黄南州各族群众认真学习。一二"
        );
        assert_eq!(
            html_text("<p>热贡艺术</p><p class=\"en\">Thangka</p>"),
            "热贡艺术 Thangka"
        );
        assert_eq!(
            html_text("<p><b>黄</b>南 <a href=\"/x?a=1&amp;b=>\">州</a></p>  <p> x </p>"),
            "黄南 州 x",
            "inline elements join; white space stays one space"
        );
        assert_eq!(html_text("a<span>b</span>c<bdi>d</bdi>"), "abcd");
        assert_eq!(html_text("<p></p><p>  </p>"), "");
    }

    #[test]
    fn xml_safe_removes_only_forbidden_characters() {
        assert_eq!(
            xml_safe("a\u{0}b\u{8}\tc\nd\re\u{B}\u{1F}\u{FFFE}\u{FFFF}f😀"),
            "ab\tc\nd\ref😀"
        );
        assert!(matches!(xml_safe("黄南 ]]> <&>"), Cow::Borrowed(_)));
    }

    #[test]
    fn dates_keep_their_offset() {
        let date = time("2021-06-01T00:00:00+08:00");
        assert_eq!(rfc822(&date), "Tue, 01 Jun 2021 00:00:00 +0800");
        assert_eq!(rfc3339(&date), "2021-06-01T00:00:00+08:00");
        let utc = fixed(utc("2021-06-03T00:00:00.5Z"));
        assert_eq!(rfc3339(&utc), "2021-06-03T00:00:00+00:00");
        assert_eq!(rfc822(&utc), "Thu, 03 Jun 2021 00:00:00 +0000");
        assert_eq!(to_second(utc).to_rfc3339(), "2021-06-03T00:00:00+00:00");
    }

    #[test]
    fn content_gets_the_images_it_does_not_show() {
        let html = content_html(&leader_article().article);
        assert!(html.starts_with(&leader_article().article.content_html));
        // The first image is in the content already, the other two are appended.
        assert_eq!(html.matches(IMAGE_IN_CONTENT).count(), 1);
        assert!(html.ends_with(
            "<figure><img src=\"http://www.huangnan.gov.cn/images/2021/0601/b.jpg?w=800&amp;h=600\" \
             alt=\"调研&quot;现场&quot; &lt;&amp;&gt;\"><figcaption>调研&quot;现场&quot; &lt;&amp;&gt;</figcaption></figure>\
             <figure><img src=\"http://www.huangnan.gov.cn/images/2021/0601/c.png\" alt=\"\"></figure>"
        ), "{html}");
    }

    #[test]
    fn an_image_referred_to_with_an_entity_is_not_repeated() {
        let mut article = leader_article().article;
        article.content_html = format!("<img src=\"{}\">", IMAGE_CAPTIONED.replace('&', "&amp;"));
        article.images.truncate(2);
        article.images.remove(0);
        assert_eq!(content_html(&article), article.content_html);
    }

    #[test]
    fn a_missing_summary_is_the_text_of_the_content() {
        let article = leader_article().article;
        assert_eq!(
            summary(&article),
            format!("{PARAGRAPH}调研组一行 走访了 & 慰问了群众。")
        );
        let mut long = article.clone();
        long.content_html = format!("<p>{}</p>", "黄".repeat(250));
        assert_eq!(summary(&long), format!("{}…", "黄".repeat(200)));
        let mut exact = article;
        exact.content_html = "南".repeat(200);
        assert_eq!(summary(&exact), "南".repeat(200));
    }

    #[test]
    fn authors_fall_back_to_the_source() {
        assert_eq!(authors(&leader_article().article), ["黄南报"]);
        assert_eq!(
            authors(&hostile_article().article),
            ["Ann <a@b>", "\u{5}Bob"]
        );
        let mut anonymous = leader_article().article;
        anonymous.source = None;
        assert!(authors(&anonymous).is_empty());
    }

    #[test]
    fn categories_are_the_trail_then_the_tags_without_repeats() {
        let catalog = catalog();
        assert_eq!(
            categories(&catalog, &leader_article().article),
            ["黄南要闻", "领导动态", "乡村振兴"]
        );
        assert_eq!(
            categories(&catalog, &hostile_article().article),
            ["黄南要闻", "a&b", "<tag>"]
        );
    }

    #[test]
    fn the_enclosure_needs_a_length_and_a_type() {
        let mut article = leader_article().article;
        assert_eq!(
            rss_enclosure(&article).map(|i| i.url.as_str()),
            Some(IMAGE_IN_CONTENT)
        );
        article.images[0].media_type = None;
        assert_eq!(rss_enclosure(&article), None);
    }

    #[test]
    fn media_elements_describe_every_image() {
        let elements = media_elements(&leader_article().article);
        let names: Vec<&str> = elements.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "media:content",
                "media:content",
                "media:content",
                "media:thumbnail"
            ]
        );
        assert_eq!(
            elements[0].attrs,
            [
                ("url".to_owned(), IMAGE_IN_CONTENT.to_owned()),
                ("medium".to_owned(), "image".to_owned()),
                ("type".to_owned(), "image/jpeg".to_owned()),
                ("fileSize".to_owned(), "48213".to_owned()),
            ]
        );
        assert_eq!(elements[1].children[0].text.as_deref(), Some(CAPTION));
        assert!(elements[2].children.is_empty());
        assert_eq!(elements[3].local_name(), "thumbnail");
    }
}
