//! The console's reads: an article's events from the newest, an endpoint's delivery log from
//! its newest end.

use tidings::domain::EventType;

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    an_articles_events_come_newest_first_and_only_its_own,
    the_delivery_log_reads_back_from_its_newest_end,
);

async fn an_articles_events_come_newest_first_and_only_its_own(db: Ctx) {
    let store = db.store().await;
    let a = article("hn-history", "hnyw", "2024-05-01T08:00:00+08:00");
    let other = article("hn-other", "hnyw", "2024-05-01T08:00:00+08:00");
    upsert(&store, &a, "2024-05-01T09:00:00+08:00").await;
    upsert(&store, &other, "2024-05-01T09:00:30+08:00").await;
    let mut moved = a.clone();
    moved.section = section("hnyw/ldhd");
    upsert(&store, &moved, "2024-05-01T09:01:00+08:00").await;
    store
        .delete_article(&a.id, at("2024-05-01T01:02:00Z"))
        .await
        .unwrap();

    let events = store.article_events(&a.id, 10).await.unwrap();
    let seen: Vec<(i64, EventType)> = events.iter().map(|e| (e.version, e.kind)).collect();
    assert_eq!(
        seen,
        [
            (3, EventType::Deleted),
            (2, EventType::Updated),
            (1, EventType::Published)
        ]
    );
    assert!(events.iter().all(|e| e.article_id == a.id));
    assert!(events.windows(2).all(|w| w[0].seq > w[1].seq));
    assert_eq!(events[1].section.as_str(), "hnyw/ldhd");
    assert_eq!(
        events[1].moved_from.as_ref().map(|s| s.as_str()),
        Some("hnyw")
    );
    assert_eq!(events[2].occurred_at, at("2024-05-01T01:00:00Z"));
    assert_eq!(events[0].occurred_at, at("2024-05-01T01:02:00Z"));
    // The same ids as the event log's.
    let log = store.events_after(0, 100).await.unwrap();
    let first = log.iter().find(|e| e.article_id == a.id).unwrap();
    assert_eq!((events[2].seq, &events[2].id), (first.seq, &first.id));

    let newest = store.article_events(&a.id, 1).await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].version, 3);
    assert!(
        store
            .article_events(&id("nobody"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_delivery_log_reads_back_from_its_newest_end(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "latest", t).await;
    let other = endpoint(&store, "elsewhere", t).await;
    let messages = (0..5)
        .map(|n| {
            webhook_message(
                &format!("m{n}"),
                &format!("k{n}"),
                &[ep.as_str(), other.as_str()],
            )
        })
        .collect();
    enqueue(&store, messages, t).await;
    let oldest_first = store.deliveries_of(&ep, None, 0, 100).await.unwrap();
    let newest_first = store
        .latest_deliveries_of(&ep, None, None, 100)
        .await
        .unwrap();
    let ids = |log: &[tidings::store::DeliveryView]| -> Vec<String> {
        log.iter().map(|d| d.id.clone()).collect()
    };
    let mut reversed = ids(&oldest_first);
    reversed.reverse();
    assert_eq!(ids(&newest_first), reversed);

    let page = store
        .latest_deliveries_of(&ep, None, None, 2)
        .await
        .unwrap();
    assert_eq!(ids(&page), reversed[..2]);
    let behind = store
        .latest_deliveries_of(&ep, None, Some(page[1].cursor), 2)
        .await
        .unwrap();
    assert_eq!(ids(&behind), reversed[2..4]);

    // Deliver the oldest: it is the newest delivered one, with its attempt.
    assert_eq!(store.last_success_of(&ep).await.unwrap(), None);
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 100, None)
        .await
        .unwrap();
    let first = claimed.iter().find(|c| c.id == oldest_first[0].id).unwrap();
    deliver(&store, first, t + secs(1)).await;
    let delivered = store
        .latest_deliveries_of(&ep, Some("delivered"), None, 1)
        .await
        .unwrap();
    assert_eq!(ids(&delivered), [oldest_first[0].id.clone()]);
    assert_eq!(delivered[0].finished_at, Some(t + secs(1)));
    assert_eq!(delivered[0].attempt_log.len(), 1);
    // The last success is that delivery's end, of this endpoint alone.
    assert_eq!(store.last_success_of(&ep).await.unwrap(), Some(t + secs(1)));
    assert_eq!(store.last_success_of(&other).await.unwrap(), None);
    assert!(
        store
            .latest_deliveries_of(&other, Some("delivered"), None, 1)
            .await
            .unwrap()
            .is_empty()
    );
}
