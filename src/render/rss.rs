//! RSS 2.0 (<https://www.rssboard.org/rss-specification>) with the content, Dublin Core, Atom
//! and Media RSS modules, written by the `rss` crate.

use std::collections::BTreeMap;

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::extension::{Extension, ExtensionMap};
use rss::{Category, Channel, Enclosure, Guid, Image, Item};

use super::entry::{self, Element, MEDIA_NS, xml_string};
use super::{FeedContext, HISTORY_NS, archive_marker, history_links};
use crate::domain::{Article, FeedFormat, StoredArticle};

/// Renders an RSS 2.0 document: UTF-8 with an XML declaration, `entries` as items in the order
/// given (newest first).
///
/// RSS has no way to say an item was deleted, so tombstones are not shown here.
pub fn render_rss(ctx: &FeedContext<'_>, entries: &[StoredArticle]) -> Vec<u8> {
    let catalog = ctx.catalog;
    let title = xml_string(&catalog.feed_title(ctx.scope));
    let description = xml_string(&catalog.feed_description(ctx.scope));
    let home = catalog.feed_home(ctx.scope).to_string();

    let mut links = vec![
        Link {
            href: ctx.self_url.to_owned(),
            rel: "self".to_owned(),
            mime_type: Some(FeedFormat::Rss.media_type().to_owned()),
            ..Link::default()
        },
        // The service's page of the feed, for people; `related`, as readers (feedparser) take
        // an alternate atom:link for the channel's home over `<link>`, the portal's page.
        Link {
            href: ctx.page_url(),
            rel: "related".to_owned(),
            mime_type: Some("text/html".to_owned()),
            ..Link::default()
        },
    ];
    // WebSub §4: the hub is advertised next to the self link, both as atom:link in RSS.
    if let Some(hub) = ctx.hub_url {
        links.push(Link {
            href: hub.to_owned(),
            rel: "hub".to_owned(),
            ..Link::default()
        });
    }
    // RFC 5005 carries over to RSS 2.0 as these atom:link elements and `fh:archive`.
    links.extend(history_links(&ctx.history).map(|(rel, href)| Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: Some(FeedFormat::Rss.media_type().to_owned()),
        ..Link::default()
    }));

    let items: Vec<Item> = entries.iter().map(|e| item(ctx, e)).collect();
    let channel = Channel {
        // RSS 2.0 requires a non-empty description; a section may have none.
        description: if description.trim().is_empty() {
            title.clone()
        } else {
            description
        },
        link: home.clone(),
        language: Some(xml_string(catalog.feed_language(ctx.scope))),
        last_build_date: Some(entry::rfc822(&entry::fixed(ctx.updated))),
        generator: Some(xml_string(ctx.generator)),
        // RSS 2.0 `<image>`: a GIF, JPEG or PNG (the catalogue checks the logo's name), with
        // the channel's title and link, so that the image stands for the channel.
        image: Some(Image {
            url: ctx.logo(),
            title: title.clone(),
            link: home.clone(),
            ..Image::default()
        }),
        atom_ext: Some(AtomExtension { links }),
        namespaces: namespaces(ctx, &items),
        extensions: if ctx.history.current.is_some() {
            ExtensionMap::from([("fh".to_owned(), archive_marker(extension))])
        } else {
            ExtensionMap::new()
        },
        items,
        title,
        ..Channel::default()
    };

    channel
        .write_to(Vec::new())
        .expect("writing to a Vec cannot fail")
}

/// The namespaces the crate does not declare by itself (it declares those of the modules it
/// knows), each only when used: Media RSS in items, and Feed History on an archive page.
fn namespaces(ctx: &FeedContext<'_>, items: &[Item]) -> BTreeMap<String, String> {
    let mut namespaces = BTreeMap::new();
    if items
        .iter()
        .any(|item| item.extensions.contains_key("media"))
    {
        namespaces.insert("media".to_owned(), MEDIA_NS.to_owned());
    }
    if ctx.history.current.is_some() {
        namespaces.insert("fh".to_owned(), HISTORY_NS.to_owned());
    }
    namespaces
}

fn item(ctx: &FeedContext<'_>, stored: &StoredArticle) -> Item {
    let article = &stored.article;
    let authors = entry::authors(article);
    Item {
        title: Some(xml_string(&article.title)),
        link: Some(article.url.to_string()),
        // RSS 2.0's description is HTML, and the summary is plain text: escape it, or a
        // summary saying "a < b" or "&lt;img onerror=…&gt;" (decoded at ingest) would become
        // markup in readers. The rss crate then writes it as CDATA, splitting any `]]>`.
        description: Some(xml_string(&html_escape::encode_text(&entry::summary(
            article,
        )))),
        content: Some(xml_string(&entry::content_html(article))),
        // The id is a `tag:` URI, not a page a reader should open: isPermaLink="false".
        guid: Some(Guid {
            value: xml_string(&ctx.catalog.entry_id(&article.id)),
            permalink: false,
        }),
        pub_date: Some(entry::rfc822(&article.published)),
        categories: entry::categories(ctx.catalog, article)
            .iter()
            .map(|name| Category {
                name: xml_string(name),
                domain: None,
            })
            .collect(),
        enclosure: entry::rss_enclosure(article).and_then(|image| {
            Some(Enclosure {
                url: image.url.to_string(),
                length: image.length?.to_string(),
                mime_type: xml_string(image.media_type.as_deref()?),
            })
        }),
        // RSS 2.0 `<author>` must be an e-mail address; names go in dc:creator.
        dublin_core_ext: Some(DublinCoreExtension {
            creators: authors.into_iter().map(xml_string).collect(),
            contributors: article
                .editor
                .as_deref()
                .map(xml_string)
                .into_iter()
                .collect(),
            // An item in another language than its channel says so, as Atom's xml:lang does.
            languages: entry::language_override(article, ctx.catalog.feed_language(ctx.scope))
                .map(xml_string)
                .into_iter()
                .collect(),
            ..DublinCoreExtension::default()
        }),
        extensions: media_extensions(article),
        ..Item::default()
    }
}

/// The Media RSS elements under the `media` prefix of the item's extension map.
fn media_extensions(article: &Article) -> ExtensionMap {
    let media = entry::by_local_name(&entry::media_elements(article), extension);
    if media.is_empty() {
        return ExtensionMap::new();
    }
    ExtensionMap::from([("media".to_owned(), media)])
}

/// `rss` escapes extension attribute values and text itself.
fn extension(element: &Element) -> Extension {
    let children = entry::by_local_name(&element.children, extension);
    Extension {
        name: element.name.clone(),
        value: element.text.clone(),
        attrs: element.attrs.iter().cloned().collect(),
        children,
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::fixtures::*;
    use super::*;

    fn render() -> (Vec<u8>, Channel) {
        let catalog = catalog();
        let scope = scope();
        let ctx = context(&catalog, &scope, SELF_URL);
        let bytes = render_rss(&ctx, &[leader_article(), hostile_article()]);
        let channel = Channel::read_from(&bytes[..]).expect("the RSS parses");
        (bytes, channel)
    }

    #[test]
    fn the_document_is_utf8_with_a_declaration_and_byte_exact_chinese() {
        let (bytes, _) = render();
        let text = String::from_utf8(bytes).expect("UTF-8");
        assert!(text.starts_with(r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0""#));
        assert!(text.contains("<title>黄南藏族自治州人民政府 - 黄南要闻</title>"));
        assert!(text.contains(PARAGRAPH));
        assert!(text.contains("<dc:creator>黄南报</dc:creator>"));
        assert!(
            !text.contains("&#"),
            "no numeric character references: {text}"
        );
    }

    #[test]
    fn namespaces_are_declared_on_the_root() {
        let (bytes, channel) = render();
        let text = String::from_utf8(bytes).expect("UTF-8");
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        let root = doc.root_element();
        for (prefix, uri) in [
            ("atom", "http://www.w3.org/2005/Atom"),
            ("content", "http://purl.org/rss/1.0/modules/content/"),
            ("dc", "http://purl.org/dc/elements/1.1/"),
            ("media", MEDIA_NS),
        ] {
            assert_eq!(
                root.lookup_namespace_uri(Some(prefix)),
                Some(uri),
                "{prefix}"
            );
            assert_eq!(
                channel.namespaces.get(prefix).map(String::as_str),
                Some(uri)
            );
        }
        let media_content = doc
            .descendants()
            .filter(|n| n.has_tag_name((MEDIA_NS, "content")))
            .count();
        assert_eq!(media_content, 3);
    }

    #[test]
    fn the_channel_describes_the_scope() {
        let (_, channel) = render();
        assert_eq!(channel.title, "黄南藏族自治州人民政府 - 黄南要闻");
        assert_eq!(channel.link, "http://www.huangnan.gov.cn/html/hnyw/");
        assert_eq!(channel.description, "黄南州的要闻");
        assert_eq!(channel.language.as_deref(), Some("zh-CN"));
        assert_eq!(
            channel.last_build_date.as_deref(),
            Some("Thu, 03 Jun 2021 00:00:00 +0000")
        );
        assert_eq!(channel.generator.as_deref(), Some(GENERATOR));
        let image = channel.image.expect("an image");
        assert_eq!(image.url, "http://www.huangnan.gov.cn/images/logo.png");
        assert_eq!(image.title, channel.title);
        assert_eq!(image.link, channel.link);

        let links = channel.atom_ext.expect("atom links").links;
        let selfs: Vec<_> = links.iter().filter(|l| l.rel == "self").collect();
        assert_eq!(selfs.len(), 1);
        assert_eq!(selfs[0].href, SELF_URL);
        assert_eq!(selfs[0].mime_type.as_deref(), Some("application/rss+xml"));
        let hubs: Vec<_> = links.iter().filter(|l| l.rel == "hub").collect();
        assert_eq!(hubs.len(), 1);
        assert_eq!(hubs[0].href, HUB_URL);
    }

    #[test]
    fn an_empty_description_falls_back_to_the_title() {
        let catalog = catalog();
        let scope = crate::catalog::Scope::Section(
            crate::domain::SectionPath::parse("zwgk").expect("a path"),
        );
        let ctx = FeedContext {
            hub_url: None,
            ..context(&catalog, &scope, SELF_URL)
        };
        let bytes = render_rss(&ctx, &[]);
        // No item uses Media RSS: the prefix is not declared (the W3C validator flags it).
        assert!(!String::from_utf8_lossy(&bytes).contains("xmlns:media="));
        let channel = Channel::read_from(&bytes[..]).expect("the RSS parses");
        assert_eq!(channel.description, "黄南藏族自治州人民政府 - 政务公开");
        assert!(channel.items.is_empty());
        let links = channel.atom_ext.expect("atom links").links;
        assert!(
            links.iter().all(|l| l.rel != "hub"),
            "no hub link without a hub"
        );
        let rels: Vec<&str> = links.iter().map(|l| l.rel.as_str()).collect();
        assert_eq!(rels, ["self", "related"]);
        assert_eq!(links[1].href, "http://127.0.0.1:8080/feeds/zwgk.html");
    }

    #[test]
    fn an_item_carries_every_field() {
        let (bytes, channel) = render();
        let text = String::from_utf8(bytes).expect("UTF-8");
        let item = &channel.items[0];
        assert_eq!(item.title.as_deref(), Some("州委书记调研乡村振兴工作"));
        assert_eq!(
            item.link.as_deref(),
            Some("http://www.huangnan.gov.cn/html/hnyw/ldhd/2021/0601/1.html")
        );
        let guid = item.guid.as_ref().expect("a guid");
        assert_eq!(guid.value, "tag:huangnan.gov.cn,2021:hn-20210601-ldhd");
        assert!(!guid.permalink);
        assert!(text.contains(
            r#"<guid isPermaLink="false">tag:huangnan.gov.cn,2021:hn-20210601-ldhd</guid>"#
        ));
        assert_eq!(
            item.pub_date.as_deref(),
            Some("Tue, 01 Jun 2021 00:00:00 +0800")
        );
        assert_eq!(item.author, None);

        let dc = item.dublin_core_ext.as_ref().expect("Dublin Core");
        assert_eq!(dc.creators, ["黄南报"]);
        assert_eq!(dc.contributors, ["卓玛"]);

        let categories: Vec<&str> = item.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(categories, ["黄南要闻", "领导动态", "乡村振兴"]);

        assert_eq!(
            item.description.as_deref(),
            // The summary is plain text; RSS descriptions are HTML, so it arrives escaped.
            Some(format!("{PARAGRAPH}调研组一行 走访了 &amp; 慰问了群众。").as_str())
        );
        let content = item.content.as_deref().expect("content:encoded");
        assert!(content.contains(PARAGRAPH));
        assert!(content.contains(
            "<figure><img src=\"http://www.huangnan.gov.cn/images/2021/0601/c.png\" alt=\"\"></figure>"
        ));

        let enclosure = item.enclosure.as_ref().expect("an enclosure");
        assert_eq!(enclosure.url, IMAGE_IN_CONTENT);
        assert_eq!(enclosure.length, "48213");
        assert_eq!(enclosure.mime_type, "image/jpeg");

        let media = &item.extensions["media"];
        let contents = &media["content"];
        assert_eq!(contents.len(), 3);
        assert_eq!(contents[1].attrs["url"], IMAGE_CAPTIONED);
        assert_eq!(contents[1].attrs["medium"], "image");
        assert_eq!(contents[0].attrs["fileSize"], "48213");
        assert_eq!(contents[2].attrs["type"], "image/png");
        assert_eq!(
            contents[1].children["title"][0].value.as_deref(),
            Some(CAPTION)
        );
        assert_eq!(media["thumbnail"].len(), 1);
        assert_eq!(media["thumbnail"][0].attrs["url"], IMAGE_IN_CONTENT);
    }

    #[test]
    fn hostile_text_survives_intact_except_forbidden_characters() {
        let (bytes, channel) = render();
        let text = String::from_utf8(bytes).expect("UTF-8");
        assert!(!text.contains('\u{1}') && !text.contains('\u{FFFF}') && !text.contains('\u{0}'));
        let item = &channel.items[1];
        assert_eq!(item.title.as_deref(), Some(HOSTILE_TITLE_CLEAN));
        assert_eq!(
            item.link.as_deref(),
            Some("http://www.huangnan.gov.cn/show?id=1&x=%3C")
        );
        assert_eq!(
            item.description.as_deref(),
            Some("summary ]]&gt; &amp; &lt;x&gt; end")
        );
        assert_eq!(
            item.content.as_deref(),
            Some("<p>a ]]> b &lt;c&gt; </p><![CDATA[x]]>")
        );
        assert_eq!(
            item.pub_date.as_deref(),
            Some("Mon, 31 May 2021 12:00:00 -0500")
        );
        let dc = item.dublin_core_ext.as_ref().expect("Dublin Core");
        assert_eq!(dc.creators, ["Ann <a@b>", "Bob"]);
        assert!(dc.contributors.is_empty());
        let categories: Vec<&str> = item.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(categories, ["黄南要闻", "a&b", "<tag>"]);
        assert_eq!(item.enclosure, None);
        assert!(!item.extensions.contains_key("media"));
    }

    #[test]
    fn feed_rs_reads_it() {
        let (bytes, _) = render();
        let feed = feed_rs::parser::parse(&bytes[..]).expect("feed-rs parses the RSS");
        assert_eq!(feed.entries.len(), 2);
        assert_eq!(
            feed.entries[0].id,
            "tag:huangnan.gov.cn,2021:hn-20210601-ldhd"
        );
        assert_eq!(
            feed.entries[0].published.map(|d| d.to_rfc3339()),
            Some("2021-05-31T16:00:00+00:00".to_owned())
        );
        // feed-rs folds the enclosure into the media contents too: three distinct images.
        let urls: std::collections::BTreeSet<&str> = feed.entries[0]
            .media
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|c| c.url.as_ref().map(|u| u.as_str()))
            .collect();
        assert_eq!(
            urls,
            std::collections::BTreeSet::from([IMAGE_IN_CONTENT, IMAGE_CAPTIONED, IMAGE_BARE])
        );
        let authors: Vec<&str> = feed.entries[0]
            .authors
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(authors, ["黄南报"]);
    }
}
