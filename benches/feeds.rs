//! Feed serving and rendering, measured against references taken in the same run.
//!
//! `cargo bench --bench feeds` (or `scripts/bench`). Prints, for each case, the time per
//! operation and its ratio to the reference:
//! - render: a 50-entry feed in each format, against serialising the same 50 articles with
//!   serde_json (the least any renderer must do);
//! - serve: GET of a cached feed and a conditional GET answered 304, over loopback HTTP,
//!   against a bare axum server answering the same bytes from memory.

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use chrono::{DateTime, Utc};
use tidings::app::Application;
use tidings::catalog::{Scope, load_catalog};
use tidings::config::Config;
use tidings::domain::{FeedFormat, StoredArticle};
use tidings::render::{FeedContext, History, render_feed};
use tokio_util::sync::CancellationToken;

const ENTRIES: usize = 50;
const REQUESTS: usize = 2000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

/// Best of three runs of `n` iterations, per iteration.
fn time_per_op(n: usize, mut f: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed() / n as u32
        })
        .min()
        .expect("three runs")
}

async fn time_per_request(
    n: usize,
    client: &reqwest::Client,
    url: &str,
    etag: Option<&str>,
) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..n {
            let mut request = client.get(url);
            if let Some(etag) = etag {
                request = request.header("if-none-match", etag);
            }
            let response = request.send().await.expect("an answer");
            black_box(response.bytes().await.expect("a body"));
        }
        best = best.min(start.elapsed() / n as u32);
    }
    best
}

fn report(case: &str, measured: Duration, reference: Duration) {
    println!(
        "{case:<40} {:>10.1} µs/op   reference {:>8.1} µs/op   ratio {:>6.2}",
        measured.as_secs_f64() * 1e6,
        reference.as_secs_f64() * 1e6,
        measured.as_secs_f64() / reference.as_secs_f64()
    );
}

async fn run() {
    let dir = tempfile::tempdir().expect("a folder");
    let feeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds");
    let catalog = load_catalog(&feeds).expect("the catalogue");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let config = Config {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        catalog_dir: Some(feeds),
        base_url: base.clone(),
        ..Config::default()
    };
    let (database_url, database) = (config.database_url.clone(), config.database.clone());
    let app = Application::build_with_listener(config, catalog.clone(), listener)
        .await
        .expect("the app");
    let service = app.service().clone();
    let seed: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/seed_article.json"))
            .expect("the seed");
    for i in 0..ENTRIES {
        let mut doc = seed.clone();
        doc["id"] = format!("bench-{i}").into();
        doc["published"] = format!("2021-06-{:02}", 1 + i % 28).into();
        service.publish(doc).await.expect("published");
    }
    let store = tidings::store::Store::connect(&database_url, &database)
        .await
        .expect("the database");
    let page = store
        .feed_page(&Scope::All, ENTRIES as u32)
        .await
        .expect("a page");
    let entries: Vec<StoredArticle> = page.entries;
    let updated: DateTime<Utc> = page.updated.expect("an update time");

    println!(
        "{ENTRIES} entries of the seed article (about {} KiB each)",
        seed.to_string().len() / 1024
    );
    let reference = time_per_op(200, || {
        black_box(serde_json::to_vec(&entries).expect("serialises"));
    });
    for format in FeedFormat::ALL {
        let self_url = format!("{base}/feeds/all.{}", format.extension());
        let ctx = FeedContext {
            catalog: &catalog,
            scope: &Scope::All,
            self_url: &self_url,
            hub_url: Some("http://127.0.0.1/websub"),
            updated,
            generator: "tidings/bench",
            public_base: "http://127.0.0.1:8080",
            history: History::default(),
        };
        let measured = time_per_op(200, || {
            black_box(render_feed(format, &ctx, &entries, &[]));
        });
        report(
            &format!("render {} ({ENTRIES} entries)", format.label()),
            measured,
            reference,
        );
    }

    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .expect("a client");
    let feed_url = format!("{base}/feeds/all.atom");
    let warm = client.get(&feed_url).send().await.expect("an answer");
    let etag = warm.headers()["etag"].to_str().expect("an etag").to_owned();
    let bytes = warm.bytes().await.expect("a body");

    // The reference: the same bytes from memory, with nothing else to do.
    let static_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let static_url = format!(
        "http://{}/feed",
        static_listener.local_addr().expect("an address")
    );
    let body = bytes.clone();
    let reference_app = Router::new()
        .route("/feed", get(move || async move { body.clone() }))
        .route(
            "/empty",
            get(|| async { axum::http::StatusCode::NOT_MODIFIED }),
        );
    tokio::spawn(async move { axum::serve(static_listener, reference_app).await });
    let empty_url = static_url.replace("/feed", "/empty");

    let reference = time_per_request(REQUESTS, &client, &static_url, None).await;
    let measured = time_per_request(REQUESTS, &client, &feed_url, None).await;
    report(
        &format!("GET cached Atom feed ({} KiB)", bytes.len() / 1024),
        measured,
        reference,
    );
    let reference = time_per_request(REQUESTS, &client, &empty_url, None).await;
    let measured = time_per_request(REQUESTS, &client, &feed_url, Some(&etag)).await;
    report("conditional GET answered 304", measured, reference);

    shutdown.cancel();
    let _ = server.await;
}
