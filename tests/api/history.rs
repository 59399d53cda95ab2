//! RFC 5005: from any feed a reader can walk back through every article of its scope, page by
//! page, and each version of a page is served at a URL of its own, cacheable forever.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH, LOCATION};
use serde_json::{Value, json};

use crate::helpers::{TestApp, article, spawn_app_with};

const ATOM: &str = "http://www.w3.org/2005/Atom";
const HISTORY: &str = "http://purl.org/syndication/history/1.0";

/// Five entries a page, and twelve articles in a section of `hnyw` and three elsewhere, two of
/// them at the same instant.
async fn app_with_twelve() -> TestApp {
    let app = spawn_app_with(|c| c.feeds.default_limit = 5).await;
    let mut batch = Vec::new();
    for n in 0..12 {
        let mut a = article(&format!("h-{n:02}"), "hnyw/ldhd", &format!("第{n}篇"));
        let minute = if n == 7 { 6 } else { n };
        a["published"] = json!(format!("2024-05-01T08:{minute:02}:00+08:00"));
        a["tags"] = json!(["双拥"]);
        batch.push(a);
    }
    for n in 0..3 {
        batch.push(article(&format!("z-{n}"), "zwgk", "政务"));
    }
    let answer = app.post_json("/api/v1/articles/batch", &batch).await;
    assert!(
        answer.status().is_success(),
        "{}",
        answer.text().await.unwrap()
    );
    app
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `href` of the document's Atom link with `rel`, at the feed (or channel) level.
fn link(text: &str, rel: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(text).expect("well-formed XML");
    let top = doc.root_element();
    let parent = top
        .children()
        .find(|n| n.has_tag_name("channel"))
        .unwrap_or(top);
    parent
        .children()
        .find(|n| n.has_tag_name((ATOM, "link")) && n.attribute("rel") == Some(rel))
        .and_then(|n| n.attribute("href").map(str::to_owned))
}

fn entry_ids(text: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(text).expect("well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name((ATOM, "entry")) || n.has_tag_name("item"))
        .filter_map(|n| {
            n.children()
                .find(|c| c.has_tag_name((ATOM, "id")) || c.has_tag_name("guid"))
                .and_then(|c| c.text())
                .map(|id| id.rsplit('/').next().unwrap().to_owned())
        })
        .collect()
}

fn is_archive(text: &str) -> bool {
    let doc = roxmltree::Document::parse(text).expect("well-formed XML");
    doc.descendants()
        .any(|n| n.has_tag_name((HISTORY, "archive")))
}

/// Follows one `prev-archive` link: a redirect to the current version, then the page.
async fn follow(href: &str) -> (String, String) {
    let client = no_redirects();
    let first = client.get(href).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::FOUND, "{href}");
    let location = first.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(href) && location.contains("&v="),
        "{location}"
    );
    let page = client.get(&location).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{location}");
    assert_eq!(
        page.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    let etag = page.headers()[ETAG].clone();
    let text = page.text().await.unwrap();
    // Revalidation costs nothing.
    let again = client
        .get(&location)
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    (location, text)
}

#[tokio::test]
async fn a_reader_walks_back_through_every_article_of_a_section() {
    let app = app_with_twelve().await;
    for feed_path in [
        "/feeds/hnyw.atom",
        "/feeds/hnyw.rss",
        "/feeds/tags/%E5%8F%8C%E6%8B%A5.atom",
    ] {
        let feed_url = app.url(feed_path);
        let feed = app.get_text(feed_path).await;
        assert!(!is_archive(&feed));
        let mut seen = entry_ids(&feed);
        assert_eq!(seen.len(), 5);
        let mut next = link(&feed, "prev-archive");
        assert_eq!(next, link(&feed, "next"), "paged and archived alike");
        let mut pages = 0;
        let mut in_front: Option<String> = None;
        while let Some(href) = next {
            let (location, page) = follow(&href).await;
            assert!(is_archive(&page), "{location}");
            assert_eq!(link(&page, "current").as_deref(), Some(feed_url.as_str()));
            // The page in front: none for the first (the feed is), else the one just read.
            assert_eq!(link(&page, "next-archive"), in_front, "{location}");
            seen.extend(entry_ids(&page));
            next = link(&page, "prev-archive");
            in_front = Some(href);
            pages += 1;
        }
        assert_eq!(pages, 2, "{feed_path}: 5 + 5 + 2");
        // h-07 and h-06 share their instant (the later id first), across a page boundary.
        let expected: Vec<String> = (0..12).rev().map(|n| format!("h-{n:02}")).collect();
        assert_eq!(seen, expected, "{feed_path}");
    }
}

#[tokio::test]
async fn json_feed_pages_follow_next_url() {
    let app = app_with_twelve().await;
    let feed: Value = app.get("/feeds/hnyw.json").await.json().await.unwrap();
    let mut count = feed["items"].as_array().unwrap().len();
    let mut next = feed["next_url"].as_str().map(str::to_owned);
    while let Some(href) = next {
        // The shared client follows the redirect to the current version.
        let page: Value = app
            .client
            .get(&href)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["feed_url"], app.url("/feeds/hnyw.json"));
        count += page["items"].as_array().unwrap().len();
        next = page["next_url"].as_str().map(str::to_owned);
    }
    assert_eq!(count, 12);
}

#[tokio::test]
async fn a_changed_page_gets_a_new_version_and_the_old_one_redirects() {
    let app = app_with_twelve().await;
    let feed = app.get_text("/feeds/hnyw/ldhd.atom").await;
    let href = link(&feed, "prev-archive").expect("a page behind the feed");
    let (old, page) = follow(&href).await;
    assert!(entry_ids(&page).contains(&"h-03".to_owned()));

    let mut changed = article("h-03", "hnyw/ldhd", "第3篇(更正)");
    changed["published"] = json!("2024-05-01T08:03:00+08:00");
    app.publish(&changed).await;

    let answer = no_redirects().get(&old).send().await.unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::FOUND,
        "an old version is not served"
    );
    let new = answer.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_ne!(new, old);
    let (_, page) = follow(&href).await;
    assert!(page.contains("第3篇(更正)"));
}

#[tokio::test]
async fn a_bad_cursor_is_a_clear_client_error() {
    let app = app_with_twelve().await;
    for query in ["before=", "before=yesterday", "before=12.bad%20id"] {
        let answer = app.get(&format!("/feeds/hnyw.atom?{query}")).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{query}");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(
            problem["errors"][0]["field"], "before",
            "{query}: {problem}"
        );
    }
}
