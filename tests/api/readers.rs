//! The feed readers people use read every field that their formats carry from our feeds: Python
//! feedparser, feed-rs, newsboat (driven headless, its cache read back) and npm rss-parser.
//!
//! Two articles are published and read back from `/feeds/all.*`, which holds both:
//! - the seed article of the Huangnan portal: 来源 黄南报 (the author, as it has no authors),
//!   no 责任编辑 (the page names none), three images whose type and size are unknown (so Media
//!   RSS but no enclosure), published 2021-06-01T00:00:00+08:00 and never updated;
//! - an English article with an author, an editor (the contributor), a summary with `&`, an
//!   update, and an image whose type and size are known (an enclosure).
//!
//! The summary and content we render are taken from our JSON Feed, so that each client's reading
//! is compared with what we meant, byte for byte.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{ConnectOptions, Connection, Row};

use crate::helpers::{TestApp, repo_path, require_tool, seed_article, spawn_app};
use crate::seed::{ENTRY_ID as SEED_ID, IMAGE_BASE, IMAGES, seed_paragraphs};

const SITE_TITLE: &str = "黄南藏族自治州人民政府";
const SITE_HOME: &str = "https://www.huangnan.gov.cn/";
const SITE_DESCRIPTION: &str = "黄南藏族自治州人民政府门户网站的新闻与政务信息";

const SEED_SOURCE: &str = "黄南报";
const SEED_CATEGORIES: [&str; 3] = ["黄南要闻", "领导动态", "双拥"];
/// 2021-06-01T00:00:00+08:00.
const SEED_PUBLISHED: &str = "2021-05-31T16:00:00Z";

const ENGLISH_ID: &str = "tag:www.huangnan.gov.cn,2021:article/regong-thangka-en";
const ENGLISH_TITLE: &str = "Regong thangka painters open their studios";
const ENGLISH_URL: &str = "https://www.huangnan.gov.cn/zjhn/rgwh/202106/t20210602_2.html";
const ENGLISH_AUTHOR: &str = "Lhamo Tso";
const ENGLISH_EDITOR: &str = "Dolma";
const ENGLISH_SUMMARY: &str = "Painters in Tongren & Wutun welcome visitors.";
const ENGLISH_PARAGRAPH: &str =
    "Thangka painters in Tongren open their studios to visitors this summer.";
const ENGLISH_IMAGE: &str = "https://www.huangnan.gov.cn/zjhn/rgwh/202106/thangka.jpg";
const ENGLISH_CAPTION: &str = "A thangka in progress";
const ENGLISH_IMAGE_TYPE: &str = "image/jpeg";
const ENGLISH_IMAGE_LENGTH: u64 = 48_213;
const ENGLISH_CATEGORIES: [&str; 4] = ["走进黄南", "热贡文化", "thangka", "Regong art"];
/// 2021-06-02T09:30:00+08:00.
const ENGLISH_PUBLISHED: &str = "2021-06-02T01:30:00Z";
/// 2021-06-03T10:15:00+08:00.
const ENGLISH_UPDATED: &str = "2021-06-03T02:15:00Z";

/// An article of 热贡文化 in English, with everything the seed lacks.
fn english_article() -> Value {
    json!({
        "id": "regong-thangka-en",
        "section": "zjhn/rgwh",
        "title": ENGLISH_TITLE,
        "url": ENGLISH_URL,
        "published": "2021-06-02T09:30:00+08:00",
        "updated": "2021-06-03T10:15:00+08:00",
        "source": "Huangnan Daily",
        "editor": ENGLISH_EDITOR,
        "authors": [ENGLISH_AUTHOR],
        "summary": ENGLISH_SUMMARY,
        "content_html": format!(
            "<p>{ENGLISH_PARAGRAPH}</p><p><img src=\"{ENGLISH_IMAGE}\" alt=\"A thangka\"></p>"
        ),
        "images": [{
            "url": ENGLISH_IMAGE,
            "caption": ENGLISH_CAPTION,
            "media_type": ENGLISH_IMAGE_TYPE,
            "length": ENGLISH_IMAGE_LENGTH,
        }],
        "tags": ["thangka", "Regong art"],
        "language": "en",
    })
}

fn seed_images() -> Vec<String> {
    IMAGES
        .iter()
        .map(|image| format!("{IMAGE_BASE}{image}"))
        .collect()
}

fn instant(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().expect("a test instant")
}

fn unix(rfc3339: &str) -> i64 {
    instant(rfc3339).timestamp()
}

/// The server with both articles, and the JSON Feed of `all` it serves.
async fn app_with_both_articles() -> (TestApp, Value) {
    let app = spawn_app().await;
    app.publish(&seed_article()).await;
    app.publish(&english_article()).await;
    let served: Value = app.get("/feeds/all.json").await.json().await.unwrap();
    assert_eq!(served["items"].as_array().unwrap().len(), 2, "{served}");
    (app, served)
}

/// The item of our JSON Feed with entry id `id`.
fn served<'a>(feed: &'a Value, id: &str) -> &'a Value {
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in our JSON Feed"))
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {value}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| text(v, "an array item"))
        .collect()
}

/// The seed's text survives in `html` byte-exact, paragraph by paragraph, with its three images.
/// (Attribute order is left to the client: feedparser's sanitiser writes `alt` before `src`.)
fn assert_seed_body(what: &str, html: &str) {
    for paragraph in seed_paragraphs() {
        assert!(
            html.contains(&paragraph),
            "{what}: a paragraph of the seed is missing or altered: {paragraph}"
        );
    }
    for image in seed_images() {
        assert!(
            html.contains(&format!("src=\"{image}\"")),
            "{what}: image {image} is not in the content"
        );
    }
}

fn assert_english_body(what: &str, html: &str) {
    assert!(html.contains(ENGLISH_PARAGRAPH), "{what}: {html}");
    assert!(
        html.contains(&format!("src=\"{ENGLISH_IMAGE}\"")),
        "{what}: {html}"
    );
}

/// Whether `program arg` runs and succeeds (checked before a server starts).
fn runs(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------------
// Python feedparser

/// feedparser's reading of `/feeds/all.{ext}` (see `tests/interop/feedparser_dump.py`).
async fn feedparser(app: &TestApp, ext: &str) -> Value {
    let bytes = app
        .get(&format!("/feeds/all.{ext}"))
        .await
        .bytes()
        .await
        .unwrap();
    let file = app.dir.path().join(format!("all.{ext}"));
    std::fs::write(&file, &bytes).unwrap();
    let output = tokio::process::Command::new("python3")
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
    serde_json::from_slice(&output.stdout).expect("the dump is JSON")
}

fn entry<'a>(entries: &'a Value, key: &str, id: &str) -> &'a Value {
    entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[key] == id)
        .unwrap_or_else(|| panic!("no entry {id} in {entries}"))
}

#[tokio::test]
async fn feedparser_reads_every_field_of_rss_and_atom() {
    if !require_tool(
        "python3 feedparser",
        crate::helpers::has_python_module("feedparser"),
    ) {
        return;
    }
    let (app, ours) = app_with_both_articles().await;
    let seed = seed_article();
    for ext in ["rss", "atom"] {
        let d = feedparser(&app, ext).await;
        assert_eq!(d["bozo"], false, "{ext}: {}", d["bozo_exception"]);
        assert_eq!(d["title"], SITE_TITLE, "{ext}");
        assert_eq!(d["link"], SITE_HOME, "{ext}");
        assert_eq!(d["subtitle"], SITE_DESCRIPTION, "{ext}");
        assert_eq!(d["language"], "zh-CN", "{ext}");
        assert_eq!(d["entries"].as_array().unwrap().len(), 2, "{ext}");

        let e = entry(&d["entries"], "id", SEED_ID);
        let what = format!("{ext} seed");
        assert_eq!(e["title"], seed["title"], "{what}");
        assert_eq!(e["link"], seed["url"], "{what}");
        assert_eq!(e["published"], unix(SEED_PUBLISHED), "{what}");
        // Never updated: Atom's updated is the publication; feedparser gives an RSS item (which
        // has no such element) its pubDate.
        assert_eq!(e["updated"], unix(SEED_PUBLISHED), "{what}");
        let written = if ext == "rss" {
            "Tue, 01 Jun 2021 00:00:00 +0800"
        } else {
            "2021-06-01T00:00:00+08:00"
        };
        assert_eq!(e["published_raw"], written, "{what}: the offset as given");
        assert_eq!(e["author"], SEED_SOURCE, "{what}: 来源 as the author");
        assert_eq!(strings(&e["authors"]), [SEED_SOURCE], "{what}");
        assert_eq!(
            e["contributors"],
            json!([]),
            "{what}: the page names no 责任编辑"
        );
        assert_eq!(strings(&e["tags"]), SEED_CATEGORIES, "{what}");
        let ours_seed = served(&ours, SEED_ID);
        // The summary is plain text that RSS carries as HTML: the seed's has nothing to escape.
        assert_eq!(e["summary"], ours_seed["summary"], "{what}");
        assert_eq!(strings(&e["content_types"]), ["text/html"], "{what}");
        assert_seed_body(&what, text(&e["content"][0], &what));
        assert_eq!(strings(&e["media_content"]), seed_images(), "{what}");
        assert_eq!(
            strings(&e["media_thumbnail"]),
            [seed_images()[0].as_str()],
            "{what}"
        );
        assert_eq!(
            e["enclosures"],
            json!([]),
            "{what}: no enclosure for an image of unknown type and size"
        );
        if ext == "atom" {
            assert_eq!(e["title_language"], "zh-CN", "{what}: the feed's language");
            assert_eq!(strings(&e["content_languages"]), ["zh-CN"], "{what}");
        }

        let e = entry(&d["entries"], "id", ENGLISH_ID);
        let what = format!("{ext} English");
        assert_eq!(e["title"], ENGLISH_TITLE, "{what}");
        assert_eq!(e["link"], ENGLISH_URL, "{what}");
        assert_eq!(e["published"], unix(ENGLISH_PUBLISHED), "{what}");
        if ext == "atom" {
            assert_eq!(e["updated"], unix(ENGLISH_UPDATED), "{what}");
            assert_eq!(e["updated_raw"], "2021-06-03T10:15:00+08:00", "{what}");
            assert_eq!(e["summary"], ENGLISH_SUMMARY, "{what}");
            assert_eq!(e["title_language"], "en", "{what}");
            assert_eq!(strings(&e["content_languages"]), ["en"], "{what}");
        } else {
            assert_eq!(
                e["published_raw"], "Wed, 02 Jun 2021 09:30:00 +0800",
                "{what}"
            );
            // RSS descriptions are HTML: the summary's `&` arrives escaped.
            assert_eq!(
                e["summary"], "Painters in Tongren &amp; Wutun welcome visitors.",
                "{what}"
            );
        }
        assert_eq!(e["author"], ENGLISH_AUTHOR, "{what}");
        assert_eq!(strings(&e["authors"]), [ENGLISH_AUTHOR], "{what}");
        assert_eq!(
            strings(&e["contributors"]),
            [ENGLISH_EDITOR],
            "{what}: 责任编辑 as the contributor"
        );
        assert_eq!(strings(&e["tags"]), ENGLISH_CATEGORIES, "{what}");
        assert_english_body(&what, text(&e["content"][0], &what));
        assert_eq!(
            e["enclosures"],
            json!([{
                "href": ENGLISH_IMAGE,
                "type": ENGLISH_IMAGE_TYPE,
                "length": ENGLISH_IMAGE_LENGTH.to_string(),
            }]),
            "{what}"
        );
        assert_eq!(strings(&e["media_content"]), [ENGLISH_IMAGE], "{what}");
        assert_eq!(strings(&e["media_thumbnail"]), [ENGLISH_IMAGE], "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// feed-rs

fn feed_rs_entry<'a>(feed: &'a feed_rs::model::Feed, id: &str) -> &'a feed_rs::model::Entry {
    feed.entries
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("feed-rs found no entry {id}"))
}

fn names(people: &[feed_rs::model::Person]) -> Vec<&str> {
    people.iter().map(|p| p.name.as_str()).collect()
}

fn terms(entry: &feed_rs::model::Entry) -> Vec<&str> {
    entry.categories.iter().map(|c| c.term.as_str()).collect()
}

/// Every Media RSS content of an entry (feed-rs folds an RSS enclosure in too) as (url, type,
/// size).
fn media_contents(entry: &feed_rs::model::Entry) -> Vec<(String, Option<String>, Option<u64>)> {
    entry
        .media
        .iter()
        .flat_map(|m| &m.content)
        .map(|c| {
            (
                c.url.as_ref().map(ToString::to_string).unwrap_or_default(),
                c.content_type.as_ref().map(ToString::to_string),
                c.size,
            )
        })
        .collect()
}

fn thumbnails(entry: &feed_rs::model::Entry) -> Vec<&str> {
    entry
        .media
        .iter()
        .flat_map(|m| &m.thumbnails)
        .map(|t| t.image.uri.as_str())
        .collect()
}

#[tokio::test]
async fn feed_rs_reads_every_field_of_every_format() {
    let (app, ours) = app_with_both_articles().await;
    let seed = seed_article();
    for ext in ["rss", "atom", "json"] {
        let path = format!("/feeds/all.{ext}");
        let bytes = app.get(&path).await.bytes().await.unwrap();
        let feed = feed_rs::parser::parse(&bytes[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            feed.title.as_ref().map(|t| t.content.as_str()),
            Some(SITE_TITLE)
        );
        // feed-rs lowercases an RSS <language>; language tags compare case-insensitively.
        let language = if ext == "rss" { "zh-cn" } else { "zh-CN" };
        assert_eq!(feed.language.as_deref(), Some(language), "{path}");
        assert!(
            feed.links.iter().any(|l| l.href == app.url(&path)),
            "{path}: self link in {:?}",
            feed.links
        );
        assert_eq!(feed.entries.len(), 2, "{path}");

        let e = feed_rs_entry(&feed, SEED_ID);
        let what = format!("{path} seed");
        let ours_seed = served(&ours, SEED_ID);
        assert_eq!(
            e.title.as_ref().map(|t| t.content.as_str()),
            seed["title"].as_str(),
            "{what}"
        );
        assert_eq!(e.links[0].href, text(&seed["url"], "url"), "{what}");
        assert_eq!(e.published, Some(instant(SEED_PUBLISHED)), "{what}");
        // Never updated: Atom and JSON Feed repeat the publication; RSS has no element for the
        // last change, and feed-rs gives an item its pubDate.
        assert_eq!(e.updated, Some(instant(SEED_PUBLISHED)), "{what}");
        assert_eq!(
            names(&e.authors),
            [SEED_SOURCE],
            "{what}: 来源 as the author"
        );
        assert!(
            e.contributors.is_empty(),
            "{what}: the page names no 责任编辑"
        );
        assert_eq!(terms(e), SEED_CATEGORIES, "{what}");
        assert_eq!(
            e.summary.as_ref().map(|s| s.content.as_str()),
            ours_seed["summary"].as_str(),
            "{what}"
        );
        let content = e.content.as_ref().and_then(|c| c.body.as_deref());
        assert_eq!(content, ours_seed["content_html"].as_str(), "{what}");
        assert_seed_body(&what, content.unwrap());
        if ext == "json" {
            // feed-rs reads no JSON Feed `image`, and an image of unknown type is no
            // attachment (JSON Feed 1.1 requires mime_type): the page's link only.
            assert!(e.media.is_empty(), "{what}");
            assert_eq!(e.links.len(), 1, "{what}: {:?}", e.links);
            assert_eq!(ours_seed["image"], seed_images()[0].as_str(), "{what}");
            assert_eq!(ours_seed.get("attachments"), None, "{what}");
            assert_eq!(ours_seed["_tidings"]["source"], SEED_SOURCE, "{what}");
            assert!(ours_seed["_tidings"]["editor"].is_null(), "{what}");
        } else {
            let urls: Vec<String> = media_contents(e).into_iter().map(|(u, ..)| u).collect();
            assert_eq!(urls, seed_images(), "{what}: the images as media:content");
            assert_eq!(thumbnails(e), [seed_images()[0].as_str()], "{what}");
            assert_eq!(e.links.len(), 1, "{what}: no enclosure: {:?}", e.links);
        }

        let e = feed_rs_entry(&feed, ENGLISH_ID);
        let what = format!("{path} English");
        assert_eq!(
            e.title.as_ref().map(|t| t.content.as_str()),
            Some(ENGLISH_TITLE),
            "{what}"
        );
        assert_eq!(e.links[0].href, ENGLISH_URL, "{what}");
        assert_eq!(e.published, Some(instant(ENGLISH_PUBLISHED)), "{what}");
        let updated = if ext == "rss" {
            ENGLISH_PUBLISHED
        } else {
            ENGLISH_UPDATED
        };
        assert_eq!(e.updated, Some(instant(updated)), "{what}");
        assert_eq!(names(&e.authors), [ENGLISH_AUTHOR], "{what}");
        // Contributors: Atom's <contributor>; feed-rs reads no RSS dc:contributor, and JSON
        // Feed has only authors (the editor is in `_tidings`).
        let contributors: &[&str] = if ext == "atom" {
            &[ENGLISH_EDITOR]
        } else {
            &[]
        };
        assert_eq!(names(&e.contributors), contributors, "{what}");
        assert_eq!(terms(e), ENGLISH_CATEGORIES, "{what}");
        // RSS descriptions are HTML, so the plain summary's `&` is escaped there.
        let summary = if ext == "rss" {
            "Painters in Tongren &amp; Wutun welcome visitors."
        } else {
            ENGLISH_SUMMARY
        };
        assert_eq!(
            e.summary.as_ref().map(|s| s.content.as_str()),
            Some(summary),
            "{what}"
        );
        let content = e.content.as_ref().and_then(|c| c.body.as_deref());
        assert_eq!(
            content,
            served(&ours, ENGLISH_ID)["content_html"].as_str(),
            "{what}"
        );
        assert_english_body(&what, content.unwrap());
        let image = (
            ENGLISH_IMAGE.to_owned(),
            Some(ENGLISH_IMAGE_TYPE.to_owned()),
            Some(ENGLISH_IMAGE_LENGTH),
        );
        match ext {
            "rss" => {
                // The <enclosure> and the media:content, both folded into the media by feed-rs.
                assert_eq!(media_contents(e), [image.clone(), image], "{what}");
                assert_eq!(thumbnails(e), [ENGLISH_IMAGE], "{what}");
            }
            "atom" => {
                assert_eq!(media_contents(e), [image], "{what}");
                assert_eq!(thumbnails(e), [ENGLISH_IMAGE], "{what}");
                let enclosure = e
                    .links
                    .iter()
                    .find(|l| l.rel.as_deref() == Some("enclosure"))
                    .unwrap_or_else(|| panic!("{what}: no enclosure in {:?}", e.links));
                assert_eq!(enclosure.href, ENGLISH_IMAGE, "{what}");
                assert_eq!(
                    enclosure.media_type.as_deref(),
                    Some(ENGLISH_IMAGE_TYPE),
                    "{what}"
                );
                assert_eq!(enclosure.length, Some(ENGLISH_IMAGE_LENGTH), "{what}");
                // feed-rs takes an Atom entry's language from its content's xml:lang.
                assert_eq!(e.language.as_deref(), Some("en"), "{what}");
            }
            _ => {
                let attachment = &e.links[1];
                assert_eq!(attachment.href, ENGLISH_IMAGE, "{what}");
                assert_eq!(
                    attachment.media_type.as_deref(),
                    Some(ENGLISH_IMAGE_TYPE),
                    "{what}"
                );
                assert_eq!(attachment.length, Some(ENGLISH_IMAGE_LENGTH), "{what}");
                assert_eq!(attachment.title.as_deref(), Some(ENGLISH_CAPTION), "{what}");
                // What feed-rs does not read of a JSON Feed item, read from the JSON itself.
                let item = served(&ours, ENGLISH_ID);
                assert_eq!(item["image"], ENGLISH_IMAGE, "{what}");
                assert_eq!(item["language"], "en", "{what}");
                assert_eq!(item["_tidings"]["editor"], ENGLISH_EDITOR, "{what}");
                assert_eq!(item["_tidings"]["source"], "Huangnan Daily", "{what}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// newsboat

/// What newsboat made of one feed: its cache database, and what `-x print-unread` printed.
struct NewsboatRun {
    cache: PathBuf,
    unread: String,
}

/// Runs newsboat headless (`-x reload print-unread`, no terminal) on `/feeds/all.{ext}` alone,
/// in a folder of its own that is also its HOME (it creates `~/.newsboat` even when told where
/// its files are). It needs no other environment: the locale does not matter to its cache,
/// which is UTF-8, and a proxy from the caller's environment must not see a loopback request.
///
/// One feed per run: newsboat keeps one row per guid across all the feeds it reads, so with our
/// RSS and Atom feeds (which share entry ids) in one urls file, one format's reading would
/// overwrite the other's and no row would say which format it came from.
async fn newsboat(app: &TestApp, ext: &str) -> NewsboatRun {
    let dir = app.dir.path().join(format!("newsboat-{ext}"));
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let urls = dir.join("urls");
    std::fs::write(
        &urls,
        format!("{}\n", app.url(&format!("/feeds/all.{ext}"))),
    )
    .unwrap();
    let errors = dir.join("error.log");
    let config = dir.join("config");
    std::fs::write(&config, format!("error-log \"{}\"\n", errors.display())).unwrap();
    let cache = dir.join("cache.db");
    let output = tokio::process::Command::new("newsboat")
        .arg("-u")
        .arg(&urls)
        .arg("-c")
        .arg(&cache)
        .arg("-C")
        .arg(&config)
        .args(["-x", "reload", "print-unread"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("newsboat runs");
    let logged = std::fs::read_to_string(&errors).unwrap_or_default();
    assert!(
        output.status.success() && logged.is_empty(),
        "newsboat on {ext}: {}\n{}\n{logged}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
    );
    NewsboatRun {
        cache,
        unread: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    }
}

/// A row of newsboat's `rss_item` table.
#[derive(Debug)]
struct NewsboatItem {
    guid: String,
    title: String,
    author: String,
    url: String,
    feedurl: String,
    /// Unix time.
    pub_date: i64,
    content: String,
    enclosure_url: Option<String>,
    enclosure_type: Option<String>,
}

/// newsboat's cache, read back: `rss_feed` (rssurl, url, title) and `rss_item`.
async fn read_newsboat_cache(cache: &Path) -> (Vec<(String, String, String)>, Vec<NewsboatItem>) {
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(cache)
        .read_only(true)
        .connect()
        .await
        .expect("newsboat's cache opens");
    let feeds = sqlx::query("SELECT rssurl, url, title FROM rss_feed")
        .fetch_all(&mut db)
        .await
        .expect("rss_feed")
        .into_iter()
        .map(|r| (r.get("rssurl"), r.get("url"), r.get("title")))
        .collect();
    let items = sqlx::query(
        "SELECT guid, title, author, url, feedurl, pubDate, content, enclosure_url, \
         enclosure_type FROM rss_item ORDER BY pubDate",
    )
    .fetch_all(&mut db)
    .await
    .expect("rss_item")
    .into_iter()
    .map(|r| NewsboatItem {
        guid: r.get("guid"),
        title: r.get("title"),
        author: r.get("author"),
        url: r.get("url"),
        feedurl: r.get("feedurl"),
        pub_date: r.get("pubDate"),
        content: r.get("content"),
        enclosure_url: r.get("enclosure_url"),
        enclosure_type: r.get("enclosure_type"),
    })
    .collect();
    db.close().await.expect("the cache closes");
    (feeds, items)
}

/// newsboat keeps an enclosure only when its type is audio, video or `application/ogg` (a
/// podcast, `is_valid_podcast_type`), from `<enclosure>` and `media:content` alike, so it keeps
/// none of our images; they reach its reader in the content, asserted beside this. Should a
/// newsboat keep image enclosures, what it keeps must be one of the article's images.
fn assert_newsboat_enclosure(what: &str, item: &NewsboatItem, images: &[String]) {
    match item.enclosure_url.as_deref() {
        None | Some("") => {}
        Some(url) => {
            assert!(images.iter().any(|i| i == url), "{what}: {item:?}");
            assert!(
                item.enclosure_type
                    .as_deref()
                    .is_some_and(|t| t.starts_with("image/")),
                "{what}: {item:?}"
            );
        }
    }
}

#[tokio::test]
async fn newsboat_keeps_every_field_it_stores_from_rss_and_atom() {
    if !require_tool("newsboat", runs("newsboat", "--version")) {
        return;
    }
    let (app, ours) = app_with_both_articles().await;
    let seed = seed_article();
    for ext in ["rss", "atom"] {
        let feed_url = app.url(&format!("/feeds/all.{ext}"));
        let run = newsboat(&app, ext).await;
        assert_eq!(run.unread, "2 unread articles", "{ext}");
        let (feeds, items) = read_newsboat_cache(&run.cache).await;
        assert_eq!(
            feeds,
            [(
                feed_url.clone(),
                SITE_HOME.to_owned(),
                SITE_TITLE.to_owned()
            )],
            "{ext}: the feed's URL, home page and title"
        );
        assert_eq!(items.len(), 2, "{ext}: {items:?}");

        let [item, english] = &items[..] else {
            unreachable!()
        };
        let what = format!("newsboat {ext} seed");
        assert_eq!(item.guid, SEED_ID, "{what}");
        assert_eq!(item.title, text(&seed["title"], "title"), "{what}");
        assert_eq!(item.url, text(&seed["url"], "url"), "{what}");
        assert_eq!(item.feedurl, feed_url, "{what}");
        assert_eq!(item.author, SEED_SOURCE, "{what}: 来源 as the author");
        assert_eq!(
            item.pub_date,
            unix(SEED_PUBLISHED),
            "{what}: 2021-06-01T00:00:00+08:00 is 2021-05-31T16:00:00Z"
        );
        assert_eq!(
            item.content,
            text(&served(&ours, SEED_ID)["content_html"], "content"),
            "{what}: the content as served"
        );
        assert_seed_body(&what, &item.content);
        assert_newsboat_enclosure(&what, item, &seed_images());

        let what = format!("newsboat {ext} English");
        assert_eq!(english.guid, ENGLISH_ID, "{what}");
        assert_eq!(english.title, ENGLISH_TITLE, "{what}");
        assert_eq!(english.url, ENGLISH_URL, "{what}");
        assert_eq!(english.feedurl, feed_url, "{what}");
        assert_eq!(english.author, ENGLISH_AUTHOR, "{what}");
        // newsboat keeps the publication, not the later update.
        assert_eq!(english.pub_date, unix(ENGLISH_PUBLISHED), "{what}");
        assert_eq!(
            english.content,
            text(&served(&ours, ENGLISH_ID)["content_html"], "content"),
            "{what}"
        );
        assert_english_body(&what, &english.content);
        assert_newsboat_enclosure(&what, english, &[ENGLISH_IMAGE.to_owned()]);
    }
}

// ---------------------------------------------------------------------------------------------
// npm rss-parser

fn has_rss_parser() -> bool {
    repo_path("tests/js/node_modules/rss-parser/package.json").is_file()
}

/// rss-parser's reading of `/feeds/all.{ext}` over HTTP (see `tests/js/rss-parser.mjs`).
async fn rss_parser(app: &TestApp, ext: &str) -> Value {
    let output = tokio::process::Command::new("node")
        .arg(repo_path("tests/js/rss-parser.mjs"))
        .arg(app.url(&format!("/feeds/all.{ext}")))
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "rss-parser on {ext}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("rss-parser's reading is JSON")
}

/// rss-parser keeps the attributes of an element it was asked for under `$`.
fn attributes<'a>(elements: &'a Value, name: &str) -> Vec<&'a str> {
    elements
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {elements}"))
        .iter()
        .map(|e| text(&e["$"][name], name))
        .collect()
}

/// The `name` of every Atom person (`[{"name": ["…"]}]` as rss-parser gives them).
fn people(persons: &Value) -> Vec<&str> {
    persons
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {persons}"))
        .iter()
        .map(|p| text(&p["name"][0], "name"))
        .collect()
}

fn requires_rss_parser() -> bool {
    require_tool("node", runs("node", "--version"))
        && require_tool("rss-parser (npm ci --prefix tests/js)", has_rss_parser())
}

#[tokio::test]
async fn rss_parser_reads_every_field_of_rss() {
    if !requires_rss_parser() {
        return;
    }
    let (app, ours) = app_with_both_articles().await;
    let seed = seed_article();
    let feed = rss_parser(&app, "rss").await;
    assert_eq!(feed["title"], SITE_TITLE);
    assert_eq!(feed["link"], SITE_HOME);
    assert_eq!(feed["feedUrl"], app.url("/feeds/all.rss"));
    assert_eq!(feed["description"], SITE_DESCRIPTION);
    assert_eq!(feed["language"], "zh-CN");
    assert!(
        text(&feed["generator"], "generator").starts_with("tidings/"),
        "{}",
        feed["generator"]
    );
    assert_eq!(feed["image"]["title"], SITE_TITLE);
    assert_eq!(feed["image"]["link"], SITE_HOME);
    assert_eq!(feed["items"].as_array().unwrap().len(), 2);

    let item = entry(&feed["items"], "guid", SEED_ID);
    let ours_seed = served(&ours, SEED_ID);
    assert_eq!(item["title"], seed["title"]);
    assert_eq!(item["link"], seed["url"]);
    assert_eq!(item["pubDate"], "Tue, 01 Jun 2021 00:00:00 +0800");
    assert_eq!(
        item["isoDate"], "2021-05-31T16:00:00.000Z",
        "the +08:00 instant"
    );
    assert_eq!(item["creator"], SEED_SOURCE, "来源 as the author");
    assert_eq!(strings(&item["creators"]), [SEED_SOURCE]);
    assert_eq!(item.get("contributors"), None, "the page names no 责任编辑");
    assert_eq!(strings(&item["categories"]), SEED_CATEGORIES);
    // rss-parser's `content` is the description: our summary, which has nothing to escape.
    assert_eq!(item["content"], ours_seed["summary"]);
    assert_eq!(item["contentSnippet"], ours_seed["summary"]);
    assert_eq!(item["content:encoded"], ours_seed["content_html"]);
    assert_seed_body(
        "rss-parser content:encoded",
        text(&item["content:encoded"], "content"),
    );
    let snippet = text(&item["content:encodedSnippet"], "snippet");
    for paragraph in seed_paragraphs() {
        assert!(
            snippet.contains(&paragraph),
            "the snippet lost: {paragraph}"
        );
    }
    assert_eq!(
        item.get("enclosure"),
        None,
        "no enclosure for an image of unknown type and size"
    );
    assert_eq!(attributes(&item["mediaContent"], "url"), seed_images());
    assert_eq!(
        attributes(&item["mediaContent"], "medium"),
        ["image", "image", "image"]
    );
    assert_eq!(
        attributes(&item["mediaThumbnail"], "url"),
        [seed_images()[0].as_str()]
    );

    let item = entry(&feed["items"], "guid", ENGLISH_ID);
    assert_eq!(item["title"], ENGLISH_TITLE);
    assert_eq!(item["link"], ENGLISH_URL);
    assert_eq!(item["pubDate"], "Wed, 02 Jun 2021 09:30:00 +0800");
    assert_eq!(item["isoDate"], "2021-06-02T01:30:00.000Z");
    assert_eq!(item["creator"], ENGLISH_AUTHOR);
    assert_eq!(strings(&item["creators"]), [ENGLISH_AUTHOR]);
    assert_eq!(
        strings(&item["contributors"]),
        [ENGLISH_EDITOR],
        "责任编辑 as dc:contributor"
    );
    assert_eq!(strings(&item["categories"]), ENGLISH_CATEGORIES);
    // The description is HTML: the plain summary's `&` is escaped, and the snippet reads it back.
    assert_eq!(
        item["content"],
        "Painters in Tongren &amp; Wutun welcome visitors."
    );
    assert_eq!(item["contentSnippet"], ENGLISH_SUMMARY);
    assert_eq!(
        item["content:encoded"],
        served(&ours, ENGLISH_ID)["content_html"]
    );
    assert_eq!(item["content:encodedSnippet"], ENGLISH_PARAGRAPH);
    assert_eq!(
        item["enclosure"],
        json!({
            "url": ENGLISH_IMAGE,
            "length": ENGLISH_IMAGE_LENGTH.to_string(),
            "type": ENGLISH_IMAGE_TYPE,
        })
    );
    let media = &item["mediaContent"];
    assert_eq!(attributes(media, "url"), [ENGLISH_IMAGE]);
    assert_eq!(attributes(media, "type"), [ENGLISH_IMAGE_TYPE]);
    assert_eq!(
        attributes(media, "fileSize"),
        [ENGLISH_IMAGE_LENGTH.to_string()]
    );
    assert_eq!(media[0]["media:title"][0]["_"], ENGLISH_CAPTION);
    assert_eq!(attributes(&item["mediaThumbnail"], "url"), [ENGLISH_IMAGE]);
}

#[tokio::test]
async fn rss_parser_reads_every_field_of_atom() {
    if !requires_rss_parser() {
        return;
    }
    let (app, ours) = app_with_both_articles().await;
    let seed = seed_article();
    let feed = rss_parser(&app, "atom").await;
    assert_eq!(feed["title"], SITE_TITLE);
    assert_eq!(feed["link"], SITE_HOME);
    assert_eq!(feed["feedUrl"], app.url("/feeds/all.atom"));
    assert_eq!(feed["subtitle"], SITE_DESCRIPTION);
    // rss-parser reads no xml:lang, so an Atom feed's language does not reach it.
    assert_eq!(feed.get("language"), None);
    assert_eq!(feed["items"].as_array().unwrap().len(), 2);

    let item = entry(&feed["items"], "id", SEED_ID);
    let ours_seed = served(&ours, SEED_ID);
    assert_eq!(item["title"], seed["title"]);
    assert_eq!(item["link"], seed["url"]);
    // rss-parser rewrites <published> in UTC; <updated> it was asked for comes as written.
    assert_eq!(item["pubDate"], "2021-05-31T16:00:00.000Z");
    assert_eq!(
        item["isoDate"], "2021-05-31T16:00:00.000Z",
        "the +08:00 instant"
    );
    assert_eq!(item["updated"], "2021-06-01T00:00:00+08:00");
    assert_eq!(item["author"], SEED_SOURCE, "来源 as the author");
    assert_eq!(people(&item["authors"]), [SEED_SOURCE]);
    assert_eq!(item.get("contributors"), None, "the page names no 责任编辑");
    assert_eq!(attributes(&item["categories"], "term"), SEED_CATEGORIES);
    assert_eq!(item["summary"], ours_seed["summary"]);
    assert_eq!(item["content"], ours_seed["content_html"]);
    assert_seed_body("rss-parser Atom content", text(&item["content"], "content"));
    let snippet = text(&item["contentSnippet"], "snippet");
    for paragraph in seed_paragraphs() {
        assert!(
            snippet.contains(&paragraph),
            "the snippet lost: {paragraph}"
        );
    }
    assert_eq!(
        attributes(&item["links"], "rel"),
        ["alternate"],
        "no enclosure for an image of unknown type and size"
    );
    assert_eq!(attributes(&item["mediaContent"], "url"), seed_images());
    assert_eq!(
        attributes(&item["mediaThumbnail"], "url"),
        [seed_images()[0].as_str()]
    );

    let item = entry(&feed["items"], "id", ENGLISH_ID);
    assert_eq!(item["title"], ENGLISH_TITLE);
    assert_eq!(item["link"], ENGLISH_URL);
    assert_eq!(item["pubDate"], "2021-06-02T01:30:00.000Z");
    assert_eq!(item["isoDate"], "2021-06-02T01:30:00.000Z");
    assert_eq!(item["updated"], "2021-06-03T10:15:00+08:00");
    assert_eq!(item["author"], ENGLISH_AUTHOR);
    assert_eq!(people(&item["authors"]), [ENGLISH_AUTHOR]);
    assert_eq!(
        people(&item["contributors"]),
        [ENGLISH_EDITOR],
        "责任编辑 as the contributor"
    );
    assert_eq!(attributes(&item["categories"], "term"), ENGLISH_CATEGORIES);
    assert_eq!(item["summary"], ENGLISH_SUMMARY);
    assert_eq!(item["content"], served(&ours, ENGLISH_ID)["content_html"]);
    assert_eq!(item["contentSnippet"], ENGLISH_PARAGRAPH);
    let links = item["links"].as_array().unwrap();
    assert_eq!(
        attributes(&item["links"], "rel"),
        ["alternate", "enclosure"]
    );
    assert_eq!(
        links[1]["$"],
        json!({
            "href": ENGLISH_IMAGE,
            "rel": "enclosure",
            "type": ENGLISH_IMAGE_TYPE,
            "length": ENGLISH_IMAGE_LENGTH.to_string(),
        })
    );
    assert_eq!(attributes(&item["mediaContent"], "url"), [ENGLISH_IMAGE]);
    assert_eq!(attributes(&item["mediaThumbnail"], "url"), [ENGLISH_IMAGE]);
}

/// An RSS item in another language than its channel carries `dc:language`, which rss-parser
/// reads into `language` unasked (as feedparser does into the entry's `language`); without it
/// any RSS reader takes the English article for Chinese, the channel's language. The seed,
/// in the channel's language, carries none.
#[tokio::test]
async fn rss_parser_reads_the_language_of_an_rss_item_in_another_language() {
    if !requires_rss_parser() {
        return;
    }
    let (app, _) = app_with_both_articles().await;
    let feed = rss_parser(&app, "rss").await;
    let english = entry(&feed["items"], "guid", ENGLISH_ID);
    assert_eq!(
        english["language"], "en",
        "the English item has no dc:language: {english}"
    );
    let seed = entry(&feed["items"], "guid", SEED_ID);
    assert_eq!(
        seed.get("language"),
        None,
        "the seed is in the feed's language"
    );
}
