//! What every fuzz target that renders checks: each feed format comes out well-formed.

use serde_json::Value;
use tidings::domain::{FeedFormat, StoredArticle, Tombstone};
use tidings::render::{FeedContext, render_feed};

/// Renders `entries` and `tombstones` in every format and panics (naming `what`) unless each
/// document is UTF-8 and well-formed XML (RSS, Atom) or JSON (JSON Feed).
pub fn assert_every_format_well_formed(
    ctx: &FeedContext<'_>,
    entries: &[StoredArticle],
    tombstones: &[Tombstone],
    what: &str,
) {
    for format in FeedFormat::ALL {
        let body = render_feed(format, ctx, entries, tombstones);
        let body = std::str::from_utf8(&body).expect("a feed is UTF-8");
        match format {
            FeedFormat::Json => {
                if let Err(err) = serde_json::from_str::<Value>(body) {
                    panic!("the JSON Feed of {what} is not JSON: {err}\n{body}");
                }
            }
            FeedFormat::Rss | FeedFormat::Atom => {
                if let Err(err) = roxmltree::Document::parse(body) {
                    panic!("{format:?} of {what} is not well-formed XML: {err}\n{body}");
                }
            }
        }
    }
}
