//! Sources' state: one holder at a time, what a run records, the hub subscription apart from
//! it, and the pages a source fetched.

use chrono::{DateTime, Duration, Utc};
use tidings::domain::{HubState, RunCounts, SourceHub, SourcePage, SourceRecord};

use crate::harness::Ctx;

conformance!(
    a_due_source_is_held_by_one_instance_at_a_time,
    a_run_records_its_outcome_and_its_next_run,
    the_hub_subscription_is_kept_apart_from_the_record,
    pages_are_remembered_per_source,
);

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

async fn a_due_source_is_held_by_one_instance_at_a_time(db: Ctx) {
    let (one, two) = (db.store().await, db.store().await);
    let now = at("2024-06-01T01:00:00Z");
    let hold = now + Duration::minutes(15);
    one.ensure_sources(vec!["ldhd".into(), "tongren".into()], now)
        .await
        .unwrap();
    // Ensuring again changes nothing.
    two.ensure_sources(vec!["ldhd".into()], now).await.unwrap();
    let taken = one
        .claim_source("ldhd", "one", now, hold, false)
        .await
        .unwrap();
    assert_eq!(taken.unwrap().record, SourceRecord::default());
    assert!(
        two.claim_source("ldhd", "two", now, hold, false)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        two.claim_source("ldhd", "two", now, hold, true)
            .await
            .unwrap()
            .is_none(),
        "even forced"
    );
    // The holder died: past its hold, another takes it.
    let later = hold + Duration::seconds(1);
    assert!(
        two.claim_source("ldhd", "two", later, later + Duration::minutes(15), false)
            .await
            .unwrap()
            .is_some()
    );
    // Released, it is free at once.
    two.release_source("ldhd", "two").await.unwrap();
    assert!(
        one.claim_source("ldhd", "one", later, later + Duration::minutes(1), false)
            .await
            .unwrap()
            .is_some()
    );
    // An unknown source is never held.
    assert!(
        one.claim_source("nowhere", "one", now, hold, true)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_run_records_its_outcome_and_its_next_run(db: Ctx) {
    let store = db.store().await;
    let now = at("2024-06-01T01:00:00Z");
    store
        .ensure_sources(vec!["ldhd".into()], now)
        .await
        .unwrap();
    store
        .claim_source("ldhd", "one", now, now + Duration::minutes(15), false)
        .await
        .unwrap()
        .unwrap();
    let record = SourceRecord {
        last_fetch_at: Some(now),
        last_outcome: Some("ok".into()),
        articles_taken: 3,
        last_run: RunCounts {
            created: 3,
            fetched: 4,
            ..RunCounts::default()
        },
        etag: Some("\"list-1\"".into()),
        ..SourceRecord::default()
    };
    let next = now + Duration::minutes(15);
    // A holder that lost its hold records nothing.
    store
        .finish_source("ldhd", "someone-else", &record, next, now)
        .await
        .unwrap();
    assert_eq!(
        store.source("ldhd").await.unwrap().unwrap().record,
        SourceRecord::default()
    );
    store
        .finish_source("ldhd", "one", &record, next, now)
        .await
        .unwrap();
    let row = store.source("ldhd").await.unwrap().unwrap();
    assert_eq!(row.record, record);
    assert_eq!(row.due_at, next);
    assert_eq!(row.held_until, None);
    // Not due before its next run, unless forced.
    assert!(
        store
            .claim_source("ldhd", "one", now, next, false)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_source("ldhd", "one", now, next, true)
            .await
            .unwrap()
            .is_some()
    );
    store.release_source("ldhd", "one").await.unwrap();
    store.source_due("ldhd", now).await.unwrap();
    assert!(
        store
            .claim_source("ldhd", "one", now, next, false)
            .await
            .unwrap()
            .is_some()
    );
    let all = store.sources().await.unwrap();
    assert_eq!(all.len(), 1);
}

async fn the_hub_subscription_is_kept_apart_from_the_record(db: Ctx) {
    let store = db.store().await;
    let now = at("2024-06-01T01:00:00Z");
    store
        .ensure_sources(vec!["tongren".into()], now)
        .await
        .unwrap();
    store
        .claim_source("tongren", "one", now, now + Duration::minutes(15), false)
        .await
        .unwrap();
    let hub = SourceHub {
        hub: "https://www.tongren.gov.cn/websub".parse().unwrap(),
        topic: "https://www.tongren.gov.cn/feeds/all.atom".parse().unwrap(),
        secret: "s".repeat(64),
        callback_token: "t".repeat(24),
        state: HubState::Active,
        requested_at: now,
        lease_until: Some(now + Duration::days(7)),
        last_notification_at: None,
        notifications: 2,
        error: None,
    };
    // The callback records the subscription while a run is under way ...
    store
        .set_source_hub("tongren", Some(&hub), now)
        .await
        .unwrap();
    // ... and the run's end keeps it.
    let record = SourceRecord {
        last_outcome: Some("ok".into()),
        ..SourceRecord::default()
    };
    store
        .finish_source("tongren", "one", &record, now, now)
        .await
        .unwrap();
    let row = store.source("tongren").await.unwrap().unwrap();
    assert_eq!(row.hub, Some(hub));
    assert_eq!(row.record, record);
    store.set_source_hub("tongren", None, now).await.unwrap();
    assert_eq!(store.source("tongren").await.unwrap().unwrap().hub, None);
}

async fn pages_are_remembered_per_source(db: Ctx) {
    let store = db.store().await;
    let url = "https://www.huangnan.gov.cn/hnyw/ldhd/202106/t20210601_1.html";
    assert_eq!(store.source_page("ldhd", url).await.unwrap(), None);
    let mut page = SourcePage {
        url: url.into(),
        etag: Some("\"a\"".into()),
        last_modified: None,
        article_id: Some("www.huangnan.gov.cn:hnyw:ldhd:202106:t20210601_1.html".into()),
        outcome: "created".into(),
        fetched_at: at("2024-06-01T01:00:00Z"),
    };
    store.record_source_page("ldhd", &page).await.unwrap();
    assert_eq!(
        store.source_page("ldhd", url).await.unwrap(),
        Some(page.clone())
    );
    assert_eq!(
        store.source_page("other", url).await.unwrap(),
        None,
        "per source"
    );
    page.outcome = "failed: timed out".into();
    page.etag = None;
    store.record_source_page("ldhd", &page).await.unwrap();
    assert_eq!(store.source_page("ldhd", url).await.unwrap(), Some(page));
}
