//! Several instances on one database: each a `Store` with its own pool. Claims, the cursor's
//! compare-and-set and the event log must hold across them; on PostgreSQL, `changed` tells
//! one instance of another's writes.

use std::collections::HashSet;
use std::time::Duration;

use tidings::store::{CursorMove, Enqueued, Store, StoreError, UpsertOutcome};

use crate::fixtures::*;
use crate::harness::{Ctx, settings};

conformance!(
    two_instances_never_claim_the_same_delivery,
    concurrent_enqueues_from_one_cursor_one_wins,
    concurrent_upserts_of_one_article_serialise,
    a_reader_following_the_log_misses_no_event,
    changed_tells_of_other_instances,
    changed_fires_after_the_listener_reconnects,
    changed_ends_with_the_store,
    pool_settings_reach_the_server,
);

async fn two_instances_never_claim_the_same_delivery(db: Ctx) {
    let (one, two) = (db.store().await, db.store().await);
    let t = now();
    let ep = endpoint(&one, "race", t).await;
    let messages = (0..200)
        .map(|n| webhook_message(&format!("m{n}"), &format!("k{n}"), &[ep.as_str()]))
        .collect();
    assert_eq!(enqueue(&one, messages, t).await.len(), 200);

    let claimer = |store: Store| async move {
        let mut mine = Vec::new();
        loop {
            let batch = store
                .claim_due_deliveries(t, t + secs(3600), 7, None)
                .await
                .expect("a claim");
            if batch.is_empty() {
                return mine;
            }
            mine.extend(batch.into_iter().map(|c| c.seq));
        }
    };
    let (a, b, c) = tokio::join!(
        tokio::spawn(claimer(one.clone())),
        tokio::spawn(claimer(two.clone())),
        tokio::spawn(claimer(two.clone())),
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let all: Vec<i64> = a.iter().chain(&b).chain(&c).copied().collect();
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        200,
        "every delivery is claimed once: {} + {} + {}",
        a.len(),
        b.len(),
        c.len()
    );
    assert_eq!(distinct.len(), 200);
}

async fn concurrent_enqueues_from_one_cursor_one_wins(db: Ctx) {
    let (one, two) = (db.store().await, db.store().await);
    let t = now();
    let ep = endpoint(&one, "cas", t).await;
    for round in 0..10 {
        upsert(
            &one,
            &article(&format!("cas-{round}"), "hnyw", "2024-05-01T08:00:00+08:00"),
            "2024-05-01T09:00:00+08:00",
        )
        .await;
        let (from, events) = one.pending_events("webhooks", 100).await.unwrap();
        assert_eq!(events.len(), 1);
        let moved = CursorMove {
            consumer: "webhooks",
            from,
            to: events[0].seq,
        };
        // Each instance renders its own message ids: a loser must queue none of them.
        let race = |store: Store, tag: &'static str| {
            let message = webhook_message(&format!("{tag}-{round}"), "k", &[ep.as_str()]);
            tokio::spawn(async move { store.enqueue(Some(moved), vec![message], t).await })
        };
        let (a, b) = tokio::join!(race(one.clone(), "one"), race(two.clone(), "two"));
        let outcomes = [a.unwrap().unwrap(), b.unwrap().unwrap()];
        let winners = outcomes
            .iter()
            .filter(|o| matches!(o, Enqueued::Queued(ids) if ids.len() == 1))
            .count();
        let losers = outcomes.iter().filter(|o| **o == Enqueued::Raced).count();
        assert_eq!(
            (winners, losers),
            (1, 1),
            "round {round} (from {from}): {outcomes:?}"
        );
        assert_eq!(two.pending_events("webhooks", 1).await.unwrap().0, moved.to);
    }
    let queued = one.deliveries_of(&ep, None, 0, 100).await.unwrap();
    assert_eq!(queued.len(), 10, "one delivery per round");
}

async fn concurrent_upserts_of_one_article_serialise(db: Ctx) {
    let (one, two) = (db.store().await, db.store().await);
    for round in 0..5 {
        let a = article(
            &format!("same-{round}"),
            "zwgk",
            "2024-05-01T08:00:00+08:00",
        );
        let go = |store: Store, a: tidings::domain::Article| {
            tokio::spawn(async move {
                store
                    .upsert_article(&a, &hash(&a), local("2024-05-01T09:00:00+08:00"))
                    .await
            })
        };
        let (x, y) = tokio::join!(go(one.clone(), a.clone()), go(two.clone(), a.clone()));
        let mut outcomes = [x.unwrap().unwrap().outcome, y.unwrap().unwrap().outcome];
        outcomes.sort_by_key(|o| *o != UpsertOutcome::Created);
        assert_eq!(outcomes, [UpsertOutcome::Created, UpsertOutcome::Unchanged]);
    }
    assert_eq!(one.events_after(0, 100).await.unwrap().len(), 5);
}

async fn a_reader_following_the_log_misses_no_event(db: Ctx) {
    let (one, two) = (db.store().await, db.store().await);
    let reader_store = db.store().await;
    let done = tokio_util::sync::CancellationToken::new();
    let reader = {
        let done = done.clone();
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (0, Vec::new());
            loop {
                let finished = done.is_cancelled();
                let events = reader_store.events_after(cursor, 1000).await.unwrap();
                if let Some(last) = events.last() {
                    cursor = last.seq;
                }
                seen.extend(events.into_iter().map(|e| e.seq));
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let store = if w % 2 == 0 { one.clone() } else { two.clone() };
            tokio::spawn(async move {
                for n in 0..15 {
                    let a = article(&format!("log-{w}-{n}"), "hnyw", "2024-05-01T08:00:00+08:00");
                    upsert(&store, &a, "2024-05-01T09:00:00+08:00").await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.cancel();
    let seen = reader.await.unwrap();
    let all: Vec<i64> = one
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(all.len(), 90);
    assert_eq!(seen, all, "the reader saw every event, each once, in order");
}

/// Whether `changed()` resolves within `within` once `after` has run.
async fn fires(
    store: &Store,
    within: Duration,
    after: impl std::future::Future<Output = ()>,
) -> bool {
    // Notifications of earlier writes arrive asynchronously: let them pass first.
    while tokio::time::timeout(Duration::from_millis(200), store.changed())
        .await
        .is_ok()
    {}
    let waiting = store.changed();
    tokio::pin!(waiting);
    // The first poll registers the waiter: only what happens from now on counts.
    assert!(
        tokio::time::timeout(Duration::from_millis(1), &mut waiting)
            .await
            .is_err(),
        "nothing has changed yet"
    );
    after.await;
    tokio::time::timeout(within, waiting).await.is_ok()
}

async fn changed_tells_of_other_instances(db: Ctx) {
    let (one, two) = (db.store().await, db.store().await);
    let t = now();
    let write = async {
        upsert(
            &two,
            &article("ch-1", "hnyw", "2024-05-01T08:00:00+08:00"),
            "2024-05-01T09:00:00+08:00",
        )
        .await;
    };
    if !db.is_postgres() {
        assert!(
            !fires(&one, Duration::from_millis(300), write).await,
            "SQLite has no signal: changed() never resolves"
        );
        return;
    }
    assert!(
        fires(&one, Duration::from_secs(5), write).await,
        "an upsert"
    );
    let ep = endpoint(&two, "x", t).await;
    assert!(
        fires(&one, Duration::from_secs(5), async {
            enqueue(&two, vec![webhook_message("m", "k", &[ep.as_str()])], t).await;
        })
        .await,
        "a queued delivery"
    );
    assert!(
        fires(&one, Duration::from_secs(5), async {
            two.disable_endpoint(&ep, "off", t).await.unwrap();
        })
        .await,
        "an endpoint change"
    );
    assert!(
        fires(&one, Duration::from_secs(5), async {
            subscribe(&two, "hnyw", "cb", 3600, t).await;
        })
        .await,
        "a subscription"
    );
    // An unchanged upsert changes nothing, and a rolled-back batch sends nothing.
    let quiet = async {
        upsert(
            &two,
            &article("ch-1", "hnyw", "2024-05-01T08:00:00+08:00"),
            "2024-05-01T09:00:00+08:00",
        )
        .await;
        let gone = tokio_util::sync::CancellationToken::new();
        gone.cancel();
        let a = article("ch-2", "hnyw", "2024-05-01T08:00:00+08:00");
        let abandoned = two
            .upsert_articles(
                vec![(a.clone(), hash(&a))],
                local("2024-05-01T09:00:00+08:00"),
                gone,
            )
            .await;
        assert!(matches!(abandoned, Err(StoreError::Abandoned)));
    };
    assert!(!fires(&one, Duration::from_millis(500), quiet).await);
}

async fn changed_fires_after_the_listener_reconnects(db: Ctx) {
    if !db.is_postgres() {
        return;
    }
    let store = db.store().await;
    let admin = sqlx::PgPool::connect(db.url()).await.unwrap();
    let kill = async {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'tidings (changes)'",
        )
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(killed, [true], "one listening connection");
    };
    assert!(
        fires(&store, Duration::from_secs(10), kill).await,
        "a lost listening connection tells the waiters to look again"
    );
    // Listening again: the next write is heard.
    let other = db.store().await;
    let write = async {
        upsert(
            &other,
            &article("re-1", "hnyw", "2024-05-01T08:00:00+08:00"),
            "2024-05-01T09:00:00+08:00",
        )
        .await;
    };
    assert!(fires(&store, Duration::from_secs(10), write).await);
    admin.close().await;
}

async fn changed_ends_with_the_store(db: Ctx) {
    let store = db.store().await;
    store.close().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), store.changed())
            .await
            .is_err(),
        "a closed store never signals"
    );
    if db.is_postgres() {
        // The listening connection is gone with the task.
        // (A backend leaves pg_stat_activity a moment after its client hangs up.)
        let admin = sqlx::PgPool::connect(db.url()).await.unwrap();
        let mut open: i64 = -1;
        for _ in 0..50 {
            open = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name LIKE 'tidings%'",
            )
            .fetch_one(&admin)
            .await
            .unwrap();
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT application_name, coalesce(state, ''), query FROM pg_stat_activity
             WHERE datname = current_database() AND application_name LIKE 'tidings%'",
        )
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(open, 0, "every connection of the store is closed: {left:?}");
        admin.close().await;
    }
    // Settings reach the pool: a store opens with one connection.
    let mut small = settings();
    small.max_connections = 1;
    let one = Store::connect(db.url(), &small).await.unwrap();
    one.ping().await.unwrap();
    one.close().await;
}

/// PostgreSQL: `statement_timeout_secs` cancels a statement that waits too long, and
/// `acquire_timeout_secs` bounds the wait for a connection; both are "unavailable". (SQLite
/// keeps its own pools and ignores the settings.)
async fn pool_settings_reach_the_server(db: Ctx) {
    if !db.is_postgres() {
        return;
    }
    let mut tight = settings();
    tight.max_connections = 1;
    tight.acquire_timeout_secs = 1;
    // Longer than the wait for a connection, so that the ping below gives up first.
    tight.statement_timeout_secs = 3;
    let store = Store::connect(db.url(), &tight).await.unwrap();
    // Another session locks the table, so that a read has to wait.
    let admin = sqlx::PgPool::connect(db.url()).await.unwrap();
    let mut lock = admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.article(&id("x")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The only connection is taken by the waiting read.
    let busy = store
        .ping()
        .await
        .expect_err("no connection comes free in time");
    assert!(matches!(busy, StoreError::Unavailable(_)), "{busy:?}");
    let cancelled = waiting.await.unwrap().expect_err("the statement times out");
    assert!(
        matches!(cancelled, StoreError::Unavailable(_)),
        "{cancelled:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    lock.rollback().await.unwrap();
    store.ping().await.expect("the connection is usable again");
    assert_eq!(store.article(&id("x")).await.unwrap(), None);
    store.close().await;
    admin.close().await;
}
