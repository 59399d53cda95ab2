//! The subscription list as OPML 2.0 (<http://opml.org/spec2.opml>), written by the `opml`
//! crate.

use opml::{Body, Head, OPML, Outline};

use crate::catalog::{Catalog, Scope};
use crate::domain::{FeedFormat, SectionPath};

/// Renders every feed as an OPML 2.0 subscription list: first the whole site (`all`), then the
/// section tree, each section an RSS feed outline containing its subsections' outlines.
///
/// `feeds_base` is the service's absolute base URL without a trailing slash.
pub fn render_opml(catalog: &Catalog, feeds_base: &str) -> String {
    let mut outlines = vec![feed_outline(catalog, feeds_base, &Scope::All, Vec::new())];
    outlines.extend(section_outlines(catalog, feeds_base, None));
    let document = OPML {
        version: "2.0".to_owned(),
        head: Some(Head {
            title: Some(catalog.site.title.clone()),
            // No `<docs>`: OPML 2.0 defines it, but the W3C validator refuses it as unknown.
            ..Head::default()
        }),
        body: Body { outlines },
    };
    let xml = document
        .to_string()
        .expect("writing OPML to a String cannot fail");
    // The opml crate writes no XML declaration; OPML 2.0 documents conventionally carry one.
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{xml}")
}

/// The outlines of `parent`'s children (the top-level sections for `None`), each with its own
/// children nested inside.
fn section_outlines(
    catalog: &Catalog,
    feeds_base: &str,
    parent: Option<&SectionPath>,
) -> Vec<Outline> {
    catalog
        .children(parent)
        .map(|section| {
            let children = section_outlines(catalog, feeds_base, Some(&section.path));
            let scope = Scope::Section(section.path.clone());
            feed_outline(catalog, feeds_base, &scope, children)
        })
        .collect()
}

/// OPML 2.0 "subscription lists": `type="rss"` with `text`, `xmlUrl`, and `title`/`htmlUrl`/
/// `description`/`language` where known.
fn feed_outline(
    catalog: &Catalog,
    feeds_base: &str,
    scope: &Scope,
    outlines: Vec<Outline>,
) -> Outline {
    let title = catalog.feed_title(scope);
    let description = catalog.feed_description(scope);
    Outline {
        text: title.clone(),
        title: Some(title),
        r#type: Some("rss".to_owned()),
        xml_url: Some(scope.feed_url(feeds_base, FeedFormat::Rss)),
        html_url: Some(catalog.feed_home(scope).to_string()),
        description: (!description.trim().is_empty()).then_some(description),
        language: Some(catalog.feed_language(scope).to_owned()),
        outlines,
        ..Outline::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::fixtures::*;
    use super::*;

    const BASE: &str = "http://127.0.0.1:8080";

    #[test]
    fn the_outline_is_the_section_tree_after_all() {
        let text = render_opml(&catalog(), BASE);
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">")
        );
        assert!(text.contains("text=\"黄南藏族自治州人民政府 - 黄南要闻 - 领导动态\""));

        let document = OPML::from_str(&text).expect("the OPML parses");
        assert_eq!(document.version, "2.0");
        assert_eq!(
            document.head.and_then(|h| h.title).as_deref(),
            Some(SITE_TITLE)
        );

        let top: Vec<_> = document
            .body
            .outlines
            .iter()
            .map(|o| o.xml_url.as_deref())
            .collect();
        assert_eq!(
            top,
            [
                Some("http://127.0.0.1:8080/feeds/all.rss"),
                Some("http://127.0.0.1:8080/feeds/hnyw.rss"),
                Some("http://127.0.0.1:8080/feeds/zwgk.rss"),
            ]
        );
        let all = &document.body.outlines[0];
        assert_eq!(all.text, SITE_TITLE);
        assert_eq!(all.title.as_deref(), Some(SITE_TITLE));
        assert_eq!(all.html_url.as_deref(), Some("http://www.huangnan.gov.cn/"));
        assert!(all.outlines.is_empty());

        let hnyw = &document.body.outlines[1];
        assert_eq!(hnyw.r#type.as_deref(), Some("rss"));
        assert_eq!(hnyw.text, "黄南藏族自治州人民政府 - 黄南要闻");
        assert_eq!(hnyw.description.as_deref(), Some("黄南州的要闻"));
        assert_eq!(
            hnyw.html_url.as_deref(),
            Some("http://www.huangnan.gov.cn/html/hnyw/")
        );
        assert_eq!(hnyw.outlines.len(), 1);
        let ldhd = &hnyw.outlines[0];
        assert_eq!(
            ldhd.xml_url.as_deref(),
            Some("http://127.0.0.1:8080/feeds/hnyw/ldhd.rss")
        );
        assert_eq!(
            ldhd.title.as_deref(),
            Some("黄南藏族自治州人民政府 - 黄南要闻 - 领导动态")
        );
        assert_eq!(ldhd.language.as_deref(), Some("zh-CN"));

        let zwgk = &document.body.outlines[2];
        assert_eq!(zwgk.description, None, "an empty description is left out");
        assert_eq!(zwgk.outlines[0].description.as_deref(), Some("通知 & 公告"));
    }

    #[test]
    fn it_is_well_formed_xml() {
        let text = render_opml(&catalog(), BASE);
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("outline"))
                .count(),
            5
        );
        assert!(text.contains("description=\"通知 &amp; 公告\""));
    }
}
