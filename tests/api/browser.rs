//! The pages for people in a real browser: Debian's chromium, driven by playwright-core
//! (`tests/js/browser.mjs`), loads the index, a section's page and a search's results at a
//! desktop and a phone width. The test checks what the browser saw (links, dates, images,
//! feed addresses, the Copy button, the search box) and that it met no error, and keeps the
//! screenshots in `target/browser-screenshots/`.

use std::path::PathBuf;

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::helpers::{TestApp, repo_path, require_tool, seed_article, spawn_app};

/// A picture as an image server would send it: wide (1200 × 675), so that a page that let it
/// keep its size would overflow a phone.
async fn picture(Path(name): Path<String>) -> impl IntoResponse {
    let colour = match name.len() % 3 {
        0 => "#b5523b",
        1 => "#2f6f8f",
        _ => "#5b7d3a",
    };
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1200\" height=\"675\" \
         viewBox=\"0 0 1200 675\"><rect width=\"1200\" height=\"675\" fill=\"{colour}\"/>\
         <circle cx=\"900\" cy=\"200\" r=\"120\" fill=\"#f3d36b\"/>\
         <path d=\"M0 675 L420 300 L700 560 L900 380 L1200 675 Z\" fill=\"#ffffff\" \
         fill-opacity=\".35\"/></svg>"
    );
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg)
}

/// Serves [`picture`]s at `/img/{name}` on a loopback port of its own: the portal's image
/// server, reachable from the browser.
async fn image_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/img/{name}", get(picture));
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// What the pages show: the seed article (领导动态, 2021-06-01, 黄南报), an English one, one
/// whose title is a long unbroken URL, and a notice about 双拥 in 通知公告.
async fn publish_articles(app: &TestApp, images: &str) {
    let mut seed = seed_article();
    seed["images"] =
        json!([{ "url": format!("{images}/img/seed.svg"), "caption": "双拥工作会议" }]);
    app.publish(&seed).await;
    app.publish(&json!({
        "id": "regong-arts-en",
        "section": "zjhn/rgwh",
        "title": "Regong Arts Festival Opens in Tongren",
        "url": "https://www.huangnan.gov.cn/zjhn/rgwh/202407/t20240715_1.html",
        "published": "2024-07-15T09:30:00+08:00",
        "source": "Huangnan Daily",
        "editor": "Dorje",
        "language": "en",
        "summary": "Thangka painters from the villages along the Longwu River show their work \
                    at the opening of this year's Regong arts festival in Tongren.",
        "content_html": "<p>Thangka painters from the villages along the Longwu River…</p>",
        "images": [{ "url": format!("{images}/img/regong.svg"), "caption": "A thangka" }],
    }))
    .await;
    app.publish(&json!({
        "id": "long-title",
        "section": "hnyw/ldhd",
        "title": "https://www.huangnan.gov.cn/hnyw/ldhd/202405/t20240520_averyveryverylongunbrokenidentifier_withoutanyspaces_0123456789abcdef0123456789abcdef.html",
        "url": "https://www.huangnan.gov.cn/hnyw/ldhd/202405/t20240520_1.html",
        "published": "2024-05-20T08:00:00+08:00",
        "content_html": "<p>附件：https://www.huangnan.gov.cn/uploads/2024/05/20/0123456789abcdef0123456789abcdef0123456789abcdef.pdf</p>",
    }))
    .await;
    app.publish(&json!({
        "id": "notice-shuangyong",
        "section": "zwgk/tzgg",
        "title": "关于做好2024年双拥工作的通知",
        "url": "https://www.huangnan.gov.cn/zwgk/tzgg/202406/t20240601_1.html",
        "published": "2024-06-01 09:00",
        "source": "州双拥办",
        "editor": "卓玛",
        "content_html": "<p>各县（市）双拥工作领导小组：为进一步做好新时代双拥工作，巩固发展军政军民团结，现将有关事项通知如下。</p>",
        "images": [{ "url": format!("{images}/img/notice-image.svg") }],
    }))
    .await;
}

/// Whether the browser, its driver and node are installed (`.ci/run` installs them).
pub(crate) async fn browser_available() -> bool {
    let node = tokio::process::Command::new("node")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    let chromium = std::path::Path::new(&chromium_path()).exists();
    let driver = repo_path("tests/js/node_modules/playwright-core").exists();
    require_tool("node", node)
        && require_tool("chromium", chromium)
        && require_tool("tests/js/node_modules (npm ci --prefix tests/js)", driver)
}

pub(crate) fn chromium_path() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// Where the screenshots are kept: `target/browser-screenshots/` (under `CARGO_TARGET_DIR`
/// when it is set), so that CI keeps them as artefacts.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("target"))
        .join("browser-screenshots")
}

/// Runs the browser over `args` (see `tests/js/browser.mjs`) and reads its report.
async fn run_browser(args: &[String]) -> Value {
    run_in_browser("browser.mjs", args).await
}

/// Runs `tests/js/{script}` with node, Debian's chromium named to it, over `args`, and reads
/// the JSON report it prints; a run that fails fails the test with what it said.
pub(crate) async fn run_in_browser<I, S>(script: &str, args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = tokio::process::Command::new("node")
        .arg(repo_path(&format!("tests/js/{script}")))
        .args(args)
        .env("CHROMIUM", chromium_path())
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "the browser run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the browser's report is JSON")
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect()
}

/// The first article of a page's list with this title.
fn listed<'a>(facts: &'a Value, title: &str) -> &'a Value {
    facts["articles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == title)
        .unwrap_or_else(|| panic!("{title} is not listed: {}", facts["articles"]))
}

/// What a browser run saw of a page (`errors`, `facts` as the scripts report them): no error
/// of any kind (console, page, failed request, HTTP status), and nothing wider than the page.
pub(crate) fn assert_steady(label: &str, seen: &Value) {
    for kind in ["console", "page", "failed", "http"] {
        assert_eq!(seen["errors"][kind], json!([]), "{label}: {kind} errors");
    }
    let facts = &seen["facts"];
    assert!(
        facts["scrollWidth"].as_f64() <= facts["clientWidth"].as_f64(),
        "{label} scrolls sideways: {}",
        facts["overflowing"]
    );
    assert_eq!(facts["overflowing"], json!([]), "{label}");
}

/// Every page, at every width: no error of any kind, no sideways scrolling, every image
/// loaded and inside the page.
fn assert_clean(seen: &Value) {
    let label = format!("{} at {}", seen["name"], seen["width"]);
    assert_eq!(seen["status"], 200, "{label}");
    assert_steady(&label, seen);
    let facts = &seen["facts"];
    let width = facts["clientWidth"].as_f64().unwrap();
    for article in facts["articles"].as_array().unwrap() {
        if let Some(image) = article["image"].as_object() {
            assert_eq!(image["complete"], true, "{label}: {article}");
            assert!(
                image["naturalWidth"].as_u64() > Some(0),
                "{label}: {article}"
            );
            assert_eq!(image["loading"], "lazy", "{label}");
            assert!(
                image["right"].as_f64().unwrap() <= width,
                "{label}: {article}"
            );
        }
    }
}

#[tokio::test]
async fn a_browser_shows_the_index_a_section_and_a_search_without_errors_at_both_widths() {
    if !browser_available().await {
        return;
    }
    let app = spawn_app().await;
    let images = image_server().await;
    publish_articles(&app, &images).await;
    let out = screenshot_dir();
    let base = &app.address;
    let args: Vec<String> = vec![
        out.display().to_string(),
        format!("index={base}/"),
        format!("section={base}/feeds/hnyw/ldhd.html"),
        format!("results={base}/search?q=%E5%8F%8C%E6%8B%A5"),
        "search=双拥".to_owned(),
        "search=REGONG".to_owned(),
        "copy=section".to_owned(),
    ];
    let report = run_browser(&args).await;
    let pages = report["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 6, "three pages at two widths");
    for seen in pages {
        assert_clean(seen);
        println!("screenshot: {}", seen["screenshot"].as_str().unwrap());
    }
    let seed = seed_article();
    let seed_title = seed["title"].as_str().unwrap();
    for seen in pages.iter().filter(|p| p["name"] == "section") {
        let facts = &seen["facts"];
        assert_eq!(facts["lang"], "zh-CN");
        assert_eq!(facts["h1"], "黄南藏族自治州人民政府 - 黄南要闻 - 领导动态");
        assert_eq!(
            facts["crumbs"],
            json!([
                { "text": "黄南藏族自治州人民政府", "href": format!("{base}/") },
                { "text": "黄南要闻", "href": format!("{base}/feeds/hnyw.html") },
                { "text": "领导动态", "href": null },
            ])
        );
        let feeds: Vec<&str> = facts["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["value"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = ["rss", "atom", "json"]
            .iter()
            .map(|ext| format!("{base}/feeds/hnyw/ldhd.{ext}"))
            .collect();
        assert_eq!(feeds, expected);
        assert!(
            facts["feeds"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["selectAll"] == true),
            "a click selects a whole address"
        );
        assert_eq!(facts["copyButtons"], 3);
        assert_eq!(facts["hub"], format!("{base}/websub"));
        let alternates: Vec<&str> = facts["alternates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["href"].as_str().unwrap())
            .collect();
        assert_eq!(alternates, expected);
        let titles: Vec<&str> = facts["articles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles.len(), 2);
        assert!(titles[0].starts_with("https://www.huangnan.gov.cn/hnyw/ldhd/202405/"));
        assert_eq!(titles[1], seed_title);
        let shown = listed(facts, seed_title);
        assert_eq!(shown["href"], seed["url"]);
        assert_eq!(shown["datetime"], "2021-06-01T00:00:00+08:00");
        assert_eq!(shown["time"], "2021-06-01 00:00 +08:00");
        assert_eq!(shown["source"], "来源：黄南报");
        assert_eq!(
            shown["section"],
            Value::Null,
            "the page's own section goes unsaid"
        );
        assert_eq!(shown["image"]["src"], format!("{images}/img/seed.svg"));
        assert_eq!(shown["image"]["alt"], "双拥工作会议");
        assert!(
            shown["summary"]
                .as_str()
                .unwrap()
                .starts_with("5月31日,黄南州召开")
        );
    }
    for seen in pages.iter().filter(|p| p["name"] == "index") {
        let facts = &seen["facts"];
        assert_eq!(facts["h1"], "黄南藏族自治州人民政府");
        assert_eq!(
            facts["search"],
            json!({ "action": format!("{base}/search"), "method": "get", "field": "q" })
        );
        let titles: Vec<&str> = facts["articles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles.len(), 4, "{titles:?}");
        assert_eq!(titles[0], "Regong Arts Festival Opens in Tongren");
        assert_eq!(titles[1], "关于做好2024年双拥工作的通知");
        assert_eq!(titles[3], seed_title);
        assert_eq!(
            listed(facts, seed_title)["section"],
            json!({ "title": "领导动态", "href": format!("{base}/feeds/hnyw/ldhd.html") })
        );
        let english = listed(facts, "Regong Arts Festival Opens in Tongren");
        assert_eq!(english["lang"], "en");
        assert_eq!(english["time"], "2024-07-15 09:30 +08:00");
        // Labelled in its own language, as it is marked.
        assert_eq!(english["source"], "Source: Huangnan Daily");
        assert_eq!(english["editor"], "Editor: Dorje");
        let notice = listed(facts, "关于做好2024年双拥工作的通知");
        assert_eq!(notice["datetime"], "2024-06-01T09:00:00+08:00");
        assert_eq!(notice["image"]["alt"], "");
        let links = strings(&facts["sectionLinks"]);
        assert!(links.contains(&format!("{base}/feeds/hnyw/ldhd.html").as_str()));
        assert!(links.contains(&format!("{base}/feeds/zjhn/rgwh.html").as_str()));
    }
    for seen in pages.iter().filter(|p| p["name"] == "results") {
        let facts = &seen["facts"];
        assert_eq!(facts["found"], "找到 2 篇。");
    }

    let searches = report["searches"].as_array().unwrap();
    for (seen, titles) in searches.iter().zip([
        vec!["关于做好2024年双拥工作的通知", seed_title],
        vec!["Regong Arts Festival Opens in Tongren"],
    ]) {
        for kind in ["console", "page", "failed", "http"] {
            assert_eq!(seen["errors"][kind], json!([]), "{}: {kind}", seen["text"]);
        }
        let url = seen["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{base}/search?q=")), "{url}");
        let found: Vec<&str> = seen["facts"]["articles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(found, titles, "{}", seen["text"]);
    }

    let copy = &report["copy"];
    assert_eq!(copy["before"], "复制");
    assert_eq!(copy["after"], "已复制");
    assert_eq!(copy["clipboard"], format!("{base}/feeds/hnyw/ldhd.atom"));
    assert_eq!(copy["field"], copy["clipboard"]);
    assert_eq!(copy["errors"]["console"], json!([]));
    // Without the clipboard, the address is copied the old way, or left selected to copy.
    let fallback = &report["copyWithoutClipboard"];
    assert!(
        fallback["after"] == "已复制" || fallback["after"] == "已选中，请手动复制",
        "{fallback}"
    );
    assert_eq!(
        fallback["selection"],
        format!("{base}/feeds/hnyw/ldhd.atom")
    );
    assert_eq!(fallback["errors"]["console"], json!([]));
    assert_eq!(fallback["errors"]["page"], json!([]));
}
