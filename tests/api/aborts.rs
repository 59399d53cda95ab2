//! Clients that hang up mid-request, and requests that run out of time, against the real
//! server: a write either completes or rolls back, and the service stays writable.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{TOKEN, TestApp, article, eventually, on_postgres, spawn_app_with};
use crate::receiver::Receiver;

/// Sends a whole request on a fresh connection, waits `pause`, then resets the connection
/// (RST, not FIN), as a client that gives up does.
async fn send_and_reset(address: &str, method: &str, path: &str, body: &str, pause: Duration) {
    let host = address.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(host).await else {
        return;
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(request.as_bytes()).await;
    tokio::time::sleep(pause).await;
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn status_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_mid_request_leave_every_write_working() {
    let app = spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.poll_interval_ms = 20;
    })
    .await;
    let receiver = Receiver::start().await;
    let endpoint = json!({ "url": receiver.url }).to_string();

    // Rounds of aborted writes of every kind, at pauses from none to a few milliseconds, so
    // that some are dropped while waiting for the writer, some inside their transaction.
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..8 {
        let app = app.address.clone();
        let endpoint = endpoint.clone();
        clients.spawn(async move {
            for round in 0..40u64 {
                let pause = Duration::from_micros((round * 137 + client * 311) % 3000);
                let id = format!("abort-{client}-{round}");
                let one = article(&id, "hnyw/ldhd", "中途断开").to_string();
                let batch = json!([
                    article(&format!("{id}-a"), "hnyw/bmdt", "批量一"),
                    article(&format!("{id}-b"), "zwgk/tzgg", "批量二"),
                ])
                .to_string();
                match round % 4 {
                    0 | 1 => send_and_reset(&app, "POST", "/api/v1/articles", &one, pause).await,
                    2 => {
                        send_and_reset(&app, "POST", "/api/v1/articles/batch", &batch, pause).await
                    }
                    _ => send_and_reset(&app, "POST", "/api/v1/webhooks", &endpoint, pause).await,
                }
            }
        });
    }
    while clients.join_next().await.is_some() {}

    // Every kind of write still works.
    let (status, body) = status_of(app.post_article(&article("after", "hnyw", "之后")).await).await;
    assert_eq!(status, 201, "{body}");
    let response = app
        .post_json("/api/v1/webhooks", &json!({ "url": receiver.url }))
        .await;
    let (status, body) = status_of(response).await;
    assert_eq!(status, 201, "{body}");
    let response = app
        .post_json(
            "/api/v1/articles/batch",
            &json!([article("after-batch", "hnyw/ldhd", "批量之后")]),
        )
        .await;
    let (status, body) = status_of(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], 1, "{body}");

    // Each stored article has exactly its one event: nothing half-written.
    let events = app.events().await;
    for event in &events {
        let id = event["article_id"].as_str().unwrap();
        let stored: Value = app
            .get_authorized(&format!("/api/v1/articles/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(stored["version"], 1, "{id}: {stored}");
    }
    let mut ids: Vec<&str> = events
        .iter()
        .filter_map(|e| e["article_id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "one event per article");
    // And one article per event: every article a reader can see has its event.
    let feed: Value = app
        .get("/feeds/all.json?limit=500")
        .await
        .json()
        .await
        .unwrap();
    let mut shown: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["id"].as_str()?.rsplit('/').next())
        .collect();
    shown.sort_unstable();
    assert_eq!(
        shown, ids,
        "the articles stored are exactly those with an event"
    );

    // The delivery engine still delivers: the endpoint registered after the aborts receives
    // the next article.
    app.publish(&article("delivered", "hnyw", "推送")).await;
    eventually(
        "the webhook of an article published after the aborts",
        || async {
            receiver
                .received()
                .iter()
                .any(|r| r.json()["data"]["article"]["id"] == "delivered")
                .then_some(())
        },
    )
    .await;
}

/// Another writer holding the store's write lock, as another process would.
enum Lock {
    /// SQLite's one write lock (`BEGIN IMMEDIATE`).
    Sqlite(sqlx::SqliteConnection),
    /// A lock on the articles table that lets readers in and keeps writers out.
    Postgres(sqlx::PgConnection),
}

async fn lock_database(app: &TestApp) -> Lock {
    let url = &app.config.database_url;
    if on_postgres() {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .expect("the database opens");
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("LOCK TABLE articles IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .expect("the lock");
        return Lock::Postgres(conn);
    }
    let mut conn = sqlx::SqliteConnection::connect(url)
        .await
        .expect("the database opens");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .expect("the write lock");
    Lock::Sqlite(conn)
}

async fn unlock_database(lock: Lock) {
    match lock {
        Lock::Sqlite(mut conn) => {
            sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        Lock::Postgres(mut conn) => {
            sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
}

/// On PostgreSQL, how many transactions hold or wait for a write lock on the articles table.
async fn article_writers(app: &TestApp, waiting_only: bool) -> i64 {
    let mut conn = sqlx::PgConnection::connect(&app.config.database_url)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE c.relname = 'articles' AND l.mode = 'RowExclusiveLock' AND (NOT $1 OR NOT l.granted)",
    )
    .bind(waiting_only)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    n
}

/// Waits until every write started before is finished (committed or rolled back).
async fn wait_for_writer(app: &TestApp, id: &str) {
    if on_postgres() {
        eventually("the writers of the articles table to finish", || async {
            (article_writers(app, false).await == 0).then_some(())
        })
        .await;
    }
    // SQLite: one writer at a time, in turn, so this write comes after everything before it.
    let (status, body) = status_of(app.post_article(&article(id, "hnyw", "之后")).await).await;
    assert_eq!(status, 201, "{body}");
}

async fn is_stored(app: &TestApp, id: &str) -> bool {
    let response = app.get_authorized(&format!("/api/v1/articles/{id}")).await;
    response.status() == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_runs_out_of_time_commits_nothing() {
    let app = spawn_app_with(|c| c.http.request_timeout_secs = 1).await;
    let batch: Vec<Value> = (0..20)
        .map(|i| article(&format!("late-{i}"), "hnyw/ldhd", "超时"))
        .collect();

    // The writer is busy for longer than the request may take.
    let lock = lock_database(&app).await;
    let response = app.post_json("/api/v1/articles/batch", &batch).await;
    let status = response.status().as_u16();
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].clone();
    assert!(matches!(status, 408 | 503), "answered {status}");
    assert_eq!(content_type, "application/problem+json");
    if on_postgres() {
        // The batch is still waiting for the lock: it must roll back once it gets it.
        eventually("the batch to wait for the lock", || async {
            (article_writers(&app, true).await > 0).then_some(())
        })
        .await;
    }
    unlock_database(lock).await;

    wait_for_writer(&app, "after-late").await;
    for i in 0..20 {
        assert!(
            !is_stored(&app, &format!("late-{i}")).await,
            "late-{i} was stored"
        );
    }
    let events = app.events().await;
    assert_eq!(
        events.len(),
        1,
        "only the article written after: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_answered_in_full_or_not_stored_at_all() {
    let app = spawn_app_with(|c| c.http.request_timeout_secs = 1).await;
    let batch: Vec<Value> = (0..200)
        .map(|i| article(&format!("item-{i:03}"), "hnyw/ldhd", "整批"))
        .collect();
    let send = {
        let client = app.client.clone();
        let url = app.url("/api/v1/articles/batch");
        tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(TOKEN)
                .json(&batch)
                .send()
                .await
                .unwrap();
            status_of(response).await
        })
    };
    // As soon as the first item is visible, another writer takes the lock for longer than the
    // request may take: a batch committed item by item would be cut in half here.
    let lock = eventually("the first item, or the answer", || async {
        if send.is_finished() {
            return Some(None);
        }
        if is_stored(&app, "item-000").await {
            return Some(Some(lock_database(&app).await));
        }
        None
    })
    .await;
    if let Some(lock) = lock {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        unlock_database(lock).await;
    }
    let (status, body) = send.await.unwrap();
    wait_for_writer(&app, "after-batch").await;

    let mut stored = 0;
    for i in 0..200 {
        stored += usize::from(is_stored(&app, &format!("item-{i:03}")).await);
    }
    if status == 200 {
        assert_eq!(body["created"], 200, "{body}");
        assert_eq!(body["results"].as_array().map(Vec::len), Some(200));
        assert_eq!(stored, 200, "answered 200 but stored {stored} of 200");
    } else {
        assert_eq!(
            stored, 0,
            "answered {status} but stored {stored} of 200: {body}"
        );
    }
}
