//! Pure renderers: (catalogue, scope, articles) → bytes. No I/O, no clock.
//!
//! Every byte of XML comes from the `rss` and `atom_syndication` builders (extended through their
//! extension maps), JSON from serde, HTML from an auto-escaping template.

mod atom;
mod entry;
mod index;
mod json_feed;
mod listing;
mod opml;
mod page;
mod rss;
mod search;
mod words;

use chrono::{DateTime, Utc};

use crate::catalog::{Catalog, Scope};
use crate::domain::{FeedFormat, StoredArticle, Tombstone};

pub use index::{IndexEntry, render_index};
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
}

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
