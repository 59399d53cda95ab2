//! Upstream feeds: another site's RSS 2.0, Atom 1.0 or JSON Feed 1.x, read into article
//! documents for the [`Normalizer`](super::Normalizer). Pure: bytes in, values out.
//!
//! `feed-rs` parses the three formats; what it leaves out is read from the document itself
//! ([`raw`]): RFC 6721 tombstones, each image's caption, `dc:contributor`, per-item language,
//! JSON Feed's `hubs` and extension objects. Times keep the offset they were written with:
//! `feed-rs` keeps only the instant, so the parser it is given records the offset of every
//! time it reads.
//!
//! A tidings feed read by another tidings keeps what the renderers wrote: the source (来源),
//! the editor (责任编辑, written as the contributor), the authors, images with their captions,
//! tags and the `+08:00` of its times. RSS and Atom write the source as the author when an
//! article has no authors, so a tidings RSS or Atom entry with exactly one author is read as
//! one with that source and no authors (the JSON Feed says which is which).

mod entry;
#[cfg(test)]
mod foreign_tests;
mod headers;
mod raw;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use feed_rs::model::{Feed, FeedType};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use super::{MAX_URL_BYTES, parse_time};
use crate::domain::{ArticleId, SectionPath};
use entry::{EntryContext, language_tag, plain_text};
pub use headers::{hub_links, poll_interval};
use raw::Extras;

/// What one fetch of an upstream feed holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamFeed {
    /// Article documents for the normaliser, newest first, one per upstream entry id.
    pub documents: Vec<Value>,
    /// Our ids of the entries the feed marks deleted (RFC 6721 `at:deleted-entry`).
    pub deleted: Vec<ArticleId>,
    /// The WebSub hub the feed advertises (`atom:link rel="hub"` in Atom and RSS, `hubs` in
    /// JSON Feed).
    pub hub: Option<Url>,
    /// The feed's own URL (`rel="self"`, JSON Feed `feed_url`): the WebSub topic.
    pub self_url: Option<Url>,
    /// RSS `<ttl>`: how long the feed may be cached.
    pub ttl: Option<Duration>,
}

/// Where an upstream feed's articles go, and under which name.
#[derive(Debug, Clone, Copy)]
pub struct SourceMapping<'a> {
    /// The source's name in the configuration, `[a-z0-9-]+`: it namespaces article ids.
    pub source: &'a str,
    /// The section every article of the feed is filed under.
    pub section: &'a SectionPath,
    /// The source (来源) of articles whose entry names none; the feed's title when `None`.
    pub source_title: Option<&'a str>,
    /// The zone of times written without an offset (`2021-06-01 09:30:00`, which Chinese
    /// portals' feeds often carry): the site's zone.
    pub time_zone: Tz,
}

/// Why a body could not be read as a feed; the message completes "<url> …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAFeed(pub String);

fn not_a_feed(reason: impl std::fmt::Display) -> NotAFeed {
    NotAFeed(format!("is not a feed: {reason}"))
}

/// Reads an upstream feed into article documents.
///
/// Relative links resolve against `feed_url`. An entry is skipped when it has no link (and no
/// `http(s)` id standing for one) or no date at all; `published` falls back to `updated`.
/// Each document's `id` is [`upstream_id`] of the entry's id (its link when it has none),
/// its `section` the mapping's. Fields the normaliser would refuse in bulk are bounded here
/// (tags, authors and images beyond the limits, over-long names and captions are dropped), so
/// that one odd field does not cost the whole article; the rest the normaliser checks.
pub fn read_feed(
    bytes: &[u8],
    feed_url: &Url,
    mapping: &SourceMapping<'_>,
) -> Result<UpstreamFeed, NotAFeed> {
    sniff(bytes)?;
    let times = Rc::new(RefCell::new(HashMap::new()));
    let parser = {
        let times = Rc::clone(&times);
        let zone = mapping.time_zone;
        feed_rs::parser::Builder::new()
            .base_uri(Some(feed_url.as_str()))
            // An entry without an id is known by its link, so that editing its title does not
            // make it a new article (feed-rs's default hashes the title in).
            .id_generator(|links, _, _| links.first().map(|l| l.href.clone()).unwrap_or_default())
            .timestamp_parser(move |text| {
                let time = parse_feed_time(text, zone)?;
                let instant = time.with_timezone(&Utc);
                times.borrow_mut().insert(instant, time);
                Some(instant)
            })
            .build()
    };
    let feed = parser.parse(bytes).map_err(explain)?;
    let times = times.borrow();
    let with_offset = |instant: DateTime<Utc>| {
        times
            .get(&instant)
            .copied()
            .unwrap_or_else(|| instant.fixed_offset())
    };

    let extras = if feed.feed_type == FeedType::JSON {
        raw::scan_json(bytes)
    } else {
        raw::scan_xml(bytes)
    };
    let is_tidings = extras
        .generator
        .as_deref()
        .or(feed.generator.as_ref().map(|g| g.content.as_str()))
        .is_some_and(|g| g.trim_start().starts_with("tidings"));
    let feed_title = feed
        .title
        .as_ref()
        .map(plain_text)
        .filter(|t| !t.is_empty());
    let context = EntryContext {
        feed_url,
        mapping,
        feed_type: feed.feed_type.clone(),
        is_tidings,
        source: mapping
            .source_title
            .map(str::to_owned)
            .or(feed_title)
            .filter(|s| !s.trim().is_empty()),
        language: feed.language.as_deref().and_then(language_tag),
    };

    // Extras line up with feed-rs's entries only when both read the same entries.
    let entry_extras = (extras.entries.len() == feed.entries.len()).then_some(&extras.entries);
    let mut seen = HashSet::new();
    let mut dated: Vec<(DateTime<FixedOffset>, Value)> = Vec::new();
    for (i, entry) in feed.entries.iter().enumerate() {
        let extra = entry_extras.and_then(|e| e.get(i));
        let Some((published, document)) = context.document(entry, extra, &with_offset) else {
            continue;
        };
        let id = document["id"].as_str().unwrap_or_default().to_owned();
        if seen.insert(id) {
            dated.push((published, document));
        }
    }
    dated.sort_by_key(|(published, _)| std::cmp::Reverse(*published));

    let (hub, self_url) = feed_links(&feed, &extras, feed_url);
    Ok(UpstreamFeed {
        documents: dated.into_iter().map(|(_, d)| d).collect(),
        deleted: extras
            .deleted
            .iter()
            .map(|r| upstream_id(mapping.source, r.trim()))
            .collect(),
        hub,
        self_url,
        ttl: feed
            .ttl
            .map(|minutes| Duration::from_secs(u64::from(minutes) * 60)),
    })
}

/// Our id of an upstream entry: `{source}~{32 hex digits of SHA-256(entry_id)}`.
///
/// Deterministic, a valid [`ArticleId`], and distinct across sources (`~` cannot occur in a
/// source name). `source` should be a configured name (`[a-z0-9-]+`); any other character is
/// replaced by `-` and the name is cut to 160 characters, so that the id stays valid.
pub fn upstream_id(source: &str, entry_id: &str) -> ArticleId {
    let name: String = source
        .chars()
        .take(160)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    let digest = Sha256::digest(entry_id.as_bytes());
    let id = format!("{name}~{}", hex::encode(&digest[..16]));
    ArticleId::parse(&id).expect("letters, digits, - and ~ make a valid id")
}

/// Refuses what is plainly not a feed before a parser sees it, with a reason a person can act
/// on.
fn sniff(bytes: &[u8]) -> Result<(), NotAFeed> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = body.trim_ascii_start();
    if start.is_empty() {
        return Err(not_a_feed("the body is empty"));
    }
    // UTF-16 with a byte order mark: the XML parser decodes it.
    if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&start[..start.len().min(512)]).to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        return Err(not_a_feed("it is an HTML page"));
    }
    match start[0] {
        b'<' | b'{' => Ok(()),
        _ if bytes.contains(&0) => Err(not_a_feed("the body is binary")),
        _ => Err(not_a_feed("the body is neither XML nor JSON")),
    }
}

fn explain(err: ParseFeedError) -> NotAFeed {
    match err {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            not_a_feed("the document is not RSS, Atom or JSON Feed")
        }
        ParseFeedError::JsonUnsupportedVersion(version) => {
            not_a_feed(format!("JSON with version {version:?} is not a JSON Feed"))
        }
        ParseFeedError::JsonSerde(e) => not_a_feed(format!("the JSON is not a JSON Feed: {e}")),
        ParseFeedError::XmlReader(e) => not_a_feed(format!("the XML is malformed: {e}")),
        other => not_a_feed(other),
    }
}

/// Local times as feeds write them, without an offset.
const LOCAL_FORMATS: [&str; 4] = [
    "%a, %d %b %Y %H:%M:%S",
    "%a, %d %b %Y %H:%M",
    "%d %b %Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
];

/// A time as feeds write it: RFC 3339 (Atom, JSON Feed), RFC 822 (RSS) and common variants,
/// or a local time without offset, which is taken in `zone`.
fn parse_feed_time(raw: &str, zone: Tz) -> Option<DateTime<FixedOffset>> {
    let raw = raw.trim();
    if let Ok(t) = parse_time(raw, zone) {
        return Some(t);
    }
    if let Some(t) = in_named_zone(raw, zone) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(raw) {
        return Some(t);
    }
    // RFC 822 as feeds get it wrong: an offset with a colon, no seconds, no weekday.
    const WITH_OFFSET: [&str; 4] = [
        "%a, %d %b %Y %H:%M:%S %:z",
        "%a, %d %b %Y %H:%M %z",
        "%d %b %Y %H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S %z",
    ];
    if let Some(t) = WITH_OFFSET
        .iter()
        .find_map(|f| DateTime::parse_from_str(raw, f).ok())
    {
        return Some(t);
    }
    let local = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.fixed_offset())
}

/// A time whose zone is named by an abbreviation that `zone` goes by at that time, read in
/// `zone`. Abbreviations are ambiguous: Chinese portals' CMSs write `CST` for China Standard
/// Time (+08:00), which RFC 822 reads as US Central (-06:00); a source mapped to a section of a
/// site in `Asia/Shanghai` means the former. Any other abbreviation is left to RFC 822.
fn in_named_zone(raw: &str, zone: Tz) -> Option<DateTime<FixedOffset>> {
    let (rest, name) = raw.rsplit_once(' ')?;
    if name.len() < 3 || !name.bytes().all(|b| b.is_ascii_uppercase()) || name == "GMT" {
        return None;
    }
    let local = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(rest.trim_end(), f).ok())?;
    let time = zone.from_local_datetime(&local).earliest()?;
    (time.format("%Z").to_string() == name).then(|| time.fixed_offset())
}

/// The hub and self links: feed-rs reads them from Atom and RSS (`atom:link`), the raw scan
/// from JSON Feed.
fn feed_links(feed: &Feed, extras: &Extras, base: &Url) -> (Option<Url>, Option<Url>) {
    let rel = |name: &str| {
        feed.links
            .iter()
            .filter(|l| {
                l.rel
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(name))
            })
            .find_map(|l| absolute(base, &l.href))
    };
    let hub = extras
        .hub
        .as_deref()
        .and_then(|h| absolute(base, h))
        .or_else(|| rel("hub"));
    let self_url = extras
        .self_url
        .as_deref()
        .and_then(|s| absolute(base, s))
        .or_else(|| rel("self"));
    (hub, self_url)
}

/// `raw` resolved against `base`, when that gives an `http(s)` URL of acceptable length.
fn absolute(base: &Url, raw: &str) -> Option<Url> {
    base.join(raw.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .filter(|u| u.as_str().len() <= MAX_URL_BYTES)
}
