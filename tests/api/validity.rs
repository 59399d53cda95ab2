//! Every feed document passes the checks of the validators readers and portals use: Atom against
//! the RELAX NG grammar of RFC 4287 (jing), and the rules of the W3C feed validator that apply
//! to what the service writes, each pinned here.

use tokio::process::Command;

use crate::helpers::{TOKEN, TestApp, article, repo_path, require_tool, seed_article, spawn_app};

/// A site with the seed, an English article, a deletion (a tombstone in Atom) and an empty
/// section.
async fn app_with_history() -> TestApp {
    let app = spawn_app().await;
    app.publish(&seed_article()).await;
    let mut english = article("validity-en", "hnyw/ldhd", "Regong art week");
    english["language"] = serde_json::json!("en");
    english["tags"] = serde_json::json!(["art", "热贡艺术"]);
    app.publish(&english).await;
    app.publish(&article("validity-gone", "hnyw/ldhd", "将被删除"))
        .await;
    let deleted = app
        .client
        .delete(app.url("/api/v1/articles/validity-gone"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    app
}

/// The Atom documents worth checking: with entries and tombstones, the whole site, and a
/// section with nothing in it.
const ATOM_FEEDS: [&str; 4] = [
    "/feeds/hnyw.atom",
    "/feeds/hnyw/ldhd.atom",
    "/feeds/all.atom",
    "/feeds/zwgk.atom",
];

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
    for path in ATOM_FEEDS {
        let bytes = app.get(path).await.bytes().await.unwrap();
        let file = app.dir.path().join("feed.atom");
        std::fs::write(&file, &bytes).unwrap();
        let out = Command::new("jing")
            .arg("-c")
            .arg(&schema)
            .arg(&file)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{path} is not valid Atom: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&bytes)
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
