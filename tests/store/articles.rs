//! Articles and their outbox: upserts, versions, deletions, events, batches.

use tidings::domain::EventType;
use tidings::store::{CursorMove, DeleteOutcome, SNAPSHOT_READER, StoreError, UpsertOutcome};
use tokio_util::sync::CancellationToken;

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    upsert_outcomes_and_versions,
    updated_is_set_on_change_only,
    delete_outcomes,
    one_event_per_change_in_order,
    snapshots_last_until_the_dispatcher_read_them,
    events_page_by_cursor,
    batch_is_one_transaction_with_results_in_order,
    abandoned_batch_commits_nothing,
    reads_by_id_and_counts,
    times_keep_microseconds,
);

async fn upsert_outcomes_and_versions(db: Ctx) {
    let store = db.store().await;
    let a = article("hn-1", "hnyw", "2024-05-01T08:00:00+08:00");

    let created = upsert(&store, &a, "2024-05-01T09:00:00+08:00").await;
    assert_eq!(created.outcome, UpsertOutcome::Created);
    assert_eq!(created.article.version, 1);
    assert_eq!(created.previous_section, None);

    let again = upsert(&store, &a, "2024-05-01T09:05:00+08:00").await;
    assert_eq!(again.outcome, UpsertOutcome::Unchanged);
    assert_eq!(again.article.version, 1);
    assert_eq!(again.article.modified_at, at("2024-05-01T01:00:00Z"));

    let mut changed = a.clone();
    changed.title = "新标题".into();
    let updated = upsert(&store, &changed, "2024-05-01T09:10:00+08:00").await;
    assert_eq!(updated.outcome, UpsertOutcome::Updated);
    assert_eq!(updated.article.version, 2);
    assert_eq!(updated.article.article.title, "新标题");
    assert_eq!(updated.article.created_at, at("2024-05-01T01:00:00Z"));
    assert_eq!(updated.article.modified_at, at("2024-05-01T01:10:00Z"));

    let mut moved = changed.clone();
    moved.section = section("hnyw/ldhd");
    let moved = upsert(&store, &moved, "2024-05-01T09:20:00+08:00").await;
    assert_eq!(moved.outcome, UpsertOutcome::Updated);
    assert_eq!(moved.article.version, 3);
    assert_eq!(moved.previous_section, Some(section("hnyw")));

    store
        .delete_article(&a.id, at("2024-05-01T01:30:00Z"))
        .await
        .unwrap();
    let recreated = upsert(&store, &a, "2024-05-01T09:40:00+08:00").await;
    assert_eq!(
        recreated.outcome,
        UpsertOutcome::Created,
        "re-published after deletion"
    );
    assert_eq!(recreated.article.version, 5);
    assert_eq!(recreated.article.deleted_at, None);
    assert_eq!(recreated.article.created_at, at("2024-05-01T01:00:00Z"));
    assert_eq!(recreated.previous_section, Some(section("hnyw/ldhd")));

    let stored = store.article(&a.id).await.unwrap().expect("stored");
    assert_eq!(stored, recreated.article);
}

async fn updated_is_set_on_change_only(db: Ctx) {
    let store = db.store().await;
    let a = article("hn-2", "hnyw", "2024-05-01T08:00:00+08:00");
    let created = upsert(&store, &a, "2024-05-01T09:00:00+08:00").await;
    assert_eq!(
        created.article.article.updated, None,
        "a new article has no update"
    );

    let mut changed = a.clone();
    changed.content_html = "<p>改</p>".into();
    let updated = upsert(&store, &changed, "2024-05-01T10:00:00+08:00").await;
    assert_eq!(
        updated.article.article.updated,
        Some(local("2024-05-01T10:00:00+08:00")),
        "a change without an updated time gets the time of the change"
    );
    let stored = store.article(&a.id).await.unwrap().unwrap();
    assert_eq!(
        stored.article.updated,
        Some(local("2024-05-01T10:00:00+08:00"))
    );

    let mut given = changed.clone();
    given.content_html = "<p>再改</p>".into();
    given.updated = Some(local("2024-05-01T10:30:00+08:00"));
    let kept = upsert(&store, &given, "2024-05-01T11:00:00+08:00").await;
    assert_eq!(
        kept.article.article.updated,
        Some(local("2024-05-01T10:30:00+08:00")),
        "the publisher's updated time is kept"
    );

    // Re-published after deletion: a new article again, without an update time.
    store
        .delete_article(&a.id, at("2024-05-01T04:00:00Z"))
        .await
        .unwrap();
    let recreated = upsert(&store, &a, "2024-05-01T13:00:00+08:00").await;
    assert_eq!(recreated.article.article.updated, None);
}

async fn delete_outcomes(db: Ctx) {
    let store = db.store().await;
    let missing = store
        .delete_article(&id("nope"), at("2024-05-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(missing, DeleteOutcome::NotFound);

    let a = article("hn-3", "zwgk/tzgg", "2024-05-01T08:00:00+08:00");
    upsert(&store, &a, "2024-05-01T09:00:00+08:00").await;
    let when = at("2024-05-02T00:00:00Z");
    let DeleteOutcome::Deleted(tombstone) = store.delete_article(&a.id, when).await.unwrap() else {
        panic!("a live article is deleted");
    };
    assert_eq!(tombstone.version, 2);
    assert_eq!(tombstone.deleted_at, Some(when));
    assert_eq!(tombstone.modified_at, when);
    assert_eq!(tombstone.article, a);

    let seq = store.last_event_seq().await.unwrap();
    let again = store
        .delete_article(&a.id, at("2024-05-03T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(again, DeleteOutcome::AlreadyDeleted(tombstone.clone()));
    assert_eq!(
        store.last_event_seq().await.unwrap(),
        seq,
        "no event for a repeated deletion"
    );
    assert_eq!(store.article(&a.id).await.unwrap(), Some(tombstone));
}

async fn one_event_per_change_in_order(db: Ctx) {
    let store = db.store().await;
    assert_eq!(store.last_event_seq().await.unwrap(), 0);
    let a = article("hn-4", "hnyw", "2024-05-01T08:00:00+08:00");
    upsert(&store, &a, "2024-05-01T09:00:00+08:00").await;
    upsert(&store, &a, "2024-05-01T09:01:00+08:00").await; // unchanged: no event
    let mut moved = a.clone();
    moved.section = section("hnyw/ldhd");
    upsert(&store, &moved, "2024-05-01T09:02:00+08:00").await;
    store
        .delete_article(&a.id, at("2024-05-01T01:03:00Z"))
        .await
        .unwrap();
    upsert(&store, &a, "2024-05-01T09:04:00+08:00").await;

    let events = store.events_after(0, 100).await.unwrap();
    let kinds: Vec<EventType> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventType::Published,
            EventType::Updated,
            EventType::Deleted,
            EventType::Published
        ]
    );
    let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(events.iter().all(|e| e.id.starts_with("evt_")));
    assert!(events.iter().all(|e| e.article_id == a.id));
    let moved_from: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.moved_from.as_ref().map(|s| s.as_str()))
        .collect();
    assert_eq!(moved_from, [None, Some("hnyw"), None, Some("hnyw/ldhd")]);
    let sections: Vec<&str> = events.iter().map(|e| e.section.as_str()).collect();
    assert_eq!(sections, ["hnyw", "hnyw/ldhd", "hnyw/ldhd", "hnyw"]);
    assert_eq!(events[0].occurred_at, at("2024-05-01T01:00:00Z"));
    let first = events[0]
        .payload
        .as_ref()
        .expect("kept for the webhook dispatcher");
    assert_eq!(first["id"], "hn-4");
    assert_eq!(first["version"], 1);
    assert_eq!(first["title"], a.title.as_str());
    assert_eq!(first["section"], "hnyw");
    assert_eq!(events[1].payload.as_ref().unwrap()["section"], "hnyw/ldhd");
    assert_eq!(
        events[2].payload,
        Some(serde_json::json!({"id": "hn-4", "section": "hnyw/ldhd", "version": 3}))
    );
    assert_eq!(events[3].payload.as_ref().unwrap()["version"], 4);
    assert_eq!(
        store.last_event_seq().await.unwrap(),
        events.last().unwrap().seq
    );
}

/// Each event reads its article as it was at its version, whether the article's row still
/// holds that version or a later write replaced it (in another batch, or in the same one), as
/// long as the webhook dispatcher has not read it; past that, a replaced version's snapshot is
/// not kept, and the current one still reads the row.
async fn snapshots_last_until_the_dispatcher_read_them(db: Ctx) {
    let store = db.store().await;
    let titled = |title: &str| {
        let mut a = article("hn-5", "hnyw", "2024-05-01T08:00:00+08:00");
        a.title = title.into();
        a
    };
    upsert(&store, &titled("一"), "2024-05-01T09:00:00+08:00").await;
    upsert(&store, &titled("二"), "2024-05-01T09:01:00+08:00").await;
    upsert_all(
        &store,
        &[titled("三"), titled("四")],
        "2024-05-01T09:02:00+08:00",
    )
    .await;
    let titles = |events: &[tidings::domain::Event]| -> Vec<Option<String>> {
        events
            .iter()
            .map(|e| {
                let p = e.payload.as_ref()?;
                assert_eq!(p["version"], e.version, "{p}");
                Some(p["title"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let events = store.events_after(0, 10).await.unwrap();
    let some =
        |t: &[&str]| -> Vec<Option<String>> { t.iter().map(|t| Some(t.to_string())).collect() };
    assert_eq!(titles(&events), some(&["一", "二", "三", "四"]));

    // The dispatcher reads all four; then version 5 replaces 4, and a deletion 5.
    let moved = CursorMove {
        consumer: SNAPSHOT_READER,
        from: 0,
        to: events[3].seq,
    };
    store.enqueue(Some(moved), Vec::new(), now()).await.unwrap();
    upsert(&store, &titled("五"), "2024-05-01T09:03:00+08:00").await;
    store
        .delete_article(&titled("五").id, at("2024-05-01T01:04:00Z"))
        .await
        .unwrap();
    let events = store.events_after(0, 10).await.unwrap();
    let kept = titles(&events[..5]);
    assert_eq!(
        kept,
        [
            Some("一".into()),
            Some("二".into()),
            Some("三".into()),
            None,
            Some("五".into())
        ],
        "only version 4 was read before it was replaced"
    );
    assert_eq!(
        events[5].payload,
        Some(serde_json::json!({"id": "hn-5", "section": "hnyw", "version": 6}))
    );
}

async fn events_page_by_cursor(db: Ctx) {
    let store = db.store().await;
    for n in 0..5 {
        let a = article(&format!("p-{n}"), "zwgk", "2024-05-01T08:00:00+08:00");
        upsert(&store, &a, "2024-05-01T09:00:00+08:00").await;
    }
    let first = store.events_after(0, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store.events_after(first[1].seq, 10).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert!(rest[0].seq > first[1].seq);
    let ids: Vec<&str> = first
        .iter()
        .chain(&rest)
        .map(|e| e.article_id.as_str())
        .collect();
    assert_eq!(ids, ["p-0", "p-1", "p-2", "p-3", "p-4"]);
    assert!(
        store
            .events_after(rest[2].seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn batch_is_one_transaction_with_results_in_order(db: Ctx) {
    let store = db.store().await;
    let a = article("b-1", "hnyw", "2024-05-01T08:00:00+08:00");
    let b = article("b-2", "hnyw/ldhd", "2024-05-01T08:00:00+08:00");
    upsert(&store, &b, "2024-05-01T08:30:00+08:00").await;
    let mut b2 = b.clone();
    b2.title = "改".into();
    let results = upsert_all(
        &store,
        &[a.clone(), b.clone(), b2.clone(), a.clone()],
        "2024-05-01T09:00:00+08:00",
    )
    .await;
    let outcomes: Vec<UpsertOutcome> = results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            UpsertOutcome::Created,
            UpsertOutcome::Unchanged,
            UpsertOutcome::Updated,
            UpsertOutcome::Unchanged
        ],
        "each item sees the items before it in the same batch"
    );
    let events = store.events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 3);

    // Moves inside one batch: the counts and the versions are those of the items in order.
    let mut moved = a.clone();
    moved.section = section("zwgk");
    let mut back = moved.clone();
    back.section = section("hnyw/ldhd");
    back.title = "回".into();
    let results = upsert_all(
        &store,
        &[moved, back, b2.clone()],
        "2024-05-01T10:00:00+08:00",
    )
    .await;
    let versions: Vec<i64> = results.iter().map(|r| r.article.version).collect();
    assert_eq!(versions, [2, 3, 2]);
    assert_eq!(
        results[1].previous_section.as_ref().map(|s| s.as_str()),
        Some("zwgk")
    );
    let mut counts = store.article_counts().await.unwrap();
    counts.sort();
    assert_eq!(counts, [("hnyw/ldhd".to_owned(), 2)]);
    let zwgk = store.feed_page(&scope("zwgk"), 10).await.unwrap();
    assert!(zwgk.entries.is_empty());
    assert_eq!(
        zwgk.updated,
        Some(at("2024-05-01T02:00:00Z")),
        "moved through"
    );

    // Created and changed in one batch: stored as the last version, every event in order.
    let before = store.last_event_seq().await.unwrap();
    let c = article("b-3", "zwgk", "2024-05-01T08:00:00+08:00");
    let mut c2 = c.clone();
    c2.title = "再改".into();
    let results = upsert_all(&store, &[c, c2.clone()], "2024-05-01T11:00:00+08:00").await;
    let outcomes: Vec<(UpsertOutcome, i64)> = results
        .iter()
        .map(|r| (r.outcome, r.article.version))
        .collect();
    assert_eq!(
        outcomes,
        [(UpsertOutcome::Created, 1), (UpsertOutcome::Updated, 2)]
    );
    let stored = store.article(&c2.id).await.unwrap().unwrap();
    assert_eq!((stored.article.title.as_str(), stored.version), ("再改", 2));
    let events: Vec<(EventType, i64)> = store
        .events_after(before, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.version))
        .collect();
    assert_eq!(events, [(EventType::Published, 1), (EventType::Updated, 2)]);
}

async fn abandoned_batch_commits_nothing(db: Ctx) {
    let store = db.store().await;
    let kept = article("keep", "hnyw", "2024-05-01T08:00:00+08:00");
    upsert(&store, &kept, "2024-05-01T09:00:00+08:00").await;
    let seq = store.last_event_seq().await.unwrap();

    let gone = CancellationToken::new();
    gone.cancel();
    let mut changed = kept.clone();
    changed.title = "不应保存".into();
    let fresh = article("never", "hnyw", "2024-05-01T08:00:00+08:00");
    let items = vec![
        (fresh.clone(), hash(&fresh)),
        (changed.clone(), hash(&changed)),
    ];
    let err = store
        .upsert_articles(items, local("2024-05-01T10:00:00+08:00"), gone)
        .await
        .expect_err("a batch whose caller is gone is not committed");
    assert!(matches!(err, StoreError::Abandoned), "{err:?}");
    assert_eq!(store.article(&fresh.id).await.unwrap(), None);
    assert_eq!(
        store.article(&kept.id).await.unwrap().unwrap().article,
        kept
    );
    assert_eq!(store.last_event_seq().await.unwrap(), seq);

    // The store is still usable, and the same batch commits when the caller stays.
    let results = upsert_all(
        &store,
        std::slice::from_ref(&fresh),
        "2024-05-01T10:00:00+08:00",
    )
    .await;
    assert_eq!(results[0].outcome, UpsertOutcome::Created);
}

async fn reads_by_id_and_counts(db: Ctx) {
    let store = db.store().await;
    store.ping().await.expect("the database answers");
    for (n, path) in ["hnyw", "hnyw", "hnyw/ldhd", "zwgk/tzgg"]
        .iter()
        .enumerate()
    {
        let a = article(&format!("r-{n}"), path, "2024-05-01T08:00:00+08:00");
        upsert(&store, &a, "2024-05-01T09:00:00+08:00").await;
    }
    store
        .delete_article(&id("r-1"), at("2024-05-01T02:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.article(&id("r-9")).await.unwrap(), None);

    let mut found = store
        .articles(&[id("r-0"), id("r-1"), id("r-9"), id("r-3")])
        .await
        .unwrap();
    found.sort_by(|a, b| a.article.id.cmp(&b.article.id));
    assert_eq!(ids(&found), ["r-0", "r-1", "r-3"]);
    assert!(found[1].deleted_at.is_some(), "tombstones are included");
    assert!(store.articles(&[]).await.unwrap().is_empty());

    let mut counts = store.article_counts().await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("hnyw".to_owned(), 1),
            ("hnyw/ldhd".to_owned(), 1),
            ("zwgk/tzgg".to_owned(), 1)
        ]
    );
}

async fn times_keep_microseconds(db: Ctx) {
    let store = db.store().await;
    let a = article("t-1", "hnyw", "2024-05-01T08:00:00.123456789+08:00");
    let now = local("2024-05-01T09:00:00.987654321+08:00");
    store
        .upsert_article(&a, &hash(&a), now)
        .await
        .expect("the upsert succeeds");
    let stored = store.article(&a.id).await.unwrap().unwrap();
    assert_eq!(stored.created_at, at("2024-05-01T01:00:00.987654Z"));
    assert_eq!(stored.modified_at, at("2024-05-01T01:00:00.987654Z"));
    assert_eq!(
        stored.article.published,
        local("2024-05-01T08:00:00.123456789+08:00"),
        "the article itself keeps what the publisher sent"
    );
    let event = &store.events_after(0, 1).await.unwrap()[0];
    assert_eq!(event.occurred_at, at("2024-05-01T01:00:00.987654Z"));

    // Before 2000, where a cut towards the epoch and a cut towards the past differ.
    let old = article("t-2", "hnyw", "1999-12-31T23:59:59.999999999+08:00");
    let old_now = local("1999-12-31T23:59:59.999999999+00:00");
    store
        .upsert_article(&old, &hash(&old), old_now)
        .await
        .unwrap();
    let stored = store.article(&old.id).await.unwrap().unwrap();
    assert_eq!(stored.created_at, at("1999-12-31T23:59:59.999999Z"));
}
