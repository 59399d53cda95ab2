//! Any input, as an article document (JSON) or as the text of one (title, summary and body):
//! normalising never panics, and an accepted article renders as well-formed XML (RSS, Atom)
//! and JSON (JSON Feed).

#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tidings::catalog::{Catalog, load_catalog};
use tidings::config::IngestConfig;
use tidings::domain::StoredArticle;
use tidings::ingest::Normalizer;
use tidings::render::{FeedContext, History};

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        load_catalog(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../feeds"))
            .expect("the shipped catalogue loads")
    })
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let document = serde_json::from_str::<Value>(text).unwrap_or_else(|_| {
        json!({
            "id": "fuzz-1",
            "section": "hnyw/ldhd",
            "url": "https://www.huangnan.gov.cn/hnyw/ldhd/202106/t1.html",
            "title": text.lines().next().unwrap_or(""),
            "published": "2021-06-01T09:30:00+08:00",
            "summary": text,
            "content_html": text,
        })
    });
    let limits = IngestConfig::default();
    let normalizer = Normalizer {
        catalog: catalog(),
        limits: &limits,
        now: now().fixed_offset(),
    };
    let Ok(normalized) = normalizer.article(&document) else {
        return;
    };
    let stored = StoredArticle {
        article: normalized.article,
        version: 1,
        created_at: now(),
        modified_at: now(),
        deleted_at: None,
    };
    let scope = catalog().scope("all").expect("the all scope");
    let ctx = FeedContext {
        catalog: catalog(),
        scope: &scope,
        self_url: "https://feeds.example/feeds/all.atom",
        hub_url: Some("https://feeds.example/websub"),
        updated: now(),
        generator: "tidings/fuzz",
        public_base: "http://127.0.0.1:8080",
        history: History::default(),
    };
    common::assert_every_format_well_formed(
        &ctx,
        std::slice::from_ref(&stored),
        &[],
        "the article",
    );
});
