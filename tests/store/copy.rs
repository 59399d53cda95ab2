//! `Store::copy_to`: a SQLite store with a bit of everything is copied into this case's
//! database (SQLite, or PostgreSQL in the PostgreSQL half) and from there into another SQLite
//! store; all three must read the same through the contract, render byte-identical feeds, and
//! take a second copy without change.

use std::path::Path;

use chrono::{DateTime, Utc};
use tidings::catalog::{Catalog, load_catalog};
use tidings::domain::{
    Article, EndpointKind, Event, EventType, FeedFormat, Image, RobotSecret, Scope, Secret,
    StoredArticle, Tombstone,
};
use tidings::feed_cache::{CachedFeed, Encoding};
use tidings::render::{FeedContext, History, render_feed};
use tidings::store::{
    AttemptOutcome, CopyProgress, CopyReport, CursorMove, EndpointPatch, Enqueued, NewDelivery,
    NewEndpoint, NewMessage, PendingVerification, Store, TargetKind,
};

use crate::fixtures::*;
use crate::harness::{Ctx, settings};

conformance!(copies_everything_exactly_once);

/// The tables in copy order.
const TABLES: [&str; 11] = [
    "articles",
    "events",
    "webhook_endpoints",
    "websub_subscriptions",
    "websub_verifications",
    "sources",
    "source_pages",
    "messages",
    "deliveries",
    "delivery_attempts",
    "cursors",
];

/// Articles beyond the handful of special ones: more than one chunk of the copy (500).
const BULK: usize = 520;

async fn copies_everything_exactly_once(db: Ctx) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let source = Store::connect(&sqlite("source.db"), &settings())
        .await
        .expect("the source opens");
    let t = now();
    let filled = fill(&source, t).await;
    let catalog = load_catalog(&Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds"))
        .expect("the shipped catalogue loads");
    let before = snapshot(&source, &catalog, t).await;
    assert_eq!(before.articles.len(), BULK + 6);
    assert!(before.articles.iter().any(|a| a.deleted_at.is_some()));
    assert!(before.feeds.iter().any(|f| !f.tombstones.is_empty()));

    // Into this case's database.
    let target = db.store().await;
    let mut steps: Vec<CopyProgress> = Vec::new();
    let first = source
        .copy_to(&target, |step| steps.push(step))
        .await
        .expect("the copy succeeds");
    expect_counts(&first, &filled, true);
    for label in [
        "articles",
        "events",
        "endpoints",
        "subscriptions",
        "pending verifications",
        "messages",
        "deliveries",
        "attempts",
        "cursors",
    ] {
        let last = steps.iter().rfind(|s| s.table == label).expect("progress");
        assert_eq!(last.done, last.total, "{label}: progress reaches the end");
    }
    assert!(
        steps.iter().filter(|s| s.table == "articles").count() >= 3,
        "articles come in more than one chunk"
    );
    let copied = snapshot(&target, &catalog, t).await;
    assert_same(&before, &copied);

    // Again: nothing new, nothing changed.
    let second = source
        .copy_to(&target, |_| {})
        .await
        .expect("a second copy succeeds");
    expect_counts(&second, &filled, false);
    assert_same(&before, &snapshot(&target, &catalog, t).await);

    // And on into SQLite again (from PostgreSQL, in that half).
    let back = Store::connect(&sqlite("back.db"), &settings())
        .await
        .expect("a third store opens");
    let third = target
        .copy_to(&back, |_| {})
        .await
        .expect("the copy back succeeds");
    expect_counts(&third, &filled, true);
    assert_same(&before, &snapshot(&back, &catalog, t).await);

    // What the target writes next comes after what was copied.
    writes_continue_after_the_copied_ids(&target, &filled, t).await;
    source.close().await;
    back.close().await;
}

/// What [`fill`] made, to check the copy's counts and the ids that follow.
struct Filled {
    endpoints: Vec<String>,
    subscriptions: Vec<String>,
    messages: u64,
    deliveries: u64,
    attempts: u64,
    /// A delivery still pending (claimed, not yet attempted), to attempt on the target.
    pending: String,
}

/// Fills a store through the contract: articles created, updated, moved, deleted and
/// re-published; endpoints plain, rotated and failing, disabled; subscriptions with and without
/// a secret; the dispatchers' cursors; deliveries pending, leased, retrying, delivered and
/// failed, with their attempts.
async fn fill(store: &Store, t: DateTime<Utc>) -> Filled {
    // Times with microseconds and offsets: they must come back exactly.
    let mut rich = article("cp-rich", "hnyw/ldhd", "2024-05-01T09:00:00.654321+08:00");
    rich.summary = Some("摘要 \"quoted\" & <b>bold</b>".into());
    rich.updated = Some(local("2024-05-01T09:30:00.000001+08:00"));
    rich.images = vec![Image {
        url: url::Url::parse("https://www.huangnan.gov.cn/a/cp-rich.jpg").unwrap(),
        caption: Some("图片".into()),
        media_type: Some("image/jpeg".into()),
        length: Some(123_456),
    }];
    let specials: Vec<Article> = vec![
        rich,
        article("cp-plain", "hnyw", "2024-05-01T10:00:00+08:00"),
        article("cp-updated", "hnyw/ldhd", "2024-05-01T11:00:00.5+08:00"),
        article("cp-moved", "hnyw/bmdt", "2024-05-01T12:00:00+08:00"),
        article("cp-deleted", "hnyw", "2024-05-01T13:00:00+08:00"),
        article("cp-back", "zwgk/tzgg", "2024-05-01T14:00:00+08:00"),
    ];
    upsert_all(store, &specials, "2024-05-02T08:00:00.123456+08:00").await;
    let mut updated = specials[2].clone();
    updated.title = "标题 已更新".into();
    upsert(store, &updated, "2024-05-02T09:00:00.000002+08:00").await;
    let mut moved = specials[3].clone();
    moved.section = section("hnyw/ldhd");
    upsert(store, &moved, "2024-05-02T09:10:00+08:00").await;
    store
        .delete_article(&id("cp-deleted"), at("2024-05-02T02:00:00.999999Z"))
        .await
        .unwrap();
    store
        .delete_article(&id("cp-back"), at("2024-05-02T02:10:00Z"))
        .await
        .unwrap();
    upsert(store, &specials[5], "2024-05-02T10:30:00+08:00").await;
    let sections = ["hnyw", "hnyw/ldhd", "hnyw/xxdt", "zwgk/tzgg", "zjhn/rgwh"];
    let bulk: Vec<Article> = (0..BULK)
        .map(|n| {
            let published = at("2024-04-01T00:00:00Z") + secs(n as i64 * 97);
            let published = published.with_timezone(&local("2024-01-01T00:00:00+08:00").timezone());
            article(
                &format!("bulk-{n:04}"),
                sections[n % sections.len()],
                &published.to_rfc3339(),
            )
        })
        .collect();
    upsert_all(store, &bulk, "2024-05-03T08:00:00+08:00").await;
    // An old bulk article deleted: a tombstone outside most windows.
    store
        .delete_article(&id("bulk-0003"), at("2024-05-03T01:00:00Z"))
        .await
        .unwrap();

    // Endpoints: one plain; one filtered, rate-limited, with a rotated secret, failing; one
    // disabled.
    let plain = endpoint(store, "plain", t).await;
    let rotated = endpoint(store, "rotated", t + secs(1)).await;
    store
        .update_endpoint(
            &rotated,
            EndpointPatch {
                event_types: Some(vec![EventType::Published, EventType::Deleted]),
                sections: Some(vec![section("hnyw"), section("zwgk/tzgg")]),
                rate_limit: Some(Some(2.5)),
                ..EndpointPatch::default()
            },
            t + secs(2),
        )
        .await
        .unwrap();
    store
        .rotate_secret(&rotated, &Secret::generate(), t + secs(3600), t + secs(3))
        .await
        .unwrap()
        .expect("the endpoint exists");
    let disabled = endpoint(store, "disabled", t + secs(4)).await;
    // A chat robot: its kind, template and vendor secret go along.
    let robot = store
        .create_endpoint(
            NewEndpoint {
                kind: EndpointKind::DingTalk,
                template: Some(
                    r#"{"msgtype":"text","text":{"content":"{{ article.title }}"}}"#.into(),
                ),
                robot_secret: Some(RobotSecret::parse("SEC0123456789abcdef").unwrap()),
                ..new_endpoint("robot")
            },
            t + secs(4),
        )
        .await
        .unwrap()
        .id;
    store
        .disable_endpoint(&disabled, "410 Gone from the receiver", t + secs(5))
        .await
        .unwrap();

    // Subscriptions: one with a secret (Atom), one without (JSON Feed).
    let with_secret = subscribe(store, "hnyw", "with-secret", 86_400, t).await;
    let without = store
        .upsert_subscription(
            "https://feeds.example/feeds/all.json",
            &Scope::All,
            FeedFormat::Json,
            &callback("no-secret"),
            None,
            3_600,
            t + secs(1),
        )
        .await
        .unwrap();

    // The webhook dispatcher queues the newest events to the two live endpoints and moves
    // its cursor; the WebSub dispatcher queues one notification and moves its own.
    let last = store.last_event_seq().await.unwrap();
    let events = store.events_after(last - 4, 10).await.unwrap();
    let messages: Vec<NewMessage> = events
        .iter()
        .map(|e| NewMessage {
            id: e.id.clone(),
            kind: e.kind.as_str().to_owned(),
            event_seq: Some(e.seq),
            body: serde_json::json!({"type": e.kind, "data": e.payload}).to_string(),
            content_type: "application/json".into(),
            link: None,
            deliveries: [&plain, &rotated]
                .iter()
                .map(|ep| NewDelivery {
                    target: TargetKind::Webhook,
                    target_id: (*ep).clone(),
                    order_key: e.article_id.to_string(),
                    expires_at: None,
                })
                .collect(),
        })
        .collect();
    let cursor = CursorMove {
        consumer: "webhooks",
        from: 0,
        to: last,
    };
    let queued = store.enqueue(Some(cursor), messages, t).await.unwrap();
    assert!(matches!(queued, Enqueued::Queued(ref ids) if ids.len() == 8));
    let notification = NewMessage {
        id: "ntf_copy".into(),
        kind: "websub.notification".into(),
        event_seq: Some(last),
        body: "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed>…</feed>\n".into(),
        content_type: "application/atom+xml; charset=utf-8".into(),
        link: Some("<https://feeds.example/hub>; rel=\"hub\"".into()),
        deliveries: [&with_secret, &without]
            .iter()
            .map(|s| NewDelivery {
                target: TargetKind::WebSub,
                target_id: s.id.clone(),
                order_key: s.topic.clone(),
                expires_at: Some(s.expires_at),
            })
            .collect(),
    };
    let cursor = CursorMove {
        consumer: "websub",
        from: 0,
        to: last - 1,
    };
    store
        .enqueue(Some(cursor), vec![notification], t)
        .await
        .unwrap();
    // A test message, which carries no event.
    enqueue(
        store,
        vec![webhook_message("msg_test", "msg_test", &[plain.as_str()])],
        t,
    )
    .await;

    // Attempts: claim everything due, then record different outcomes.
    let claimed = store
        .claim_due_deliveries(t + secs(10), t + secs(70), 100, None)
        .await
        .unwrap();
    assert!(claimed.len() >= 5, "{} claimed", claimed.len());
    let mut attempts = 0;
    let outcomes = [
        (Some(200), AttemptOutcome::Delivered),
        (None, AttemptOutcome::RetryAt(t + secs(300))),
        (Some(500), AttemptOutcome::GaveUp),
        (Some(204), AttemptOutcome::Delivered),
    ];
    for (claim, (status, outcome)) in claimed.iter().zip(outcomes) {
        let when = t + secs(11 + attempts);
        store
            .record_attempt(claim, &attempt(when, status, "answer \"body\" ✓"), outcome)
            .await
            .unwrap();
        attempts += 1;
    }
    // The rotated endpoint fails: its failure history starts.
    let failing = claimed
        .iter()
        .skip(outcomes.len())
        .find(|c| c.target.id() == rotated)
        .expect("a delivery to the rotated endpoint is left");
    store
        .record_attempt(
            failing,
            &attempt(t + secs(20), Some(503), "busy"),
            AttemptOutcome::RetryAt(t + secs(600)),
        )
        .await
        .unwrap();
    attempts += 1;
    assert!(
        store
            .endpoint(&rotated)
            .await
            .unwrap()
            .unwrap()
            .failing_since
            .is_some()
    );
    let pending = claimed
        .iter()
        .skip(outcomes.len())
        .find(|c| c.seq != failing.seq)
        .expect("a claimed delivery is left unattempted")
        .id
        .clone();

    let waiting = PendingVerification {
        id: String::new(),
        mode: "subscribe".into(),
        topic: "https://feeds.example/feeds/hnyw.atom".into(),
        callback: "https://reader.example/cb?x=1".into(),
        secret: Some("s3cret".into()),
        lease_seconds: Some(86_400),
        verify_token: None,
        attempts: 2,
    };
    store
        .add_verification(&waiting, t, t + secs(60))
        .await
        .unwrap();

    Filled {
        endpoints: vec![plain, rotated, disabled, robot],
        subscriptions: vec![with_secret.id, without.id],
        messages: 6,
        deliveries: 11,
        attempts: attempts as u64,
        pending,
    }
}

/// Everything the contract shows of a store, feeds rendered included.
#[derive(Debug, PartialEq)]
struct Snapshot {
    articles: Vec<StoredArticle>,
    /// The articles as the application serialises them: times with their offsets (which
    /// `DateTime`'s equality ignores).
    bodies: Vec<String>,
    events: Vec<Event>,
    /// Endpoints with their secrets and cursors (which their JSON leaves out).
    endpoints: Vec<serde_json::Value>,
    subscriptions: Vec<serde_json::Value>,
    /// Pending verifications, as any instance takes them up.
    verifications: Vec<PendingVerification>,
    /// The delivery log of every endpoint and subscription, attempts included.
    deliveries: Vec<serde_json::Value>,
    cursors: Vec<(i64, Vec<String>)>,
    next_due: Option<DateTime<Utc>>,
    queue: String,
    feeds: Vec<Feed>,
}

#[derive(Debug, PartialEq)]
struct Feed {
    scope: String,
    entries: Vec<StoredArticle>,
    tombstones: Vec<Tombstone>,
    updated: Option<DateTime<Utc>>,
    /// Format, bytes and ETag, as the service renders and caches it.
    rendered: Vec<(FeedFormat, String, String)>,
}

async fn snapshot(store: &Store, catalog: &Catalog, t: DateTime<Utc>) -> Snapshot {
    let events = store.events_after(0, 10_000).await.unwrap();
    let mut ids: Vec<_> = events.iter().map(|e| e.article_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let mut articles = store.articles(&ids).await.unwrap();
    articles.sort_by(|a, b| a.article.id.cmp(&b.article.id));

    let endpoints = store.endpoints().await.unwrap();
    let endpoints_json = endpoints
        .iter()
        .map(|e| {
            serde_json::json!({
                "shown": e,
                "secret": e.secret.as_str(),
                "previous": e.previous_secret.as_ref().map(|(s, until)| (s.as_str(), until)),
                "after_seq": e.after_seq,
                "robot_secret": e.robot_secret.as_ref().map(|s| s.as_str()),
            })
        })
        .collect();
    let views = store.subscriptions(None, None, 1000, t).await.unwrap();
    let subscriptions = views
        .iter()
        .map(|v| serde_json::json!({"view": v, "secret": v.subscription.secret}))
        .collect();
    // Taken as if long after: whatever holds them has run out by then.
    let later = t + secs(10 * 365 * 86_400);
    let verifications = store.take_verifications(later, later, 100).await.unwrap();
    let mut deliveries = Vec::new();
    let targets = endpoints
        .iter()
        .map(|e| e.id.clone())
        .chain(views.iter().map(|v| v.subscription.id.clone()));
    for target in targets {
        for view in store.deliveries_of(&target, None, 0, 1_000).await.unwrap() {
            deliveries.push(serde_json::to_value(view).unwrap());
        }
    }
    let mut cursors = Vec::new();
    for consumer in ["webhooks", "websub", "nobody"] {
        let (at, pending) = store.pending_events(consumer, 10).await.unwrap();
        cursors.push((at, pending.into_iter().map(|e| e.id).collect()));
    }

    let mut feeds = Vec::new();
    // A tag's feed too: its index is rebuilt from the copied bodies.
    for name in ["all", "hnyw", "hnyw/ldhd", "zwgk", "zjhn", "tags/要闻"] {
        let scope = scope(name);
        for limit in [10, 1_000] {
            let page = store.feed_page(&scope, limit).await.unwrap();
            let updated = page.updated.unwrap_or(DateTime::UNIX_EPOCH);
            let mut rendered = Vec::new();
            for format in [FeedFormat::Rss, FeedFormat::Atom, FeedFormat::Json] {
                let self_url = format!(
                    "https://feeds.example/feeds/{}.{}",
                    scope.as_str(),
                    format.extension()
                );
                let ctx = FeedContext {
                    catalog,
                    scope: &scope,
                    self_url: &self_url,
                    hub_url: Some("https://feeds.example/hub"),
                    updated,
                    generator: "tidings/test",
                    public_base: "http://127.0.0.1:8080",
                    history: History::default(),
                };
                let body = render_feed(format, &ctx, &page.entries, &page.tombstones);
                let feed = CachedFeed::new(body, updated);
                rendered.push((
                    format,
                    String::from_utf8(feed.body.to_vec()).expect("feeds are UTF-8"),
                    feed.etag(Encoding::Identity),
                ));
            }
            feeds.push(Feed {
                scope: format!("{name}?limit={limit}"),
                entries: page.entries,
                tombstones: page.tombstones,
                updated: page.updated,
                rendered,
            });
        }
    }
    Snapshot {
        bodies: articles
            .iter()
            .map(|a| serde_json::to_string(&a.article).unwrap())
            .collect(),
        articles,
        events,
        endpoints: endpoints_json,
        subscriptions,
        verifications,
        deliveries,
        cursors,
        next_due: store.next_due().await.unwrap(),
        queue: format!("{:?}", store.queue_stats(t).await.unwrap()),
        feeds,
    }
}

/// Equal, part by part (a failure names the part rather than dumping everything).
fn assert_same(expected: &Snapshot, got: &Snapshot) {
    assert_eq!(expected.articles, got.articles, "articles");
    assert_eq!(expected.bodies, got.bodies, "articles as serialised");
    assert_eq!(expected.events, got.events, "events");
    assert_eq!(expected.endpoints, got.endpoints, "endpoints");
    assert_eq!(expected.subscriptions, got.subscriptions, "subscriptions");
    assert_eq!(
        expected.verifications, got.verifications,
        "pending verifications"
    );
    assert_eq!(expected.deliveries, got.deliveries, "deliveries");
    assert_eq!(expected.cursors, got.cursors, "cursors");
    assert_eq!(expected.next_due, got.next_due, "next due");
    assert_eq!(expected.queue, got.queue, "queue figures");
    assert_eq!(expected.feeds.len(), got.feeds.len());
    for (want, have) in expected.feeds.iter().zip(&got.feeds) {
        assert_eq!(want.entries, have.entries, "{}: entries", want.scope);
        assert_eq!(
            want.tombstones, have.tombstones,
            "{}: tombstones",
            want.scope
        );
        assert_eq!(want.updated, have.updated, "{}: updated", want.scope);
        for (w, h) in want.rendered.iter().zip(&have.rendered) {
            assert_eq!(w.1, h.1, "{} {}: the same bytes", want.scope, w.0);
            assert_eq!(w.2, h.2, "{} {}: the same ETag", want.scope, w.0);
        }
    }
    assert_eq!(expected, got);
}

/// A first copy copies every row; a second one finds every row there.
fn expect_counts(report: &CopyReport, filled: &Filled, first: bool) {
    let tables: Vec<&str> = report.tables.iter().map(|t| t.table).collect();
    assert_eq!(tables, TABLES);
    let rows = |name: &str| report.table(name).unwrap().read;
    assert_eq!(rows("articles"), BULK as u64 + 6);
    // One event per write: 6 + 520 created, 1 update, 1 move, 3 deletions, 1 re-publication.
    assert_eq!(rows("events"), BULK as u64 + 12);
    assert_eq!(rows("webhook_endpoints"), filled.endpoints.len() as u64);
    assert_eq!(
        rows("websub_subscriptions"),
        filled.subscriptions.len() as u64
    );
    assert_eq!(rows("websub_verifications"), 1);
    assert_eq!(rows("messages"), filled.messages);
    assert_eq!(rows("deliveries"), filled.deliveries);
    assert_eq!(rows("delivery_attempts"), filled.attempts);
    assert_eq!(rows("cursors"), 2);
    for table in &report.tables {
        let expected = if first { table.read } else { 0 };
        assert_eq!(table.copied, expected, "{}", table.table);
    }
}

/// New rows on the target get ids after the copied ones: an article's event, a delivery, an
/// attempt on a copied delivery (PostgreSQL: the identity sequences were moved).
async fn writes_continue_after_the_copied_ids(target: &Store, filled: &Filled, t: DateTime<Utc>) {
    let last = target.last_event_seq().await.unwrap();
    upsert(
        target,
        &article("cp-after", "hnyw", "2024-05-04T08:00:00+08:00"),
        "2024-05-04T09:00:00+08:00",
    )
    .await;
    let new = target.events_after(last, 10).await.unwrap();
    assert_eq!(new.len(), 1);
    assert!(new[0].seq > last, "{} after {last}", new[0].seq);

    let mut copied_max = 0;
    for ep in &filled.endpoints {
        for view in target.deliveries_of(ep, None, 0, 1_000).await.unwrap() {
            copied_max = copied_max.max(view.cursor);
        }
    }
    for sub in &filled.subscriptions {
        for view in target.deliveries_of(sub, None, 0, 1_000).await.unwrap() {
            copied_max = copied_max.max(view.cursor);
        }
    }
    let plain = &filled.endpoints[0];
    let ids = enqueue(
        target,
        vec![webhook_message("msg_after", "msg_after", &[plain.as_str()])],
        t,
    )
    .await;
    let queued = view(target, &ids[0]).await;
    assert!(
        queued.cursor > copied_max,
        "{} after {copied_max}",
        queued.cursor
    );

    // The copied lease has not run out: the delivery is attempted through its claim's seq.
    let pending = view(target, &filled.pending).await;
    assert_eq!(pending.status, "pending");
    let claimed = target
        .claim_due_deliveries(t + secs(3_000), t + secs(3_060), 100, None)
        .await
        .unwrap();
    let claim = claimed
        .iter()
        .find(|c| c.id == filled.pending)
        .expect("the copied delivery is claimed again once its lease ran out");
    target
        .record_attempt(
            claim,
            &attempt(t + secs(3_001), Some(200), "ok"),
            AttemptOutcome::Delivered,
        )
        .await
        .expect("an attempt id after the copied ones");
    let done = view(target, &filled.pending).await;
    assert_eq!(done.status, "delivered");
    assert_eq!(done.attempt_log.len(), 1);
}
