//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>), serialised by serde.

use serde::Serialize;

use super::FeedContext;
use super::entry;
use crate::domain::StoredArticle;

/// The `version` every JSON Feed 1.1 document starts with.
const VERSION: &str = "https://jsonfeed.org/version/1.1";

/// Renders a JSON Feed 1.1 document (compact UTF-8 JSON), `entries` as items in the order given
/// (newest first). Tombstones have no JSON Feed form.
pub fn render_json_feed(ctx: &FeedContext<'_>, entries: &[StoredArticle]) -> Vec<u8> {
    let catalog = ctx.catalog;
    let site = &catalog.site;
    let description = catalog.feed_description(ctx.scope);
    let logo = ctx.logo();
    let feed = JsonFeed {
        version: VERSION,
        title: catalog.feed_title(ctx.scope),
        home_page_url: catalog.feed_home(ctx.scope).as_str(),
        // A page behind the feed names the feed as its feed_url; JSON Feed §3.
        feed_url: ctx.history.current.unwrap_or(ctx.self_url),
        next_url: ctx.history.older,
        description: (!description.trim().is_empty()).then_some(description),
        // JSON Feed §4: `icon` is large and square (for timelines), `favicon` small.
        icon: &logo,
        favicon: site.icon.as_ref().map(|u| u.as_str()),
        language: catalog.feed_language(ctx.scope),
        hubs: ctx
            .hub_url
            .map(|url| Hub {
                kind: "WebSub",
                url,
            })
            .into_iter()
            .collect(),
        items: entries.iter().map(|e| item(ctx, e)).collect(),
        extension: FeedExtension {
            scope: ctx.scope.as_str(),
            generator: ctx.generator,
        },
    };
    serde_json::to_vec(&feed).expect("serialising plain structs with string keys cannot fail")
}

fn item<'a>(ctx: &FeedContext<'_>, stored: &'a StoredArticle) -> Item<'a> {
    let article = &stored.article;
    Item {
        id: ctx.catalog.entry_id(&article.id),
        url: article.url.as_str(),
        title: &article.title,
        content_html: entry::content_html(article),
        summary: entry::summary(article),
        image: article.images.first().map(|i| i.url.as_str()),
        date_published: entry::rfc3339(&article.published),
        // Mirrors Atom's `updated`: the last change, or the publication itself.
        date_modified: entry::rfc3339(&entry::updated(article)),
        authors: entry::authors(article)
            .into_iter()
            .map(|name| Author { name })
            .collect(),
        tags: entry::categories(ctx.catalog, article),
        language: article.language.as_deref(),
        // JSON Feed 1.1: `mime_type` is required in an attachment.
        attachments: article
            .images
            .iter()
            .filter_map(|image| {
                Some(Attachment {
                    url: image.url.as_str(),
                    mime_type: image.media_type.as_deref()?,
                    title: image.caption.as_deref(),
                    size_in_bytes: image.length,
                })
            })
            .collect(),
        extension: ItemExtension {
            source: article.source.as_deref(),
            editor: article.editor.as_deref(),
            section: article.section.as_str(),
            version: stored.version,
        },
    }
}

/// The top-level object. Optional members are omitted rather than `null` (JSON Feed 1.1 gives
/// no meaning to `null`).
#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: String,
    home_page_url: &'a str,
    feed_url: &'a str,
    /// The page of older items (JSON Feed §3, pagination).
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    icon: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    favicon: Option<&'a str>,
    language: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub<'a>>,
    items: Vec<Item<'a>>,
    /// JSON Feed 1.1 "Extensions": custom keys start with an underscore.
    #[serde(rename = "_tidings")]
    extension: FeedExtension<'a>,
}

#[derive(Serialize)]
struct Hub<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct FeedExtension<'a> {
    scope: &'a str,
    generator: &'a str,
}

#[derive(Serialize)]
struct Item<'a> {
    id: String,
    url: &'a str,
    title: &'a str,
    content_html: String,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment<'a>>,
    #[serde(rename = "_tidings")]
    extension: ItemExtension<'a>,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Attachment<'a> {
    url: &'a str,
    mime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_in_bytes: Option<u64>,
}

#[derive(Serialize)]
struct ItemExtension<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    editor: Option<&'a str>,
    section: &'a str,
    version: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::entry::fixtures::*;
    use super::*;

    const JSON_SELF: &str = "http://127.0.0.1:8080/feeds/hnyw.json";

    fn render() -> (Vec<u8>, Value) {
        let catalog = catalog();
        let scope = scope();
        let ctx = context(&catalog, &scope, JSON_SELF);
        let bytes = render_json_feed(&ctx, &[leader_article(), hostile_article()]);
        let value = serde_json::from_slice(&bytes).expect("the JSON parses");
        (bytes, value)
    }

    #[test]
    fn the_feed_describes_the_scope() {
        let (bytes, feed) = render();
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        assert!(text.contains("\"title\":\"黄南藏族自治州人民政府 - 黄南要闻\""));
        assert!(text.contains(PARAGRAPH));
        assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
        assert_eq!(feed["title"], "黄南藏族自治州人民政府 - 黄南要闻");
        assert_eq!(
            feed["home_page_url"],
            "http://www.huangnan.gov.cn/html/hnyw/"
        );
        assert_eq!(feed["feed_url"], JSON_SELF);
        assert_eq!(feed["description"], "黄南州的要闻");
        assert_eq!(feed["icon"], "http://www.huangnan.gov.cn/images/logo.png");
        assert_eq!(feed["favicon"], "http://www.huangnan.gov.cn/favicon.ico");
        assert_eq!(feed["language"], "zh-CN");
        assert_eq!(feed["hubs"], json!([{"type": "WebSub", "url": HUB_URL}]));
        assert_eq!(
            feed["_tidings"],
            json!({"scope": "hnyw", "generator": GENERATOR})
        );
        assert_eq!(feed["items"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn an_item_carries_every_field() {
        let (_, feed) = render();
        let item = &feed["items"][0];
        assert_eq!(item["id"], "tag:huangnan.gov.cn,2021:hn-20210601-ldhd");
        assert_eq!(
            item["url"],
            "http://www.huangnan.gov.cn/html/hnyw/ldhd/2021/0601/1.html"
        );
        assert_eq!(item["title"], "州委书记调研乡村振兴工作");
        assert_eq!(item["date_published"], "2021-06-01T00:00:00+08:00");
        assert_eq!(item["date_modified"], "2021-06-02T09:30:00+08:00");
        assert_eq!(
            item["summary"],
            format!("{PARAGRAPH}调研组一行 走访了 & 慰问了群众。")
        );
        let html = item["content_html"].as_str().expect("content_html");
        assert!(html.contains(PARAGRAPH));
        assert!(html.contains("c.png\" alt=\"\"></figure>"));
        assert_eq!(item["image"], IMAGE_IN_CONTENT);
        assert_eq!(item["authors"], json!([{"name": "黄南报"}]));
        assert_eq!(item["tags"], json!(["黄南要闻", "领导动态", "乡村振兴"]));
        assert!(item.get("language").is_none());
        assert_eq!(
            item["attachments"],
            json!([
                {"url": IMAGE_IN_CONTENT, "mime_type": "image/jpeg", "title": "调研现场", "size_in_bytes": 48213},
                {"url": IMAGE_BARE, "mime_type": "image/png"},
            ])
        );
        assert_eq!(
            item["_tidings"],
            json!({"source": "黄南报", "editor": "卓玛", "section": "hnyw/ldhd", "version": 3})
        );
    }

    #[test]
    fn hostile_text_round_trips() {
        let (_, feed) = render();
        let item = &feed["items"][1];
        assert_eq!(item["title"], HOSTILE_TITLE);
        assert_eq!(item["url"], "http://www.huangnan.gov.cn/show?id=1&x=%3C");
        assert_eq!(item["language"], "en");
        assert_eq!(item["date_published"], "2021-05-31T12:00:00-05:00");
        assert_eq!(item["date_modified"], "2021-05-31T12:00:00-05:00");
        assert_eq!(
            item["authors"],
            json!([{"name": "Ann <a@b>"}, {"name": "\u{5}Bob"}])
        );
        assert_eq!(item["tags"], json!(["黄南要闻", "a&b", "<tag>"]));
        assert!(item.get("image").is_none());
        assert!(item.get("attachments").is_none());
        assert_eq!(item["_tidings"], json!({"section": "hnyw", "version": 3}));
    }

    #[test]
    fn optional_feed_members_are_omitted() {
        let mut catalog = catalog();
        catalog.site.icon = None;
        catalog.site.logo = None;
        let scope = crate::catalog::Scope::Section(
            crate::domain::SectionPath::parse("zwgk").expect("a path"),
        );
        let ctx = FeedContext {
            hub_url: None,
            ..context(&catalog, &scope, JSON_SELF)
        };
        let feed: Value =
            serde_json::from_slice(&render_json_feed(&ctx, &[])).expect("the JSON parses");
        for absent in ["description", "favicon", "hubs"] {
            assert!(feed.get(absent).is_none(), "{absent}");
        }
        // Without a logo in the catalogue, the service's own.
        assert_eq!(feed["icon"], "http://127.0.0.1:8080/logo.png");
        assert_eq!(feed["items"], json!([]));
    }

    #[test]
    fn feed_rs_reads_it() {
        let (bytes, _) = render();
        let feed = feed_rs::parser::parse(&bytes[..]).expect("feed-rs parses the JSON Feed");
        assert_eq!(feed.entries.len(), 2);
        assert_eq!(
            feed.entries[0].id,
            "tag:huangnan.gov.cn,2021:hn-20210601-ldhd"
        );
    }
}
