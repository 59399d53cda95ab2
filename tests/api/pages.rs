//! Pages for people over HTTP: each section's page beside its feeds, the index's latest
//! articles and search box, and the search (on whichever engine the suite runs on).

use std::io::Read;

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, LINK, VARY,
};
use serde_json::{Value, json};

use crate::helpers::{TOKEN, TestApp, article, seed_article, spawn_app};

const HTML: &str = "text/html; charset=utf-8";

async fn get_with(app: &TestApp, path: &str, name: &str, value: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(name, value)
        .send()
        .await
        .unwrap()
}

/// The titles of the articles a page lists, in order.
fn listed_titles(html: &str) -> Vec<String> {
    html.split("<h3><a href=\"")
        .skip(1)
        .map(|rest| {
            let title = &rest[rest.find("\">").unwrap() + 2..];
            title[..title.find("</a>").unwrap()].to_owned()
        })
        .collect()
}

async fn search(app: &TestApp, query: &str) -> Vec<String> {
    let url = reqwest::Url::parse_with_params(&app.url("/search"), [("q", query)]).unwrap();
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "q={query}");
    assert_eq!(response.headers()[CONTENT_TYPE], HTML);
    listed_titles(&response.text().await.unwrap())
}

#[tokio::test]
async fn a_section_page_is_html_with_the_feeds_caching_and_revalidates() {
    let app = spawn_app().await;
    app.publish(&seed_article()).await;
    let path = "/feeds/hnyw/ldhd.html";
    let response = app.get(path).await;
    assert_eq!(response.status(), 200);
    let h = response.headers().clone();
    assert_eq!(h[CONTENT_TYPE], HTML);
    assert_eq!(h[CACHE_CONTROL], "public, max-age=300");
    assert_eq!(h[VARY], "Accept-Encoding");
    assert_eq!(
        h[LAST_MODIFIED],
        app.get("/feeds/hnyw/ldhd.atom").await.headers()[LAST_MODIFIED]
    );
    assert!(!h.contains_key(LINK), "a page is not a WebSub topic");
    let etag = h[ETAG].to_str().unwrap().to_owned();
    let html = response.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"zh-CN\">"));
    assert_eq!(
        listed_titles(&html),
        [seed_article()["title"].as_str().unwrap()]
    );
    assert!(
        html.contains(
            "<time datetime=\"2021-06-01T00:00:00+08:00\">2021-06-01 00:00 +08:00</time>"
        )
    );
    assert!(html.contains(&format!(
        "<code class=\"url\" id=\"feed-atom\">{}/feeds/hnyw/ldhd.atom</code>",
        app.address
    )));

    let by_etag = get_with(&app, path, IF_NONE_MATCH.as_str(), &etag).await;
    assert_eq!(by_etag.status(), 304);
    assert_eq!(by_etag.headers()[ETAG], etag.as_str());
    assert!(by_etag.bytes().await.unwrap().is_empty());
    let last_modified = h[LAST_MODIFIED].to_str().unwrap();
    let by_date = get_with(&app, path, IF_MODIFIED_SINCE.as_str(), last_modified).await;
    assert_eq!(by_date.status(), 304);

    // gzip: its own tag, the same page.
    let gz = get_with(&app, path, ACCEPT_ENCODING.as_str(), "gzip").await;
    assert_eq!(gz.headers()[CONTENT_ENCODING], "gzip");
    assert_ne!(gz.headers()[ETAG], etag.as_str());
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&gz.bytes().await.unwrap()[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, html);

    // A new article in the section is a new page.
    app.publish(&article("p-new", "hnyw/ldhd", "新的一篇"))
        .await;
    let changed = get_with(&app, path, IF_NONE_MATCH.as_str(), &etag).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()[ETAG], etag.as_str());
    let html = changed.text().await.unwrap();
    assert_eq!(listed_titles(&html)[0], "新的一篇");

    let head = app.client.head(app.url(path)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()[CONTENT_TYPE], HTML);
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn every_scope_has_a_page_and_unknown_ones_answer_404_problems() {
    let app = spawn_app().await;
    for path in [
        "/feeds/all.html",
        "/feeds/hnyw.html",
        "/feeds/zwgk/zcwj/zcjd.html",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()[CONTENT_TYPE], HTML, "{path}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("暂无文章。"),
            "{path}: an empty section says so"
        );
    }
    for (path, detail) in [
        ("/feeds/nope.html", "no section \"nope\""),
        ("/feeds/hnyw/ldhdd.html", "did you mean hnyw/ldhd,"),
        ("/feeds/hnyw.htm", "no feed at /feeds/hnyw.htm"),
        ("/feeds/.html", "no section \"\""),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(detail),
            "{path}: {problem}"
        );
    }
}

#[tokio::test]
async fn hostile_text_is_escaped_on_every_page() {
    let app = spawn_app().await;
    let mut hostile = article(
        "p-hostile",
        "zwgk/tzgg",
        "<script>alert(1)</script> & \"quoted\" <img src=x onerror=alert(2)>",
    );
    hostile["source"] = json!("<b>来源</b>");
    hostile["summary"] = json!("摘要 </p><script>alert(3)</script>");
    app.publish(&hostile).await;
    let escaped_title = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; \
                         &lt;img src=x onerror=alert(2)&gt;";
    let pages = [
        "/".to_owned(),
        "/feeds/zwgk.html".to_owned(),
        "/search?q=%3Cscript%3E".to_owned(),
    ];
    for path in pages {
        let html = app.get_text(&path).await;
        assert!(html.contains(escaped_title), "{path}");
        assert!(html.contains("来源：&lt;b&gt;来源&lt;/b&gt;"), "{path}");
        assert!(
            html.contains("摘要 &lt;/p&gt;&lt;script&gt;alert(3)"),
            "{path}"
        );
        for raw in ["<script>alert", "<img src=x", "<b>来源"] {
            assert!(!html.contains(raw), "{path}: {raw}");
        }
    }
    let search = app.get_text("/search?q=%3Cscript%3E").await;
    assert!(search.contains("value=\"&lt;script&gt;\""));
}

#[tokio::test]
async fn a_search_needs_a_query_of_1_to_200_characters() {
    let app = spawn_app().await;
    let long = "黄".repeat(201);
    let cases = [
        ("/search".to_owned(), "must not be empty"),
        ("/search?q=".to_owned(), "must not be empty"),
        ("/search?q=%20%09%E3%80%80".to_owned(), "must not be empty"),
        (
            format!("/search?q={long}"),
            "must be at most 200 characters, not 201",
        ),
        (
            "/search?q=a%00b".to_owned(),
            "must not contain control characters",
        ),
    ];
    for (path, reason) in cases {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "q", "{path}");
        assert!(
            problem["errors"][0]["reason"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{path}: {problem}"
        );
    }
    let longest = format!("/search?q={}", "黄".repeat(200));
    assert_eq!(app.get(&longest).await.status(), 200);
    // The first `q` counts; other parameters are ignored.
    assert_eq!(app.get("/search?x=1&q=a&q=").await.status(), 200);
}

#[tokio::test]
async fn a_search_finds_titles_and_summaries_newest_first() {
    let app = spawn_app().await;
    app.publish(&seed_article()).await; // 2021-06-01, 双拥 in its title
    let mut notice = article("p-notice", "zwgk/tzgg", "关于做好2024年拥军优属工作的通知");
    notice["published"] = json!("2024-06-01 09:00");
    notice["summary"] = json!("各单位要做好双拥工作。");
    app.publish(&notice).await;
    let mut english = article(
        "p-english",
        "zjhn/rgwh",
        "Regong Arts Festival Opens in Tongren",
    );
    english["published"] = json!("2024-07-15T09:30:00+08:00");
    english["language"] = json!("en");
    english["content_html"] = json!("<p>Thangka painters from <b>100%</b> of the villages_</p>");
    app.publish(&english).await;
    let gone = article("p-gone", "hnyw/ldhd", "双拥 已删除");
    app.publish(&gone).await;
    let deleted = app
        .client
        .delete(app.url("/api/v1/articles/p-gone"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);

    let seed_title = seed_article()["title"].as_str().unwrap().to_owned();
    assert_eq!(
        search(&app, "双拥").await,
        ["关于做好2024年拥军优属工作的通知", seed_title.as_str()],
        "title or summary, newest first, the deleted one left out"
    );
    assert_eq!(
        search(&app, "regong ARTS").await,
        ["Regong Arts Festival Opens in Tongren"]
    );
    // The summary derived from a body: its text, without markup; wildcards are literal.
    let english_only = ["Regong Arts Festival Opens in Tongren"];
    for query in ["thangka PAINTERS", "100%", "%", "villages_"] {
        assert_eq!(search(&app, query).await, english_only, "q={query}");
    }
    assert!(search(&app, "<b>").await.is_empty());
    // Markup is not text: the seed's body has images, and "img" is in no title or summary.
    assert!(search(&app, "img").await.is_empty());
    // Words of the seed's body past its 200-character summary are not searched.
    assert!(search(&app, "退役军人保障法").await.is_empty());
    let none = app.get_text("/search?q=%E4%B8%8D%E5%AD%98%E5%9C%A8").await;
    assert!(none.contains("没有找到相关文章。"));
}

#[tokio::test]
async fn the_index_shows_the_latest_articles_a_search_box_and_each_sections_page() {
    let app = spawn_app().await;
    for day in 1..=12 {
        let mut doc = article(&format!("p-{day}"), "hnyw/bmdt", &format!("部门动态{day}"));
        doc["published"] = json!(format!("2024-03-{day:02}"));
        app.publish(&doc).await;
    }
    let html = app.get_text("/").await;
    let titles = listed_titles(&html);
    let newest: Vec<String> = (3..=12).rev().map(|d| format!("部门动态{d}")).collect();
    assert_eq!(titles, newest, "the 10 newest of the whole site");
    assert!(html.contains(&format!(
        "<form class=\"search\" role=\"search\" method=\"get\" action=\"{}/search\">",
        app.address
    )));
    assert!(html.contains(&format!(
        "<a class=\"title\" href=\"{}/feeds/hnyw/bmdt.html\">部门动态</a>",
        app.address
    )));
    assert!(html.contains(&format!("href=\"{}/feeds/all.html\"", app.address)));
}
