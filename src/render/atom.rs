//! Atom 1.0 (RFC 4287) with Media RSS and RFC 6721 tombstones, written by `atom_syndication`.

use std::collections::BTreeMap;

use atom_syndication::extension::{Extension, ExtensionMap};
use atom_syndication::{
    Category, Content, Entry, Feed, Generator, Link, Person, Text, WriteConfig,
};

use super::entry::{self, Element, MEDIA_NS, xml_string};
use super::{FeedContext, HISTORY_NS, archive_marker, history_links};
use crate::domain::{Article, FeedFormat, StoredArticle, Tombstone};

/// The Atom Tombstones namespace (RFC 6721 §2).
const TOMBSTONES_NS: &str = "http://purl.org/atompub/tombstones/1.0";

/// Renders an Atom feed: UTF-8 with an XML declaration, `entries` in the order given (newest
/// first), then one `at:deleted-entry` per tombstone.
pub fn render_atom(
    ctx: &FeedContext<'_>,
    entries: &[StoredArticle],
    tombstones: &[Tombstone],
) -> Vec<u8> {
    let catalog = ctx.catalog;
    let site = &catalog.site;
    let language = catalog.feed_language(ctx.scope);
    let description = catalog.feed_description(ctx.scope);

    let mut links = vec![
        Link {
            href: catalog.feed_home(ctx.scope).to_string(),
            rel: "alternate".to_owned(),
            mime_type: Some("text/html".to_owned()),
            ..Link::default()
        },
        // The service's page of the feed, for people. Not a second HTML alternate: readers
        // take one alternate for the feed's home, feedparser and newsboat the last, rss-parser
        // the first, and that home must stay the portal's page.
        Link {
            href: ctx.page_url(),
            rel: "related".to_owned(),
            mime_type: Some("text/html".to_owned()),
            ..Link::default()
        },
        // RFC 4287 §4.2.7.2: a feed SHOULD link to itself.
        Link {
            href: ctx.self_url.to_owned(),
            rel: "self".to_owned(),
            mime_type: Some(FeedFormat::Atom.media_type().to_owned()),
            ..Link::default()
        },
    ];
    if let Some(hub) = ctx.hub_url {
        links.push(Link {
            href: hub.to_owned(),
            rel: "hub".to_owned(),
            ..Link::default()
        });
    }
    links.extend(history_links(&ctx.history).map(|(rel, href)| Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: Some(FeedFormat::Atom.media_type().to_owned()),
        ..Link::default()
    }));

    let mut extensions = ExtensionMap::new();
    if ctx.history.current.is_some() {
        extensions.insert("fh".to_owned(), archive_marker(extension));
    }
    if !tombstones.is_empty() {
        let deleted = tombstones.iter().map(|t| deleted_entry(ctx, t)).collect();
        extensions.insert(
            "at".to_owned(),
            BTreeMap::from([("deleted-entry".to_owned(), deleted)]),
        );
    }

    let entries: Vec<Entry> = entries
        .iter()
        .map(|e| atom_entry(ctx, language, e))
        .collect();
    let feed = Feed {
        title: Text::plain(xml_string(&catalog.feed_title(ctx.scope))),
        // The self URL is unique to this scope and format and never changes; the pages behind
        // a feed are parts of it and share its id.
        id: ctx.history.current.unwrap_or(ctx.self_url).to_owned(),
        updated: entry::to_second(entry::fixed(ctx.updated)),
        // RFC 4287 §4.1.1: a feed must have an author unless every entry has one; an entry
        // without author or source has none, so the portal itself is the feed's author.
        authors: vec![Person {
            name: xml_string(&site.title),
            uri: Some(site.home.to_string()),
            ..Person::default()
        }],
        generator: Some(Generator {
            value: xml_string(ctx.generator),
            ..Generator::default()
        }),
        icon: site.icon.as_ref().map(ToString::to_string),
        logo: Some(ctx.logo()),
        links,
        subtitle: (!description.trim().is_empty()).then(|| Text::plain(xml_string(&description))),
        namespaces: namespaces(ctx, &entries, tombstones),
        entries,
        extensions,
        lang: Some(xml_string(language)),
        ..Feed::default()
    };

    // atom_syndication's declaration names no encoding; write one that does, then the feed.
    let mut out = br#"<?xml version="1.0" encoding="utf-8"?>"#.to_vec();
    out.push(b'\n');
    let config = WriteConfig {
        write_document_declaration: false,
        indent_size: None,
    };
    write_in_schema_order(feed, out, config)
}

/// Writes the feed with its extension elements (the tombstones) before the entries.
///
/// RFC 4287's schema (Appendix B) has a feed's metadata, extension elements among them, before
/// its entries, and RFC 6721 lets `at:deleted-entry` stand anywhere an entry may; validators
/// of the schema refuse extensions after the entries, which is where atom_syndication writes
/// them. So the feed is written twice through the crate, once with the extensions and no
/// entries and once with the entries alone, and the entries spliced in before `</feed>`. The
/// first `<entry` is the first entry: text never holds a raw `<`.
fn write_in_schema_order(mut feed: Feed, out: Vec<u8>, config: WriteConfig) -> Vec<u8> {
    let write = |feed: &Feed, out: Vec<u8>| {
        feed.write_with_config(out, config)
            .expect("writing to a Vec cannot fail")
    };
    if feed.entries.is_empty() || feed.extensions.is_empty() {
        return write(&feed, out);
    }
    let entries = std::mem::take(&mut feed.entries);
    let mut head = write(&feed, out);
    feed.entries = entries;
    feed.extensions = ExtensionMap::new();
    let body = write(&feed, Vec::new());

    let close = b"</feed>";
    let first_entry = find(&body, b"<entry").expect("a feed with entries has an entry tag");
    assert!(head.ends_with(close), "the crate closes the feed last");
    head.truncate(head.len() - close.len());
    head.extend_from_slice(&body[first_entry..]);
    head
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The namespace declarations the document needs: atom_syndication writes only these, whatever
/// the extensions use, and a prefix declared but unused is noise readers and validators flag.
fn namespaces(
    ctx: &FeedContext<'_>,
    entries: &[Entry],
    tombstones: &[Tombstone],
) -> BTreeMap<String, String> {
    let mut namespaces = BTreeMap::new();
    if ctx.history.current.is_some() {
        namespaces.insert("fh".to_owned(), HISTORY_NS.to_owned());
    }
    if !tombstones.is_empty() {
        namespaces.insert("at".to_owned(), TOMBSTONES_NS.to_owned());
    }
    if entries.iter().any(|e| e.extensions.contains_key("media")) {
        namespaces.insert("media".to_owned(), MEDIA_NS.to_owned());
    }
    namespaces
}

fn atom_entry(ctx: &FeedContext<'_>, feed_language: &str, stored: &StoredArticle) -> Entry {
    let article = &stored.article;
    // atom_syndication's Entry has no xml:lang; an entry in another language marks its title,
    // summary and content instead (RFC 4287 §2 allows xml:lang on any element).
    let lang = entry::language_override(article, feed_language).map(xml_string);
    let text = |value: String| Text {
        lang: lang.clone(),
        ..Text::plain(xml_string(&value))
    };

    let mut links = vec![Link {
        href: article.url.to_string(),
        rel: "alternate".to_owned(),
        mime_type: Some("text/html".to_owned()),
        ..Link::default()
    }];
    // RFC 4287 §4.2.7.2: an enclosure's length is advisory, but only worth writing when known.
    links.extend(article.images.iter().filter_map(|image| {
        Some(Link {
            href: image.url.to_string(),
            rel: "enclosure".to_owned(),
            mime_type: image.media_type.as_deref().map(xml_string),
            length: Some(image.length?.to_string()),
            ..Link::default()
        })
    }));

    let person = |name: &str| Person {
        name: xml_string(name),
        ..Person::default()
    };

    Entry {
        title: text(article.title.clone()),
        id: xml_string(&ctx.catalog.entry_id(&article.id)),
        updated: entry::to_second(entry::updated(article)),
        published: Some(entry::to_second(article.published)),
        authors: entry::authors(article).into_iter().map(person).collect(),
        contributors: article.editor.as_deref().map(person).into_iter().collect(),
        categories: entry::categories(ctx.catalog, article)
            .iter()
            .map(|term| Category {
                term: xml_string(term),
                label: Some(xml_string(term)),
                ..Category::default()
            })
            .collect(),
        links,
        // type="text" is Atom's default (RFC 4287 §3.1.1), so the crate omits the attribute.
        summary: Some(text(entry::summary(article))),
        // Escaped HTML (type="html"), never xhtml: the content is HTML, not well-formed XHTML.
        content: Some(Content {
            value: Some(xml_string(&entry::content_html(article))),
            content_type: Some("html".to_owned()),
            lang: lang.clone(),
            ..Content::default()
        }),
        extensions: media_extensions(article),
        ..Entry::default()
    }
}

/// RFC 6721 §3: `<at:deleted-entry ref="ENTRY_ID" when="…"><link rel="related" href="URL"/>
/// </at:deleted-entry>`, the link an atom:link (the feed's default namespace) to the gone page.
///
/// The link's `rel` is explicit: feedparser does not know `at:deleted-entry` and takes its
/// children for the feed's own, so a link with the default `rel="alternate"` would replace the
/// feed's home page (`feed.link`) with the deleted article's page.
fn deleted_entry(ctx: &FeedContext<'_>, tombstone: &Tombstone) -> Extension {
    let link = Element {
        name: "link".to_owned(),
        attrs: vec![
            ("rel".to_owned(), "related".to_owned()),
            ("href".to_owned(), tombstone.url.to_string()),
        ],
        text: None,
        children: Vec::new(),
    };
    extension(&Element {
        name: "at:deleted-entry".to_owned(),
        attrs: vec![
            ("ref".to_owned(), ctx.catalog.entry_id(&tombstone.id)),
            (
                "when".to_owned(),
                entry::rfc3339(&entry::fixed(tombstone.deleted_at)),
            ),
        ],
        text: None,
        children: vec![link],
    })
}

/// The Media RSS elements under the `media` prefix of the entry's extension map.
fn media_extensions(article: &Article) -> ExtensionMap {
    let media = entry::by_local_name(&entry::media_elements(article), extension);
    if media.is_empty() {
        return ExtensionMap::new();
    }
    ExtensionMap::from([("media".to_owned(), media)])
}

/// Converts an element to atom_syndication's extension type.
///
/// atom_syndication writes extension attribute values verbatim (it escapes only text), so they
/// are escaped here: a URL with `&` would otherwise make the document ill-formed.
fn extension(element: &Element) -> Extension {
    let children = entry::by_local_name(&element.children, extension);
    Extension {
        name: element.name.clone(),
        value: element.text.clone(),
        attrs: element
            .attrs
            .iter()
            .map(|(name, value)| (name.clone(), escape_attribute(&xml_string(value))))
            .collect(),
        children,
    }
}

/// Escapes an attribute value for a double- or single-quoted XML attribute (XML 1.0 §2.3
/// `AttValue`, §2.4).
fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::entry::fixtures::*;
    use super::*;

    const ATOM_SELF: &str = "http://127.0.0.1:8080/feeds/hnyw.atom";

    fn render() -> (String, Feed) {
        let catalog = catalog();
        let scope = scope();
        let ctx = context(&catalog, &scope, ATOM_SELF);
        let bytes = render_atom(&ctx, &[leader_article(), hostile_article()], &[tombstone()]);
        let feed = Feed::read_from(&bytes[..]).expect("the Atom parses");
        (String::from_utf8(bytes).expect("UTF-8"), feed)
    }

    #[test]
    fn the_document_is_utf8_with_a_declaration_and_byte_exact_chinese() {
        let (text, _) = render();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\""));
        assert!(text.contains("<title>黄南藏族自治州人民政府 - 黄南要闻</title>"));
        assert!(text.contains(PARAGRAPH));
        assert!(text.contains("<name>黄南报</name>"));
        assert!(
            !text.contains("&#"),
            "no numeric character references: {text}"
        );
        assert!(!text.contains("type=\"xhtml\""));
    }

    #[test]
    fn namespaces_resolve_and_tombstones_sit_in_the_feed() {
        let (text, _) = render();
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        let root = doc.root_element();
        assert!(root.has_tag_name(("http://www.w3.org/2005/Atom", "feed")));
        assert_eq!(root.lookup_namespace_uri(Some("at")), Some(TOMBSTONES_NS));
        assert_eq!(root.lookup_namespace_uri(Some("media")), Some(MEDIA_NS));
        assert_eq!(
            root.attribute(("http://www.w3.org/XML/1998/namespace", "lang")),
            Some("zh-CN")
        );

        let deleted: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name((TOMBSTONES_NS, "deleted-entry")))
            .collect();
        assert_eq!(deleted.len(), 1);
        assert_eq!(
            deleted[0].attribute("ref"),
            Some("tag:huangnan.gov.cn,2021:gone-1")
        );
        assert_eq!(
            deleted[0].attribute("when"),
            Some("2021-06-03T00:00:00+00:00")
        );
        let link = deleted[0]
            .children()
            .find(|n| n.has_tag_name(("http://www.w3.org/2005/Atom", "link")))
            .expect("an atom:link in the tombstone");
        assert_eq!(
            link.attribute("href"),
            Some("http://www.huangnan.gov.cn/html/gone.html?a=1&b=2")
        );
        assert_eq!(link.attribute("rel"), Some("related"));

        let media_content = doc
            .descendants()
            .filter(|n| n.has_tag_name((MEDIA_NS, "content")))
            .count();
        assert_eq!(media_content, 3);
    }

    #[test]
    fn the_feed_describes_the_scope() {
        let (_, feed) = render();
        assert_eq!(feed.title.value, "黄南藏族自治州人民政府 - 黄南要闻");
        assert_eq!(feed.id, ATOM_SELF);
        assert_eq!(feed.updated.to_rfc3339(), "2021-06-03T00:00:00+00:00");
        assert_eq!(
            feed.subtitle.as_ref().map(|s| s.value.as_str()),
            Some("黄南州的要闻")
        );
        assert_eq!(feed.lang.as_deref(), Some("zh-CN"));
        assert_eq!(
            feed.icon.as_deref(),
            Some("http://www.huangnan.gov.cn/favicon.ico")
        );
        assert_eq!(
            feed.logo.as_deref(),
            Some("http://www.huangnan.gov.cn/images/logo.png")
        );
        assert_eq!(
            feed.generator.as_ref().map(|g| g.value.as_str()),
            Some(GENERATOR)
        );
        assert_eq!(feed.authors[0].name, SITE_TITLE);

        let rels = |rel: &str| -> Vec<(String, Option<String>)> {
            feed.links
                .iter()
                .filter(|l| l.rel == rel)
                .map(|l| (l.href.clone(), l.mime_type.clone()))
                .collect()
        };
        assert_eq!(
            rels("self"),
            [(
                ATOM_SELF.to_owned(),
                Some("application/atom+xml".to_owned())
            )]
        );
        assert_eq!(rels("hub"), [(HUB_URL.to_owned(), None)]);
        assert_eq!(
            rels("alternate"),
            [(
                "http://www.huangnan.gov.cn/html/hnyw/".to_owned(),
                Some("text/html".to_owned())
            )]
        );
        assert_eq!(
            rels("related"),
            [(
                "http://127.0.0.1:8080/feeds/hnyw.html".to_owned(),
                Some("text/html".to_owned())
            )]
        );

        let deleted = &feed.extensions["at"]["deleted-entry"];
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].attrs["ref"], "tag:huangnan.gov.cn,2021:gone-1");
        assert_eq!(deleted[0].attrs["when"], "2021-06-03T00:00:00+00:00");
    }

    #[test]
    fn an_entry_carries_every_field() {
        let (text, feed) = render();
        let entry = &feed.entries[0];
        assert_eq!(entry.id, "tag:huangnan.gov.cn,2021:hn-20210601-ldhd");
        assert_eq!(entry.title.value, "州委书记调研乡村振兴工作");
        assert_eq!(entry.title.lang, None, "same language as the feed");
        assert_eq!(
            entry.published.map(|d| d.to_rfc3339()),
            Some("2021-06-01T00:00:00+08:00".to_owned())
        );
        assert!(text.contains("<published>2021-06-01T00:00:00+08:00</published>"));
        assert_eq!(entry.updated.to_rfc3339(), "2021-06-02T09:30:00+08:00");

        let names: Vec<&str> = entry.authors.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["黄南报"]);
        assert_eq!(entry.contributors[0].name, "卓玛");

        let terms: Vec<(&str, Option<&str>)> = entry
            .categories
            .iter()
            .map(|c| (c.term.as_str(), c.label.as_deref()))
            .collect();
        assert_eq!(
            terms,
            [
                ("黄南要闻", Some("黄南要闻")),
                ("领导动态", Some("领导动态")),
                ("乡村振兴", Some("乡村振兴"))
            ]
        );

        let alternate: Vec<_> = entry
            .links
            .iter()
            .filter(|l| l.rel == "alternate")
            .collect();
        assert_eq!(alternate.len(), 1);
        assert_eq!(
            alternate[0].href,
            "http://www.huangnan.gov.cn/html/hnyw/ldhd/2021/0601/1.html"
        );
        let enclosures: Vec<_> = entry
            .links
            .iter()
            .filter(|l| l.rel == "enclosure")
            .collect();
        assert_eq!(enclosures.len(), 1, "only the image with a known length");
        assert_eq!(enclosures[0].href, IMAGE_IN_CONTENT);
        assert_eq!(enclosures[0].length.as_deref(), Some("48213"));
        assert_eq!(enclosures[0].mime_type.as_deref(), Some("image/jpeg"));

        let summary = entry.summary.as_ref().expect("a summary");
        assert_eq!(summary.r#type, atom_syndication::TextType::Text);
        assert_eq!(
            summary.value,
            format!("{PARAGRAPH}调研组一行 走访了 & 慰问了群众。")
        );
        let content = entry.content.as_ref().expect("content");
        assert_eq!(content.content_type.as_deref(), Some("html"));
        let html = content.value.as_deref().expect("content value");
        assert!(html.contains(PARAGRAPH));
        assert!(html.contains("<figcaption>调研&quot;现场&quot; &lt;&amp;&gt;</figcaption>"));

        let media = &entry.extensions["media"];
        assert_eq!(media["content"].len(), 3);
        assert_eq!(media["content"][1].attrs["url"], IMAGE_CAPTIONED);
        assert_eq!(
            media["content"][1].children["title"][0].value.as_deref(),
            Some(CAPTION)
        );
        assert_eq!(media["thumbnail"][0].attrs["url"], IMAGE_IN_CONTENT);
    }

    #[test]
    fn hostile_text_survives_intact_except_forbidden_characters() {
        let (text, feed) = render();
        assert!(!text.contains('\u{1}') && !text.contains('\u{FFFF}') && !text.contains('\u{0}'));
        let entry = &feed.entries[1];
        assert_eq!(entry.title.value, HOSTILE_TITLE_CLEAN);
        assert_eq!(entry.title.lang.as_deref(), Some("en"));
        assert_eq!(
            entry.summary.as_ref().map(|s| s.value.as_str()),
            Some("summary ]]> & <x> end")
        );
        let content = entry.content.as_ref().expect("content");
        assert_eq!(
            content.value.as_deref(),
            Some("<p>a ]]> b &lt;c&gt; </p><![CDATA[x]]>")
        );
        assert_eq!(content.lang.as_deref(), Some("en"));
        assert_eq!(
            entry.links[0].href,
            "http://www.huangnan.gov.cn/show?id=1&x=%3C"
        );
        let names: Vec<&str> = entry.authors.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Ann <a@b>", "Bob"]);
        assert!(entry.contributors.is_empty());
        assert_eq!(
            entry.published.map(|d| d.to_rfc3339()),
            Some("2021-05-31T12:00:00-05:00".to_owned())
        );
        assert_eq!(entry.updated, entry.published.expect("published"));
        assert!(!entry.extensions.contains_key("media"));
    }

    #[test]
    fn without_tombstones_there_is_no_deleted_entry() {
        let catalog = catalog();
        let scope = scope();
        let ctx = FeedContext {
            hub_url: None,
            ..context(&catalog, &scope, ATOM_SELF)
        };
        let bytes = render_atom(&ctx, &[hostile_article()], &[]);
        let feed = Feed::read_from(&bytes[..]).expect("the Atom parses");
        assert!(feed.extensions.is_empty());
        assert!(feed.links.iter().all(|l| l.rel != "hub"));
        // The W3C validator flags a declared namespace the document does not use: neither
        // tombstones nor media here, so neither prefix is declared.
        let text = String::from_utf8(bytes).expect("UTF-8");
        assert!(!text.contains("xmlns:at="), "{text}");
        assert!(!text.contains("xmlns:media="), "{text}");
    }

    #[test]
    fn feed_rs_reads_it() {
        let (text, _) = render();
        let feed = feed_rs::parser::parse(text.as_bytes()).expect("feed-rs parses the Atom");
        assert_eq!(feed.entries.len(), 2);
        assert_eq!(
            feed.entries[0].id,
            "tag:huangnan.gov.cn,2021:hn-20210601-ldhd"
        );
        assert_eq!(
            feed.entries[1].title.as_ref().map(|t| t.content.as_str()),
            Some(HOSTILE_TITLE_CLEAN)
        );
    }
}
