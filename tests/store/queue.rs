//! Queueing: the consumers' cursors with their compare-and-set, messages and deliveries.

use tidings::store::{CursorMove, Enqueued, NewDelivery, TargetKind};

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    pending_events_and_cursor_compare_and_set,
    cursor_moves_only_from_where_it_was,
    deliveries_to_missing_targets_and_duplicates_are_skipped,
    messages_are_shared_and_kept_byte_for_byte,
);

async fn pending_events_and_cursor_compare_and_set(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let ep = endpoint(&store, "cas", t).await;
    for n in 0..3 {
        upsert(
            &store,
            &article(&format!("c-{n}"), "hnyw", "2024-05-01T08:00:00+08:00"),
            "2024-05-01T09:00:00+08:00",
        )
        .await;
    }
    let (cursor, events) = store.pending_events("webhooks", 2).await.unwrap();
    assert_eq!(cursor, 0, "a consumer without a row is at 0");
    assert_eq!(events.len(), 2);
    let messages: Vec<_> = events
        .iter()
        .map(|e| {
            let mut m = webhook_message(&e.id, e.article_id.as_str(), &[ep.as_str()]);
            m.event_seq = Some(e.seq);
            m
        })
        .collect();
    let moved = CursorMove {
        consumer: "webhooks",
        from: cursor,
        to: events[1].seq,
    };
    let Enqueued::Queued(first) = store
        .enqueue(Some(moved), messages.clone(), t)
        .await
        .unwrap()
    else {
        panic!("the first enqueue from the cursor wins");
    };
    assert_eq!(first.len(), 2);

    // A second dispatcher that read the same cursor loses, and queues nothing.
    let mut late = messages.clone();
    late[0].id = "msg_late".into();
    assert_eq!(
        store.enqueue(Some(moved), late, t).await.unwrap(),
        Enqueued::Raced
    );
    assert_eq!(
        store.deliveries_of(&ep, None, 0, 100).await.unwrap().len(),
        2
    );
    assert_eq!(store.queue_stats(t).await.unwrap().pending, 2);

    // The cursor moved: the next read starts after it; the other consumer has its own.
    let (cursor, events) = store.pending_events("webhooks", 10).await.unwrap();
    assert_eq!(cursor, moved.to);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].article_id.as_str(), "c-2");
    let (other, all) = store.pending_events("websub", 10).await.unwrap();
    assert_eq!((other, all.len()), (0, 3));
}

async fn cursor_moves_only_from_where_it_was(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let step = |from, to| CursorMove {
        consumer: "websub",
        from,
        to,
    };
    assert_eq!(
        store
            .enqueue(Some(step(0, 2)), Vec::new(), t)
            .await
            .unwrap(),
        Enqueued::Queued(Vec::new())
    );
    assert_eq!(store.pending_events("websub", 1).await.unwrap().0, 2);
    assert_eq!(
        store
            .enqueue(Some(step(0, 5)), Vec::new(), t)
            .await
            .unwrap(),
        Enqueued::Raced,
        "from 0 again, once a row exists"
    );
    assert_eq!(
        store
            .enqueue(Some(step(2, 3)), Vec::new(), t)
            .await
            .unwrap(),
        Enqueued::Queued(Vec::new())
    );
    assert_eq!(
        store
            .enqueue(Some(step(2, 4)), Vec::new(), t)
            .await
            .unwrap(),
        Enqueued::Raced
    );
    assert_eq!(
        store
            .enqueue(Some(step(4, 5)), Vec::new(), t)
            .await
            .unwrap(),
        Enqueued::Raced,
        "from ahead of the cursor"
    );
    assert_eq!(store.pending_events("websub", 1).await.unwrap().0, 3);
}

async fn deliveries_to_missing_targets_and_duplicates_are_skipped(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let a = endpoint(&store, "a", t).await;
    let b = endpoint(&store, "b", t).await;
    let sub = subscribe(&store, "hnyw", "cb", 3600, t).await;

    let mut message = webhook_message(
        "msg_1",
        "k",
        &[a.as_str(), "ep_missing", b.as_str(), a.as_str()],
    );
    message.deliveries.push(NewDelivery {
        target: TargetKind::WebSub,
        target_id: sub.id.clone(),
        order_key: "hnyw.atom".into(),
        expires_at: Some(sub.expires_at),
    });
    message.deliveries.push(NewDelivery {
        target: TargetKind::WebSub,
        target_id: "sub_missing".into(),
        order_key: "hnyw.atom".into(),
        expires_at: None,
    });
    let ids = enqueue(&store, vec![message.clone()], t).await;
    assert_eq!(ids.len(), 3, "a, b and the subscription: {ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("dlv_")));
    // The ids come in the order of the request.
    assert_eq!(view(&store, &ids[0]).await.endpoint_id, a);
    assert_eq!(view(&store, &ids[1]).await.endpoint_id, b);
    assert_eq!(view(&store, &ids[2]).await.endpoint_id, sub.id);

    // The same message again: every (target, message) is there already.
    assert!(enqueue(&store, vec![message], t).await.is_empty());

    // A deleted target gets nothing any more.
    assert!(store.delete_endpoint(&b).await.unwrap());
    let ids = enqueue(
        &store,
        vec![webhook_message("msg_2", "k", &[a.as_str(), b.as_str()])],
        t,
    )
    .await;
    assert_eq!(ids.len(), 1);
    assert_eq!(view(&store, &ids[0]).await.endpoint_id, a);
    assert_eq!(store.queue_stats(t).await.unwrap().pending, 3);
}

async fn messages_are_shared_and_kept_byte_for_byte(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let a = endpoint(&store, "a", t).await;
    let b = endpoint(&store, "b", t).await;
    let mut message = webhook_message("evt_shared", "k", &[a.as_str(), b.as_str()]);
    // Not normalised: key order, spaces and escapes stay as they are.
    message.body = "{\"z\":1,  \"a\":\"\\u00e9 é\\n\"}".into();
    message.kind = "article.updated".into();
    message.link = Some("<https://feeds.example/hub>; rel=\"hub\"".into());
    message.content_type = "application/atom+xml; charset=utf-8".into();
    enqueue(&store, vec![message.clone()], t).await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 10, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for c in &claimed {
        assert_eq!(c.body, message.body);
        assert_eq!(c.message_id, "evt_shared");
        assert_eq!(c.message_type, "article.updated");
        assert_eq!(c.link, message.link);
        assert_eq!(c.content_type, message.content_type);
    }
}
