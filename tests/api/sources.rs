//! Sources: article pages imported on request, crawled sections, upstream feeds and their
//! hubs, against a small portal the test serves on loopback and a second tidings instance.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{TOKEN, TestApp, eventually, fresh_database_url, repo_path, spawn_app_with};
use crate::seed::{IMAGE_BASE, IMAGES, seed_paragraphs};
use crate::site::{Page, TestSite};

const SEED_URL: &str = "https://www.huangnan.gov.cn/hnyw/ldhd/202106/t20210601_1.html";
const SEED_TITLE: &str = "黄南:切实担负起做好双拥工作的重大政治责任 推动全州双拥工作再上新台阶";

/// The seed page's text, or `None` (skipped outside CI) when it is not beside the repository.
fn seed_text() -> Option<Vec<u8>> {
    let path = repo_path("../shared/seeds/000_20c8fe8c0272cedc.txt");
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the seed page is not beside the repository ({}); CI needs it",
                path.display()
            );
            eprintln!("SKIPPED: the seed page is not beside the repository");
            None
        }
    }
}

fn gbk_fixture() -> Vec<u8> {
    std::fs::read(repo_path("tests/fixtures/pages/seed-gbk.html")).expect("the GBK fixture")
}

/// A catalogue folder: the shipped sections and `sources` as `sources.toml`.
fn catalog_with_sources(sources: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for entry in std::fs::read_dir(repo_path("feeds")).expect("the shipped catalogue") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.path().join("sources.toml"), sources).unwrap();
    dir
}

async fn spawn_with_catalog(catalog: &Path, allow_private: bool) -> TestApp {
    let catalog = catalog.to_owned();
    spawn_app_with(move |c| {
        c.catalog_dir = Some(catalog);
        c.delivery.allow_private_destinations = allow_private;
        c.websub.coalesce_window_ms = 0;
    })
    .await
}

/// Fetches politely but quickly, and gives up on a page after a second.
const FAST_FETCH: &str = "[fetch]\ndelay_ms = 20\ntimeout_secs = 1\n";

/// `POST /api/v1/articles/import` with a page's bytes.
async fn import_bytes(
    app: &TestApp,
    bytes: Vec<u8>,
    content_type: &str,
    query: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/articles/import?{query}")))
        .bearer_auth(TOKEN)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("the import answers")
}

fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The texts of the `<p>`s of `html` that are not images.
fn paragraphs(html: &str) -> Vec<String> {
    html.split("<p")
        .skip(1)
        .filter_map(|p| p.split_once('>').map(|(_, rest)| rest))
        .filter_map(|p| p.split("</p>").next())
        .filter(|p| !p.is_empty() && !p.contains("<img"))
        .map(str::to_owned)
        .collect()
}

fn image_urls(article: &Value) -> Vec<String> {
    article["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["url"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_seed_page_imports_with_every_field() {
    let Some(seed) = seed_text() else { return };
    let app = spawn_app_with(|_| {}).await;
    let q = query(&[("url", SEED_URL), ("image_base", IMAGE_BASE)]);
    let response = import_bytes(&app, seed.clone(), "text/plain; charset=utf-8", &q).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let article = &body["article"];
    assert_eq!(body["status"], "created");
    assert_eq!(article["section"], "hnyw/ldhd");
    assert_eq!(article["title"], SEED_TITLE);
    assert_eq!(article["source"], "黄南报");
    assert_eq!(article["published"], "2021-06-01T00:00:00+08:00");
    assert_eq!(article["editor"], Value::Null);
    assert_eq!(article["url"], SEED_URL);
    let expected: Vec<String> = IMAGES.iter().map(|i| format!("{IMAGE_BASE}{i}")).collect();
    assert_eq!(image_urls(article), expected);
    let html = article["content_html"].as_str().unwrap();
    assert_eq!(
        paragraphs(html),
        seed_paragraphs(),
        "every paragraph, in order"
    );
    // Each image between the paragraphs it stands between in the page.
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} in the body"))
    };
    let starts: Vec<String> = seed_paragraphs()
        .iter()
        .map(|p| p.chars().take(12).collect())
        .collect();
    for (i, image) in IMAGES.iter().enumerate() {
        assert!(
            at(&starts[i]) < at(image) && at(image) < at(&starts[i + 1]),
            "{image} in place"
        );
    }

    // The same page again changes nothing.
    let again = import_bytes(&app, seed, "text/plain", &q).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["article"]["id"], article["id"]);
}

#[tokio::test]
async fn a_gbk_rendition_of_the_seed_gives_the_same_article() {
    let Some(seed) = seed_text() else { return };
    let app = spawn_app_with(|_| {}).await;
    let q = query(&[("url", SEED_URL), ("image_base", IMAGE_BASE)]);
    let from_text: Value = import_bytes(&app, seed, "text/plain", &q)
        .await
        .json()
        .await
        .unwrap();
    let response = import_bytes(
        &app,
        gbk_fixture(),
        "text/html",
        &query(&[("url", SEED_URL)]),
    )
    .await;
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    let from_html: Value = response.json().await.unwrap();
    let (a, b) = (&from_text["article"], &from_html["article"]);
    assert_eq!(a["id"], b["id"], "the same URL, the same article");
    for field in ["section", "title", "source", "published", "editor", "url"] {
        assert_eq!(a[field], b[field], "{field}");
    }
    assert_eq!(image_urls(a), image_urls(b));
    assert_eq!(
        paragraphs(a["content_html"].as_str().unwrap()),
        paragraphs(b["content_html"].as_str().unwrap())
    );
}

#[tokio::test]
async fn what_is_not_an_article_page_is_refused_and_named() {
    let site = TestSite::start().await;
    site.put(
        "/gone.html",
        Page {
            status: 404,
            ..Page::html("gone")
        },
    );
    let app = spawn_app_with(|c| c.delivery.allow_private_destinations = true).await;
    let cases: Vec<(Vec<u8>, &str, String, &str)> = vec![
        (
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            "text/html",
            query(&[("url", SEED_URL)]),
            "page",
        ),
        (
            b"<html><body><p>no title, no date</p></body></html>".to_vec(),
            "text/html",
            query(&[("url", SEED_URL)]),
            "page",
        ),
        (
            b"".to_vec(),
            "text/html",
            query(&[("url", SEED_URL)]),
            "page",
        ),
        (
            gbk_fixture(),
            "text/html",
            query(&[("url", SEED_URL), ("section", "nowhere")]),
            "section",
        ),
        (
            gbk_fixture(),
            "text/html",
            query(&[("url", "ftp://x/y")]),
            "url",
        ),
    ];
    for (bytes, content_type, q, field) in cases {
        let response = import_bytes(&app, bytes, content_type, &q).await;
        assert!(
            matches!(response.status().as_u16(), 400 | 422),
            "{q}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{q}"
        );
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{q}: {problem}"
        );
    }
    // A page to fetch that is not there.
    let response = app
        .post_json(
            "/api/v1/articles/import",
            &json!({"url": site.url("/gone.html")}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "url");
    assert!(
        problem["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{problem}"
    );
    // Nothing of all this was stored.
    let feed: Value = app.get("/feeds/all.json").await.json().await.unwrap();
    assert_eq!(feed["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_page_is_fetched_when_its_url_is_given() {
    let site = TestSite::start().await;
    site.put(
        "/hnyw/ldhd/202106/t20210601_1.html",
        Page::html_bytes(gbk_fixture()),
    );
    let app = spawn_app_with(|c| c.delivery.allow_private_destinations = true).await;
    let url = site.url("/hnyw/ldhd/202106/t20210601_1.html");
    let response = app
        .post_json("/api/v1/articles/import", &json!({"url": url}))
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["article"]["title"], SEED_TITLE);
    assert_eq!(body["article"]["section"], "hnyw/ldhd");
    // Its images are resolved against where the page was.
    for image in image_urls(&body["article"]) {
        assert!(
            image.starts_with(&site.url("/hnyw/ldhd/202106/")),
            "{image}"
        );
    }

    // Without the switch, tidings fetches nothing on a private address for a client.
    let closed = spawn_app_with(|_| {}).await;
    let response = closed
        .post_json("/api/v1/articles/import", &json!({"url": url}))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(site.hits("/hnyw/ldhd/202106/t20210601_1.html"), 1);
}

/// A TRS-style article page in UTF-8.
fn article_page(title: &str, date: &str, paragraph: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="ArticleTitle" content="{title}"><meta name="PubDate" content="{date}">
<meta name="ContentSource" content="黄南州融媒体中心"><title>{title}</title></head>
<body><div class="position">当前位置：<a href="/">首页</a> &gt; <a href="/hnyw/">黄南要闻</a> &gt; <a href="/hnyw/ldhd/">领导动态</a></div>
<h1>{title}</h1><div class="TRS_Editor"><p>{paragraph}</p></div>
<div>[责任编辑:卓玛]</div></body></html>"#
    )
}

fn list_page(links: &[&str]) -> String {
    let items: String = links
        .iter()
        .map(|href| format!(r#"<li><a href="{href}">文章</a></li>"#))
        .collect();
    format!(
        r#"<html><head><meta charset="utf-8"></head><body>
<ul class="list">{items}</ul><a href="https://elsewhere.example/out.html">外链</a></body></html>"#
    )
}

/// `GET /api/v1/sources`: the one source.
async fn source_view(app: &TestApp) -> Value {
    let body: Value = app
        .get_authorized("/api/v1/sources")
        .await
        .json()
        .await
        .unwrap();
    body["sources"][0].clone()
}

/// What the binary did: whether it succeeded, and what it said (standard output, then error).
struct Ran {
    success: bool,
    code: Option<i32>,
    said: String,
}

/// Runs the binary with `--config config` and `args`.
async fn tidings(config: &Path, args: &[&str]) -> Ran {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("TIDINGS_LOG", "warn")
        .output()
        .await
        .expect("the binary runs");
    Ran {
        success: output.status.success(),
        code: output.status.code(),
        said: String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    }
}

/// A configuration file for the binary on `app`'s database and `catalog`.
fn cli_config(app: &TestApp, catalog: &Path) -> PathBuf {
    let path = app.dir.path().join("cli.toml");
    std::fs::write(
        &path,
        format!(
            "database_url = \"{}\"\ncatalog_dir = \"{}\"\n\n[delivery]\nallow_private_destinations = true\n",
            app.config.database_url,
            catalog.display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn a_crawled_section_takes_each_new_page_once_and_politely() {
    let site = TestSite::start().await;
    site.put(
        "/robots.txt",
        Page {
            content_type: "text/plain".into(),
            ..Page::html("User-agent: *\nDisallow: /private/\n")
        },
    );
    site.put(
        "/hnyw/ldhd/",
        Page::html(list_page(&[
            "202106/t20210601_1.html",
            "202106/t20210602_2.html",
            "202106/missing.html",
            "202106/slow.html",
            "/private/t3.html",
            "202106/t20210601_1.html#again",
        ]))
        .with_etag("\"list-1\""),
    );
    site.put(
        "/hnyw/ldhd/202106/t20210601_1.html",
        Page::html_bytes(gbk_fixture()),
    );
    site.put(
        "/hnyw/ldhd/202106/t20210602_2.html",
        Page::html(article_page(
            "州领导调研热贡文化保护",
            "2021-06-02 09:30",
            "调研热贡艺术传承。",
        )),
    );
    site.put(
        "/hnyw/ldhd/202106/slow.html",
        Page::html(article_page("慢页面", "2021-06-03 10:00", "……")).slow(Duration::from_secs(3)),
    );
    site.put(
        "/private/t3.html",
        Page::html(article_page(
            "不该抓取",
            "2021-06-03 10:00",
            "robots.txt 禁止。",
        )),
    );
    let catalog = catalog_with_sources(&format!(
        "{FAST_FETCH}
[[source]]
name = \"ldhd\"
kind = \"pages\"
list = \"{list}\"
links = \"ul.list a\"
interval_secs = 3600
",
        list = site.url("/hnyw/ldhd/")
    ));
    let app = spawn_with_catalog(catalog.path(), true).await;

    // The runner takes the source at once.
    let view = eventually("the source's first run", || async {
        let view = source_view(&app).await;
        view["last_outcome"].is_string().then_some(view)
    })
    .await;
    assert_eq!(view["last_outcome"], "ok", "{view}");
    assert_eq!(view["last_run"]["created"], 2, "{view}");
    assert_eq!(view["articles_taken"], 2);
    assert_eq!(view["kind"], "pages");
    assert!(view["next_run_at"].is_string());

    // Each page by its breadcrumb, in the section's feed.
    let feed: Value = app.get("/feeds/hnyw/ldhd.json").await.json().await.unwrap();
    let titles: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&SEED_TITLE) && titles.contains(&"州领导调研热贡文化保护"));
    assert_eq!(site.hits("/private/t3.html"), 0, "robots.txt is obeyed");
    assert!(site.hits("/robots.txt") >= 1);
    assert!(site.hits("/hnyw/ldhd/202106/missing.html") == 1);
    assert!(
        site.user_agents()
            .iter()
            .all(|ua| ua.starts_with("tidings/")),
        "a clear User-Agent"
    );

    // A second pass from the command line: the list is not modified, no page is fetched
    // again but those that failed (missing, slow).
    let config = cli_config(&app, catalog.path());
    let ran = tidings(&config, &["crawl", "--once"]).await;
    let stdout = ran.said;
    assert!(ran.success, "{stdout}");
    assert!(stdout.starts_with("ldhd: 0 created"), "{stdout}");
    assert_eq!(site.hits("/hnyw/ldhd/"), 2);
    assert_eq!(site.hits("/hnyw/ldhd/202106/t20210601_1.html"), 1);
    assert_eq!(site.hits("/hnyw/ldhd/202106/t20210602_2.html"), 1);

    // The list changes: only the new page is fetched, by a pass that reads the list again.
    site.put(
        "/hnyw/ldhd/",
        Page::html(list_page(&[
            "202106/t20210601_1.html",
            "202106/t20210604_4.html",
        ]))
        .with_etag("\"list-2\""),
    );
    site.put(
        "/hnyw/ldhd/202106/t20210604_4.html",
        Page::html(article_page("新文章", "2021-06-04 08:00", "新内容。")),
    );
    let stdout = tidings(&config, &["crawl", "--once", "--source", "ldhd"])
        .await
        .said;
    assert!(stdout.starts_with("ldhd: 1 created"), "{stdout}");
    assert_eq!(site.hits("/hnyw/ldhd/202106/t20210601_1.html"), 1);
    assert_eq!(site.hits("/hnyw/ldhd/202106/t20210604_4.html"), 1);

    // Counted for operators.
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"tidings_source_imports_total{source="ldhd",outcome="created"}"#),
        "{metrics}"
    );
    // And shown on the index.
    let index = app.get_text("/").await;
    assert!(index.contains("id=\"sources\"") && index.contains(&site.url("/hnyw/ldhd/")));
}

#[tokio::test]
async fn bad_sources_are_refused_by_check_with_their_line() {
    let catalog = catalog_with_sources(
        "[[source]]
name = \"Bad Name\"
kind = \"pages\"
list = \"https://www.example.gov.cn/\"
links = \"a\"

[[source]]
name = \"feed\"
kind = \"feed\"
url = \"not a url\"
section = \"nowhere\"

[[source]]
name = \"crawl\"
kind = \"pages\"
list = \"https://www.example.gov.cn/\"
links = \"ul >> a\"
",
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let config = elsewhere.path().join("tidings.toml");
    std::fs::write(
        &config,
        format!("catalog_dir = \"{}\"\n", catalog.path().display()),
    )
    .unwrap();
    let ran = tidings(&config, &["check"]).await;
    assert!(!ran.success);
    let said = ran.said;
    assert!(
        said.contains("sources.toml:2:") && said.contains("Bad Name"),
        "{said}"
    );
    assert!(
        said.contains("sources.toml:11:") && said.contains("unknown section \"nowhere\""),
        "{said}"
    );
    assert!(
        said.contains("sources.toml:10:") && said.contains("not an absolute http(s) URL"),
        "{said}"
    );

    // Once the file reads, every CSS selector is tried.
    std::fs::write(
        catalog.path().join("sources.toml"),
        "[[source]]\nname = \"crawl\"\nkind = \"pages\"\nlist = \"https://www.example.gov.cn/\"\nlinks = \"ul >> a\"\n",
    )
    .unwrap();
    let ran = tidings(&config, &["check"]).await;
    assert!(!ran.success);
    let said = ran.said;
    assert!(
        said.contains("source crawl: links: \"ul >> a\" is not a CSS selector"),
        "{said}"
    );
}

#[tokio::test]
async fn an_upstream_tidings_pushes_through_its_hub_without_polling() {
    // The county publishes; its hub may call back the prefecture on loopback.
    let county = spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.websub.coalesce_window_ms = 0;
    })
    .await;
    let mut first = crate::helpers::article("tr-1", "hnyw/xxdt", "同仁市召开乡村振兴推进会");
    first["source"] = json!("同仁市融媒体中心");
    first["editor"] = json!("才让");
    first["images"] = json!([{"url": "https://www.tongren.gov.cn/img/1.jpg", "caption": "会场"}]);
    first["published"] = json!("2024-03-01T10:00:00+08:00");
    county.publish(&first).await;

    // The prefecture follows the county's whole site into its 县区动态, hourly at most.
    let catalog = catalog_with_sources(&format!(
        "{FAST_FETCH}
[[source]]
name = \"tongren\"
kind = \"feed\"
url = \"{feed}\"
section = \"hnyw/xxdt\"
title = \"同仁市\"
interval_secs = 3600
",
        feed = county.url("/feeds/all.atom")
    ));
    let prefecture = spawn_with_catalog(catalog.path(), true).await;
    let receiver = crate::receiver::Receiver::start().await;
    let endpoint = prefecture
        .post_json("/api/v1/webhooks", &json!({"url": receiver.url}))
        .await;
    assert_eq!(endpoint.status(), 201);

    // The first poll takes what is there and subscribes at the county's hub.
    let view = eventually("the first poll, and the hub's verification", || async {
        let view = source_view(&prefecture).await;
        (view["hub"]["state"] == "active" && view["last_outcome"].is_string()).then_some(view)
    })
    .await;
    assert_eq!(view["hub"]["hub"], county.url("/websub"));
    assert_eq!(view["last_run"]["created"], 1);
    let taken: Value = prefecture
        .get("/feeds/hnyw/xxdt.json")
        .await
        .json()
        .await
        .unwrap();
    let item = &taken["items"][0];
    assert_eq!(item["title"], "同仁市召开乡村振兴推进会");
    assert_eq!(item["url"], first["url"], "the original link");
    assert_eq!(item["date_published"], "2024-03-01T10:00:00+08:00");
    assert_eq!(item["_tidings"]["source"], "同仁市融媒体中心");

    // A new article at the county reaches the prefecture by the hub alone.
    let second = crate::helpers::article("tr-2", "hnyw/xxdt", "同仁市部署春季植树造林");
    county.publish(&second).await;
    let feed = eventually("the pushed article at the prefecture", || async {
        let feed: Value = prefecture
            .get("/feeds/hnyw/xxdt.json")
            .await
            .json()
            .await
            .ok()?;
        (feed["items"].as_array()?.len() == 2).then_some(feed)
    })
    .await;
    let titles: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"同仁市部署春季植树造林"), "{titles:?}");
    let view = source_view(&prefecture).await;
    assert_eq!(
        view["last_run"]["fetched"], 1,
        "no poll since the first: {view}"
    );
    assert!(view["hub"]["notifications"].as_u64().unwrap() >= 1);

    // Its own webhooks follow.
    eventually(
        "the prefecture's own webhook for the pushed article",
        || async {
            receiver
                .posts()
                .iter()
                .any(|p| p.json()["data"]["article"]["title"] == "同仁市部署春季植树造林")
                .then_some(())
        },
    )
    .await;

    // A deletion upstream deletes it here.
    let deleted = county
        .client
        .delete(county.url("/api/v1/articles/tr-2"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    eventually("the deletion at the prefecture", || async {
        let feed: Value = prefecture
            .get("/feeds/hnyw/xxdt.json")
            .await
            .json()
            .await
            .ok()?;
        (feed["items"].as_array()?.len() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_callback_answers_only_for_our_own_subscriptions() {
    let catalog = catalog_with_sources(
        "[[source]]
name = \"up\"
kind = \"feed\"
url = \"http://127.0.0.1:9/feeds/all.atom\"
section = \"hnyw/xxdt\"
interval_secs = 3600
",
    );
    let app = spawn_with_catalog(catalog.path(), false).await;
    for path in [
        "/websub/callback/up/0123456789abcdef01234567?hub.mode=subscribe&hub.topic=x&hub.challenge=c",
        "/websub/callback/other/0123?hub.mode=subscribe&hub.topic=x&hub.challenge=c",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = app
        .client
        .post(app.url("/websub/callback/up/0123456789abcdef01234567"))
        .header("x-hub-signature", "sha256=00")
        .body("<feed/>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The source's failing poll is visible, with its reason.
    let view = eventually("the failed poll", || async {
        let view = source_view(&app).await;
        view["last_outcome"].is_string().then_some(view)
    })
    .await;
    assert_eq!(view["last_outcome"], "failed");
    assert!(
        view["last_error"].as_str().unwrap().contains("127.0.0.1:9"),
        "{view}"
    );
    assert!(view["failing_since"].is_string());
}

#[tokio::test]
async fn the_command_line_imports_pages_and_names_what_it_refuses() {
    let Some(seed) = seed_text() else { return };
    let app = spawn_app_with(|_| {}).await;
    let dir = app.dir.path();
    std::fs::write(dir.join("seed.txt"), seed).unwrap();
    std::fs::write(dir.join("logo.html"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let config = cli_config(&app, &repo_path("feeds"));
    let (seed_file, logo_file) = (dir.join("seed.txt"), dir.join("logo.html"));
    let (seed_file, logo_file) = (seed_file.to_str().unwrap(), logo_file.to_str().unwrap());
    let ran = tidings(
        &config,
        &[
            "ingest",
            seed_file,
            "--url",
            SEED_URL,
            "--image-base",
            IMAGE_BASE,
        ],
    )
    .await;
    let stdout = ran.said;
    assert!(ran.success, "{stdout}");
    assert!(
        stdout.contains(
            "seed.txt: created www.huangnan.gov.cn:hnyw:ldhd:202106:t20210601_1.html in hnyw/ldhd"
        ),
        "{stdout}"
    );
    let stored: Value = app
        .get_authorized("/api/v1/articles/www.huangnan.gov.cn:hnyw:ldhd:202106:t20210601_1.html")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["title"], SEED_TITLE);

    // The text form names no URL: without one it is refused, as is a file that is no page.
    let ran = tidings(&config, &["ingest", seed_file, logo_file]).await;
    let stdout = ran.said;
    assert_eq!(ran.code, Some(1), "{stdout}");
    assert!(
        stdout.contains("seed.txt: rejected: has no URL"),
        "{stdout}"
    );
    assert!(
        stdout.contains("logo.html: rejected: is binary"),
        "{stdout}"
    );
}

#[tokio::test]
async fn unknown_breadcrumbs_huge_pages_and_feeds_that_are_not_feeds_are_refused() {
    let site = TestSite::start().await;
    let page = article_page("某县动态", "2021-06-02 09:30", "内容。")
        .replace("领导动态</a>", "不存在的栏目</a>");
    site.put("/big.html", Page::html(vec![b'a'; 6 * 1024 * 1024]));
    site.put(
        "/not-a-feed.xml",
        Page::html("<html><body>not a feed</body></html>"),
    );
    let catalog = catalog_with_sources(&format!(
        "{FAST_FETCH}
[[source]]
name = \"county\"
kind = \"feed\"
url = \"{url}\"
section = \"hnyw/xxdt\"
interval_secs = 3600
",
        url = site.url("/not-a-feed.xml")
    ));
    let app = spawn_with_catalog(catalog.path(), true).await;

    let response = import_bytes(
        &app,
        page.into_bytes(),
        "text/html",
        &query(&[("url", SEED_URL)]),
    )
    .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "section_titles", "{problem}");

    let response = app
        .post_json(
            "/api/v1/articles/import",
            &json!({"url": site.url("/big.html")}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    let reason = problem["errors"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("/big.html") && reason.contains("larger than"),
        "{reason}"
    );

    let view = eventually("the source's first run", || async {
        let view = source_view(&app).await;
        view["last_outcome"].is_string().then_some(view)
    })
    .await;
    assert_eq!(view["last_outcome"], "failed");
    let error = view["last_error"].as_str().unwrap();
    assert!(
        error.contains("/not-a-feed.xml") && error.contains("is not a feed"),
        "{error}"
    );
    let feed: Value = app.get("/feeds/all.json").await.json().await.unwrap();
    assert_eq!(
        feed["items"].as_array().unwrap().len(),
        0,
        "nothing partial was stored"
    );
}

#[tokio::test]
async fn an_interrupted_crawl_frees_its_source_at_once() {
    let site = TestSite::start().await;
    site.put(
        "/hnyw/ldhd/",
        Page::html(list_page(&["202106/hanging.html"])),
    );
    let hanging = "/hnyw/ldhd/202106/hanging.html";
    let page = || Page::html(article_page("挂起的页面", "2021-06-05 10:00", "……"));
    site.put(hanging, page().slow(Duration::from_secs(600)));
    let catalog = catalog_with_sources(&format!(
        "[fetch]\ndelay_ms = 0\ntimeout_secs = 900\n
[[source]]
name = \"ldhd\"
kind = \"pages\"
list = \"{list}\"
links = \"ul.list a\"
",
        list = site.url("/hnyw/ldhd/")
    ));
    // Beside the catalogue, not in it (each .toml there is a section file).
    let home = tempfile::tempdir().expect("a temporary folder");
    let config = home.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\ncatalog_dir = \"{}\"\n\n[delivery]\nallow_private_destinations = true\n",
            fresh_database_url(home.path()).await,
            catalog.path().display()
        ),
    )
    .unwrap();

    let mut crawl = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .arg("--config")
        .arg(&config)
        .args(["crawl", "--once"])
        .env("TIDINGS_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    let waiting = eventually("the crawl to wait on the hanging page", || async {
        (site.hits(hanging) >= 1).then_some(())
    });
    tokio::select! {
        () = waiting => {}
        ended = crawl.wait() => {
            let output = crawl.wait_with_output().await.expect("its output");
            panic!(
                "the crawl ended before the hanging page ({ended:?}): {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    let pid = crawl.id().expect("running").to_string();
    let signalled = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(signalled.success());
    // The time-out only guards against a hang (the page would answer in ten minutes).
    let output = tokio::time::timeout(Duration::from_secs(120), crawl.wait_with_output())
        .await
        .expect("the crawl ends once interrupted")
        .expect("its output");
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("ldhd: failed: interrupted"), "{said}");

    // Free at once: the next run takes the source rather than leaving it to a holder that is
    // gone, and takes the page.
    site.put(hanging, page());
    let ran = tidings(&config, &["crawl", "--once"]).await;
    assert!(ran.success, "{}", ran.said);
    assert!(ran.said.starts_with("ldhd: 1 created"), "{}", ran.said);
}
