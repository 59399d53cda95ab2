//! Upstream feeds as tidings itself writes them, rendered here by the crate's own renderers,
//! read and then accepted by the real normaliser; and the helpers other feeds' tests share.

use std::path::Path;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use super::*;
use crate::catalog::{Catalog, Scope, load_catalog};
use crate::config::IngestConfig;
use crate::domain::{Article, FeedFormat, Image, StoredArticle, Tombstone};
use crate::ingest::Normalizer;
use crate::render::{FeedContext, History, render_feed};

/// The county portal running tidings whose feeds the prefecture aggregates.
const COUNTY: &str = "https://feeds.tongren.example";
const COUNTY_HUB: &str = "https://feeds.tongren.example/websub";
const PAGE: &str = "https://www.tongren.example/xwzx/2021/0601/1.html";
const IMAGE_WITH_ALL: &str = "https://www.tongren.example/images/2021/0601/a.jpg";
const IMAGE_CAPTIONED: &str = "https://www.tongren.example/images/2021/0601/b.jpg?w=800&h=600";
const IMAGE_TYPED: &str = "https://www.tongren.example/images/2021/0601/c.png";
const PARAGRAPH: &str = "6月1日，同仁市召开乡村振兴工作推进会。";

fn time(rfc3339: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(rfc3339).expect("a test time")
}

pub(super) fn url(raw: &str) -> Url {
    Url::parse(raw).expect("a test URL")
}

fn path(raw: &str) -> SectionPath {
    SectionPath::parse(raw).expect("a test section path")
}

fn catalog() -> Catalog {
    load_catalog(&Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds")).expect("the catalogue")
}

/// Where the aggregated articles go: 县区动态.
pub(super) fn target() -> SectionPath {
    path("hnyw/xxdt")
}

pub(super) fn mapping<'a>(
    section: &'a SectionPath,
    source_title: Option<&'a str>,
) -> SourceMapping<'a> {
    SourceMapping {
        source: "tongren",
        section,
        source_title,
        time_zone: chrono_tz::Asia::Shanghai,
    }
}

fn stored(article: Article) -> StoredArticle {
    StoredArticle {
        article,
        version: 2,
        created_at: Utc::now(),
        modified_at: Utc::now(),
        deleted_at: None,
    }
}

/// With source and editor but no authors, three images (one shown in the body, one captioned
/// with `&` in its URL, one with only a type), a tag.
fn meeting() -> StoredArticle {
    stored(Article {
        id: ArticleId::parse("tr-20210601-xczx").unwrap(),
        section: path("hnyw/ldhd"),
        title: "同仁市召开乡村振兴工作推进会".to_owned(),
        url: url(PAGE),
        source: Some("同仁市融媒体中心".to_owned()),
        editor: Some("卓玛".to_owned()),
        authors: Vec::new(),
        published: time("2021-06-01T09:30:00+08:00"),
        updated: Some(time("2021-06-02T10:00:00+08:00")),
        summary: Some("推进会部署了下一阶段的工作 & 任务。".to_owned()),
        content_html: format!("<p>{PARAGRAPH}</p><p><img src=\"{IMAGE_WITH_ALL}\" alt=\"\"></p>"),
        images: vec![
            Image {
                url: url(IMAGE_WITH_ALL),
                caption: Some("会议现场".to_owned()),
                media_type: Some("image/jpeg".to_owned()),
                length: Some(48_213),
            },
            Image {
                url: url(IMAGE_CAPTIONED),
                caption: Some("调研\"现场\" <&>".to_owned()),
                media_type: None,
                length: None,
            },
            Image {
                url: url(IMAGE_TYPED),
                caption: None,
                media_type: Some("image/png".to_owned()),
                length: None,
            },
        ],
        tags: vec!["乡村振兴".to_owned()],
        language: None,
    })
}

/// With two authors and a source, in English, at another offset.
fn interview() -> StoredArticle {
    stored(Article {
        id: ArticleId::parse("tr-20210531-en").unwrap(),
        section: path("hnyw"),
        title: "Regong art draws visitors".to_owned(),
        url: url("https://www.tongren.example/en/2021/0531/regong.html"),
        source: Some("Qinghai Daily".to_owned()),
        editor: None,
        authors: vec!["Tashi".to_owned(), "Li Ming".to_owned()],
        published: time("2021-05-31T06:00:00-04:00"),
        updated: None,
        summary: None,
        content_html: "<p>Thangka painters in Wutun.</p>".to_owned(),
        images: Vec::new(),
        tags: Vec::new(),
        language: Some("en".to_owned()),
    })
}

fn withdrawn() -> Tombstone {
    Tombstone {
        id: ArticleId::parse("tr-withdrawn").unwrap(),
        section: path("hnyw"),
        url: url("https://www.tongren.example/gone.html"),
        deleted_at: Utc::now(),
    }
}

/// The county's feed of 黄南要闻 in `format`, as tidings serves it, and its URL.
fn county_feed(format: FeedFormat) -> (Vec<u8>, Url) {
    let catalog = catalog();
    let scope = Scope::Section(path("hnyw"));
    let self_url = format!("{COUNTY}/feeds/hnyw.{}", format.extension());
    let ctx = FeedContext {
        catalog: &catalog,
        scope: &scope,
        self_url: &self_url,
        hub_url: Some(COUNTY_HUB),
        updated: Utc::now(),
        generator: "tidings/0.1.0",
        public_base: COUNTY,
        history: History::default(),
    };
    let bytes = render_feed(format, &ctx, &[meeting(), interview()], &[withdrawn()]);
    (bytes, url(&self_url))
}

fn read(format: FeedFormat) -> UpstreamFeed {
    let (bytes, feed_url) = county_feed(format);
    let section = target();
    read_feed(&bytes, &feed_url, &mapping(&section, None)).expect("a tidings feed reads")
}

/// Every document through the real normaliser, which must accept it.
pub(super) fn normalize(feed: &UpstreamFeed) -> Vec<Article> {
    let catalog = catalog();
    let limits = IngestConfig::default();
    let normalizer = Normalizer {
        catalog: &catalog,
        limits: &limits,
        now: time("2021-06-03T00:00:00+08:00"),
    };
    feed.documents
        .iter()
        .map(|document| match normalizer.article(document) {
            Ok(normalized) => normalized.article,
            Err(rejection) => panic!("refused: {rejection}\n{document:#}"),
        })
        .collect()
}

/// An image as `(url, caption, media_type, length)`.
pub(super) type ImageFields<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<u64>);

pub(super) fn images(article: &Article) -> Vec<ImageFields<'_>> {
    article
        .images
        .iter()
        .map(|i| {
            (
                i.url.as_str(),
                i.caption.as_deref(),
                i.media_type.as_deref(),
                i.length,
            )
        })
        .collect()
}

/// What every format keeps of the county's articles.
fn assert_kept_in_common(format: FeedFormat, articles: &[Article]) {
    assert_eq!(articles.len(), 2, "{format:?}");
    let (meeting, interview) = (&articles[0], &articles[1]);
    assert_eq!(
        meeting.id,
        upstream_id("tongren", &catalog().entry_id(&self::meeting().article.id))
    );
    assert_eq!(meeting.section, target());
    assert_eq!(meeting.title, "同仁市召开乡村振兴工作推进会");
    assert_eq!(meeting.url.as_str(), PAGE);
    assert_eq!(
        meeting.source.as_deref(),
        Some("同仁市融媒体中心"),
        "{format:?}"
    );
    assert_eq!(meeting.editor.as_deref(), Some("卓玛"), "{format:?}");
    assert!(
        meeting.authors.is_empty(),
        "{format:?}: {:?}",
        meeting.authors
    );
    assert_eq!(
        meeting.published.to_rfc3339(),
        "2021-06-01T09:30:00+08:00",
        "{format:?}"
    );
    assert!(meeting.content_html.contains(PARAGRAPH));
    // The section trail of the county's feed comes along as tags, then the article's own.
    assert_eq!(
        meeting.tags,
        ["黄南要闻", "领导动态", "乡村振兴"],
        "{format:?}"
    );
    assert_eq!(
        meeting.summary.as_deref(),
        Some("推进会部署了下一阶段的工作 & 任务。"),
        "{format:?}"
    );

    assert_eq!(interview.authors, ["Tashi", "Li Ming"], "{format:?}");
    assert_eq!(
        interview.published.to_rfc3339(),
        "2021-05-31T06:00:00-04:00",
        "{format:?}"
    );
    assert_eq!(interview.language.as_deref(), Some("en"), "{format:?}");
    assert_eq!(interview.updated, None, "{format:?}");
}

#[test]
fn a_tidings_rss_feed_keeps_source_editor_images_tags_and_offsets() {
    let feed = read(FeedFormat::Rss);
    assert_eq!(feed.hub, Some(url(COUNTY_HUB)));
    assert_eq!(
        feed.self_url,
        Some(url(&format!("{COUNTY}/feeds/hnyw.rss")))
    );
    assert!(feed.deleted.is_empty(), "RSS carries no tombstones");
    let articles = normalize(&feed);
    assert_kept_in_common(FeedFormat::Rss, &articles);
    // RSS has no updated time for an item.
    assert_eq!(articles[0].updated, None);
    assert_eq!(
        images(&articles[0]),
        [
            (
                IMAGE_WITH_ALL,
                Some("会议现场"),
                Some("image/jpeg"),
                Some(48_213)
            ),
            (IMAGE_CAPTIONED, Some("调研\"现场\" <&>"), None, None),
            (IMAGE_TYPED, None, Some("image/png"), None),
        ]
    );
    // Two authors and a source: RSS shows the authors only, so the source is the feed's title.
    assert_eq!(
        articles[1].source.as_deref(),
        Some("黄南藏族自治州人民政府 - 黄南要闻")
    );
}

#[test]
fn a_tidings_atom_feed_keeps_the_same_and_names_its_tombstones() {
    let feed = read(FeedFormat::Atom);
    assert_eq!(feed.hub, Some(url(COUNTY_HUB)));
    assert_eq!(
        feed.self_url,
        Some(url(&format!("{COUNTY}/feeds/hnyw.atom")))
    );
    let gone = catalog().entry_id(&withdrawn().id);
    assert_eq!(feed.deleted, [upstream_id("tongren", &gone)]);
    let articles = normalize(&feed);
    assert_kept_in_common(FeedFormat::Atom, &articles);
    assert_eq!(
        articles[0].updated.map(|t| t.to_rfc3339()).as_deref(),
        Some("2021-06-02T10:00:00+08:00")
    );
    assert_eq!(
        images(&articles[0]),
        [
            (
                IMAGE_WITH_ALL,
                Some("会议现场"),
                Some("image/jpeg"),
                Some(48_213)
            ),
            (IMAGE_CAPTIONED, Some("调研\"现场\" <&>"), None, None),
            (IMAGE_TYPED, None, Some("image/png"), None),
        ]
    );
}

#[test]
fn a_tidings_json_feed_keeps_the_same_and_knows_source_from_authors() {
    let feed = read(FeedFormat::Json);
    assert_eq!(feed.hub, Some(url(COUNTY_HUB)));
    assert_eq!(
        feed.self_url,
        Some(url(&format!("{COUNTY}/feeds/hnyw.json")))
    );
    let articles = normalize(&feed);
    assert_kept_in_common(FeedFormat::Json, &articles);
    assert_eq!(
        articles[0].updated.map(|t| t.to_rfc3339()).as_deref(),
        Some("2021-06-02T10:00:00+08:00")
    );
    // JSON Feed names the source beside the authors.
    assert_eq!(articles[1].source.as_deref(), Some("Qinghai Daily"));
    // Attachments need a type: the captioned image without one is only in the body.
    assert_eq!(
        images(&articles[0]),
        [
            (
                IMAGE_WITH_ALL,
                Some("会议现场"),
                Some("image/jpeg"),
                Some(48_213)
            ),
            (IMAGE_TYPED, None, Some("image/png"), None),
        ]
    );
    assert!(articles[0].content_html.contains("b.jpg?w=800&amp;h=600"));
}

#[test]
fn reading_a_tidings_feed_twice_gives_the_same_documents() {
    for format in FeedFormat::ALL {
        let (bytes, feed_url) = county_feed(format);
        let section = target();
        let first = read_feed(&bytes, &feed_url, &mapping(&section, None)).unwrap();
        let second = read_feed(&bytes, &feed_url, &mapping(&section, None)).unwrap();
        assert_eq!(first, second, "{format:?}");
    }
}

#[test]
fn ids_are_namespaced_deterministic_and_valid() {
    let a = upstream_id("tongren", "tag:x,2021:1");
    assert_eq!(a, upstream_id("tongren", "tag:x,2021:1"));
    assert!(a.as_str().starts_with("tongren~"));
    assert_eq!(a.as_str().len(), "tongren~".len() + 32);
    assert_ne!(a, upstream_id("zeku", "tag:x,2021:1"));
    assert_ne!(a, upstream_id("tongren", "tag:x,2021:2"));
    // A name outside the contract still gives a valid id.
    let odd = upstream_id(&format!("Tong Ren/{}", "x".repeat(300)), "1");
    assert!(ArticleId::parse(odd.as_str()).is_ok());
    assert!(odd.as_str().starts_with("tong-ren-x"));

    let rss = read(FeedFormat::Rss);
    let atom = read(FeedFormat::Atom);
    let ids = |feed: &UpstreamFeed| -> Vec<Value> {
        feed.documents.iter().map(|d| d["id"].clone()).collect()
    };
    assert_eq!(
        ids(&rss),
        ids(&atom),
        "one entry id, one article, whatever the format"
    );
}

#[test]
fn a_zone_abbreviation_is_read_as_the_sites_zone_goes_by_it() {
    let shanghai = chrono_tz::Asia::Shanghai;
    let chinese = "Tue, 01 Jun 2021 09:30:00 CST";
    assert_eq!(
        parse_feed_time(chinese, shanghai),
        Some(time("2021-06-01T09:30:00+08:00")),
        "China Standard Time on a Chinese site"
    );
    assert_eq!(
        parse_feed_time("Tue, 01 Jun 2021 09:30 CST", shanghai),
        Some(time("2021-06-01T09:30:00+08:00"))
    );
    // Elsewhere CST is US Central, as RFC 822 has it.
    assert_eq!(
        parse_feed_time(chinese, chrono_tz::UTC),
        Some(time("2021-06-01T09:30:00-06:00"))
    );
    assert_eq!(
        parse_feed_time("Tue, 05 Jan 2021 09:30:00 CST", chrono_tz::America::Chicago),
        Some(time("2021-01-05T09:30:00-06:00"))
    );
    // Offsets and GMT are read as written, whatever the site's zone.
    assert_eq!(
        parse_feed_time("Tue, 01 Jun 2021 09:30:00 GMT", shanghai),
        Some(time("2021-06-01T09:30:00+00:00"))
    );
    assert_eq!(
        parse_feed_time("Tue, 01 Jun 2021 09:30:00 +0800", chrono_tz::UTC),
        Some(time("2021-06-01T09:30:00+08:00"))
    );
    assert_eq!(
        parse_feed_time("Tue, 01 Jun 2021 09:30:00 EST", shanghai),
        Some(time("2021-06-01T09:30:00-05:00"))
    );
}
