//! The two store engines side by side, in the same run: batch ingest and webhook fan-out
//! through the real server on SQLite and on PostgreSQL, and the ratio between them.
//!
//! `TIDINGS_TEST_DATABASE_URL=postgres://… cargo bench --bench backends` (or
//! `scripts/bench --postgres`, which starts a throwaway cluster). Without a PostgreSQL URL
//! only the SQLite figures are printed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tidings::app::Application;
use tidings::catalog::load_catalog;
use tidings::config::Config;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-token-with-every-scope";
const BATCHES: usize = 40;
const BATCH: usize = 100;
const ENDPOINTS: usize = 1000;
const FAN_OUT_ARTICLES: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

/// What one engine achieved.
#[derive(Debug, Clone, Copy)]
struct Figures {
    /// Articles stored per second, batches of [`BATCH`] from one client.
    ingest: f64,
    /// Webhook deliveries per second, [`FAN_OUT_ARTICLES`] articles to [`ENDPOINTS`] endpoints.
    fan_out: f64,
}

async fn run() {
    let sqlite = measure("sqlite", None).await;
    let Ok(server) = std::env::var("TIDINGS_TEST_DATABASE_URL") else {
        println!("PostgreSQL: skipped (TIDINGS_TEST_DATABASE_URL is not set)");
        return;
    };
    let postgres = measure("postgres", Some(fresh_database(&server).await)).await;
    println!(
        "PostgreSQL / SQLite: batch ingest {:.2}, fan-out {:.2}",
        postgres.ingest / sqlite.ingest,
        postgres.fan_out / sqlite.fan_out
    );
}

async fn fresh_database(server: &str) -> String {
    let mut url = url::Url::parse(server).expect("a URL");
    let name = format!("tidings_bench_{}", uuid::Uuid::now_v7().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(server)
        .await
        .expect("the PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a database");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn measure(engine: &str, database_url: Option<String>) -> Figures {
    let dir = tempfile::tempdir().expect("a folder");
    let feeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds");
    let catalog = load_catalog(&feeds).expect("the catalogue");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let mut config = Config {
        database_url: database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display())),
        catalog_dir: Some(feeds),
        base_url: base.clone(),
        api_token: TOKEN.into(),
        ..Config::default()
    };
    config.delivery.allow_private_destinations = true;
    // One local receiver stands for endpoints on many hosts.
    config.delivery.max_per_host = config.delivery.concurrency;
    // Every subscriber and reader of the bench is one loopback client.
    config.websub.max_requests_per_client_per_minute = u32::MAX;
    config.feeds.max_misses_per_client_per_minute = u32::MAX;
    let app = Application::build_with_listener(config, catalog, listener)
        .await
        .expect("the app");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = reqwest::Client::new();

    // Batch ingest.
    let start = Instant::now();
    for b in 0..BATCHES {
        let batch: Vec<Value> = (0..BATCH)
            .map(|i| article(&format!("{engine}-{b}-{i}")))
            .collect();
        let response = client
            .post(format!("{base}/api/v1/articles/batch"))
            .bearer_auth(TOKEN)
            .json(&batch)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200);
    }
    let ingest = (BATCHES * BATCH) as f64 / start.elapsed().as_secs_f64();

    // Fan-out: every endpoint is the same receiver, under its own URL.
    let received = Arc::new((AtomicUsize::new(0), Notify::new()));
    let receiver_url = receiver(received.clone()).await;
    for i in 0..ENDPOINTS {
        let response = client
            .post(format!("{base}/api/v1/webhooks"))
            .bearer_auth(TOKEN)
            .json(&json!({ "url": format!("{receiver_url}/hook/{i}"), "sections": ["zjhn"] }))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 201);
    }
    let start = Instant::now();
    for i in 0..FAN_OUT_ARTICLES {
        let mut doc = article(&format!("{engine}-fan-{i}"));
        doc["section"] = json!("zjhn/lyfw");
        let response = client
            .post(format!("{base}/api/v1/articles"))
            .bearer_auth(TOKEN)
            .json(&doc)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 201);
    }
    let wanted = ENDPOINTS * FAN_OUT_ARTICLES;
    tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            let notified = received.1.notified();
            if received.0.load(Ordering::SeqCst) >= wanted {
                return;
            }
            notified.await;
        }
    })
    .await
    .expect("the fan-out finishes");
    let fan_out = wanted as f64 / start.elapsed().as_secs_f64();

    shutdown.cancel();
    let _ = server.await;
    println!(
        "{engine:<9} batch ingest {ingest:>8.0} articles/s ({BATCHES} batches of {BATCH}, one client)   \
         fan-out {fan_out:>8.0} deliveries/s ({FAN_OUT_ARTICLES} articles x {ENDPOINTS} endpoints)"
    );
    Figures { ingest, fan_out }
}

fn article(id: &str) -> Value {
    json!({
        "id": id,
        "section": "hnyw/ldhd",
        "title": "黄南州召开双拥工作会议",
        "url": format!("https://www.huangnan.gov.cn/hnyw/ldhd/{id}.html"),
        "published": "2021-06-01T09:30:00+08:00",
        "source": "黄南报",
        "content_html": "<p>5月31日,黄南州召开双拥工作领导小组会议。</p>".repeat(20),
    })
}

/// A receiver that counts what it is sent and answers 204.
async fn receiver(count: Arc<(AtomicUsize, Notify)>) -> String {
    let app = Router::new().fallback(move || {
        let count = count.clone();
        async move {
            count.0.fetch_add(1, Ordering::SeqCst);
            count.1.notify_waiters();
            StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
