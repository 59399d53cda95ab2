//! Claims and leases, per-key order, live targets, the next due time and queue figures.

use tidings::store::{AttemptOutcome, EndpointPatch, StoreError, Target};

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    claims_lease_until_the_lease_ends,
    a_worker_whose_lease_ran_out_records_nothing,
    claims_wait_for_their_time_and_take_at_most_limit,
    versions_of_one_key_go_out_in_order,
    only_live_targets_are_claimed,
    next_due_and_queue_stats,
);

async fn claims_lease_until_the_lease_ends(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "lease", t).await;
    let ids = enqueue(
        &store,
        vec![
            webhook_message("m1", "k1", &[ep.as_str()]),
            webhook_message("m2", "k2", &[ep.as_str()]),
        ],
        t,
    )
    .await;

    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 10, None)
        .await
        .unwrap();
    let got: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(got, [ids[0].as_str(), ids[1].as_str()]);
    assert!(claimed.windows(2).all(|w| w[0].seq < w[1].seq));
    let first = &claimed[0];
    assert_eq!(first.attempts, 0);
    assert_eq!(first.expires_at, None);
    let Target::Webhook(target) = &first.target else {
        panic!("a webhook delivery goes to its endpoint")
    };
    assert_eq!(target.id, ep);
    assert_eq!(
        target.url.as_str(),
        "https://hooks.example/lease?token=t0k3n"
    );

    assert!(
        store
            .claim_due_deliveries(t + secs(59), t + secs(120), 10, None)
            .await
            .unwrap()
            .is_empty(),
        "leased deliveries are not claimable"
    );
    let again = store
        .claim_due_deliveries(t + secs(60), t + secs(120), 10, None)
        .await
        .unwrap();
    assert_eq!(again.len(), 2, "an ended lease makes them claimable again");

    // A released delivery is claimable from the time it is given.
    store
        .release_delivery(&again[0], t + secs(90))
        .await
        .unwrap();
    assert!(
        store
            .claim_due_deliveries(t + secs(89), t + secs(200), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    let released = store
        .claim_due_deliveries(t + secs(90), t + secs(200), 10, None)
        .await
        .unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].id, again[0].id);
    assert_eq!(released[0].attempts, 0, "a release is not an attempt");
}

async fn a_worker_whose_lease_ran_out_records_nothing(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "fenced", t).await;
    let ids = enqueue(&store, vec![webhook_message("m1", "k1", &[ep.as_str()])], t).await;
    let slow = store
        .claim_due_deliveries(t, t + secs(60), 10, None)
        .await
        .unwrap();
    // The slow worker's lease ends; another worker takes the delivery over and delivers it.
    let quick = store
        .claim_due_deliveries(t + secs(61), t + secs(120), 10, None)
        .await
        .unwrap();
    assert_eq!((slow.len(), quick.len()), (1, 1));
    deliver(&store, &quick[0], t + secs(62)).await;

    // The slow worker's late failure changes nothing: not the status, not the attempt log,
    // not the endpoint's failure history; nor does its late release.
    let late = store
        .record_attempt(
            &slow[0],
            &attempt(t + secs(63), Some(500), "late"),
            AttemptOutcome::RetryAt(t + secs(70)),
        )
        .await;
    assert!(matches!(late, Err(StoreError::LeaseLost)), "{late:?}");
    store
        .release_delivery(&slow[0], t + secs(64))
        .await
        .unwrap();
    let v = view(&store, &ids[0]).await;
    assert_eq!(v.status, "delivered");
    assert_eq!(v.attempts, 1);
    assert_eq!(v.attempt_log.len(), 1);
    assert_eq!(v.last_status, Some(200));
    let endpoint = store.endpoint(&ep).await.unwrap().unwrap();
    assert_eq!(endpoint.failing_since, None);
    assert!(
        store
            .claim_due_deliveries(t + secs(200), t + secs(260), 10, None)
            .await
            .unwrap()
            .is_empty(),
        "a delivered delivery is not claimed again"
    );
}

async fn claims_wait_for_their_time_and_take_at_most_limit(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "limit", t).await;
    let messages = (0..5)
        .map(|n| webhook_message(&format!("m{n}"), &format!("k{n}"), &[ep.as_str()]))
        .collect();
    enqueue(&store, messages, t).await;
    assert!(
        store
            .claim_due_deliveries(t - secs(1), t + secs(60), 10, None)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due before its time"
    );
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 3, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let rest = store
        .claim_due_deliveries(t, t + secs(60), 3, None)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    assert!(rest[0].seq > claimed[2].seq, "claimed in queue order");
}

async fn versions_of_one_key_go_out_in_order(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "order", t).await;
    let other = endpoint(&store, "other", t).await;
    let ids = enqueue(
        &store,
        vec![
            webhook_message("v1", "article-1", &[ep.as_str(), other.as_str()]),
            webhook_message("v2", "article-1", &[ep.as_str()]),
            webhook_message("x1", "article-2", &[ep.as_str()]),
        ],
        t,
    )
    .await;
    let (v1, v1_other, v2, x1) = (&ids[0], &ids[1], &ids[2], &ids[3]);

    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 10, None)
        .await
        .unwrap();
    let mut got: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    got.sort();
    let mut want = vec![v1.as_str(), v1_other.as_str(), x1.as_str()];
    want.sort();
    assert_eq!(got, want, "version 2 waits while version 1 is pending");

    // Version 1 fails and is retried later: version 2 still waits, even once its lease would
    // have allowed it, and the engine's next wake-up is version 1's retry.
    let v1_claim = claimed.iter().find(|c| &c.id == v1).unwrap();
    let retry = t + secs(30);
    store
        .record_attempt(
            v1_claim,
            &attempt(t, Some(500), "down"),
            AttemptOutcome::RetryAt(retry),
        )
        .await
        .unwrap();
    let later = store
        .claim_due_deliveries(t + secs(10), t + secs(70), 10, None)
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");

    let again = store
        .claim_due_deliveries(retry, retry + secs(60), 10, None)
        .await
        .unwrap();
    let got: Vec<&str> = again.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(got, [v1.as_str()]);
    deliver(&store, &again[0], retry).await;
    let next = store
        .claim_due_deliveries(retry, retry + secs(60), 10, None)
        .await
        .unwrap();
    let got: Vec<&str> = next.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        got,
        [v2.as_str()],
        "version 2 goes once version 1 is delivered"
    );
}

async fn only_live_targets_are_claimed(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "live", t).await;
    let sub = subscribe(&store, "hnyw", "short", 60, t).await;
    let mut message = webhook_message("m", "k", &[ep.as_str()]);
    message.deliveries.push(tidings::store::NewDelivery {
        target: tidings::store::TargetKind::WebSub,
        target_id: sub.id.clone(),
        order_key: "hnyw.atom".into(),
        expires_at: Some(sub.expires_at),
    });
    enqueue(&store, vec![message], t).await;

    store
        .disable_endpoint(&ep, "failing for too long", t)
        .await
        .unwrap();
    // Past the subscription's lease: nothing is live.
    assert!(
        store
            .claim_due_deliveries(t + secs(61), t + secs(120), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_due_deliveries(t, t + secs(30), 10, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the subscription, within its lease");
    let tidings::store::Target::WebSub(s) = &claimed[0].target else {
        panic!("the subscription's delivery");
    };
    assert_eq!(s.id, sub.id);
    assert_eq!(s.secret.as_deref(), Some("hub-secret"));
    assert_eq!(claimed[0].expires_at, Some(sub.expires_at));

    // Re-enabled, the endpoint's queue is claimable again.
    let patch = EndpointPatch {
        enabled: Some(true),
        ..EndpointPatch::default()
    };
    store.update_endpoint(&ep, patch, t).await.unwrap().unwrap();
    let claimed = store
        .claim_due_deliveries(t, t + secs(30), 10, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].target.id(), ep);
}

async fn next_due_and_queue_stats(db: Ctx) {
    let store = db.store().await;
    let t = now();
    assert_eq!(store.next_due().await.unwrap(), None);
    let stats = store.queue_stats(t).await.unwrap();
    assert_eq!((stats.pending, stats.endpoints), (0, 0));
    assert_eq!(stats.oldest_due_secs, 0.0);

    let ep = endpoint(&store, "due", t).await;
    let off = endpoint(&store, "off", t).await;
    store.disable_endpoint(&off, "gone", t).await.unwrap();
    let ids = enqueue(
        &store,
        vec![
            webhook_message("m1", "k1", &[ep.as_str()]),
            webhook_message("m2", "k2", &[ep.as_str()]),
        ],
        t,
    )
    .await;
    assert_eq!(store.next_due().await.unwrap(), Some(t));

    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 1, None)
        .await
        .unwrap();
    deliver(&store, &claimed[0], t).await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 1, None)
        .await
        .unwrap();
    assert_eq!(claimed[0].id, ids[1]);
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t + secs(60)),
        "a leased delivery is due again when its lease ends"
    );

    let stats = store.queue_stats(t + secs(2)).await.unwrap();
    assert_eq!(stats.pending, 1);
    assert_eq!((stats.due, stats.in_flight), (0, 1), "one delivery is held");
    assert_eq!(stats.delivered, 1);
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.endpoints, 2);
    assert_eq!(stats.disabled_endpoints, 1);
    assert_eq!(
        stats.oldest_due_secs, 0.0,
        "a delivery in flight is not waiting"
    );
    let stats = store.queue_stats(t + secs(64)).await.unwrap();
    assert_eq!(
        stats.oldest_due_secs, 64.0,
        "once its lease ran out it waits again, since it was due"
    );
    assert_eq!((stats.due, stats.in_flight), (1, 0));
    deliver(&store, &claimed[0], t + secs(3)).await;

    // Version 1 of an article is retried later; version 2, due now, waits in order behind it
    // and a delivery to a disabled endpoint waits for it to come back: neither could be sent
    // now, so nothing counts as waiting.
    let t = t + secs(10);
    let ids = enqueue(
        &store,
        vec![
            webhook_message("v1", "article-1", &[ep.as_str()]),
            webhook_message("v2", "article-1", &[ep.as_str()]),
            webhook_message("d1", "article-2", &[off.as_str()]),
        ],
        t,
    )
    .await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 10, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, ids[0]);
    store
        .record_attempt(
            &claimed[0],
            &attempt(t, Some(500), "down"),
            AttemptOutcome::RetryAt(t + secs(300)),
        )
        .await
        .unwrap();
    let stats = store.queue_stats(t + secs(137)).await.unwrap();
    assert_eq!(stats.pending, 3);
    assert_eq!(stats.oldest_due_secs, 0.0);
    assert_eq!(
        (stats.due, stats.in_flight),
        (2, 0),
        "due by their time, though neither could be sent now; the retry is not due yet"
    );
    let stats = store.queue_stats(t + secs(310)).await.unwrap();
    assert_eq!(
        stats.oldest_due_secs, 10.0,
        "the retry, once due, is waiting"
    );
    assert_eq!(stats.due, 3);
}
