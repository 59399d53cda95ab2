use std::io::Read;

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, LINK, VARY,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, article, spawn_app};

const FORMATS: [(&str, &str); 3] = [
    ("rss", "application/rss+xml; charset=utf-8"),
    ("atom", "application/atom+xml; charset=utf-8"),
    ("json", "application/feed+json"),
];

async fn validators(app: &TestApp, path: &str) -> (String, String) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    let h = response.headers();
    (
        h[ETAG].to_str().unwrap().to_owned(),
        h[LAST_MODIFIED].to_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn every_section_and_all_serve_three_formats_with_cache_headers() {
    let app = spawn_app().await;
    let sections: Value = app.get("/api/v1/sections").await.json().await.unwrap();
    let mut scopes = vec!["all".to_owned()];
    fn collect(nodes: &Value, out: &mut Vec<String>) {
        for n in nodes.as_array().unwrap() {
            out.push(n["path"].as_str().unwrap().to_owned());
            collect(&n["children"], out);
        }
    }
    collect(&sections["sections"], &mut scopes);
    assert!(scopes.len() >= 13, "{scopes:?}");
    for scope in &scopes {
        for (ext, content_type) in FORMATS {
            let path = format!("/feeds/{scope}.{ext}");
            let response = app.get(&path).await;
            assert_eq!(response.status(), 200, "{path}");
            let h = response.headers();
            assert_eq!(h[CONTENT_TYPE], content_type, "{path}");
            assert_eq!(h[CACHE_CONTROL], "public, max-age=300");
            assert_eq!(h[VARY], "Accept-Encoding");
            let etag = h[ETAG].to_str().unwrap();
            assert!(
                etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
                "strong: {etag}"
            );
            assert_eq!(
                h[LINK].to_str().unwrap(),
                format!(
                    "<{0}/websub>; rel=\"hub\", <{0}/feeds/{scope}.{ext}>; rel=\"self\"",
                    app.address
                )
            );
        }
    }
}

#[tokio::test]
async fn conditional_gets_answer_304_for_each_validator() {
    let app = spawn_app().await;
    app.publish(&article("c-1", "hnyw/ldhd", "条件请求")).await;
    for (ext, _) in FORMATS {
        let path = format!("/feeds/hnyw.{ext}");
        let (etag, last_modified) = validators(&app, &path).await;
        let by_etag = app
            .client
            .get(app.url(&path))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(by_etag.status(), 304);
        assert_eq!(by_etag.headers()[ETAG], etag.as_str());
        assert!(by_etag.bytes().await.unwrap().is_empty());
        let by_date = app
            .client
            .get(app.url(&path))
            .header(IF_MODIFIED_SINCE, &last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(by_date.status(), 304);
        let stale = app
            .client
            .get(app.url(&path))
            .header(IF_NONE_MATCH, "\"nope\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200);
        let old_date = app
            .client
            .get(app.url(&path))
            .header(IF_MODIFIED_SINCE, "Mon, 01 Jan 2001 00:00:00 GMT")
            .send()
            .await
            .unwrap();
        assert_eq!(old_date.status(), 200);
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
        let both = app
            .client
            .get(app.url(&path))
            .header(IF_NONE_MATCH, "\"nope\"")
            .header(IF_MODIFIED_SINCE, &last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(both.status(), 200);
    }
}

#[tokio::test]
async fn a_change_moves_the_validators_of_its_section_its_ancestors_and_all_only() {
    let app = spawn_app().await;
    app.publish(&article("seed-1", "zwgk/tzgg", "通知")).await;
    let watched = [
        "/feeds/hnyw/ldhd.atom",
        "/feeds/hnyw.atom",
        "/feeds/all.atom",
        "/feeds/hnyw/ldhd.json",
    ];
    let untouched = [
        "/feeds/hnyw/bmdt.atom",
        "/feeds/zwgk.atom",
        "/feeds/zwgk/tzgg.rss",
    ];
    let mut before = Vec::new();
    for path in watched.iter().chain(&untouched) {
        before.push(validators(&app, path).await.0);
    }
    // Let Last-Modified (whole seconds) move too.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.publish(&article("inv-1", "hnyw/ldhd", "领导活动"))
        .await;
    for (i, path) in watched.iter().chain(&untouched).enumerate() {
        let (etag, _) = validators(&app, path).await;
        if i < watched.len() {
            assert_ne!(etag, before[i], "{path} must change");
        } else {
            assert_eq!(etag, before[i], "{path} must not change");
        }
    }
    let (_, last_modified) = validators(&app, "/feeds/all.rss").await;
    let response = app
        .client
        .get(app.url("/feeds/all.rss"))
        .header(IF_MODIFIED_SINCE, &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
}

/// The metric's value in the exposition text of `GET /metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// Every known label of a counter is there from the start, at zero; HTTP requests are counted
/// and timed by method, route template and status, a request that matched no route as
/// `unmatched`.
#[tokio::test]
async fn metrics_start_at_zero_and_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    for zero in [
        "tidings_webhook_deliveries_total{outcome=\"failed\"}",
        "tidings_webhook_deliveries_total{outcome=\"released\"}",
        "tidings_webhook_attempts_total{result=\"timeout\"}",
        "tidings_websub_deliveries_total{outcome=\"delivered\"}",
        "tidings_websub_verifications_total{outcome=\"verified\"}",
    ] {
        assert_eq!(metric(&app, zero).await, 0.0, "{zero}");
    }
    for _ in 0..2 {
        assert_eq!(app.get("/feeds/all.atom").await.status(), 200);
    }
    assert_eq!(app.get("/feeds/nowhere.atom").await.status(), 404);
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    assert_eq!(
        app.post_article(&article("m-1", "hnyw/ldhd", "计数"))
            .await
            .status(),
        201
    );
    let feed = "method=\"GET\",route=\"/feeds/{*feed}\"";
    assert_eq!(
        metric(
            &app,
            &format!("tidings_http_requests_total{{{feed},status=\"200\"}}")
        )
        .await,
        2.0
    );
    assert_eq!(
        metric(
            &app,
            &format!("tidings_http_requests_total{{{feed},status=\"404\"}}")
        )
        .await,
        1.0
    );
    assert_eq!(
        metric(
            &app,
            "tidings_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        metric(
            &app,
            "tidings_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/articles\",status=\"201\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_missing_together_share_one_render() {
    const READERS: usize = 40;
    let app = spawn_app().await;
    // Long entries, so that a render takes a while and the readers surely overlap it.
    let mut batch = Vec::new();
    for n in 0..100 {
        let mut doc = article(&format!("sf-{n}"), "hnyw/ldhd", "领导活动");
        doc["content_html"] = json!("<p>黄南州召开双拥工作领导小组会议。</p>".repeat(200));
        batch.push(doc);
    }
    let response = app.post_json("/api/v1/articles/batch", &json!(batch)).await;
    assert_eq!(response.status(), 200);
    // One connection per reader, opened beforehand.
    let mut clients = Vec::new();
    for _ in 0..READERS {
        let client = reqwest::Client::new();
        client.get(app.url("/healthz")).send().await.unwrap();
        clients.push(client);
    }
    for round in 0..3 {
        // A change makes the next reads of its feeds misses.
        app.publish(&article(&format!("sf-{round}-x"), "hnyw/ldhd", "领导活动"))
            .await;
        let before = metric(&app, "tidings_feed_renders_total").await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(READERS));
        let readers: Vec<_> = clients
            .iter()
            .map(|client| {
                let request = client.get(app.url("/feeds/hnyw.atom?limit=100"));
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    request.send().await.unwrap()
                })
            })
            .collect();
        let mut etags = Vec::new();
        for reader in readers {
            let response = reader.await.unwrap();
            assert_eq!(response.status(), 200);
            etags.push(response.headers()[ETAG].to_str().unwrap().to_owned());
        }
        etags.dedup();
        assert_eq!(etags.len(), 1, "every reader got the same document");
        let renders = metric(&app, "tidings_feed_renders_total").await - before;
        assert_eq!(
            renders, 1.0,
            "{READERS} readers of one changed feed, round {round}"
        );
    }
}

#[tokio::test]
async fn head_gives_the_headers_without_a_body() {
    let app = spawn_app().await;
    app.publish(&article("h-1", "zjhn/rgwh", "热贡")).await;
    let get = app.get("/feeds/zjhn.rss").await;
    let etag = get.headers()[ETAG].clone();
    let length = get.bytes().await.unwrap().len();
    let head = app
        .client
        .head(app.url("/feeds/zjhn.rss"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()[ETAG], etag);
    assert_eq!(
        head.headers()[CONTENT_TYPE],
        "application/rss+xml; charset=utf-8"
    );
    assert!(head.headers().contains_key(LINK));
    if let Some(len) = head.headers().get("content-length") {
        assert_eq!(len.to_str().unwrap(), length.to_string());
    }
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn gzip_and_brotli_decode_to_the_same_bytes() {
    let app = spawn_app().await;
    for i in 0..20 {
        app.publish(&article(
            &format!("z-{i}"),
            "hnyw/tpxw",
            &format!("图片新闻第{i}条"),
        ))
        .await;
    }
    let plain = app.get("/feeds/all.atom").await.bytes().await.unwrap();
    let gz = app
        .client
        .get(app.url("/feeds/all.atom"))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()[CONTENT_ENCODING], "gzip");
    let gz_etag = gz.headers()[ETAG].to_str().unwrap().to_owned();
    let gz_bytes = gz.bytes().await.unwrap();
    assert!(gz_bytes.len() < plain.len());
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gz_bytes[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);

    let br = app
        .client
        .get(app.url("/feeds/all.atom"))
        .header(ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(br.headers()[CONTENT_ENCODING], "br");
    let br_etag = br.headers()[ETAG].to_str().unwrap().to_owned();
    let br_bytes = br.bytes().await.unwrap();
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&br_bytes[..], 4096)
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);
    assert_ne!(gz_etag, br_etag, "each coding is its own representation");

    let revalidated = app
        .client
        .get(app.url("/feeds/all.atom"))
        .header(ACCEPT_ENCODING, "gzip")
        .header(IF_NONE_MATCH, &gz_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
}

#[tokio::test]
async fn limit_is_checked_and_newest_come_first() {
    let app = spawn_app().await;
    for day in 1..=5 {
        let mut doc = article(&format!("l-{day}"), "zwgk/zcwj/zcjd", &format!("解读{day}"));
        doc["published"] = format!("2024-03-0{day}").into();
        app.publish(&doc).await;
    }
    for day in 6..=7 {
        let mut doc = article(&format!("l-{day}"), "zwgk/zcwj/zcjd", &format!("解读{day}"));
        doc["published"] = format!("2024-03-0{day}").into();
        app.publish(&doc).await;
    }
    let titles = |feed: &Value| -> Vec<String> {
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_owned())
            .collect()
    };
    // A limit is rounded up to a step (1, 5, 10, …): 3, 4 and 5 are one cached document.
    let feed: Value = app
        .get("/feeds/zwgk.json?limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&feed), ["解读7", "解读6", "解读5", "解读4", "解读3"]);
    let renders = metric(&app, "tidings_feed_renders_total").await;
    for limit in [4, 5] {
        let again: Value = app
            .get(&format!("/feeds/zwgk.json?limit={limit}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(again, feed, "limit={limit}");
    }
    assert_eq!(metric(&app, "tidings_feed_renders_total").await, renders);
    let newest: Value = app
        .get("/feeds/zwgk.json?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&newest), ["解读7"]);
    for bad in ["0", "-1", "abc", "100000"] {
        let response = app.get(&format!("/feeds/zwgk.json?limit={bad}")).await;
        assert_eq!(response.status(), 400, "limit={bad}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "limit");
    }
    let unknown = app.get("/feeds/zwgk/nope.rss").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.headers()[CONTENT_TYPE], "application/problem+json");
    assert_eq!(app.get("/feeds/zwgk.xml").await.status(), 404);
}

#[tokio::test]
async fn index_opml_sections_and_health_are_served() {
    let app = spawn_app().await;
    app.publish(&article("i-1", "hnyw/ldhd", "首页文章")).await;
    let index = app.get_text("/").await;
    assert!(
        index.contains("<link rel=\"alternate\" type=\"application/rss+xml\""),
        "autodiscovery"
    );
    assert!(index.contains(&format!("{}/feeds/hnyw/ldhd.atom", app.address)));
    assert!(index.contains("领导动态"));
    let opml = app.get("/feeds.opml").await;
    assert!(
        opml.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/x-opml")
    );
    let opml = opml.text().await.unwrap();
    let parsed = opml::OPML::from_str(&opml).expect("valid OPML");
    assert_eq!(parsed.version, "2.0");
    assert!(opml.contains(&format!("{}/feeds/zwgk/zcwj/zcjd.rss", app.address)));
    let sections: Value = app.get("/api/v1/sections").await.json().await.unwrap();
    assert_eq!(sections["sections"][0]["title"], "黄南要闻");
    assert_eq!(sections["sections"][0]["children"][0]["path"], "hnyw/ldhd");
    let health: Value = app.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
}

fn has_openapi_validator() -> bool {
    crate::helpers::has_python_module("openapi_spec_validator")
}

#[tokio::test]
async fn the_api_description_is_served_and_valid_openapi() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let text = response.text().await.unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/v1/articles",
        "/api/v1/webhooks/{id}/deliveries",
        "/websub",
        "/feeds/{feed}",
        "/api/v1/events",
        "/api/v1/events/stream",
        "/feeds/{scope}.events",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} is described");
    }
    if !crate::helpers::require_tool("python3 openapi-spec-validator", has_openapi_validator()) {
        return;
    }
    let file = app.dir.path().join("openapi.json");
    std::fs::write(&file, text).unwrap();
    let output = tokio::process::Command::new("python3")
        .arg(crate::helpers::repo_path(
            "tests/interop/validate_openapi.py",
        ))
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
