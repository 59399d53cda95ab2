//! Real third-party consumers read our feeds: Python feedparser, xmllint, and a field-by-field
//! check of JSON Feed 1.1's requirements.

use tokio::process::Command;

use serde_json::Value;

use crate::helpers::{TestApp, article, repo_path, require_tool, seed_article, spawn_app};

fn has_feedparser() -> bool {
    crate::helpers::has_python_module("feedparser")
}

async fn has_xmllint() -> bool {
    Command::new("xmllint")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success())
}

async fn save(app: &TestApp, path: &str, name: &str) -> std::path::PathBuf {
    let bytes = app.get(path).await.bytes().await.unwrap();
    let file = app.dir.path().join(name);
    std::fs::write(&file, &bytes).unwrap();
    file
}

async fn app_with_articles() -> TestApp {
    let app = spawn_app().await;
    app.publish(&seed_article()).await;
    let mut hostile = article(
        "interop-hostile",
        "hnyw/ldhd",
        "A & B <c> ]]> \u{1}🎉 עברית",
    );
    hostile["content_html"] = serde_json::json!("<p>x &amp; y ]]> <script>z</script></p>");
    hostile["published"] = serde_json::json!("2021-05-30T08:15:00-04:00");
    app.publish(&hostile).await;
    let gone = article("interop-gone", "hnyw/ldhd", "将被删除");
    app.publish(&gone).await;
    app.client
        .delete(app.url("/api/v1/articles/interop-gone"))
        .bearer_auth(crate::helpers::TOKEN)
        .send()
        .await
        .unwrap();
    app
}

#[tokio::test]
async fn feedparser_reads_every_format_without_bozo_and_with_every_field() {
    if !require_tool("python3 feedparser", has_feedparser()) {
        return;
    }
    let app = app_with_articles().await;
    let seed = seed_article();
    for ext in ["rss", "atom", "json"] {
        let file = save(&app, &format!("/feeds/hnyw.{ext}"), &format!("hnyw.{ext}")).await;
        let output = Command::new("python3")
            .arg(repo_path("tests/interop/feedparser_dump.py"))
            .arg(&file)
            .output()
            .await
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let parsed: Value = serde_json::from_slice(&output.stdout).expect("the dump is JSON");
        if ext == "json" {
            // feedparser 6 does not read JSON Feed; it must at least not mistake it for XML.
            continue;
        }
        assert_eq!(parsed["bozo"], false, "{ext}: {}", parsed["bozo_exception"]);
        assert_eq!(parsed["language"], "zh-CN", "{ext}");
        let self_links: Vec<&Value> = parsed["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["rel"] == "self")
            .collect();
        assert_eq!(self_links.len(), 1, "{ext}: one rel=self");
        assert_eq!(
            self_links[0]["href"],
            format!("{}/feeds/hnyw.{ext}", app.address)
        );
        let entries = parsed["entries"].as_array().unwrap();
        assert_eq!(
            entries.len(),
            2,
            "{ext}: the deleted article is not an entry"
        );
        let e = entries
            .iter()
            .find(|e| e["link"] == seed["url"])
            .expect("the seed entry");
        assert_eq!(
            e["id"],
            "tag:www.huangnan.gov.cn,2021:article/hn-20210601-shuangyong"
        );
        assert_eq!(e["title"], seed["title"]);
        assert_eq!(
            e["published"], 1_622_476_800,
            "{ext}: 2021-06-01T00:00:00+08:00"
        );
        assert_eq!(e["author"], "黄南报", "{ext}");
        let content = e["content"][0].as_str().unwrap();
        assert!(
            content.contains("扎西才让指出,去年以来全州军地各单位"),
            "{ext}"
        );
        assert_eq!(
            e["media_content"].as_array().unwrap().len(),
            3,
            "{ext}: {e}"
        );
        let tags: Vec<&str> = e["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            tags.contains(&"领导动态") && tags.contains(&"双拥"),
            "{ext}: {tags:?}"
        );
        let hostile = entries
            .iter()
            .find(|e| e["id"].as_str().unwrap().ends_with("interop-hostile"))
            .unwrap();
        assert_eq!(hostile["title"], "A & B <c> ]]> 🎉 עברית", "{ext}");
        assert_eq!(
            hostile["published"], 1_622_376_900,
            "{ext}: 2021-05-30T08:15:00-04:00"
        );
    }
}

#[tokio::test]
async fn xmllint_finds_rss_and_atom_well_formed() {
    if !require_tool("xmllint", has_xmllint().await) {
        return;
    }
    let app = app_with_articles().await;
    for path in [
        "/feeds/hnyw.rss",
        "/feeds/hnyw.atom",
        "/feeds/all.rss",
        "/feeds/all.atom",
        "/feeds.opml",
    ] {
        let file = save(&app, path, "feed.xml").await;
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg(&file)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn the_json_feed_carries_every_field_json_feed_1_1_requires() {
    let app = app_with_articles().await;
    let feed: Value = app.get("/feeds/hnyw.json").await.json().await.unwrap();
    // JSON Feed 1.1 §"Top-level": version and title are required; items is required.
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    assert!(feed["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(feed["feed_url"], format!("{}/feeds/hnyw.json", app.address));
    assert!(
        feed["home_page_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://"))
    );
    assert_eq!(feed["language"], "zh-CN");
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        // §"Items": id is required and a string; content_html or content_text is required.
        assert!(item["id"].is_string(), "{item}");
        assert!(item["content_html"].is_string(), "{item}");
        assert!(item["url"].is_string() && item["title"].is_string());
        let published = item["date_published"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(published).expect("RFC 3339");
    }
    let seed = items
        .iter()
        .find(|i| i["id"].as_str().unwrap().ends_with("shuangyong"))
        .unwrap();
    assert_eq!(seed["date_published"], "2021-06-01T00:00:00+08:00");
    assert_eq!(seed["authors"][0]["name"], "黄南报");
    let tags: Vec<&str> = seed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, ["黄南要闻", "领导动态", "双拥"]);
}

#[tokio::test]
async fn atom_carries_a_tombstone_for_a_deleted_article() {
    let app = app_with_articles().await;
    let atom = app.get_text("/feeds/hnyw/ldhd.atom").await;
    let doc = roxmltree::Document::parse(&atom).unwrap();
    let tombstones: Vec<_> = doc
        .descendants()
        .filter(|n| {
            n.tag_name().name() == "deleted-entry"
                && n.tag_name().namespace() == Some("http://purl.org/atompub/tombstones/1.0")
        })
        .collect();
    assert_eq!(tombstones.len(), 1);
    assert_eq!(
        tombstones[0].attribute("ref"),
        Some("tag:www.huangnan.gov.cn,2021:article/interop-gone")
    );
    assert!(chrono::DateTime::parse_from_rfc3339(tombstones[0].attribute("when").unwrap()).is_ok());
    // RSS and JSON Feed have no tombstones: the article simply leaves them.
    assert!(
        !app.get_text("/feeds/hnyw/ldhd.rss")
            .await
            .contains("interop-gone")
    );
    assert!(
        !app.get_text("/feeds/hnyw/ldhd.json")
            .await
            .contains("interop-gone")
    );
}
