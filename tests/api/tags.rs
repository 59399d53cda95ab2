//! Tag feeds, `/feeds/tags/{tag}.{rss,atom,json}`: the newest live articles of every section
//! that carry a tag, served and cached like section feeds, and WebSub topics of their own.

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LINK};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with};
use crate::receiver::Receiver;

/// 双拥, percent-encoded as it stands in every URL tidings writes.
const SHUANGYONG: &str = "%E5%8F%8C%E6%8B%A5";

/// An article in `section` with `tags`, published on day `day` of March 2024.
fn tagged(id: &str, section: &str, day: u32, tags: &[&str]) -> Value {
    json!({
        "id": id,
        "section": section,
        "title": format!("标题 {id}"),
        "url": format!("https://www.huangnan.gov.cn/{section}/{id}.html"),
        "published": format!("2024-03-{day:02}T10:00:00+08:00"),
        "content_html": format!("<p>{id}</p>"),
        "tags": tags,
    })
}

fn entry_id(id: &str) -> String {
    format!("tag:www.huangnan.gov.cn,2021:article/{id}")
}

fn entry_ids(body: &[u8]) -> Vec<String> {
    let feed = feed_rs::parser::parse(body).expect("a feed");
    feed.entries.into_iter().map(|e| e.id).collect()
}

async fn get_ok(app: &TestApp, path: &str) -> reqwest::Response {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response
}

#[tokio::test]
async fn a_tag_feed_holds_the_tagged_articles_of_every_section_in_three_formats() {
    let app = spawn_app().await;
    app.publish(&tagged("t-ldhd", "hnyw/ldhd", 1, &["双拥", "要闻"]))
        .await;
    app.publish(&tagged("t-tzgg", "zwgk/tzgg", 3, &["双拥"]))
        .await;
    app.publish(&tagged("t-rgwh", "zjhn/rgwh", 2, &["热贡"]))
        .await;
    app.publish(&tagged("t-none", "zjhn", 4, &[])).await;

    let self_base = format!("{}/feeds/tags/{SHUANGYONG}", app.address);
    let formats = [
        ("rss", "application/rss+xml; charset=utf-8"),
        ("atom", "application/atom+xml; charset=utf-8"),
        ("json", "application/feed+json"),
    ];
    for (ext, content_type) in formats {
        let response = get_ok(&app, &format!("/feeds/tags/{SHUANGYONG}.{ext}")).await;
        let h = response.headers().clone();
        assert_eq!(h[CONTENT_TYPE], content_type);
        assert_eq!(h[CACHE_CONTROL], "public, max-age=300");
        let self_url = format!("{self_base}.{ext}");
        assert_eq!(
            h[LINK].to_str().unwrap(),
            format!(
                "<{}/websub>; rel=\"hub\", <{self_url}>; rel=\"self\"",
                app.address
            )
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(
            entry_ids(&body),
            [entry_id("t-tzgg"), entry_id("t-ldhd")],
            "{ext}: the tagged articles of every section, newest first"
        );
        let feed = feed_rs::parser::parse(&body[..]).unwrap();
        assert_eq!(feed.title.unwrap().content, "黄南藏族自治州人民政府 - 双拥");
        let text = std::str::from_utf8(&body).unwrap();
        if ext == "json" {
            let doc: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(doc["feed_url"], self_url);
            assert_eq!(doc["hubs"][0]["url"], format!("{}/websub", app.address));
            assert_eq!(doc["_tidings"]["scope"], "tags/双拥");
            assert_eq!(doc["language"], "zh-CN");
            // Categories: the section's titles, then the article's tags.
            assert_eq!(
                doc["items"][1]["tags"],
                json!(["黄南要闻", "领导动态", "双拥", "要闻"])
            );
        } else {
            let doc = roxmltree::Document::parse(text).unwrap();
            let selfs: Vec<&str> = doc
                .descendants()
                .filter(|n| n.tag_name().name() == "link" && n.attribute("rel") == Some("self"))
                .filter_map(|n| n.attribute("href"))
                .collect();
            assert_eq!(selfs, [self_url.as_str()], "{ext}: exactly one self link");
        }
    }
    // The same feed, spelled as a browser sends it, and a tag of one article only.
    let raw = get_ok(&app, "/feeds/tags/双拥.atom").await;
    assert_eq!(
        raw.headers()[LINK].to_str().unwrap(),
        format!(
            "<{0}/websub>; rel=\"hub\", <{self_base}.atom>; rel=\"self\"",
            app.address
        )
    );
    let body = get_ok(&app, "/feeds/tags/%E7%83%AD%E8%B4%A1.rss")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(entry_ids(&body), [entry_id("t-rgwh")]);
    // A tag nobody carries is an empty feed, not an error: it fills once one does.
    let empty = get_ok(&app, "/feeds/tags/%E6%97%A0%E4%BA%BA.json").await;
    let doc: Value = empty.json().await.unwrap();
    assert_eq!(doc["items"], json!([]));
    // `?limit=` as for sections: 1 rounds up to the first step, 1.
    let one = get_ok(&app, &format!("/feeds/tags/{SHUANGYONG}.atom?limit=1")).await;
    assert_eq!(entry_ids(&one.bytes().await.unwrap()), [entry_id("t-tzgg")]);
}

/// `%E4%B9` as `%e4%b9`, the rest as it is.
fn lower_case_escapes(encoded: &str) -> String {
    let mut out = String::new();
    let mut hex_left = 0;
    for c in encoded.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn tags_with_spaces_and_reserved_characters_are_percent_encoded_in_urls() {
    let app = spawn_app().await;
    app.publish(&tagged("s-1", "zwgk", 1, &["乡村  振兴"]))
        .await;
    app.publish(&tagged("s-2", "hnyw", 2, &["C++ & Rust?"]))
        .await;
    let cases = [
        (
            "乡村 振兴",
            "%E4%B9%A1%E6%9D%91%20%E6%8C%AF%E5%85%B4",
            "s-1",
        ),
        ("C++ & Rust?", "C%2B%2B%20%26%20Rust%3F", "s-2"),
    ];
    for (tag, encoded, article) in cases {
        let self_url = format!("{}/feeds/tags/{encoded}.json", app.address);
        // Lower-case escapes name the same feed; the self link is always the canonical one.
        for path in [
            format!("/feeds/tags/{encoded}.json"),
            format!("/feeds/tags/{}.json", lower_case_escapes(encoded)),
        ] {
            let response = get_ok(&app, &path).await;
            assert!(
                response.headers()[LINK]
                    .to_str()
                    .unwrap()
                    .ends_with(&format!("<{self_url}>; rel=\"self\"")),
                "{path}"
            );
            let doc: Value = response.json().await.unwrap();
            assert_eq!(doc["feed_url"], self_url, "{path}");
            assert_eq!(doc["title"], format!("黄南藏族自治州人民政府 - {tag}"));
            assert_eq!(doc["items"][0]["id"], entry_id(article), "{path}");
            assert_eq!(doc["items"].as_array().unwrap().len(), 1, "{path}");
        }
    }
    // A tag is folded as ingest folds it: extra white space in the URL names the same feed.
    let folded = get_ok(
        &app,
        "/feeds/tags/%20%E4%B9%A1%E6%9D%91%09%E6%8C%AF%E5%85%B4.json",
    )
    .await;
    let doc: Value = folded.json().await.unwrap();
    assert_eq!(doc["items"][0]["id"], entry_id("s-1"));
}

#[tokio::test]
async fn bad_tags_and_unknown_formats_are_404_problems() {
    let app = spawn_app().await;
    let long = "%E5%AD%97".repeat(101);
    let cases = [
        ("/feeds/tags/.atom".to_owned(), "empty"),
        ("/feeds/tags/%20%20.atom".to_owned(), "empty"),
        ("/feeds/tags/a%2Fb.atom".to_owned(), "'/'"),
        ("/feeds/tags/a/b.atom".to_owned(), "'/'"),
        ("/feeds/tags/a%01b.rss".to_owned(), "U+0001"),
        (format!("/feeds/tags/{long}.json"), "at most 100"),
        (format!("/feeds/tags/{SHUANGYONG}.xml"), "no feed at"),
        (format!("/feeds/tags/{SHUANGYONG}"), "no feed at"),
    ];
    for (path, reason) in &cases {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/problem+json",
            "{path}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "/problems/not-found", "{path}");
        assert!(
            problem["detail"].as_str().unwrap().contains(reason),
            "{path}: {problem}"
        );
    }
    // A path that is not UTF-8 once decoded, and a bad limit: 4xx problems, never a 500.
    let not_utf8 = app.get("/feeds/tags/%FF.atom").await;
    assert!(not_utf8.status().is_client_error(), "{}", not_utf8.status());
    assert_eq!(not_utf8.headers()[CONTENT_TYPE], "application/problem+json");
    let bad_limit = app
        .get(&format!("/feeds/tags/{SHUANGYONG}.atom?limit=0"))
        .await;
    assert_eq!(bad_limit.status(), 400);
    let problem: Value = bad_limit.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "limit");
}

/// The renders counter: a document served from the cache does not count.
async fn renders(app: &TestApp) -> f64 {
    let text = app.get_text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix("tidings_feed_renders_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the renders counter")
}

async fn etag_of(app: &TestApp, path: &str) -> String {
    get_ok(app, path).await.headers()[ETAG]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn tag_feeds_are_cached_answer_304_and_change_with_their_articles() {
    let app = spawn_app().await;
    app.publish(&tagged("c-1", "hnyw/ldhd", 1, &["双拥"])).await;
    let path = format!("/feeds/tags/{SHUANGYONG}.atom");
    let first = get_ok(&app, &path).await;
    let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
    let last_modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    for (name, value) in [
        (IF_NONE_MATCH, etag.as_str()),
        (IF_MODIFIED_SINCE, last_modified.as_str()),
    ] {
        let conditional = app
            .client
            .get(app.url(&path))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(conditional.status(), 304);
        assert!(
            conditional.headers()[LINK]
                .to_str()
                .unwrap()
                .contains(&format!("/feeds/tags/{SHUANGYONG}.atom>; rel=\"self\""))
        );
    }

    // A change that does not touch the tag leaves its cached feed alone.
    let rendered = renders(&app).await;
    app.publish(&tagged("c-2", "zwgk", 2, &["热贡"])).await;
    assert_eq!(etag_of(&app, &path).await, etag);
    assert_eq!(renders(&app).await, rendered, "served from the cache");

    // An article gaining the tag, elsewhere, changes it at once.
    app.publish(&tagged("c-2", "zwgk", 2, &["热贡", "双拥"]))
        .await;
    let gained = get_ok(&app, &path).await;
    let gained_etag = gained.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(gained_etag, etag);
    assert_eq!(
        entry_ids(&gained.bytes().await.unwrap()),
        [entry_id("c-2"), entry_id("c-1")]
    );
    let stale = app
        .client
        .get(app.url(&path))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    // Losing it, and deletion: out of the entries; the deleted one as a tombstone in Atom.
    app.publish(&tagged("c-2", "zwgk", 2, &["热贡"])).await;
    let lost = get_ok(&app, &path).await.bytes().await.unwrap();
    assert_eq!(entry_ids(&lost), [entry_id("c-1")]);
    app.delete_article("c-1").await;
    let deleted = get_ok(&app, &path).await.text().await.unwrap();
    let doc = roxmltree::Document::parse(&deleted).unwrap();
    let refs: Vec<&str> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "deleted-entry")
        .filter_map(|n| n.attribute("ref"))
        .collect();
    assert_eq!(refs, [entry_id("c-1")]);
    assert!(entry_ids(deleted.as_bytes()).is_empty());
}

// --- WebSub ---------------------------------------------------------------------------------

async fn hub_app() -> TestApp {
    spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.retry_schedule_secs = vec![0.0, 0.05, 0.05, 0.05];
        c.delivery.jitter = 0.0;
        c.delivery.poll_interval_ms = 20;
        c.websub.coalesce_window_ms = 150;
        c.websub.verification_retry_secs = vec![0.05, 0.05];
        c.websub.lease_min_secs = 60;
    })
    .await
}

/// Subscribes `callback` to `topic` and waits until the verified subscription is stored.
async fn subscribe(app: &TestApp, topic: &str, callback: &str) {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("hub.mode", "subscribe"),
            ("hub.topic", topic),
            ("hub.callback", callback),
        ])
        .finish();
    let response = app
        .client
        .post(app.url("/websub"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    eventually("the subscription to be verified", || async {
        let view: Value = app
            .get_authorized("/api/v1/websub/subscriptions?limit=1000")
            .await
            .json()
            .await
            .unwrap();
        view["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["topic"] == topic && s["callback"] == callback)
            .then_some(())
    })
    .await;
}

/// The ids an Atom notification announces as removed.
fn tombstone_refs(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    let doc = roxmltree::Document::parse(text).unwrap();
    doc.descendants()
        .filter(|n| n.tag_name().name() == "deleted-entry")
        .filter_map(|n| n.attribute("ref").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn tag_subscribers_hear_of_articles_gaining_carrying_losing_and_deleted_with_the_tag() {
    let app = hub_app().await;
    let atom = Receiver::start().await;
    let json_sub = Receiver::start().await;
    let atom_topic = format!("{}/feeds/tags/{SHUANGYONG}.atom", app.address);
    subscribe(&app, &atom_topic, &atom.url).await;
    // The topic as a person types it: the same feed.
    subscribe(
        &app,
        &format!("{}/feeds/tags/双拥.json", app.address),
        &json_sub.url,
    )
    .await;

    // Published with the tag (and one without it, which is none of these topics' business).
    app.publish(&tagged("w-other", "hnyw", 1, &["热贡"])).await;
    app.publish(&tagged("w-1", "hnyw/ldhd", 2, &["双拥"])).await;
    let first = &atom.wait_for_posts(1).await[0];
    assert_eq!(
        first.header("content-type"),
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(
        first.header("link"),
        format!(
            "<{}/websub>; rel=\"hub\", <{atom_topic}>; rel=\"self\"",
            app.address
        )
    );
    assert_eq!(entry_ids(&first.body), [entry_id("w-1")]);
    let json_first = json_sub.wait_for_posts(1).await[0].json();
    assert_eq!(
        json_first["feed_url"],
        format!("{}/feeds/tags/{SHUANGYONG}.json", app.address)
    );
    let items: Vec<&Value> = json_first["items"].as_array().unwrap().iter().collect();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], entry_id("w-1"));

    // Changed while carrying it: the new version.
    let mut changed = tagged("w-1", "hnyw/ldhd", 2, &["双拥"]);
    changed["title"] = json!("改过的标题");
    app.publish(&changed).await;
    let second = &atom.wait_for_posts(2).await[1];
    let feed = feed_rs::parser::parse(&second.body[..]).unwrap();
    assert_eq!(feed.entries.len(), 1);
    assert_eq!(
        feed.entries[0].title.as_ref().unwrap().content,
        "改过的标题"
    );

    // Losing the tag: Atom says the entry left the feed.
    app.publish(&tagged("w-1", "hnyw/ldhd", 2, &["要闻"])).await;
    let third = &atom.wait_for_posts(3).await[2];
    assert!(entry_ids(&third.body).is_empty());
    assert_eq!(tombstone_refs(&third.body), [entry_id("w-1")]);

    // Gaining it (moving section as well), then deleted.
    app.publish(&tagged("w-2", "zjhn", 3, &[])).await;
    app.publish(&tagged("w-2", "zwgk/tzgg", 3, &["要闻", "双拥"]))
        .await;
    let fourth = &atom.wait_for_posts(4).await[3];
    assert_eq!(entry_ids(&fourth.body), [entry_id("w-2")]);
    app.delete_article("w-2").await;
    let fifth = &atom.wait_for_posts(5).await[4];
    assert!(entry_ids(&fifth.body).is_empty());
    assert_eq!(tombstone_refs(&fifth.body), [entry_id("w-2")]);

    // JSON Feed cannot say "removed": its subscriber got the versions with the tag, and
    // hears next of the next article carrying it.
    app.publish(&tagged("w-3", "zjhn/lyfw", 4, &["双拥"])).await;
    let json_posts = json_sub.wait_for_posts(4).await;
    let ids: Vec<Vec<String>> = json_posts
        .iter()
        .map(|p| {
            p.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        ids,
        [
            vec![entry_id("w-1")],
            vec![entry_id("w-1")],
            vec![entry_id("w-2")],
            vec![entry_id("w-3")],
        ]
    );
}

#[tokio::test]
async fn the_tags_are_listed_with_their_pages_and_feeds_and_on_the_index() {
    let app = spawn_app().await;
    let listed = |body: &Value| -> Vec<(String, u64)> {
        body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["tag"].as_str().unwrap().to_owned(),
                    t["articles"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let tags: Value = get_ok(&app, "/api/v1/tags").await.json().await.unwrap();
    assert_eq!(tags, json!({ "tags": [] }));

    app.publish(&tagged("l-1", "hnyw/ldhd", 1, &["双拥", "要闻"]))
        .await;
    app.publish(&tagged("l-2", "zwgk/tzgg", 2, &["双拥"])).await;
    app.publish(&tagged("l-3", "zjhn/rgwh", 3, &["热贡", "双拥"]))
        .await;
    let tags: Value = get_ok(&app, "/api/v1/tags").await.json().await.unwrap();
    assert_eq!(
        listed(&tags),
        // The most carried first, then by name as bytes (热 before 要).
        [("双拥".into(), 3), ("热贡".into(), 1), ("要闻".into(), 1)]
    );
    let first = &tags["tags"][0];
    assert_eq!(
        first["page"],
        format!("{}/feeds/tags/{SHUANGYONG}.html", app.address)
    );
    assert_eq!(
        first["feeds"]["atom"],
        format!("{}/feeds/tags/{SHUANGYONG}.atom", app.address)
    );
    // Every URL it gives answers.
    for url in [
        &first["page"],
        &first["feeds"]["rss"],
        &first["feeds"]["json"],
    ] {
        let path = url.as_str().unwrap().strip_prefix(&app.address).unwrap();
        get_ok(&app, path).await;
    }
    let two: Value = get_ok(&app, "/api/v1/tags?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed(&two), [("双拥".into(), 3)]);
    let refused = app.get("/api/v1/tags?limit=0").await;
    assert_eq!(refused.status(), 400);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "limit", "{problem}");

    // A deleted article counts no more, on the index either.
    let deleted = app.delete_article("l-3").await;
    assert!(deleted.status().is_success());
    let tags: Value = get_ok(&app, "/api/v1/tags").await.json().await.unwrap();
    assert_eq!(listed(&tags), [("双拥".into(), 2), ("要闻".into(), 1)]);
    let index = get_ok(&app, "/").await.text().await.unwrap();
    let section = &index[index
        .find("<section id=\"tags\">")
        .expect("the index's tags")..];
    assert!(section.contains(&format!(
        "<a href=\"{}/feeds/tags/{SHUANGYONG}.html\">双拥</a> <span class=\"count\">2 篇</span>",
        app.address
    )));
    assert!(!section.contains("热贡"));
}
