//! Feeds from elsewhere: a WordPress-like RSS feed, a plain Atom feed, a GBK-encoded feed with
//! local times, and bodies that are not feeds.

use serde_json::json;

use super::tests::{images, mapping, normalize, target, url};
use super::*;

#[test]
fn a_wordpress_feed_is_read() {
    let bytes = include_bytes!("../../../tests/fixtures/upstream/wordpress.rss");
    let section = target();
    let feed = read_feed(
        bytes,
        &url("https://blog.example/feed/"),
        &mapping(&section, Some("热贡艺术")),
    )
    .expect("the feed reads");
    assert_eq!(feed.hub, Some(url("https://pubsubhubbub.example/")));
    assert_eq!(feed.self_url, Some(url("https://blog.example/feed/")));
    assert_eq!(feed.ttl, Some(Duration::from_secs(45 * 60)));
    // The undated item and the one without any link are left out.
    assert_eq!(feed.documents.len(), 2, "{:#?}", feed.documents);
    let articles = normalize(&feed);

    let thangka = &articles[0];
    assert_eq!(
        thangka.id,
        upstream_id("tongren", "https://blog.example/?p=123")
    );
    assert_eq!(thangka.title, "Painting a thangka: six months & one brush");
    assert_eq!(
        thangka.url.as_str(),
        "https://blog.example/2021/06/painting-a-thangka/"
    );
    assert_eq!(thangka.source.as_deref(), Some("热贡艺术"));
    assert_eq!(thangka.editor, None);
    assert_eq!(thangka.authors, ["Tenzin Dorje"]);
    assert_eq!(thangka.tags, ["Thangka", "Wutun"]);
    assert_eq!(thangka.published.to_rfc3339(), "2021-06-01T14:30:00+00:00");
    assert_eq!(thangka.language.as_deref(), Some("en-us"));
    assert!(thangka.content_html.contains("<em>malachite</em>"));
    assert!(!thangka.content_html.contains("script"));
    assert!(
        thangka
            .content_html
            .contains("src=\"https://blog.example/wp-content/uploads/2021/06/thangka.jpg\"")
    );
    assert_eq!(
        thangka.summary.as_deref(),
        Some("Six months of work on one painting … Read more")
    );
    assert_eq!(
        images(thangka),
        [(
            "https://blog.example/wp-content/uploads/2021/06/thangka.jpg",
            None,
            Some("image/jpeg"),
            Some(182_044)
        )],
        "the audio enclosure is not an image"
    );

    let hours = &articles[1];
    assert_eq!(
        hours.url.as_str(),
        "https://blog.example/2021/05/opening-hours/",
        "a permalink guid stands for the missing link"
    );
    assert_eq!(hours.authors, ["Lhamo Tso"]);
    assert_eq!(hours.published.to_rfc3339(), "2021-05-31T09:00:00+00:00");
    assert_eq!(
        hours.summary.as_deref(),
        Some("The workshop opens at 9 & closes at 18.")
    );
    assert!(
        hours.content_html.contains("opens at 9"),
        "the summary stands for the body"
    );
}

#[test]
fn a_plain_atom_feed_is_read() {
    let bytes = include_bytes!("../../../tests/fixtures/upstream/plain.atom");
    let section = target();
    let feed = read_feed(
        bytes,
        &url("https://notes.example/notes/feed.atom"),
        &mapping(&section, None),
    )
    .expect("the feed reads");
    assert_eq!(feed.hub, Some(url("https://hub.example/websub")));
    assert_eq!(
        feed.self_url,
        Some(url("https://notes.example/notes/feed.atom"))
    );
    assert_eq!(feed.ttl, None);
    assert_eq!(
        feed.deleted,
        [upstream_id("tongren", "tag:notes.example,2021:withdrawn")]
    );
    let articles = normalize(&feed);
    assert_eq!(articles.len(), 2);

    let river = &articles[0];
    assert_eq!(river.url.as_str(), "https://notes.example/notes/river.html");
    assert_eq!(river.published.to_rfc3339(), "2021-06-01T07:15:00-05:00");
    assert_eq!(
        river.updated.map(|t| t.to_rfc3339()).as_deref(),
        Some("2021-06-02T11:00:00-05:00")
    );
    assert_eq!(river.authors, ["Ann Field", "Bo Wen"]);
    // No source named: the feed's title, its HTML reduced to text.
    assert_eq!(river.source.as_deref(), Some("Field notes <Amdo>"));
    assert_eq!(river.tags, ["Travel", "rivers"]);
    assert_eq!(river.language.as_deref(), Some("en"));
    assert!(
        river.content_html.contains("<b>Longwu</b>"),
        "{}",
        river.content_html
    );
    assert_eq!(
        images(river),
        [(
            "https://notes.example/notes/river.png",
            Some("The ford at dawn"),
            Some("image/png"),
            Some(2048)
        )]
    );

    let summary_only = &articles[1];
    assert_eq!(summary_only.language.as_deref(), Some("zh-CN"));
    assert_eq!(
        summary_only.published.to_rfc3339(),
        "2021-05-30T08:00:00+00:00",
        "no published time: the updated one"
    );
    assert_eq!(summary_only.updated, None);
    assert_eq!(
        summary_only.content_html,
        "只有摘要，没有正文 &lt;也没有发布时间&gt;。"
    );
}

#[test]
fn times_without_an_offset_are_in_the_site_zone_and_gbk_is_decoded() {
    let text = r#"<?xml version="1.0" encoding="GBK"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>泽库县人民政府</title><link>http://www.zeku.example/</link><description>要闻</description>
<item><title>泽库县召开安全生产会议</title><link>http://www.zeku.example/a/1.html</link>
<pubDate>2021-06-01 09:30:00</pubDate><dc:contributor>才让</dc:contributor>
<media:content xmlns:media="http://search.yahoo.com/mrss/" url="/images/1.jpg" medium="image"><media:description>会议现场</media:description></media:content>
</item></channel></rss>"#;
    let (bytes, _, _) = encoding_rs::GBK.encode(text);
    let section = target();
    let feed = read_feed(
        &bytes,
        &url("http://www.zeku.example/rss.xml"),
        &mapping(&section, None),
    )
    .expect("the feed reads");
    let articles = normalize(&feed);
    let article = &articles[0];
    assert_eq!(article.title, "泽库县召开安全生产会议");
    assert_eq!(article.published.to_rfc3339(), "2021-06-01T09:30:00+08:00");
    assert_eq!(article.source.as_deref(), Some("泽库县人民政府"));
    // Not a tidings feed: a contributor is not taken for the editor.
    assert_eq!(article.editor, None);
    assert_eq!(
        images(article),
        [(
            "http://www.zeku.example/images/1.jpg",
            Some("会议现场"),
            None,
            None
        )]
    );
}

#[test]
fn documents_come_newest_first_and_once_per_entry() {
    let text = r#"<rss version="2.0"><channel><title>t</title><link>https://a.example/</link>
<description>d</description>
<item><title>old</title><link>https://a.example/1</link><pubDate>Mon, 31 May 2021 09:00:00 +0800</pubDate></item>
<item><title>new</title><link>https://a.example/2</link><pubDate>Tue, 01 Jun 2021 09:00:00 +0800</pubDate></item>
<item><title>again</title><link>https://a.example/2</link><pubDate>Tue, 01 Jun 2021 08:00:00 +0800</pubDate></item>
</channel></rss>"#;
    let section = target();
    let feed = read_feed(
        text.as_bytes(),
        &url("https://a.example/rss"),
        &mapping(&section, None),
    )
    .unwrap();
    let titles: Vec<&str> = feed
        .documents
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["new", "old"]);
    assert_eq!(
        feed.documents[0]["id"],
        json!(upstream_id("tongren", "https://a.example/2").as_str())
    );
}

#[test]
fn bodies_that_are_not_feeds_are_refused_with_a_reason() {
    let section = target();
    let feed_url = url("https://a.example/feed");
    let refuse = |body: &[u8]| {
        read_feed(body, &feed_url, &mapping(&section, None))
            .expect_err("not a feed")
            .to_string()
    };
    for (body, reason) in [
        (&b""[..], "the body is empty"),
        (b" \n\t ", "the body is empty"),
        (b"<!DOCTYPE html><html><body>404</body></html>", "HTML page"),
        (b"<html><head><title>x</title></head></html>", "HTML page"),
        (b"{\"status\": \"ok\"}", "not a JSON Feed"),
        (
            b"{\"version\": \"https://example.com/v2\", \"title\": \"x\", \"items\": []}",
            "not a JSON Feed",
        ),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary"),
        (b"just some words", "neither XML nor JSON"),
        (
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            "not RSS, Atom or JSON Feed",
        ),
        (b"<rss version=\"2.0\"><channel><title>x</chan", "malformed"),
    ] {
        let message = refuse(body);
        assert!(message.starts_with("is not a feed: "), "{message}");
        assert!(message.contains(reason), "{body:?}: {message}");
    }
}
