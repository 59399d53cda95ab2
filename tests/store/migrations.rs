//! Migrations over data written by an earlier version: what an operator's database holds when
//! a new release starts on it.

use std::path::Path;
use std::str::FromStr;

use sqlx::Connection;
use sqlx::migrate::Migrator;

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    events_keep_only_the_snapshots_still_needed,
    the_tags_of_stored_articles_are_indexed,
);

/// Migrates a fresh database with the migrations numbered below `until`, as a release that
/// stopped there would have.
async fn migrate_until(db: &Ctx, until: u32) {
    let (url, postgres) = (db.url().to_owned(), db.is_postgres());
    on_own_runtime(move || async move {
        let engine = if postgres { "postgres" } else { "sqlite" };
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(engine);
        let earlier = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&shipped).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let number: u32 = name.split('_').next().unwrap().parse().unwrap();
            if number < until {
                std::fs::copy(&path, earlier.path().join(&name)).unwrap();
            }
        }
        let migrator = Migrator::new(earlier.path()).await.unwrap();
        if postgres {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            migrator.run_direct(&mut conn).await.unwrap();
        } else {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            migrator.run_direct(&mut conn).await.unwrap();
        }
    })
    .await
}

/// Runs `sql` on the database, `?` standing for each of `texts` in turn.
async fn exec(db: &Ctx, sql: &str, texts: &[&str]) {
    let (url, postgres) = (db.url().to_owned(), db.is_postgres());
    let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    let sql = if postgres {
        let mut numbered = String::new();
        for (i, part) in sql.split('?').enumerate() {
            if i > 0 {
                numbered.push_str(&format!("${i}"));
            }
            numbered.push_str(part);
        }
        numbered
    } else {
        sql.to_owned()
    };
    on_own_runtime(move || async move {
        if postgres {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut query = sqlx::query(&sql);
            for text in &texts {
                query = query.bind(text);
            }
            query.execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let mut query = sqlx::query(&sql);
            for text in &texts {
                query = query.bind(text);
            }
            query.execute(&mut conn).await.unwrap();
        }
    })
    .await
}

/// Runs `work` on a runtime of its own, on a blocking thread: the futures of sqlx's migrator
/// and of its executors on a borrowed connection are `Send` for one lifetime only, which the
/// harness's spawned task cannot name.
async fn on_own_runtime<F, Fut>(work: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work())
    })
    .await
    .unwrap()
}

/// Before, every event held a copy of its article. After, the event of an article's current
/// version reads the row, a replaced version the webhook dispatcher has not read keeps its
/// copy, and one it has read keeps none; the event log's cursors go on where they were.
async fn events_keep_only_the_snapshots_still_needed(db: Ctx) {
    migrate_until(&db, if db.is_postgres() { 6 } else { 7 }).await;
    let (time, json, bigint) = if db.is_postgres() {
        ("::timestamptz", "::jsonb", "::bigint")
    } else {
        ("", "", "")
    };
    let written = "2024-05-01T01:00:00.000000Z";
    for (n, id) in ["hn-a", "hn-b"].into_iter().enumerate() {
        let mut current = article(id, "hnyw", "2024-05-01T08:00:00+08:00");
        current.title = format!("{id} 2");
        let body = serde_json::to_string(&current).unwrap();
        exec(
            &db,
            &format!(
                "INSERT INTO articles (id, section, body, content_hash, published_utc, version,
                                       created_at, modified_at)
                 VALUES (?, 'hnyw', ?{json}, 'h', ?{time}, 2, ?{time}, ?{time})"
            ),
            &[id, &body, written, written, written],
        )
        .await;
        for version in ["1", "2"] {
            let payload = serde_json::json!({"id": id, "title": format!("{id} {version}")});
            exec(
                &db,
                &format!(
                    "INSERT INTO events (id, type, article_id, section, version, occurred_at, payload)
                     VALUES (?, 'article.updated', ?, 'hnyw', ?{bigint}, ?{time}, ?{json})"
                ),
                &[
                    &format!("evt_{n}{version}"),
                    id,
                    version,
                    written,
                    &payload.to_string(),
                ],
            )
            .await;
        }
    }
    // The dispatcher has read the first event only.
    exec(
        &db,
        "INSERT INTO cursors (name, seq) VALUES ('webhooks', 1)",
        &[],
    )
    .await;

    let store = db.store().await;
    let events = store.events_after(0, 10).await.unwrap();
    let titles: Vec<Option<String>> = events
        .iter()
        .map(|e| Some(e.payload.as_ref()?["title"].as_str()?.to_owned()))
        .collect();
    assert_eq!(
        titles,
        [
            None,
            Some("hn-a 2".into()),
            Some("hn-b 1".into()),
            Some("hn-b 2".into())
        ]
    );
    // The row's snapshot is the article as the API shows it, with its version.
    assert_eq!(events[1].payload.as_ref().unwrap()["version"], 2);
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);

    // New events go on after the old ones.
    let mut next = article("hn-a", "hnyw", "2024-05-01T08:00:00+08:00");
    next.title = "hn-a 3".into();
    upsert(&store, &next, "2024-05-01T09:00:00+08:00").await;
    let events = store.events_after(4, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 5);
    assert_eq!(events[0].payload.as_ref().unwrap()["title"], "hn-a 3");
    let replaced = store.events_after(1, 1).await.unwrap();
    assert_eq!(
        replaced[0].payload.as_ref().unwrap()["title"],
        "hn-a 2",
        "replaced before the dispatcher read it: kept"
    );
}

/// Tag feeds over articles stored before them: the migration indexes the tags of every stored
/// body, live and deleted, and dates each tag's feed from its articles' last change.
async fn the_tags_of_stored_articles_are_indexed(db: Ctx) {
    migrate_until(&db, if db.is_postgres() { 8 } else { 9 }).await;
    let (time, json) = if db.is_postgres() {
        ("::timestamptz", "::jsonb")
    } else {
        ("", "")
    };
    let rows = [
        (
            "old-a",
            "2024-05-01T08:00:00+08:00",
            "2024-05-02T00:00:00.000000Z",
            None,
        ),
        (
            "old-b",
            "2024-05-03T08:00:00+08:00",
            "2024-05-03T00:00:00.000000Z",
            None,
        ),
        (
            "old-c",
            "2024-05-02T08:00:00+08:00",
            "2024-05-04T00:00:00.000000Z",
            Some("2024-05-04T00:00:00.000000Z"),
        ),
    ];
    for (article_id, published, modified, deleted) in rows {
        let mut stored = article(article_id, "hnyw", published);
        stored.tags = vec!["双拥".into(), "乡村 振兴".into()];
        let body = serde_json::to_string(&stored).unwrap();
        let published_utc = at(published).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let (deleted_column, deleted_value) = match deleted {
            Some(_) => (", deleted_at", format!(", ?{time}")),
            None => ("", String::new()),
        };
        let mut values = vec![article_id, &body, &published_utc, modified, modified];
        values.extend(deleted);
        exec(
            &db,
            &format!(
                "INSERT INTO articles (id, section, body, content_hash, published_utc, version,
                                       created_at, modified_at{deleted_column})
                 VALUES (?, 'hnyw', ?{json}, 'h', ?{time}, 1, ?{time}, ?{time}{deleted_value})"
            ),
            &values,
        )
        .await;
    }

    let store = db.store().await;
    for tag in ["tags/双拥", "tags/乡村 振兴"] {
        let page = store.feed_page(&scope(tag), 50).await.unwrap();
        assert_eq!(ids(&page.entries), ["old-b", "old-a"], "{tag}");
        let gone: Vec<&str> = page.tombstones.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(gone, ["old-c"], "{tag}");
        assert_eq!(page.updated, Some(at("2024-05-04T00:00:00Z")), "{tag}");
    }
    // Writes after the migration keep the index.
    upsert(
        &store,
        &article("old-a", "hnyw", "2024-05-01T08:00:00+08:00"),
        "2024-05-05T08:00:00+08:00",
    )
    .await;
    let page = store.feed_page(&scope("tags/双拥"), 50).await.unwrap();
    assert_eq!(ids(&page.entries), ["old-b"]);
    assert_eq!(page.updated, Some(at("2024-05-05T00:00:00Z")));
}
