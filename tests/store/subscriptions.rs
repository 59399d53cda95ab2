//! WebSub subscriptions: upsert and renewal, removal, purge, active ones, counts, views.

use tidings::domain::{EndpointUrl, FeedFormat};
use tidings::store::{AttemptOutcome, NewDelivery, PendingVerification, Store, TargetKind};

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    renewal_replaces_lease_and_secret,
    removal_drops_the_queue,
    purge_removes_expired_ones_with_their_queues,
    active_ones_counts_and_views,
    counts_per_feed_and_callback_host,
    pending_verifications_are_held_released_and_taken_once,
);

/// Queues one notification to a subscription; its delivery id.
async fn notify(
    store: &Store,
    message_id: &str,
    sub_id: &str,
    order_key: &str,
    t: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let mut message = webhook_message(message_id, order_key, &[]);
    message.kind = "websub.notification".into();
    message.deliveries.push(NewDelivery {
        target: TargetKind::WebSub,
        target_id: sub_id.into(),
        order_key: order_key.into(),
        expires_at: None,
    });
    enqueue(store, vec![message], t).await
}

async fn renewal_replaces_lease_and_secret(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let first = subscribe(&store, "hnyw", "cb", 3600, t).await;
    assert!(first.id.starts_with("sub_"));
    assert_eq!(first.topic, "https://feeds.example/feeds/hnyw.atom");
    assert_eq!(first.scope, scope("hnyw"));
    assert_eq!(first.format, FeedFormat::Atom);
    assert_eq!(first.callback.as_str(), "https://reader.example/cb");
    assert_eq!(first.secret.as_deref(), Some("hub-secret"));
    assert_eq!(first.lease_seconds, 3600);
    assert_eq!(first.expires_at, t + secs(3600));
    assert_eq!((first.created_at, first.updated_at), (t, t));
    notify(&store, "ntf_1", &first.id, "hnyw.atom", t).await;

    let later = t + secs(100);
    let renewed = store
        .upsert_subscription(
            &first.topic,
            &first.scope,
            FeedFormat::Atom,
            &first.callback,
            None,
            7200,
            later,
        )
        .await
        .unwrap();
    assert_eq!(renewed.id, first.id, "(topic, callback) is the key");
    assert_eq!(renewed.secret, None, "the secret is replaced, even by none");
    assert_eq!(renewed.lease_seconds, 7200);
    assert_eq!(renewed.expires_at, later + secs(7200));
    assert_eq!(renewed.created_at, t);
    assert_eq!(renewed.updated_at, later);

    // What is queued for it now lives as long as the new lease.
    let claimed = store
        .claim_due_deliveries(t + secs(3700), t + secs(3760), 10, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "still live past the first lease");
    assert_eq!(claimed[0].expires_at, Some(renewed.expires_at));

    let other = subscribe(&store, "hnyw", "other-cb", 3600, t).await;
    assert_ne!(other.id, first.id);
}

async fn removal_drops_the_queue(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let sub = subscribe(&store, "zwgk", "bye", 3600, t).await;
    let kept = subscribe(&store, "zwgk", "stay", 3600, t).await;
    let ids = notify(&store, "ntf_1", &sub.id, "zwgk.atom", t).await;
    notify(&store, "ntf_2", &kept.id, "zwgk.atom", t).await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 10, None)
        .await
        .unwrap();
    for c in &claimed {
        store
            .record_attempt(
                c,
                &attempt(t, Some(500), ""),
                AttemptOutcome::RetryAt(t + secs(1)),
            )
            .await
            .unwrap();
    }
    assert!(
        !store
            .remove_subscription(&sub.topic, "https://reader.example/nobody")
            .await
            .unwrap()
    );
    assert!(
        store
            .remove_subscription(&sub.topic, sub.callback.as_str())
            .await
            .unwrap()
    );
    assert!(store.delivery(&ids[0]).await.unwrap().is_none());
    assert_eq!(store.queue_stats(t).await.unwrap().pending, 1);
    let left: Vec<String> = store
        .active_subscriptions(t)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, std::slice::from_ref(&kept.id));

    store.remove_subscription_by_id(&kept.id).await.unwrap();
    store.remove_subscription_by_id(&kept.id).await.unwrap();
    assert!(store.active_subscriptions(t).await.unwrap().is_empty());
    assert_eq!(store.queue_stats(t).await.unwrap().pending, 0);
}

async fn purge_removes_expired_ones_with_their_queues(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let short = subscribe(&store, "hnyw", "short", 60, t).await;
    let long = subscribe(&store, "hnyw", "long", 3600, t).await;
    let short_ids = notify(&store, "ntf_1", &short.id, "hnyw.atom", t).await;
    let long_ids = notify(&store, "ntf_2", &long.id, "hnyw.atom", t).await;
    assert_eq!(store.purge_expired_subscriptions(t).await.unwrap(), 0);
    assert_eq!(
        store
            .purge_expired_subscriptions(t + secs(60))
            .await
            .unwrap(),
        1,
        "a lease ending now has ended"
    );
    assert!(store.delivery(&short_ids[0]).await.unwrap().is_none());
    assert!(store.delivery(&long_ids[0]).await.unwrap().is_some());
    assert_eq!(
        store
            .purge_expired_subscriptions(t + secs(60))
            .await
            .unwrap(),
        0
    );
    let views = store.subscriptions(None, None, 1000, t).await.unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].subscription.id, long.id);
}

async fn active_ones_counts_and_views(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let a = subscribe(&store, "hnyw", "a", 3600, t).await;
    subscribe(&store, "hnyw", "b", 60, t).await;
    let c = subscribe(&store, "zwgk", "c", 3600, t).await;
    let rss = store
        .upsert_subscription(
            "https://feeds.example/feeds/all.rss",
            &scope("all"),
            FeedFormat::Rss,
            &callback("d"),
            None,
            3600,
            t,
        )
        .await
        .unwrap();

    let mut active: Vec<String> = store
        .active_subscriptions(t + secs(60))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut want = vec![a.id.clone(), c.id.clone(), rss.id.clone()];
    active.sort();
    want.sort();
    assert_eq!(active, want, "a lease ending now has ended");

    let counts = store.subscriber_counts(t).await.unwrap();
    let counts: Vec<((String, String), u64)> = counts.into_iter().collect();
    assert_eq!(
        counts,
        [
            (("all".to_owned(), "rss".to_owned()), 1),
            (("hnyw".to_owned(), "atom".to_owned()), 2),
            (("zwgk".to_owned(), "atom".to_owned()), 1),
        ]
    );
    assert_eq!(
        store.subscriber_counts(t + secs(60)).await.unwrap()
            [&("hnyw".to_owned(), "atom".to_owned())],
        1
    );

    notify(&store, "ntf_1", &a.id, "hnyw.atom", t).await;
    let last = notify(&store, "ntf_2", &a.id, "hnyw.atom", t + secs(1)).await;
    let views = store
        .subscriptions(Some(&a.topic), None, 1000, t + secs(60))
        .await
        .unwrap();
    let order: Vec<&str> = views
        .iter()
        .map(|v| v.subscription.callback.as_str())
        .collect();
    assert_eq!(
        order,
        ["https://reader.example/a", "https://reader.example/b"]
    );
    assert_eq!(views[0].state, "active");
    assert!(views[0].has_secret);
    let latest = views[0].last_delivery.as_ref().expect("a delivery");
    assert_eq!(latest.id, last[0]);
    assert_eq!(latest.status, "pending");
    assert_eq!(latest.attempts, 0);
    assert_eq!(latest.last_status, None);
    assert_eq!(latest.created_at, t + secs(1));
    assert_eq!(views[1].state, "expired");
    assert!(views[1].last_delivery.is_none());
    assert_eq!(
        store
            .subscriptions(None, None, 1000, t)
            .await
            .unwrap()
            .len(),
        4
    );
    let topics: Vec<String> = store
        .subscriptions(None, None, 1000, t)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.subscription.topic)
        .collect();
    assert_eq!(
        topics,
        [
            "https://feeds.example/feeds/all.rss",
            "https://feeds.example/feeds/hnyw.atom",
            "https://feeds.example/feeds/hnyw.atom",
            "https://feeds.example/feeds/zwgk.atom"
        ]
    );
    assert!(!views.iter().any(|v| v.subscription.id == rss.id));
    assert!(rss.secret.is_none());
}

async fn counts_per_feed_and_callback_host(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let on = |url: &str| EndpointUrl::new(url::Url::parse(url).unwrap());
    let topic = "https://feeds.example/feeds/hnyw.atom";
    for (i, callback) in [
        "https://reader.example/a",
        "http://reader.example:8080/b",
        "https://reader.example/c?x=1",
        "https://other.example/reader.example/d",
        "https://reader_example.net/e",
        "https://readerxexample/f",
    ]
    .into_iter()
    .enumerate()
    {
        let topic = if i == 1 {
            "https://feeds.example/feeds/hnyw.atom?limit=5"
        } else {
            topic
        };
        store
            .upsert_subscription(
                topic,
                &scope("hnyw"),
                FeedFormat::Atom,
                &on(callback),
                None,
                3600,
                t,
            )
            .await
            .unwrap();
    }
    // An expired one, and one to another feed, on the same host.
    store
        .upsert_subscription(
            topic,
            &scope("hnyw"),
            FeedFormat::Atom,
            &on("https://reader.example/old"),
            None,
            60,
            t,
        )
        .await
        .unwrap();
    store
        .upsert_subscription(
            "https://feeds.example/feeds/zwgk.json",
            &scope("zwgk"),
            FeedFormat::Json,
            &on("https://reader.example/z"),
            None,
            3600,
            t,
        )
        .await
        .unwrap();

    let later = t + secs(120);
    let counts = store
        .subscription_counts(
            topic,
            &scope("hnyw"),
            FeedFormat::Atom,
            &on("https://reader.example/new"),
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        (counts.feed, counts.host, counts.renewal),
        (6, 4, false),
        "the feed's six live ones; reader.example's a, b, c and z (not other.example's path, \
         and `_` and `.` are not wildcards)"
    );
    let renewal = store
        .subscription_counts(
            topic,
            &scope("hnyw"),
            FeedFormat::Atom,
            &on("https://reader.example/a"),
            later,
        )
        .await
        .unwrap();
    assert!(renewal.renewal);
    let odd = store
        .subscription_counts(
            topic,
            &scope("hnyw"),
            FeedFormat::Atom,
            &on("https://reader_example.net/x"),
            later,
        )
        .await
        .unwrap();
    assert_eq!(odd.host, 1);
}

/// A stored subscription request is held by the instance that took it: nobody else takes it
/// until that instance releases it or its hold runs out, and two instances taking requests at
/// once never take the same one. It keeps its attempts, and is gone once finished.
async fn pending_verifications_are_held_released_and_taken_once(db: Ctx) {
    let (one, two) = (db.store().await, db.store().await);
    let t = now();
    let request = |n: usize| PendingVerification {
        id: String::new(),
        mode: "subscribe".into(),
        topic: "https://feeds.example/feeds/all.atom".into(),
        callback: format!("https://reader.example/cb/{n}"),
        secret: (n == 0).then(|| "s3cret".to_owned()),
        lease_seconds: Some(3600),
        verify_token: None,
        attempts: 0,
    };
    let held = one
        .add_verification(&request(0), t, t + secs(60))
        .await
        .unwrap();
    assert!(held.starts_with("ver_"));
    assert!(
        two.take_verifications(t, t + secs(60), 10)
            .await
            .unwrap()
            .is_empty(),
        "held by the instance that accepted it"
    );
    one.verification_attempted(&held, 2).await.unwrap();
    one.release_verification(&held).await.unwrap();
    let taken = two.take_verifications(t, t + secs(60), 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    let mut expected = request(0);
    expected.id = held.clone();
    expected.attempts = 2;
    assert_eq!(taken[0], expected);
    // Held by the second now, until its hold runs out.
    assert!(
        one.take_verifications(t, t + secs(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = t + secs(61);
    assert_eq!(
        one.take_verifications(later, later + secs(60), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    one.finish_verification(&held).await.unwrap();
    let much_later = t + secs(3600);
    assert!(
        one.take_verifications(much_later, much_later, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Many free requests, taken by both at once: each by one of them.
    for n in 1..=40 {
        let id = one.add_verification(&request(n), t, t).await.unwrap();
        one.release_verification(&id).await.unwrap();
    }
    let (a, b) = tokio::join!(
        one.take_verifications(t, t + secs(60), 25),
        two.take_verifications(t, t + secs(60), 25)
    );
    let mut ids: Vec<String> = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .map(|p| p.id)
        .collect();
    assert_eq!(ids.len(), 40);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "no request taken twice");
}
