//! Every feed document passes the checks of the validators readers and portals use: Atom against
//! the RELAX NG grammar of RFC 4287 (jing), and the rules of the W3C feed validator that apply
//! to what the service writes, each pinned here.

use tokio::process::Command;

use crate::helpers::{TestApp, article, repo_path, require_tool, seed_article, spawn_app_with};
use crate::w3c_rules::{self, ATOM};

/// A site with the seed, an English article, a deletion (a tombstone in Atom) and an empty
/// section.
async fn app_with_history() -> TestApp {
    // Two entries a page, so that every feed of `hnyw` has pages behind it.
    let app = spawn_app_with(|c| c.feeds.default_limit = 2).await;
    app.publish(&seed_article()).await;
    let mut english = article("validity-en", "hnyw/ldhd", "Regong art week");
    english["language"] = serde_json::json!("en");
    english["tags"] = serde_json::json!(["art", "热贡艺术"]);
    english["content_html"] = serde_json::json!(
        "<h2>Regong art</h2><p>Thangka <a href=\"https://www.huangnan.gov.cn/rg.html\">painters</a>.</p>"
    );
    english["images"] = serde_json::json!([{
        "url": "https://www.huangnan.gov.cn/images/rg.jpg",
        "media_type": "image/jpeg",
        "length": 48213,
        "caption": "Thangka",
    }]);
    app.publish(&english).await;
    let mut older = article("validity-older", "hnyw/bmdt", "部门动态");
    older["published"] = serde_json::json!("2020-01-02T08:30:00+08:00");
    app.publish(&older).await;
    app.publish(&article("validity-gone", "hnyw/ldhd", "将被删除"))
        .await;
    let deleted = app.delete_article("validity-gone").await;
    assert!(deleted.status().is_success());
    app
}

async fn has_jing() -> bool {
    Command::new("jing")
        .arg("-h")
        .output()
        .await
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

#[tokio::test]
async fn atom_feeds_are_valid_against_the_rfc_4287_grammar() {
    if !require_tool("jing", has_jing().await) {
        return;
    }
    let app = app_with_history().await;
    let schema = repo_path("tests/fixtures/atom.rnc");
    let docs = documents(&app).await;
    let atom: Vec<_> = docs.iter().filter(|(_, kind, _)| *kind == "atom").collect();
    assert_eq!(atom.len(), 6, "five feeds and a page behind one");
    for (path, _, text) in atom {
        let file = app.dir.path().join("feed.atom");
        std::fs::write(&file, text).unwrap();
        let out = Command::new("jing")
            .arg("-c")
            .arg(&schema)
            .arg(&file)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{path} is not valid Atom: {}\n{text}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test]
async fn the_grammar_check_fails_on_an_invalid_feed() {
    if !require_tool("jing", has_jing().await) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.atom");
    std::fs::write(
        &file,
        r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>"#,
    )
    .unwrap();
    let out = Command::new("jing")
        .arg("-c")
        .arg(repo_path("tests/fixtures/atom.rnc"))
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("missing required elements"));
}

/// The documents of a site with history: every feed format of a section with pages behind it,
/// of its child, of the whole site, of an empty section and of a tag, the pages behind `hnyw`,
/// and the OPML; each with its kind.
async fn documents(app: &TestApp) -> Vec<(String, &'static str, String)> {
    let mut docs = Vec::new();
    for scope in [
        "hnyw",
        "hnyw/ldhd",
        "all",
        "zwgk",
        "tags/%E7%83%AD%E8%B4%A1%E8%89%BA%E6%9C%AF",
    ] {
        for kind in ["rss", "atom"] {
            let path = format!("/feeds/{scope}.{kind}");
            let text = app.get_text(&path).await;
            docs.push((path, kind, text));
        }
    }
    for kind in ["rss", "atom"] {
        let mut next = older_page(&docs, &format!("/feeds/hnyw.{kind}"));
        assert!(next.is_some(), "hnyw.{kind} has pages behind it");
        while let Some(href) = next {
            let text = app
                .client
                .get(&href)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            next = older_page(&[(href.clone(), kind, text.clone())], &href);
            docs.push((href, kind, text));
        }
    }
    docs.push((
        "/feeds.opml".to_owned(),
        "opml",
        app.get_text("/feeds.opml").await,
    ));
    docs
}

/// The `prev-archive` link of the document at `path` among `docs`.
fn older_page(docs: &[(String, &str, String)], path: &str) -> Option<String> {
    let (_, _, text) = docs.iter().find(|(p, _, _)| p == path)?;
    let doc = roxmltree::Document::parse(text).unwrap();
    doc.descendants()
        .find(|n| n.has_tag_name((ATOM, "link")) && n.attribute("rel") == Some("prev-archive"))
        .and_then(|n| n.attribute("href").map(str::to_owned))
}

#[tokio::test]
async fn every_document_keeps_the_w3c_validator_rules_that_apply() {
    let app = app_with_history().await;
    let docs = documents(&app).await;
    assert!(docs.len() > 10);
    for (path, kind, text) in &docs {
        let faults = w3c_rules::check(kind, text);
        assert!(faults.is_empty(), "{path}: {faults:?}\n{text}");
    }
    // The tombstones' namespace, the one the validator does not know, is declared only where
    // there are tombstones.
    let with_tombstones = docs
        .iter()
        .filter(|(_, _, text)| text.contains(w3c_rules::TOMBSTONES))
        .map(|(path, _, _)| path.as_str())
        .collect::<Vec<_>>();
    assert_eq!(
        with_tombstones,
        [
            "/feeds/hnyw.atom",
            "/feeds/hnyw/ldhd.atom",
            "/feeds/all.atom"
        ]
    );
}

/// Every feed links the service's page of itself for people, and the page is there: a
/// section's, the whole site's and a tag's.
#[tokio::test]
async fn every_feed_links_a_page_that_is_there() {
    let app = app_with_history().await;
    for path in [
        "/feeds/hnyw/ldhd.atom",
        "/feeds/all.rss",
        "/feeds/tags/%E7%83%AD%E8%B4%A1%E8%89%BA%E6%9C%AF.atom",
    ] {
        let text = app.get_text(path).await;
        let doc = roxmltree::Document::parse(&text).unwrap();
        let page = doc
            .descendants()
            .find(|n| n.has_tag_name((ATOM, "link")) && n.attribute("rel") == Some("related"))
            .and_then(|n| n.attribute("href"))
            .unwrap_or_else(|| panic!("{path} links no page"))
            .to_owned();
        assert_eq!(
            page,
            app.url(&path.replace(".atom", ".html").replace(".rss", ".html"))
        );
        let answer = app.client.get(&page).send().await.unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::OK, "{page}");
        assert_eq!(answer.headers()["content-type"], "text/html; charset=utf-8");
        let html = answer.text().await.unwrap();
        if path.contains("tags/") {
            assert!(
                html.contains("热贡艺术") && html.contains("Regong art week"),
                "{html}"
            );
        }
    }
}
