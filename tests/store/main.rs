//! The store conformance suite: every case is written once against `tidings::store::Store`
//! and runs on both backends, as `<module>::sqlite::<case>` and `<module>::postgres::<case>`.
//!
//! SQLite runs on a temporary file. PostgreSQL runs when `TIDINGS_TEST_DATABASE_URL` names a
//! server where the suite may create databases (`postgres://user@host:port/db`): each test
//! creates its own `tidings_t_<random>` and drops it at the end, so tests run in parallel.
//! Without it the PostgreSQL half prints `SKIPPED: …` and passes, except with `CI=true`,
//! where it fails. `scripts/pg-cluster start DIR` starts a throwaway server.

#[macro_use]
mod harness;
mod fixtures;

mod articles;
mod attempts;
mod claims;
mod copy;
mod endpoints;
mod feeds;
mod history;
mod instances;
mod migrations;
mod queue;
mod search;
mod sources;
mod subscriptions;
mod tags;

use std::time::Duration;

use tidings::store::{Store, StoreError};

/// A server that cannot be reached is "unavailable" (503 material), and no error message
/// shows the password of the URL.
#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_and_keeps_its_password() {
    // A port where nothing listens: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = harness::settings();
    settings.acquire_timeout_secs = 1;
    for scheme in ["postgres", "postgresql"] {
        let url = format!("{scheme}://tidings:s3cr%40t-pw@127.0.0.1:{port}/tidings");
        let started = std::time::Instant::now();
        let err = Store::connect(&url, &settings)
            .await
            .expect_err("nothing listens there");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cr") && !shown.contains("-pw"), "{shown}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[tokio::test]
async fn unknown_schemes_are_refused_without_the_url() {
    let err = Store::connect("mysql://root:s3cret@db/tidings", &harness::settings())
        .await
        .expect_err("no such backend");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("mysql"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

/// A malformed PostgreSQL URL is refused without quoting it.
#[tokio::test]
async fn malformed_postgres_urls_keep_their_password() {
    let err = Store::connect(
        "postgres://tidings:s3cret@127.0.0.1:notaport/tidings",
        &harness::settings(),
    )
    .await
    .expect_err("not a URL");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
}
