//! Sources: where tidings takes articles from besides its API, from `feeds/sources.toml`.
//!
//! A source is a list page to crawl (`kind = "pages"`) or an upstream feed to follow
//! (`kind = "feed"`); `[fetch]` sets how politely every source is fetched. The file is
//! optional: a catalogue without it has no sources.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::load::{Problem, Source};
use crate::domain::SectionPath;

/// The name of the sources file in the catalogue folder.
pub const SOURCES_FILE: &str = "sources.toml";

const DEFAULT_PAGES_INTERVAL_SECS: u64 = 15 * 60;
const DEFAULT_FEED_INTERVAL_SECS: u64 = 10 * 60;
const MIN_INTERVAL_SECS: u64 = 60;
const MAX_NAME_LEN: usize = 40;

/// One place articles come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// `[a-z0-9-]`, unique: names the source in the API, metrics and upstream ids.
    pub name: String,
    /// Where its articles go; for pages without it, each page's breadcrumb decides.
    pub section: Option<SectionPath>,
    /// How often it is fetched (for a feed: at least; `Cache-Control` and `ttl` may stretch it).
    pub interval: Duration,
    /// The source name (来源) given to articles that carry none.
    pub title: Option<String>,
    pub kind: SourceKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A section's list page: its links matching `links` lead to article pages on the same site.
    Pages {
        list: Url,
        /// CSS selector of the article links on the list page.
        links: String,
        /// At most this many new pages are imported in one pass (the rest wait for the next).
        max_pages: usize,
        rules: PageRulesSpec,
    },
    /// An RSS, Atom or JSON feed; with `hub`, its WebSub hub is subscribed to when it has one.
    Feed { url: Url, hub: bool },
}

/// How article pages of one site are read (selectors tried in order; empty: the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageRulesSpec {
    #[serde(default)]
    pub title: Vec<String>,
    #[serde(default)]
    pub body: Vec<String>,
    #[serde(default)]
    pub breadcrumb: Vec<String>,
    /// Base of image file names given bare (the pages' text form).
    #[serde(default)]
    pub image_base: Option<Url>,
}

/// How every source is fetched: politely, and within bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// Requests at once to one host.
    pub concurrency_per_host: usize,
    /// Between the starts of two requests to one host.
    pub delay: Duration,
    pub robots: bool,
    pub max_bytes: usize,
    pub timeout: Duration,
    /// Added to the User-Agent after `tidings/VERSION`: a contact, for the sites' operators.
    pub contact: Option<String>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            concurrency_per_host: 1,
            delay: Duration::from_secs(1),
            robots: true,
            max_bytes: 5 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            contact: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesFile {
    #[serde(default)]
    fetch: Option<FetchEntry>,
    #[serde(default)]
    source: Vec<Spanned<SourceEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchEntry {
    concurrency_per_host: Option<usize>,
    delay_ms: Option<u64>,
    robots: Option<bool>,
    max_bytes: Option<usize>,
    timeout_secs: Option<u64>,
    contact: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    name: Spanned<String>,
    kind: Spanned<String>,
    section: Option<Spanned<String>>,
    interval_secs: Option<Spanned<u64>>,
    title: Option<String>,
    // pages
    list: Option<Spanned<String>>,
    links: Option<Spanned<String>>,
    max_pages: Option<usize>,
    #[serde(default)]
    page: Option<PageRulesSpec>,
    // feed
    url: Option<Spanned<String>>,
    hub: Option<bool>,
}

/// Parses and checks the sources file against the sections the catalogue has.
pub(super) fn parse_sources(
    source: &Source,
    has_section: impl Fn(&SectionPath) -> bool,
    problems: &mut Vec<Problem>,
) -> (Vec<SourceSpec>, FetchSettings) {
    let raw: SourcesFile = match toml::from_str(&source.text) {
        Ok(raw) => raw,
        Err(err) => {
            problems.push(source.parse_error(err));
            return (Vec::new(), FetchSettings::default());
        }
    };
    let fetch = fetch_settings(source, raw.fetch, problems);
    let mut specs: Vec<SourceSpec> = Vec::new();
    // Every name met, valid source or not: a name is taken once.
    let mut names: Vec<String> = Vec::new();
    for entry in raw.source {
        let before = problems.len();
        let e = entry.get_ref();
        let name = e.name.get_ref().trim().to_owned();
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            problems.push(source.problem(
                &e.name,
                format!(
                    "source name {name:?} must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9 \
                     and -"
                ),
            ));
        } else if names.contains(&name) {
            problems.push(source.problem(&e.name, format!("duplicate source {name:?}")));
        }
        names.push(name.clone());
        let section = e
            .section
            .as_ref()
            .and_then(|raw| match SectionPath::parse(raw.get_ref()) {
                Ok(path) if has_section(&path) => Some(path),
                _ => {
                    problems.push(source.problem(
                        raw,
                        format!("source {name}: unknown section {:?}", raw.get_ref()),
                    ));
                    None
                }
            });
        let url_of = |raw: &Option<Spanned<String>>, key: &str, problems: &mut Vec<Problem>| {
            let Some(raw) = raw else {
                problems.push(source.problem(
                    &entry,
                    format!("source {name}: `{key}` is required for this kind"),
                ));
                return None;
            };
            match Url::parse(raw.get_ref()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
                _ => {
                    problems.push(source.problem(
                        raw,
                        format!(
                            "source {name}: {key} {:?} is not an absolute http(s) URL",
                            raw.get_ref()
                        ),
                    ));
                    None
                }
            }
        };
        let (kind, default_interval) = match e.kind.get_ref().as_str() {
            "pages" => {
                let list = url_of(&e.list, "list", problems);
                let links = match &e.links {
                    Some(links) if !links.get_ref().trim().is_empty() => {
                        Some(links.get_ref().trim().to_owned())
                    }
                    _ => {
                        problems.push(source.problem(
                            &entry,
                            format!(
                                "source {name}: `links` (the CSS selector of the article links \
                                 on the list page) is required for pages"
                            ),
                        ));
                        None
                    }
                };
                let kind = list.zip(links).map(|(list, links)| SourceKind::Pages {
                    list,
                    links,
                    max_pages: e.max_pages.unwrap_or(50).clamp(1, 1000),
                    rules: e.page.clone().unwrap_or_default(),
                });
                (kind, DEFAULT_PAGES_INTERVAL_SECS)
            }
            "feed" => {
                if section.is_none() && e.section.is_none() {
                    problems.push(source.problem(
                        &entry,
                        format!("source {name}: a feed needs the `section` its articles go to"),
                    ));
                }
                let kind = url_of(&e.url, "url", problems).map(|url| SourceKind::Feed {
                    url,
                    hub: e.hub.unwrap_or(true),
                });
                (kind, DEFAULT_FEED_INTERVAL_SECS)
            }
            other => {
                problems.push(source.problem(
                    &e.kind,
                    format!("source {name}: kind {other:?} is not \"pages\" or \"feed\""),
                ));
                (None, 0)
            }
        };
        let interval = match &e.interval_secs {
            Some(secs) if *secs.get_ref() < MIN_INTERVAL_SECS => {
                problems.push(source.problem(
                    secs,
                    format!("source {name}: interval_secs must be at least {MIN_INTERVAL_SECS}"),
                ));
                0
            }
            Some(secs) => *secs.get_ref(),
            None => default_interval,
        };
        if problems.len() > before {
            continue;
        }
        if let Some(kind) = kind {
            specs.push(SourceSpec {
                name,
                section,
                interval: Duration::from_secs(interval),
                title: e
                    .title
                    .as_ref()
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty()),
                kind,
            });
        }
    }
    (specs, fetch)
}

fn fetch_settings(
    source: &Source,
    raw: Option<FetchEntry>,
    problems: &mut Vec<Problem>,
) -> FetchSettings {
    let defaults = FetchSettings::default();
    let Some(raw) = raw else { return defaults };
    let whole_file = |message: String| Problem {
        file: source.file.clone(),
        line: 0,
        message,
    };
    if raw.concurrency_per_host == Some(0) {
        problems.push(whole_file(
            "[fetch] concurrency_per_host must be at least 1".into(),
        ));
    }
    if raw.max_bytes.is_some_and(|n| n < 1024) {
        problems.push(whole_file("[fetch] max_bytes must be at least 1024".into()));
    }
    if raw.timeout_secs == Some(0) {
        problems.push(whole_file("[fetch] timeout_secs must be at least 1".into()));
    }
    FetchSettings {
        concurrency_per_host: raw
            .concurrency_per_host
            .unwrap_or(defaults.concurrency_per_host)
            .max(1),
        delay: raw
            .delay_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.delay),
        robots: raw.robots.unwrap_or(defaults.robots),
        max_bytes: raw.max_bytes.unwrap_or(defaults.max_bytes),
        timeout: raw
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(defaults.timeout),
        contact: raw.contact.filter(|c| !c.trim().is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn parse(text: &str) -> (Vec<SourceSpec>, FetchSettings, Vec<Problem>) {
        let source = Source {
            file: PathBuf::from("sources.toml"),
            text: text.to_owned(),
        };
        let mut problems = Vec::new();
        let known = |p: &SectionPath| matches!(p.as_str(), "hnyw" | "hnyw/ldhd" | "hnyw/xxdt");
        let (specs, fetch) = parse_sources(&source, known, &mut problems);
        (specs, fetch, problems)
    }

    #[test]
    fn pages_and_feeds_with_their_defaults() {
        let (specs, fetch, problems) = parse(
            r#"
[fetch]
delay_ms = 250
contact = "web@example.gov.cn"

[[source]]
name = "ldhd"
kind = "pages"
list = "https://www.huangnan.gov.cn/hnyw/ldhd/"
links = "ul.list a"
[source.page]
body = [".TRS_Editor"]

[[source]]
name = "tongren"
kind = "feed"
url = "https://www.tongren.gov.cn/feeds/all.atom"
section = "hnyw/xxdt"
interval_secs = 120
"#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(fetch.delay, Duration::from_millis(250));
        assert_eq!(fetch.concurrency_per_host, 1);
        assert!(fetch.robots);
        assert_eq!(fetch.contact.as_deref(), Some("web@example.gov.cn"));
        assert_eq!(specs.len(), 2);
        assert_eq!(
            specs[0].interval,
            Duration::from_secs(DEFAULT_PAGES_INTERVAL_SECS)
        );
        assert_eq!(specs[0].section, None);
        let SourceKind::Pages {
            links,
            rules,
            max_pages,
            ..
        } = &specs[0].kind
        else {
            panic!("pages");
        };
        assert_eq!((links.as_str(), *max_pages), ("ul.list a", 50));
        assert_eq!(rules.body, [".TRS_Editor"]);
        assert_eq!(specs[1].interval, Duration::from_secs(120));
        assert!(matches!(specs[1].kind, SourceKind::Feed { hub: true, .. }));
    }

    #[test]
    fn every_problem_is_named_with_its_line() {
        let (specs, _, problems) = parse(
            r#"[[source]]
name = "Bad Name"
kind = "pages"
list = "https://www.example.gov.cn/"
links = "a"

[[source]]
name = "feed"
kind = "feed"
url = "not a url"
section = "nowhere"

[[source]]
name = "odd"
kind = "carrier-pigeon"

[[source]]
name = "nolinks"
kind = "pages"
list = "https://www.example.gov.cn/"
interval_secs = 5

[[source]]
name = "feed"
kind = "feed"
url = "https://www.example.gov.cn/feed"
"#,
        );
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let has = |line: usize, words: &str| {
            said.iter()
                .any(|p| p.starts_with(&format!("sources.toml:{line}:")) && p.contains(words))
        };
        assert!(has(2, "\"Bad Name\""), "{said:#?}");
        assert!(has(10, "not an absolute http(s) URL"), "{said:#?}");
        assert!(has(11, "unknown section \"nowhere\""), "{said:#?}");
        assert!(has(15, "carrier-pigeon"), "{said:#?}");
        assert!(said.iter().any(|p| p.contains("`links`")), "{said:#?}");
        assert!(has(21, "at least 60"), "{said:#?}");
        assert!(has(24, "duplicate source \"feed\""), "{said:#?}");
        assert!(
            said.iter().any(|p| p.contains("needs the `section`")),
            "{said:#?}"
        );
        assert!(specs.is_empty(), "{specs:?}");
    }
}
