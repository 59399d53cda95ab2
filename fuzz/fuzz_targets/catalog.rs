//! Any text, as a catalogue (a site file and a sections file, split at the first line that is
//! exactly `---`): loading never panics, and an accepted catalogue renders every section's
//! feed, in every format, as well-formed XML and JSON.

#![no_main]

#[path = "common.rs"]
mod common;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tidings::catalog::catalog_from_texts;
use tidings::render::{FeedContext, History};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (site, sections) = text.split_once("\n---\n").unwrap_or((text, ""));
    let Ok(catalog) = catalog_from_texts(site, &[("sections.toml", sections)]) else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let paths: Vec<String> = std::iter::once("all".to_owned())
        .chain(catalog.sections().map(|s| s.path.to_string()))
        .collect();
    for path in paths {
        let scope = catalog.scope(&path).expect("every section is a scope");
        let ctx = FeedContext {
            catalog: &catalog,
            scope: &scope,
            self_url: "https://feeds.example/feeds/x.atom",
            hub_url: Some("https://feeds.example/websub"),
            updated: now,
            generator: "tidings/fuzz",
            public_base: "http://127.0.0.1:8080",
            history: History::default(),
        };
        common::assert_every_format_well_formed(&ctx, &[], &[], &path);
    }
});
