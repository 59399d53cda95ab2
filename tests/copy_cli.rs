//! `tidings copy` through the real binary: a store filled by `tidings ingest` is copied to
//! another SQLite file (and to PostgreSQL and back when `TIDINGS_TEST_DATABASE_URL` names a
//! server where databases may be created); a second run copies nothing; refused invocations
//! exit non-zero with one line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use sqlx::Connection;
use tidings::config::DatabaseConfig;
use tidings::store::Store;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary from the repository (its configuration file) with the shipped catalogue,
/// `TIDINGS_DATABASE_URL` set to `database`.
fn tidings(database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(args)
        .current_dir(repo())
        .env("TIDINGS_CATALOG_DIR", repo().join("feeds"))
        .env("TIDINGS_DATABASE_URL", database)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// A source database with three articles in three sections.
fn ingested(dir: &Path) -> String {
    let source = sqlite(dir, "source.db");
    let lines: Vec<String> = [
        ("cli-1", "hnyw", "要闻一"),
        ("cli-2", "hnyw/ldhd", "领导动态二"),
        ("cli-3", "zwgk/tzgg", "通知三"),
    ]
    .iter()
    .map(|(id, section, title)| {
        json!({
            "id": id,
            "section": section,
            "title": title,
            "url": format!("https://www.huangnan.gov.cn/{section}/{id}.html"),
            "published": "2024-03-01T10:00:00.250+08:00",
            "content_html": format!("<p>{title}</p>"),
        })
        .to_string()
    })
    .collect();
    let file = dir.join("articles.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = tidings(&source, &["ingest", &file.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "3 created, 0 updated, 0 unchanged, 0 rejected"
    );
    source
}

/// `tidings copy`, which must succeed; its summary line.
fn copy(from: &str, to: &str) -> String {
    let out = tidings(from, &["copy", "--from", from, "--to", to]);
    assert!(
        out.status.success(),
        "copy {from} → {to}: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    stdout.trim().to_owned()
}

fn first_line(from: &str, to: &str) -> String {
    format!(
        "copied 3 articles, 3 events, 0 endpoints, 0 subscriptions, 0 pending verifications, 0 sources, 0 source pages, 0 messages, 0 deliveries, \
         0 attempts, 0 cursors from {from} to {to}; nothing was there already"
    )
}

fn again_line(from: &str, to: &str) -> String {
    format!(
        "copied 0 articles, 0 events, 0 endpoints, 0 subscriptions, 0 pending verifications, 0 sources, 0 source pages, 0 messages, 0 deliveries, \
         0 attempts, 0 cursors from {from} to {to}; already there: 3 articles, 3 events"
    )
}

/// The event log and feed of a copy, through the library.
async fn contents(url: &str) -> (Vec<String>, Vec<String>) {
    let store = Store::connect(url, &DatabaseConfig::default())
        .await
        .expect("the copy opens");
    let events = store.events_after(0, 100).await.unwrap();
    let page = store
        .feed_page(&tidings::domain::Scope::All, 50)
        .await
        .unwrap();
    store.close().await;
    (
        events
            .iter()
            .map(|e| format!("{} {}", e.seq, e.id))
            .collect(),
        page.entries
            .iter()
            .map(|a| serde_json::to_string(&a.article).unwrap())
            .collect(),
    )
}

#[tokio::test]
async fn copy_moves_the_store_and_a_second_run_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = ingested(dir.path());
    let target = sqlite(dir.path(), "target.db");

    assert_eq!(copy(&source, &target), first_line(&source, &target));
    assert_eq!(copy(&source, &target), again_line(&source, &target));
    let expected = contents(&source).await;
    assert_eq!(expected.0.len(), 3);
    assert_eq!(contents(&target).await, expected);

    let Some(server) = postgres_server() else {
        return;
    };
    let (name, pg) = create_database(&server).await;
    let back = sqlite(dir.path(), "back.db");
    // In a task, so that the database is dropped whatever the checks do.
    let checks = tokio::spawn({
        let pg = pg.clone();
        async move {
            assert_eq!(copy(&source, &pg), first_line(&source, &pg));
            assert_eq!(copy(&source, &pg), again_line(&source, &pg));
            assert_eq!(copy(&pg, &back), first_line(&pg, &back));
            assert_eq!(contents(&pg).await, expected);
            assert_eq!(contents(&back).await, expected);
        }
    })
    .await;
    drop_database(&server, &name).await;
    if let Err(err) = checks {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[test]
fn refused_copies_exit_non_zero_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let source = ingested(dir.path());
    let same = format!("sqlite://{}/./source.db", dir.path().display());
    let missing = sqlite(dir.path(), "missing.db");
    let cases: [(&str, &str, &str); 4] = [
        (&source, &source, "the same database"),
        (&source, &same, "the same database"),
        (
            &source,
            "mysql://root:s3cret@db.example/tidings",
            "not a database",
        ),
        (&missing, &sqlite(dir.path(), "new.db"), "does not exist"),
    ];
    for (from, to, why) in cases {
        let out = tidings(&source, &["copy", "--from", from, "--to", to]);
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success(),
            "copy {from} → {to} is refused: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(!stderr.contains("s3cret"), "{stderr}");
        assert!(text(&out.stdout).is_empty());
    }
    assert!(
        !dir.path().join("missing.db").exists(),
        "a missing source is not created"
    );
    assert!(
        !dir.path().join("new.db").exists(),
        "nothing is opened before the source"
    );
}

/// The server of `TIDINGS_TEST_DATABASE_URL`, or `None` (that half is skipped); with `CI=true`
/// a missing server fails instead.
fn postgres_server() -> Option<String> {
    match std::env::var("TIDINGS_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("TIDINGS_TEST_DATABASE_URL is not set, and CI=true: PostgreSQL must run");
            }
            println!("SKIPPED: TIDINGS_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// Creates `tidings_t_<random>` on the server; its name and URL.
async fn create_database(server: &str) -> (String, String) {
    let name = format!("tidings_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    let mut url = url::Url::parse(server).unwrap();
    url.set_path(&format!("/{name}"));
    (name, url.to_string())
}

async fn drop_database(server: &str, name: &str) {
    let mut conn = sqlx::PgConnection::connect(server).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
}
