//! Pure renderers: (catalogue, scope, articles) → bytes. No I/O, no clock.
//!
//! Every byte of XML comes from the `rss` and `atom_syndication` builders (extended through their
//! extension maps), JSON from serde, HTML from an auto-escaping template.

mod atom;
pub mod console;
mod entry;
mod index;
mod json_feed;
mod listing;
mod opml;
mod page;
mod rss;
mod search;
mod words;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::catalog::{Catalog, Scope};
use crate::domain::{FeedFormat, StoredArticle, Tombstone};

pub use entry::summary_text;
pub use index::{IndexEntry, SourceLine, render_index};
pub use opml::render_opml;
pub use page::{PageContext, render_section_page};
pub use search::render_search_page;

/// The summary an article is shown with, in feeds and on pages: its own, or the start of its
/// body's text (see `entry::summary`).
pub fn shown_summary(article: &crate::domain::Article) -> String {
    entry::summary(article)
}

/// What a feed document needs besides its entries.
#[derive(Debug, Clone)]
pub struct FeedContext<'a> {
    pub catalog: &'a Catalog,
    pub scope: &'a Scope,
    /// The absolute URL this feed is served at (its `rel="self"`).
    pub self_url: &'a str,
    /// The WebSub hub's absolute URL, when the feed advertises one.
    pub hub_url: Option<&'a str>,
    /// The newest change among the feed's entries and tombstones (never the render time).
    pub updated: DateTime<Utc>,
    /// `tidings/<version>`.
    pub generator: &'a str,
    /// The service's absolute base URL without a trailing slash.
    pub public_base: &'a str,
    /// RFC 5005 links to the pages behind this one.
    pub history: History<'a>,
}

/// A feed document's place among the pages of its feed (RFC 5005).
#[derive(Debug, Clone, Copy, Default)]
pub struct History<'a> {
    /// The page of the articles published before this document's oldest entry, when there may
    /// be any: `rel="next"` (paged feeds, §3) and `rel="prev-archive"` (archived feeds, §4) in
    /// Atom and RSS, `next_url` in JSON Feed.
    pub older: Option<&'a str>,
    /// On a page behind the feed, the page in front of it, when that is not the feed itself:
    /// `rel="next-archive"` (§4).
    pub newer: Option<&'a str>,
    /// Set on a page behind the feed: the feed itself (`rel="current"`); the page is then an
    /// archive document (`fh:archive`) and takes the feed's id.
    pub current: Option<&'a str>,
}

/// The Feed History namespace of RFC 5005 (`fh:archive`).
pub const HISTORY_NS: &str = "http://purl.org/syndication/history/1.0";

/// The `(rel, href)` links a document's history gives it, for Atom and RSS alike: the older
/// page as both `next` (paged feeds) and `prev-archive` (archived feeds), the newer page as
/// `next-archive`, and the feed itself as `current`.
fn history_links<'a>(history: &History<'a>) -> impl Iterator<Item = (&'static str, &'a str)> {
    let older = history
        .older
        .into_iter()
        .flat_map(|href| [("next", href), ("prev-archive", href)]);
    older
        .chain(history.newer.map(|href| ("next-archive", href)))
        .chain(history.current.map(|href| ("current", href)))
}

/// `<fh:archive/>` (RFC 5005 §4) as an extension map entry of either crate's kind, built by
/// `extension` from the element.
fn archive_marker<E>(extension: impl Fn(&entry::Element) -> E) -> BTreeMap<String, Vec<E>> {
    let marker = entry::Element {
        name: "fh:archive".to_owned(),
        attrs: Vec::new(),
        text: None,
        children: Vec::new(),
    };
    BTreeMap::from([("archive".to_owned(), vec![extension(&marker)])])
}

impl FeedContext<'_> {
    /// The image that stands for the feed (RSS `<image>`, Atom `<logo>`, JSON Feed `icon`): the
    /// catalogue's `logo`, else the PNG the service itself serves at `/logo.png`.
    pub fn logo(&self) -> String {
        match &self.catalog.site.logo {
            Some(url) => url.to_string(),
            None => format!("{}{LOGO_PATH}", self.public_base),
        }
    }

    /// The service's HTML page of this feed, for people (`/feeds/{scope}.html`).
    pub fn page_url(&self) -> String {
        self.scope.page_url(self.public_base)
    }
}

/// Where the service serves its own logo, a 512×512 PNG.
pub const LOGO_PATH: &str = "/logo.png";

/// Renders one feed document. `entries` are live articles, newest first; `tombstones` are
/// deleted articles (only Atom can carry them, as RFC 6721 `at:deleted-entry`).
pub fn render_feed(
    format: FeedFormat,
    ctx: &FeedContext<'_>,
    entries: &[StoredArticle],
    tombstones: &[Tombstone],
) -> Vec<u8> {
    match format {
        FeedFormat::Rss => rss::render_rss(ctx, entries),
        FeedFormat::Atom => atom::render_atom(ctx, entries, tombstones),
        FeedFormat::Json => json_feed::render_json_feed(ctx, entries),
    }
}
