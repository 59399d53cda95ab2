//! Attempts and their outcomes, the failure history of endpoints, replay, the delivery log.

use tidings::store::{AttemptOutcome, AttemptRecord, Resend, StoreError};

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    attempt_outcomes_and_failing_since,
    attempts_keep_the_answer,
    resend_queued_in_flight_not_found,
    recover_requeues_failed_since,
    delivery_log_pages_and_filters,
    a_batch_of_records_answers_each_in_order,
);

async fn attempt_outcomes_and_failing_since(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "outcomes", t).await;
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
    let (one, two) = (&claimed[0], &claimed[1]);

    let failed_at = t + secs(1);
    let since = store
        .record_attempt(
            one,
            &attempt(failed_at, None, ""),
            AttemptOutcome::RetryAt(t + secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(since, Some(failed_at), "a failure starts a run of failures");
    let v = view(&store, &ids[0]).await;
    assert_eq!(v.status, "pending");
    assert_eq!(v.attempts, 1);
    assert_eq!(v.next_attempt_at, Some(t + secs(5)));
    assert_eq!(v.last_status, None);
    assert_eq!(v.last_error.as_deref(), Some("no answer in time"));
    assert_eq!(v.finished_at, None);

    let since = store
        .record_attempt(
            two,
            &attempt(t + secs(2), Some(503), "busy"),
            AttemptOutcome::GaveUp,
        )
        .await
        .unwrap();
    assert_eq!(since, Some(failed_at), "a run of failures keeps its start");
    let v = view(&store, &ids[1]).await;
    assert_eq!(v.status, "failed");
    assert_eq!(v.last_status, Some(503));
    assert_eq!(v.next_attempt_at, None);
    assert_eq!(v.finished_at, Some(t + secs(2)));
    assert_eq!(
        store.endpoint(&ep).await.unwrap().unwrap().failing_since,
        Some(failed_at)
    );

    let retry = store
        .claim_due_deliveries(t + secs(5), t + secs(60), 10, None)
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempts, 1);
    let since = store
        .record_attempt(
            &retry[0],
            &attempt(t + secs(6), Some(204), ""),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    assert_eq!(since, None, "a success ends the run");
    let v = view(&store, &ids[0]).await;
    assert_eq!(v.status, "delivered");
    assert_eq!(v.attempts, 2);
    assert_eq!(v.finished_at, Some(t + secs(6)));
    assert_eq!(v.attempt_log.len(), 2);
    assert_eq!(
        store.endpoint(&ep).await.unwrap().unwrap().failing_since,
        None
    );
}

async fn attempts_keep_the_answer(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let sub = subscribe(&store, "zwgk", "nul", 3600, t).await;
    let mut message = webhook_message("ntf_1", "zwgk.atom", &[]);
    message.deliveries.push(tidings::store::NewDelivery {
        target: tidings::store::TargetKind::WebSub,
        target_id: sub.id.clone(),
        order_key: "zwgk.atom".into(),
        expires_at: Some(sub.expires_at),
    });
    let ids = enqueue(&store, vec![message], t).await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 1, None)
        .await
        .unwrap();
    let mut tried = attempt(t + secs(1), Some(400), "bad\0 request: \u{1F4A5}\0");
    tried.error = Some("http\0 400".into());
    tried.error_class = Some("http".into());
    tried.duration_ms = 1234;
    let since = store
        .record_attempt(&claimed[0], &tried, AttemptOutcome::RetryAt(t + secs(9)))
        .await
        .unwrap();
    assert_eq!(since, None, "subscriptions keep no failure history");
    let v = view(&store, &ids[0]).await;
    let log = &v.attempt_log[0];
    // PostgreSQL cannot store NUL: the rest of the text is what counts.
    assert_eq!(
        log.response_body.replace('\0', ""),
        "bad request: \u{1F4A5}"
    );
    assert_eq!(
        log.error.as_deref().map(|e| e.replace('\0', "")).as_deref(),
        Some("http 400")
    );
    assert_eq!(log.error_class.as_deref(), Some("http"));
    assert_eq!(log.status_code, Some(400));
    assert_eq!(log.duration_ms, 1234);
    assert_eq!(log.attempted_at, t + secs(1));
    assert_eq!(
        v.last_error.map(|e| e.replace('\0', "")).as_deref(),
        Some("http 400")
    );
}

async fn resend_queued_in_flight_not_found(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "resend", t).await;
    let ids = enqueue(&store, vec![webhook_message("m", "k", &[ep.as_str()])], t).await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 10, None)
        .await
        .unwrap();
    assert_eq!(
        store.resend_delivery(&ids[0], t + secs(1)).await.unwrap(),
        Resend::InFlight
    );
    store
        .record_attempt(
            &claimed[0],
            &attempt(t + secs(2), Some(500), ""),
            AttemptOutcome::GaveUp,
        )
        .await
        .unwrap();
    assert_eq!(
        store.resend_delivery(&ids[0], t + secs(3)).await.unwrap(),
        Resend::Queued
    );
    let v = view(&store, &ids[0]).await;
    assert_eq!(v.status, "pending");
    assert_eq!(v.attempts, 0);
    assert_eq!(v.next_attempt_at, Some(t + secs(3)));
    assert_eq!(v.finished_at, None);
    assert_eq!(v.attempt_log.len(), 1, "the log keeps the earlier attempt");
    let again = store
        .claim_due_deliveries(t + secs(3), t + secs(60), 10, None)
        .await
        .unwrap();
    assert_eq!(
        again[0].message_id, "m",
        "the receiver sees the same webhook-id"
    );
    assert_eq!(
        store.resend_delivery("dlv_missing", t).await.unwrap(),
        Resend::NotFound
    );
}

async fn recover_requeues_failed_since(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "recover", t).await;
    let early = enqueue(&store, vec![webhook_message("m0", "k0", &[ep.as_str()])], t).await;
    let late = enqueue(
        &store,
        vec![
            webhook_message("m1", "k1", &[ep.as_str()]),
            webhook_message("m2", "k2", &[ep.as_str()]),
        ],
        t + secs(10),
    )
    .await;
    for c in store
        .claim_due_deliveries(t + secs(10), t + secs(60), 10, None)
        .await
        .unwrap()
    {
        store
            .record_attempt(
                &c,
                &attempt(t + secs(11), Some(500), ""),
                AttemptOutcome::GaveUp,
            )
            .await
            .unwrap();
    }
    let n = store
        .recover_deliveries(&ep, t + secs(5), t + secs(20))
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(view(&store, &early[0]).await.status, "failed");
    for id in &late {
        let v = view(&store, id).await;
        assert_eq!((v.status.as_str(), v.attempts), ("pending", 0));
        assert_eq!(v.next_attempt_at, Some(t + secs(20)));
    }
    assert_eq!(
        store
            .recover_deliveries(&ep, t, t + secs(20))
            .await
            .unwrap(),
        1
    );
}

async fn delivery_log_pages_and_filters(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "log", t).await;
    let other = endpoint(&store, "other", t).await;
    let messages = (0..4)
        .map(|n| {
            webhook_message(
                &format!("m{n}"),
                &format!("k{n}"),
                &[ep.as_str(), other.as_str()],
            )
        })
        .collect();
    enqueue(&store, messages, t).await;
    let log = store.deliveries_of(&ep, None, 0, 100).await.unwrap();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|v| v.endpoint_id == ep));
    assert!(log.windows(2).all(|w| w[0].cursor < w[1].cursor));
    let page = store
        .deliveries_of(&ep, None, log[1].cursor, 1)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, log[2].id);
    assert_eq!(page[0].message_type, "article.published");
    assert_eq!(page[0].created_at, t);

    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 100, None)
        .await
        .unwrap();
    let first = claimed.iter().find(|c| c.id == log[0].id).unwrap();
    deliver(&store, first, t).await;
    let delivered = store
        .deliveries_of(&ep, Some("delivered"), 0, 100)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].id, log[0].id);
    assert_eq!(delivered[0].attempt_log.len(), 1);
    assert_eq!(delivered[0].attempt_log[0].response_body, "ok");
    assert_eq!(
        store
            .deliveries_of(&ep, Some("pending"), 0, 100)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(store.delivery("dlv_missing").await.unwrap().is_none());
}

/// Attempts recorded together: each answered in order, a lost lease losing only its own
/// record, each endpoint's failure history kept as if recorded one by one.
async fn a_batch_of_records_answers_each_in_order(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let (a, b) = (
        endpoint(&store, "batch-a", t).await,
        endpoint(&store, "batch-b", t).await,
    );
    enqueue(
        &store,
        vec![
            webhook_message("b1", "k1", &[b.as_str(), a.as_str()]),
            webhook_message("b2", "k2", &[b.as_str(), a.as_str()]),
        ],
        t,
    )
    .await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(1), 10, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    // The first claim's lease runs out and another worker takes that delivery over.
    let late = claimed[0].clone();
    let taken_over = store
        .claim_due_deliveries(t + secs(2), t + secs(60), 1, None)
        .await
        .unwrap();
    assert_eq!(taken_over[0].seq, late.seq);

    let failed_at = t + secs(3);
    let records: Vec<AttemptRecord> = claimed
        .iter()
        .enumerate()
        .map(|(i, claim)| {
            let (status, outcome) = if i % 2 == 0 {
                (Some(200), AttemptOutcome::Delivered)
            } else {
                (Some(500), AttemptOutcome::RetryAt(t + secs(30)))
            };
            AttemptRecord::new(claim, attempt(failed_at, status, "x"), outcome)
        })
        .collect();
    let targets: Vec<String> = claimed.iter().map(|c| c.target.id().to_owned()).collect();
    let results = store.record_attempts(records).await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(matches!(results[0], Err(StoreError::LeaseLost)));
    for (i, result) in results.iter().enumerate().skip(1) {
        let since = result.as_ref().expect("recorded");
        if i % 2 == 0 {
            assert_eq!(*since, None, "{i}: a success ends a run");
        } else {
            assert_eq!(*since, Some(failed_at), "{i}: a failure starts one");
        }
    }
    // Nothing was written for the lost lease: the worker that took over still holds it.
    let v = view(&store, &late.id).await;
    assert_eq!(v.attempts, 0);
    assert_eq!(v.status, "pending");
    for (i, claim) in claimed.iter().enumerate().skip(1) {
        let v = view(&store, &claim.id).await;
        assert_eq!(v.attempts, 1, "{i}");
        assert_eq!(v.status, if i % 2 == 0 { "delivered" } else { "pending" });
    }
    for endpoint_id in [&a, &b] {
        let failing = claimed
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| i % 2 == 1 && targets[*i] == **endpoint_id)
            .count();
        let expected = (failing > 0).then_some(failed_at);
        assert_eq!(
            store
                .endpoint(endpoint_id)
                .await
                .unwrap()
                .unwrap()
                .failing_since,
            expected,
            "{endpoint_id}"
        );
    }
    // An empty batch is an empty answer.
    assert!(store.record_attempts(Vec::new()).await.unwrap().is_empty());
}
