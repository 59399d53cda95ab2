//! The seed article from the portal survives into every feed that includes it, in every format.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::helpers::{repo_path, seed_article, spawn_app};

pub(crate) const ENTRY_ID: &str = "tag:www.huangnan.gov.cn,2021:article/hn-20210601-shuangyong";
pub(crate) const IMAGE_BASE: &str = "https://www.huangnan.gov.cn/hnyw/ldhd/202106/";
pub(crate) const IMAGES: [&str; 3] = [
    "1622509259278633.png",
    "1622509275332037.png",
    "1622509290564823.png",
];

/// The text paragraphs of the seed, as the fixture carries them.
pub(crate) fn seed_paragraphs() -> Vec<String> {
    let html = seed_article()["content_html"].as_str().unwrap().to_owned();
    html.split("<p>")
        .filter_map(|p| p.split("</p>").next())
        .filter(|p| !p.is_empty() && !p.contains("<img"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_fixture_keeps_the_seed_text_byte_exact() {
    let paragraphs = seed_paragraphs();
    assert_eq!(paragraphs.len(), 5);
    let seed = repo_path("../shared/seeds/000_20c8fe8c0272cedc.txt");
    let Ok(seed) = std::fs::read_to_string(&seed) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the seed page is not beside the repository ({}); CI needs it",
            seed.display()
        );
        eprintln!("SKIPPED: the seed page is not beside the repository");
        return;
    };
    for p in &paragraphs {
        assert!(seed.contains(p.as_str()), "paragraph not in the seed: {p}");
    }
    let fixture = seed_article();
    assert!(seed.contains(fixture["title"].as_str().unwrap()));
    for image in IMAGES {
        assert!(seed.contains(image));
    }
}

#[tokio::test]
async fn the_seed_article_survives_into_every_feed_and_format() {
    let app = spawn_app().await;
    let stored = app.publish(&seed_article()).await;
    assert_eq!(stored["article"]["published"], "2021-06-01T00:00:00+08:00");
    assert_eq!(stored["article"]["source"], "黄南报");
    let fixture = seed_article();
    let title = fixture["title"].as_str().unwrap();
    let link = fixture["url"].as_str().unwrap();
    let published: DateTime<Utc> = "2021-05-31T16:00:00Z".parse().unwrap();

    for scope in ["hnyw/ldhd", "hnyw", "all"] {
        for ext in ["rss", "atom", "json"] {
            let path = format!("/feeds/{scope}.{ext}");
            let bytes = app.get(&path).await.bytes().await.unwrap();
            let text = std::str::from_utf8(&bytes).expect("UTF-8");
            assert!(text.contains(title), "{path}: the title byte-exact");
            match ext {
                "rss" => assert!(
                    text.contains("<pubDate>Tue, 01 Jun 2021 00:00:00 +0800</pubDate>"),
                    "{path}"
                ),
                _ => assert!(
                    text.contains("2021-06-01T00:00:00+08:00"),
                    "{path}: the offset is kept"
                ),
            }
            let feed = feed_rs::parser::parse(&bytes[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(feed.entries.len(), 1, "{path}");
            let entry = &feed.entries[0];
            assert_eq!(entry.id, ENTRY_ID, "{path}");
            assert_eq!(entry.title.as_ref().unwrap().content, title, "{path}");
            assert!(
                entry.links.iter().any(|l| l.href == link),
                "{path}: {:?}",
                entry.links
            );
            assert_eq!(entry.published, Some(published), "{path}");
            let names: Vec<&str> = entry.authors.iter().map(|a| a.name.as_str()).collect();
            assert!(
                names.contains(&"黄南报"),
                "{path}: source as author, got {names:?}"
            );
            let content = entry
                .content
                .as_ref()
                .and_then(|c| c.body.clone())
                .unwrap_or_else(|| panic!("{path}: no content"));
            for paragraph in seed_paragraphs() {
                assert!(
                    content.contains(&paragraph),
                    "{path}: a paragraph is missing or altered"
                );
            }
            for image in IMAGES {
                let url = format!("{IMAGE_BASE}{image}");
                assert!(
                    content.contains(&format!("src=\"{url}\"")),
                    "{path}: image {url} inline"
                );
                if ext != "json" {
                    let in_media = entry.media.iter().any(|m| {
                        m.content
                            .iter()
                            .any(|c| c.url.as_ref().is_some_and(|u| u.as_str() == url))
                    });
                    assert!(in_media, "{path}: image {url} as media:content");
                }
            }
            assert!(
                !content.contains("data-src") && !content.contains("style="),
                "{path}: sanitised"
            );
            let terms: Vec<&str> = entry.categories.iter().map(|c| c.term.as_str()).collect();
            for term in ["黄南要闻", "领导动态", "双拥"] {
                assert!(
                    terms.contains(&term),
                    "{path}: category {term} in {terms:?}"
                );
            }
        }
        let json: Value = app
            .get(&format!("/feeds/{scope}.json"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
        assert_eq!(
            json["items"][0]["image"],
            format!("{IMAGE_BASE}{}", IMAGES[0])
        );
        assert_eq!(json["items"][0]["_tidings"]["source"], "黄南报");
    }
}
