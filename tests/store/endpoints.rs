//! Webhook endpoints: create, list, patch, disable, rotate, delete.

use tidings::domain::{EndpointKind, EndpointUrl, EventType, RobotSecret, Secret};
use tidings::store::EndpointPatch;

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    endpoints_are_created_listed_and_read,
    patches_apply_and_reenabling_clears_failures,
    delete_removes_the_queue,
    rotation_keeps_the_old_secret_for_a_while,
    routes_follow_endpoints_and_their_revision_moves_with_them,
    robots_keep_their_kind_template_and_vendor_secret,
);

async fn robots_keep_their_kind_template_and_vendor_secret(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let template = r#"{"msgtype":"text","text":{"content":"{{ title }}"}}"#;
    let created = store
        .create_endpoint(
            tidings::store::NewEndpoint {
                kind: EndpointKind::DingTalk,
                template: Some(template.into()),
                robot_secret: Some(RobotSecret::parse("SECabc123").unwrap()),
                ..new_endpoint("robot")
            },
            t,
        )
        .await
        .unwrap();
    let read = store.endpoint(&created.id).await.unwrap().unwrap();
    assert_eq!(read.kind, EndpointKind::DingTalk);
    assert_eq!(read.template.as_deref(), Some(template));
    assert_eq!(read.robot_secret.as_ref().unwrap().as_str(), "SECabc123");

    // Another robot kind, the default message, unsigned.
    let patch = EndpointPatch {
        kind: Some(EndpointKind::Feishu),
        template: Some(None),
        robot_secret: Some(None),
        ..EndpointPatch::default()
    };
    let patched = store
        .update_endpoint(&created.id, patch, t + secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.kind, EndpointKind::Feishu);
    assert_eq!(patched.template, None);
    assert!(patched.robot_secret.is_none());

    // What a patch leaves out stays; a delivery's claim carries the robot whole.
    let kept = store
        .update_endpoint(
            &created.id,
            EndpointPatch {
                robot_secret: Some(Some(RobotSecret::parse("fs-secret").unwrap())),
                ..EndpointPatch::default()
            },
            t + secs(2),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.kind, EndpointKind::Feishu);
    enqueue(
        &store,
        vec![webhook_message("m", "k", &[created.id.as_str()])],
        t,
    )
    .await;
    let claimed = store
        .claim_due_deliveries(t + secs(3), t + secs(60), 1, None)
        .await
        .unwrap();
    let tidings::domain::Target::Webhook(robot) = &claimed[0].target else {
        panic!("a webhook delivery");
    };
    assert_eq!(robot.kind, EndpointKind::Feishu);
    assert_eq!(robot.robot_secret.as_ref().unwrap().as_str(), "fs-secret");

    // Endpoints made before robots existed read as standard ones.
    let plain = endpoint(&store, "plain", t).await;
    let plain = store.endpoint(&plain).await.unwrap().unwrap();
    assert_eq!(plain.kind, EndpointKind::Standard);
    assert!(plain.template.is_none() && plain.robot_secret.is_none());
}

async fn endpoints_are_created_listed_and_read(db: Ctx) {
    let store = db.store().await;
    let t = now();
    upsert(
        &store,
        &article("e-1", "hnyw", "2024-05-01T08:00:00+08:00"),
        "2024-05-01T09:00:00+08:00",
    )
    .await;
    let mut new = new_endpoint("one");
    new.event_types = vec![EventType::Published, EventType::Deleted];
    new.sections = vec![section("hnyw"), section("zwgk/tzgg")];
    new.rate_limit = Some(2.5);
    let secret = new.secret.clone();
    let created = store.create_endpoint(new, t).await.unwrap();
    assert!(created.id.starts_with("ep_"));
    assert_eq!(
        created.url.as_str(),
        "https://hooks.example/one?token=t0k3n"
    );
    assert_eq!(created.description, "receiver one");
    assert_eq!(
        created.event_types,
        [EventType::Published, EventType::Deleted]
    );
    assert_eq!(created.sections, [section("hnyw"), section("zwgk/tzgg")]);
    assert_eq!(created.secret, secret);
    assert!(created.previous_secret.is_none());
    assert_eq!(created.rate_limit, Some(2.5));
    assert!(created.enabled);
    assert_eq!(created.disabled_reason, None);
    assert_eq!(created.failing_since, None);
    assert_eq!(
        created.after_seq,
        store.last_event_seq().await.unwrap(),
        "it receives the events after its creation"
    );
    assert_eq!((created.created_at, created.updated_at), (t, t));

    let second = endpoint(&store, "two", t + secs(1)).await;
    let listed: Vec<String> = store
        .endpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, [created.id.clone(), second]);
    let read = store.endpoint(&created.id).await.unwrap().unwrap();
    assert_eq!(read.secret, secret);
    assert_eq!(read.sections, created.sections);
    assert!(store.endpoint("ep_missing").await.unwrap().is_none());
}

async fn patches_apply_and_reenabling_clears_failures(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let id = endpoint(&store, "patch", t).await;
    let patch = EndpointPatch {
        url: Some(EndpointUrl::new(
            url::Url::parse("https://other.example/in").unwrap(),
        )),
        description: Some("新".into()),
        event_types: Some(vec![EventType::Updated]),
        sections: Some(vec![section("zjhn")]),
        rate_limit: Some(Some(1.0)),
        enabled: None,
        kind: None,
        template: None,
        robot_secret: None,
    };
    let patched = store
        .update_endpoint(&id, patch, t + secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.url.as_str(), "https://other.example/in");
    assert_eq!(patched.description, "新");
    assert_eq!(patched.event_types, [EventType::Updated]);
    assert_eq!(patched.sections, [section("zjhn")]);
    assert_eq!(patched.rate_limit, Some(1.0));
    assert_eq!(patched.updated_at, t + secs(1));
    assert_eq!(patched.created_at, t);

    let unlimited = EndpointPatch {
        rate_limit: Some(None),
        ..EndpointPatch::default()
    };
    let patched = store
        .update_endpoint(&id, unlimited, t)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.rate_limit, None);
    assert_eq!(patched.description, "新", "what the patch leaves out stays");

    // A worker finds it failing and disables it.
    let ids = enqueue(&store, vec![webhook_message("m", "k", &[id.as_str()])], t).await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 1, None)
        .await
        .unwrap();
    store
        .record_attempt(
            &claimed[0],
            &attempt(t, Some(500), ""),
            tidings::store::AttemptOutcome::RetryAt(t + secs(5)),
        )
        .await
        .unwrap();
    store
        .disable_endpoint(&id, "failing for 5 days", t)
        .await
        .unwrap();
    let disabled = store.endpoint(&id).await.unwrap().unwrap();
    assert!(!disabled.enabled);
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some("failing for 5 days")
    );
    assert_eq!(disabled.failing_since, Some(t));

    let patch = EndpointPatch {
        description: Some("still off".into()),
        ..EndpointPatch::default()
    };
    let still = store.update_endpoint(&id, patch, t).await.unwrap().unwrap();
    assert!(!still.enabled);
    assert_eq!(still.disabled_reason.as_deref(), Some("failing for 5 days"));

    let on = EndpointPatch {
        enabled: Some(true),
        ..EndpointPatch::default()
    };
    let enabled = store.update_endpoint(&id, on, t).await.unwrap().unwrap();
    assert!(enabled.enabled);
    assert_eq!(enabled.disabled_reason, None);
    assert_eq!(
        enabled.failing_since, None,
        "re-enabling clears the failures"
    );
    assert_eq!(view(&store, &ids[0]).await.status, "pending");

    let off = EndpointPatch {
        enabled: Some(false),
        ..EndpointPatch::default()
    };
    let off = store.update_endpoint(&id, off, t).await.unwrap().unwrap();
    assert_eq!(
        off.disabled_reason.as_deref(),
        Some("disabled through the API")
    );
    assert!(
        store
            .update_endpoint("ep_missing", EndpointPatch::default(), t)
            .await
            .unwrap()
            .is_none()
    );
}

async fn delete_removes_the_queue(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let gone = endpoint(&store, "gone", t).await;
    let kept = endpoint(&store, "kept", t).await;
    let ids = enqueue(
        &store,
        vec![webhook_message("m", "k", &[gone.as_str(), kept.as_str()])],
        t,
    )
    .await;
    let claimed = store
        .claim_due_deliveries(t, t + secs(60), 10, None)
        .await
        .unwrap();
    for c in &claimed {
        store
            .record_attempt(
                c,
                &attempt(t, Some(500), ""),
                tidings::store::AttemptOutcome::RetryAt(t + secs(1)),
            )
            .await
            .unwrap();
    }
    assert!(store.delete_endpoint(&gone).await.unwrap());
    assert!(store.endpoint(&gone).await.unwrap().is_none());
    assert!(
        store
            .deliveries_of(&gone, None, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delivery(&ids[0]).await.unwrap().is_none());
    assert_eq!(view(&store, &ids[1]).await.attempt_log.len(), 1);
    assert_eq!(store.queue_stats(t).await.unwrap().pending, 1);
    assert!(!store.delete_endpoint(&gone).await.unwrap());
    let listed: Vec<String> = store
        .endpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, [kept]);
}

async fn rotation_keeps_the_old_secret_for_a_while(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let new = new_endpoint("rotate");
    let old = new.secret.clone();
    let id = store.create_endpoint(new, t).await.unwrap().id;
    let fresh = Secret::generate();
    let until = t + secs(86400);
    let rotated = store
        .rotate_secret(&id, &fresh, until, t + secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.secret, fresh);
    assert_eq!(rotated.previous_secret, Some((old.clone(), until)));
    assert_eq!(rotated.updated_at, t + secs(1));
    assert_eq!(rotated.signing_secrets(t + secs(2)), [&fresh, &old]);
    assert_eq!(rotated.signing_secrets(until), [&fresh]);
    let read = store.endpoint(&id).await.unwrap().unwrap();
    assert_eq!(read.previous_secret, Some((old, until)));
    assert!(
        store
            .rotate_secret("ep_missing", &fresh, until, t)
            .await
            .unwrap()
            .is_none()
    );
}

async fn routes_follow_endpoints_and_their_revision_moves_with_them(db: Ctx) {
    let store = db.store().await;
    let t = now();
    let routes = |store: &tidings::store::Store| {
        let store = store.clone();
        async move { store.endpoint_routes().await.unwrap() }
    };
    let r0 = store.endpoint_routes_revision().await.unwrap();
    assert!(routes(&store).await.is_empty());

    let mut new = new_endpoint("routed");
    new.event_types = vec![EventType::Deleted];
    new.sections = vec![section("zwgk")];
    let created = store.create_endpoint(new, t).await.unwrap();
    let other = endpoint(&store, "other", t + secs(1)).await;
    let r1 = store.endpoint_routes_revision().await.unwrap();
    assert!(r1 > r0, "a created endpoint moves the revision");
    let read = routes(&store).await;
    assert_eq!(
        read.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [created.id.as_str(), other.as_str()],
        "in the order of the endpoints"
    );
    assert_eq!(read[0].event_types, [EventType::Deleted]);
    assert_eq!(read[0].sections, [section("zwgk")]);
    assert_eq!(read[0].after_seq, created.after_seq);

    // What does not decide routing leaves the revision where it is.
    store
        .rotate_secret(&other, &Secret::generate(), t + secs(60), t + secs(2))
        .await
        .unwrap();
    let quiet = EndpointPatch {
        description: Some("只改说明".into()),
        ..EndpointPatch::default()
    };
    store
        .update_endpoint(&other, quiet, t + secs(3))
        .await
        .unwrap();
    assert_eq!(store.endpoint_routes_revision().await.unwrap(), r1);

    let patch = EndpointPatch {
        sections: Some(vec![section("hnyw")]),
        ..EndpointPatch::default()
    };
    store
        .update_endpoint(&created.id, patch, t + secs(4))
        .await
        .unwrap();
    let r2 = store.endpoint_routes_revision().await.unwrap();
    assert!(r2 > r1, "changed filters move the revision");
    assert_eq!(routes(&store).await[0].sections, [section("hnyw")]);

    assert!(store.delete_endpoint(&created.id).await.unwrap());
    assert!(
        store.endpoint_routes_revision().await.unwrap() > r2,
        "a deletion moves it"
    );
    let left: Vec<String> = routes(&store).await.into_iter().map(|r| r.id).collect();
    assert_eq!(left, [other]);
}
