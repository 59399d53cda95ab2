//! The WebSub hub, clause by clause, against real callback servers.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, LINK};
use serde_json::{Value, json};

use crate::helpers::{TOKEN, TestApp, article, eventually, spawn_app_with, spawn_at};
use crate::receiver::{Receiver, Reply, Verify};

async fn hub_app(adjust: impl FnOnce(&mut tidings::config::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.retry_schedule_secs = vec![0.0, 0.05, 0.05, 0.05];
        c.delivery.jitter = 0.0;
        c.delivery.poll_interval_ms = 20;
        c.websub.coalesce_window_ms = 150;
        c.websub.verification_retry_secs = vec![0.05, 0.05];
        c.websub.lease_min_secs = 60;
        adjust(c);
    })
    .await
}

async fn hub_post(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    app.client
        .post(app.url("/websub"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn subscriptions(app: &TestApp) -> Vec<Value> {
    let body: Value = app
        .get_authorized("/api/v1/websub/subscriptions?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    body["subscriptions"].as_array().unwrap().clone()
}

/// Waits until the admin view satisfies `done`; the timeout only guards against a hang.
async fn wait_subscriptions(app: &TestApp, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    eventually("the subscriptions to reach the expected state", || async {
        let subs = subscriptions(app).await;
        done(&subs).then_some(subs)
    })
    .await
}

/// Asks the hub to subscribe `callback` to `topic`; the hub's answer.
async fn subscribe_request(app: &TestApp, topic: &str, callback: &str) -> reqwest::Response {
    subscribe_request_with(app, topic, callback, &[]).await
}

async fn subscribe_request_with(
    app: &TestApp,
    topic: &str,
    callback: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("hub.mode", "subscribe"),
        ("hub.topic", topic),
        ("hub.callback", callback),
    ];
    form.extend_from_slice(extra);
    hub_post(app, &form).await
}

/// Subscribes `callback` to `topic` and waits until the verified subscription is stored.
pub(crate) async fn subscribe(app: &TestApp, topic: &str, callback: &str, extra: &[(&str, &str)]) {
    let response = subscribe_request_with(app, topic, callback, extra).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let secret_wanted = extra.iter().any(|(k, _)| *k == "hub.secret");
    wait_subscriptions(app, |s| {
        s.iter().any(|x| {
            x["topic"] == topic && x["callback"] == callback && x["has_secret"] == secret_wanted
        })
    })
    .await;
}

fn topic(app: &TestApp, feed: &str) -> String {
    format!("{}/feeds/{feed}", app.address)
}

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(key: &str, body: &[u8]) -> String {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn subscribe_verify_and_receive_one_notification_in_the_topics_own_format() {
    let app = hub_app(|_| {}).await;
    let sub = Receiver::start().await;
    let topic = topic(&app, "hnyw.atom");
    subscribe(&app, &topic, &sub.url, &[("hub.lease_seconds", "7200")]).await;
    let verification = &sub.gets()[0];
    assert_eq!(verification.param("hub.mode").as_deref(), Some("subscribe"));
    assert_eq!(
        verification.param("hub.topic").as_deref(),
        Some(topic.as_str())
    );
    assert_eq!(
        verification.param("hub.lease_seconds").as_deref(),
        Some("7200")
    );
    assert!(
        verification
            .param("hub.challenge")
            .is_some_and(|c| c.len() >= 32)
    );

    app.publish(&article("ws-1", "hnyw/ldhd", "推送的文章"))
        .await;
    let posts = sub.wait_for_posts(1).await;
    let n = &posts[0];
    assert_eq!(
        n.header("content-type"),
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(n.header("content-length"), n.body.len().to_string());
    assert!(
        n.headers.get("content-encoding").is_none() && n.headers.get("x-hub-signature").is_none()
    );
    assert_eq!(
        n.header("link"),
        format!(
            "<{}/websub>; rel=\"hub\", <{topic}>; rel=\"self\"",
            app.address
        )
    );
    let feed = feed_rs::parser::parse(&n.body[..]).expect("the body is the topic's feed");
    assert_eq!(feed.entries.len(), 1);
    assert_eq!(
        feed.entries[0].id,
        "tag:www.huangnan.gov.cn,2021:article/ws-1"
    );
    assert_eq!(
        feed.title.unwrap().content,
        "黄南藏族自治州人民政府 - 黄南要闻"
    );
    let view = subscriptions(&app).await;
    assert_eq!(view[0]["state"], "active");
    let index = app.get_text("/").await;
    assert_eq!(
        index.matches("（1 个订阅）").count(),
        1,
        "one topic has one subscriber"
    );
    // The delivery is recorded once the attempt is; wait for that, not for a time.
    let view = wait_subscriptions(&app, |s| s[0]["last_delivery"]["status"] == "delivered").await;
    assert_eq!(view[0]["last_delivery"]["last_status"], 200);
    // Exactly one notification: publishing elsewhere does not touch this topic.
    app.publish(&article("ws-2", "zwgk", "别的栏目")).await;
    app.publish(&article("ws-3", "hnyw", "再一篇")).await;
    let posts = sub.wait_for_posts(2).await;
    assert_eq!(posts.len(), 2);
    let second = feed_rs::parser::parse(&posts[1].body[..]).unwrap();
    assert_eq!(second.entries.len(), 1);
    assert!(second.entries[0].id.ends_with("ws-3"));
}

#[tokio::test]
async fn every_format_is_a_topic_and_notifications_match_it() {
    let app = hub_app(|_| {}).await;
    let rss = Receiver::start().await;
    let json_sub = Receiver::start().await;
    subscribe(&app, &topic(&app, "all.rss"), &rss.url, &[]).await;
    subscribe(&app, &topic(&app, "zjhn/rgwh.json"), &json_sub.url, &[]).await;
    app.publish(&article("fmt-1", "zjhn/rgwh", "热贡艺术"))
        .await;
    let r = &rss.wait_for_posts(1).await[0];
    assert_eq!(
        r.header("content-type"),
        "application/rss+xml; charset=utf-8"
    );
    let parsed = feed_rs::parser::parse(&r.body[..]).unwrap();
    assert_eq!(parsed.entries.len(), 1);
    let j = &json_sub.wait_for_posts(1).await[0];
    assert_eq!(j.header("content-type"), "application/feed+json");
    let body: Value = serde_json::from_slice(&j.body).unwrap();
    assert_eq!(body["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(body["hubs"][0]["url"], format!("{}/websub", app.address));
    assert_eq!(body["items"][0]["title"], "热贡艺术");
}

#[tokio::test]
async fn a_secret_signs_each_notification_with_the_configured_algorithm() {
    for algorithm in ["sha1", "sha256", "sha384", "sha512"] {
        let algo = algorithm.to_owned();
        let app = hub_app(move |c| {
            c.websub.signature_algorithm = serde_json::from_value(json!(algo)).unwrap();
        })
        .await;
        let sub = Receiver::start().await;
        subscribe(
            &app,
            &topic(&app, "hnyw/ldhd.rss"),
            &sub.url,
            &[("hub.secret", "秘密-secret")],
        )
        .await;
        app.publish(&article("sig-1", "hnyw/ldhd", "签名")).await;
        let n = &sub.wait_for_posts(1).await[0];
        let expected = match algorithm {
            "sha1" => hmac_hex::<Hmac<sha1::Sha1>>("秘密-secret", &n.body),
            "sha256" => hmac_hex::<Hmac<sha2::Sha256>>("秘密-secret", &n.body),
            "sha384" => hmac_hex::<Hmac<sha2::Sha384>>("秘密-secret", &n.body),
            _ => hmac_hex::<Hmac<sha2::Sha512>>("秘密-secret", &n.body),
        };
        assert_eq!(
            n.header("x-hub-signature"),
            format!("{algorithm}={expected}")
        );
    }
}

#[tokio::test]
async fn unknown_and_repeated_parameters_are_tolerated_and_the_callbacks_query_is_kept() {
    let app = hub_app(|_| {}).await;
    let sub = Receiver::start().await;
    let callback = format!("{}?token=x&a=%2F", sub.url);
    let topic = topic(&app, "zwgk.atom");
    subscribe(
        &app,
        &topic,
        &callback,
        &[
            ("hub.extra", "ignored"),
            ("hub.mode", "unsubscribe"),
            ("hub.verify_token", "vt-1"),
            ("foo", "bar"),
        ],
    )
    .await;
    let v = &sub.gets()[0];
    let query = v.uri.query().unwrap();
    assert!(
        query.starts_with("token=x&a=%2F&hub.mode=subscribe&"),
        "{query}"
    );
    assert_eq!(v.param("hub.verify_token").as_deref(), Some("vt-1"));
    assert!(v.param("hub.extra").is_none());
    app.publish(&article("q-1", "zwgk/tzgg", "通知")).await;
    let n = &sub.wait_for_posts(1).await[0];
    assert_eq!(n.uri.query(), Some("token=x&a=%2F"));
}

#[tokio::test]
async fn resubscribing_gives_one_delivery_per_publish_and_unsubscribing_stops_them() {
    let app = hub_app(|_| {}).await;
    let sub = Receiver::start().await;
    let topic = topic(&app, "hnyw.rss");
    subscribe(&app, &topic, &sub.url, &[]).await;
    subscribe(&app, &topic, &sub.url, &[("hub.lease_seconds", "86400")]).await;
    assert_eq!(sub.wait_for_gets(2).await.len(), 2);
    let view = wait_subscriptions(&app, |s| s.len() == 1 && s[0]["lease_seconds"] == 86400).await;
    assert_eq!(view.len(), 1);
    app.publish(&article("re-1", "hnyw", "一次")).await;
    sub.wait_for_posts(1).await;

    let response = hub_post(
        &app,
        &[
            ("hub.mode", "unsubscribe"),
            ("hub.topic", &topic),
            ("hub.callback", &sub.url),
        ],
    )
    .await;
    assert_eq!(response.status(), 202);
    wait_subscriptions(&app, |s| s.is_empty()).await;
    let unsubscribe = &sub.wait_for_gets(3).await[2];
    assert_eq!(
        unsubscribe.param("hub.mode").as_deref(),
        Some("unsubscribe")
    );
    assert!(unsubscribe.param("hub.lease_seconds").is_none());
    // A publish that reaches a still-subscribed neighbour proves dispatch ran.
    let witness = Receiver::start().await;
    subscribe(&app, &topic, &witness.url, &[]).await;
    app.publish(&article("re-2", "hnyw", "两次")).await;
    witness.wait_for_posts(1).await;
    assert_eq!(sub.posts().len(), 1, "nothing after unsubscribing");
}

#[tokio::test]
async fn a_failed_verification_leaves_the_existing_subscription_as_it_was() {
    let app = hub_app(|_| {}).await;
    let sub = Receiver::start().await;
    let topic = topic(&app, "hnyw/bmdt.rss");
    subscribe(&app, &topic, &sub.url, &[("hub.secret", "first")]).await;
    for answer in [Verify::Status(404), Verify::WrongBody, Verify::Status(302)] {
        sub.script_verifications([answer]);
        let before = sub.gets().len();
        let response = hub_post(
            &app,
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", &topic),
                ("hub.callback", &sub.url),
                ("hub.secret", "second"),
            ],
        )
        .await;
        assert_eq!(response.status(), 202);
        sub.wait_for_gets(before + 1).await;
    }
    // Unsubscribing without confirming does not unsubscribe either.
    sub.script_verifications([Verify::Status(404)]);
    let before = sub.gets().len();
    hub_post(
        &app,
        &[
            ("hub.mode", "unsubscribe"),
            ("hub.topic", &topic),
            ("hub.callback", &sub.url),
        ],
    )
    .await;
    sub.wait_for_gets(before + 1).await;
    eventually("four failed verifications to be counted", || async {
        let m = app.get_text("/metrics").await;
        m.contains("tidings_websub_verifications_total{outcome=\"failed\"} 4")
            .then_some(())
    })
    .await;
    app.publish(&article("fv-1", "hnyw/bmdt", "部门")).await;
    let n = &sub.wait_for_posts(1).await[0];
    let expected = hmac_hex::<Hmac<sha2::Sha256>>("first", &n.body);
    assert_eq!(
        n.header("x-hub-signature"),
        format!("sha256={expected}"),
        "still the first secret"
    );
}

#[tokio::test]
async fn verification_is_retried_on_server_errors_only() {
    let app = hub_app(|_| {}).await;
    let sub = Receiver::start().await;
    sub.script_verifications([Verify::Status(503), Verify::Status(500)]);
    subscribe(&app, &topic(&app, "zjhn.rss"), &sub.url, &[]).await;
    assert_eq!(sub.gets().len(), 3, "two 5xx, then the confirmation");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("tidings_websub_verifications_total{outcome=\"retried\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn leases_are_clamped_and_expired_subscriptions_get_nothing() {
    let app = hub_app(|c| {
        c.websub.lease_min_secs = 1;
        c.websub.lease_max_secs = 3600;
        c.websub.lease_default_secs = 600;
    })
    .await;
    let long = Receiver::start().await;
    let default = Receiver::start().await;
    let short = Receiver::start().await;
    let topic = topic(&app, "zwgk.rss");
    subscribe(
        &app,
        &topic,
        &long.url,
        &[("hub.lease_seconds", "999999999")],
    )
    .await;
    assert_eq!(
        long.gets()[0].param("hub.lease_seconds").as_deref(),
        Some("3600")
    );
    subscribe(&app, &topic, &default.url, &[]).await;
    assert_eq!(
        default.gets()[0].param("hub.lease_seconds").as_deref(),
        Some("600")
    );
    subscribe(&app, &topic, &short.url, &[("hub.lease_seconds", "1")]).await;
    assert_eq!(
        short.gets()[0].param("hub.lease_seconds").as_deref(),
        Some("1")
    );
    // Once the short lease has run out the subscription is purged...
    wait_subscriptions(&app, |s| {
        s.len() == 2 && s.iter().all(|x| x["callback"] != short.url.as_str())
    })
    .await;
    // ...and gets nothing, while the others still do.
    app.publish(&article("lease-1", "zwgk", "租约")).await;
    long.wait_for_posts(1).await;
    default.wait_for_posts(1).await;
    assert!(short.posts().is_empty());
}

/// A subscriber that renews its lease while a notification is on its way keeps that
/// notification's retries: an attempt gives up at the lease's end as it stands when the attempt
/// ends, not as it stood when it began.
#[tokio::test]
async fn a_lease_renewed_during_an_attempt_extends_its_retries() {
    let app = hub_app(|c| {
        c.websub.lease_min_secs = 1;
        c.websub.coalesce_window_ms = 0;
        // The retry falls after the first lease's end and well before the renewed one's.
        c.delivery.retry_schedule_secs = vec![0.0, 60.0];
    })
    .await;
    let callback = Receiver::start().await;
    callback.script([Reply::status(503)]);
    let topic = topic(&app, "zwgk.atom");
    subscribe(&app, &topic, &callback.url, &[("hub.lease_seconds", "30")]).await;
    callback.hold_posts();
    app.publish(&article("renew-1", "zwgk", "续订")).await;
    callback.wait_for_begun(1).await;
    // While the notification waits for its answer, the subscriber renews for an hour.
    let renewal = subscribe_request_with(
        &app,
        &topic,
        &callback.url,
        &[("hub.lease_seconds", "3600")],
    )
    .await;
    assert_eq!(renewal.status(), 202);
    wait_subscriptions(&app, |s| s.iter().any(|x| x["lease_seconds"] == 3600)).await;
    callback.release_posts();
    callback.wait_for_posts(1).await;
    let outcome = eventually("the attempt to be recorded", || async {
        let metrics = app.client.get(app.url("/metrics")).send().await.ok()?;
        let text = metrics.text().await.ok()?;
        ["retrying", "failed"].into_iter().find(|outcome| {
            text.contains(&format!(
                "tidings_websub_deliveries_total{{outcome=\"{outcome}\"}} 1"
            ))
        })
    })
    .await;
    assert_eq!(outcome, "retrying");
}

/// An accepted request survives a restart: the hub stopped while it was asking the callback,
/// and the next start asks again and subscribes it.
#[tokio::test]
async fn a_pending_verification_survives_a_restart() {
    let app = hub_app(|_| {}).await;
    let callback = Receiver::start().await;
    callback.script_verifications([Verify::Hang]);
    let topic = topic(&app, "zwgk.atom");
    let accepted = subscribe_request(&app, &topic, &callback.url).await;
    assert_eq!(accepted.status(), 202);
    callback.wait_for_gets(1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let (dir, config) = app.stop().await;

    let app = spawn_at(dir, config, &address).await;
    wait_subscriptions(&app, |s| {
        s.iter().any(|x| x["callback"] == callback.url.as_str())
    })
    .await;
    let gets = callback.gets();
    assert_eq!(gets.len(), 2, "asked once before the stop and once after");
    assert_eq!(gets[1].param("hub.topic").as_deref(), Some(topic.as_str()));
}

#[tokio::test]
async fn server_errors_are_retried_redirects_are_not_followed_and_gone_unsubscribes() {
    let app = hub_app(|_| {}).await;
    let flaky = Receiver::start().await;
    let moved = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    let gone = Receiver::start().await;
    let topic = topic(&app, "hnyw/xxdt.atom");
    flaky.script([Reply::status(500), Reply::status(503)]);
    moved.script([Reply::status(301).with_header("location", elsewhere.url.clone())]);
    gone.script([Reply::status(410)]);
    for s in [&flaky, &moved, &gone] {
        subscribe(&app, &topic, &s.url, &[]).await;
    }
    app.publish(&article("err-1", "hnyw/xxdt", "县区")).await;
    let f = flaky.wait_for_posts(3).await;
    assert_eq!(
        f[0].body, f[2].body,
        "the same rendered body on every attempt"
    );
    assert_eq!(
        moved.wait_for_posts(2).await.len(),
        2,
        "3xx is a failure, retried"
    );
    assert!(
        elsewhere.received().is_empty(),
        "and the redirect is not followed"
    );
    gone.wait_for_posts(1).await;
    wait_subscriptions(&app, |s| {
        s.len() == 2 && s.iter().all(|x| x["callback"] != gone.url.as_str())
    })
    .await;
}

#[tokio::test]
async fn twenty_quick_articles_are_coalesced_into_one_notification() {
    let app = hub_app(|c| c.websub.coalesce_window_ms = 2000).await;
    let sub = Receiver::start().await;
    subscribe(&app, &topic(&app, "hnyw.atom"), &sub.url, &[]).await;
    let batch: Vec<Value> = (0..20)
        .map(|i| article(&format!("co-{i}"), "hnyw/tpxw", &format!("图片{i}")))
        .collect();
    let response = app.post_json("/api/v1/articles/batch", &batch).await;
    assert_eq!(response.status(), 200);
    let posts = sub.wait_for_posts(1).await;
    let feed = feed_rs::parser::parse(&posts[0].body[..]).unwrap();
    assert_eq!(feed.entries.len(), 20);
    // A later change is a new notification, which proves the first one was complete.
    app.publish(&article("co-late", "hnyw", "之后")).await;
    let posts = sub.wait_for_posts(2).await;
    assert_eq!(posts.len(), 2);
}

#[tokio::test]
async fn deletions_reach_atom_subscribers_as_tombstones() {
    let app = hub_app(|_| {}).await;
    let atom = Receiver::start().await;
    let rss = Receiver::start().await;
    subscribe(&app, &topic(&app, "zjhn.atom"), &atom.url, &[]).await;
    subscribe(&app, &topic(&app, "zjhn.rss"), &rss.url, &[]).await;
    app.publish(&article("del-1", "zjhn/lyfw", "景区")).await;
    atom.wait_for_posts(1).await;
    rss.wait_for_posts(1).await;
    app.client
        .delete(app.url("/api/v1/articles/del-1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let n = &atom.wait_for_posts(2).await[1];
    let text = std::str::from_utf8(&n.body).unwrap();
    let doc = roxmltree::Document::parse(text).unwrap();
    let tombstone = doc
        .descendants()
        .find(|x| x.tag_name().name() == "deleted-entry")
        .expect("a tombstone");
    assert_eq!(
        tombstone.attribute("ref"),
        Some("tag:www.huangnan.gov.cn,2021:article/del-1")
    );
    // RSS cannot say "deleted": its subscriber is not sent an empty document.
    app.publish(&article("del-2", "zjhn", "之后")).await;
    let later = rss.wait_for_posts(2).await;
    assert!(
        std::str::from_utf8(&later[1].body)
            .unwrap()
            .contains("del-2")
    );
}

#[tokio::test]
async fn bad_requests_get_a_plain_text_4xx() {
    let app = hub_app(|c| c.delivery.allow_private_destinations = false).await;
    let good_topic = topic(&app, "hnyw.rss");
    let long_secret = "s".repeat(200);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("hub.topic", &good_topic),
                ("hub.callback", "https://example.com/cb"),
            ],
            "hub.mode",
        ),
        (
            vec![
                ("hub.mode", "publish"),
                ("hub.topic", &good_topic),
                ("hub.callback", "https://example.com/cb"),
            ],
            "hub.mode",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.callback", "https://example.com/cb"),
            ],
            "hub.topic",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", "https://elsewhere.example/feed.rss"),
                ("hub.callback", "https://example.com/cb"),
            ],
            "hub.topic",
        ),
        (
            vec![("hub.mode", "subscribe"), ("hub.topic", &good_topic)],
            "hub.callback",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", &good_topic),
                ("hub.callback", "ftp://example.com/cb"),
            ],
            "hub.callback",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", &good_topic),
                ("hub.callback", "http://127.0.0.1:9/cb"),
            ],
            "hub.callback",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", &good_topic),
                ("hub.callback", "https://example.com/cb"),
                ("hub.secret", &long_secret),
            ],
            "hub.secret",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", &good_topic),
                ("hub.callback", "https://example.com/cb"),
                ("hub.lease_seconds", "soon"),
            ],
            "hub.lease_seconds",
        ),
    ];
    let nope = format!("{}/feeds/nope.rss", app.address);
    let mut cases = cases;
    cases.push((
        vec![
            ("hub.mode", "subscribe"),
            ("hub.topic", &nope),
            ("hub.callback", "https://example.com/cb"),
        ],
        "hub.topic",
    ));
    for (form, field) in cases {
        let response = hub_post(&app, &form).await;
        assert_eq!(response.status(), 400, "{form:?}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let text = response.text().await.unwrap();
        assert!(text.contains(field), "{field}: {text}");
    }
    let json = app
        .client
        .post(app.url("/websub"))
        .json(&json!({"hub.mode": "subscribe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 415);
    assert!(subscriptions(&app).await.is_empty());
}

#[tokio::test]
async fn discovery_links_are_on_get_head_and_304_and_inside_the_documents() {
    let app = hub_app(|_| {}).await;
    let hub = format!("{}/websub", app.address);
    for ext in ["rss", "atom", "json"] {
        let path = format!("/feeds/hnyw/ldhd.{ext}");
        let expected = format!(
            "<{hub}>; rel=\"hub\", <{}{path}>; rel=\"self\"",
            app.address
        );
        let get = app.get(&path).await;
        assert_eq!(get.headers()[LINK], expected.as_str());
        let etag = get.headers()["etag"].clone();
        let body = get.text().await.unwrap();
        let head = app.client.head(app.url(&path)).send().await.unwrap();
        assert_eq!(head.headers()[LINK], expected.as_str());
        let not_modified = app
            .client
            .get(app.url(&path))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(not_modified.status(), 304);
        assert_eq!(not_modified.headers()[LINK], expected.as_str());
        match ext {
            "json" => {
                let feed: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(feed["hubs"], json!([{"type": "WebSub", "url": hub}]));
            }
            _ => {
                let doc = roxmltree::Document::parse(&body).unwrap();
                let links: Vec<(Option<&str>, Option<&str>)> = doc
                    .descendants()
                    .filter(|n| n.tag_name().name() == "link" && n.attribute("rel").is_some())
                    .map(|n| (n.attribute("rel"), n.attribute("href")))
                    .collect();
                assert!(
                    links.contains(&(Some("hub"), Some(hub.as_str()))),
                    "{ext}: {links:?}"
                );
                assert_eq!(
                    links.iter().filter(|(rel, _)| *rel == Some("self")).count(),
                    1
                );
            }
        }
    }
    // Topics without subscribers show no count (the subscribed case is checked above).
    let index = app.get_text("/").await;
    assert!(!index.contains("个订阅"), "no zero counts on the index");
}

fn has_flask_websub() -> bool {
    crate::helpers::has_python_module("flask_websub")
}

/// flask-websub subscribes through discovery, is verified, and accepts a notification.
async fn flask_websub_round_trip(secret: Option<&str>) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    if !crate::helpers::require_tool("python3 flask-websub", has_flask_websub()) {
        return;
    }
    let app = hub_app(|_| {}).await;
    let feed = topic(&app, "hnyw/ldhd.atom");
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(crate::helpers::repo_path(
            "tests/interop/websub_subscriber.py",
        ))
        .arg(&feed)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(secret) = secret {
        command.arg(secret);
    }
    let mut child = command.spawn().expect("python3 runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
    let first = first
        .expect("the subscriber answered in time")
        .unwrap()
        .unwrap_or_default();
    assert_eq!(first, "SUBSCRIBED", "{first}");
    // flask-websub reports success before it answers the challenge; wait for the hub to
    // receive that answer and store the subscription.
    let subs = wait_subscriptions(&app, |s| s.len() == 1).await;
    assert_eq!(subs[0]["has_secret"], secret.is_some());
    app.publish(&article("flask-1", "hnyw/ldhd", "订阅者收到"))
        .await;
    let notified = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
    let notified = notified
        .expect("a notification in time")
        .unwrap()
        .unwrap_or_default();
    assert!(notified.starts_with("NOTIFIED "), "{notified}");
    let body = lines.next_line().await.unwrap().unwrap_or_default();
    assert!(
        body.contains("订阅者收到") && body.contains("flask-1"),
        "{body}"
    );
    let status = child.wait().await.unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn flask_websub_subscribes_verifies_and_receives_a_signed_notification() {
    flask_websub_round_trip(Some("a-secret-of-the-subscriber")).await;
}

#[tokio::test]
async fn flask_websub_receives_a_notification_without_a_secret() {
    flask_websub_round_trip(None).await;
}

/// More subscribers than the first part of a fan-out: the notification is queued in parts,
/// and each callback still gets it once, then the next one.
#[tokio::test]
async fn a_notification_queued_in_parts_reaches_every_subscriber_once() {
    const SUBSCRIBERS: usize = 120;
    let app = hub_app(|c| c.websub.max_pending_per_host = SUBSCRIBERS).await;
    let sub = Receiver::start().await;
    let topic = topic(&app, "hnyw.atom");
    for i in 0..SUBSCRIBERS {
        let callback = format!("{}/{i}", sub.url);
        assert_eq!(
            subscribe_request(&app, &topic, &callback).await.status(),
            202
        );
    }
    wait_subscriptions(&app, |s| s.len() == SUBSCRIBERS).await;
    for (round, title) in [(1, "第一篇"), (2, "第二篇")] {
        app.publish(&article(&format!("parts-{round}"), "hnyw/ldhd", title))
            .await;
        let posts = sub.wait_for_posts(round * SUBSCRIBERS).await;
        let mut per_callback: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for post in &posts {
            let feed = feed_rs::parser::parse(&post.body[..]).unwrap();
            let titles = feed
                .entries
                .iter()
                .map(|e| e.title.clone().unwrap().content);
            per_callback
                .entry(post.uri.path().to_owned())
                .or_default()
                .extend(titles);
        }
        assert_eq!(per_callback.len(), SUBSCRIBERS);
        let expected: Vec<&str> = ["第一篇", "第二篇"][..round].to_vec();
        for (callback, titles) in &per_callback {
            assert_eq!(titles, &expected, "{callback}");
        }
    }
}

/// A port on loopback that accepts connections and never answers.
async fn silent_callbacks() -> u16 {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    port
}

/// Callbacks that accept a connection and never answer hold only their own host's places: past
/// `websub.max_pending_per_host` that host gets 429 with `Retry-After`, while a subscriber on
/// another host is verified at once (no verification holds a slot while it waits to retry).
#[tokio::test]
async fn hung_callbacks_on_one_host_cannot_lock_other_subscribers_out() {
    let app = hub_app(|c| c.websub.max_pending_per_host = 4).await;
    let port = silent_callbacks().await;
    let feed = topic(&app, "all.atom");
    for i in 0..4 {
        let callback = format!("http://127.0.0.1:{port}/cb{i}");
        let response = subscribe_request(&app, &feed, &callback).await;
        assert_eq!(response.status(), 202, "callback {i}");
    }
    let callback = format!("http://127.0.0.1:{port}/cb-more");
    let refused = subscribe_request(&app, &feed, &callback).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "60");
    assert!(refused.text().await.unwrap().contains("127.0.0.1"));

    // Another host (the same machine by another name) is not held up.
    let receiver = Receiver::start().await;
    let elsewhere = receiver.url.replace("127.0.0.1", "localhost");
    subscribe(&app, &feed, &elsewhere, &[]).await;
}

/// One client's pending verifications are bounded too, whatever hosts its callbacks name: past
/// `websub.max_pending_per_client` it gets 429 with `Retry-After`, while another client (here,
/// another address written by the reverse proxy) is served at once.
#[tokio::test]
async fn one_client_cannot_hold_more_than_its_share_of_pending_verifications() {
    let app = hub_app(|c| {
        c.websub.max_pending_per_client = 3;
        c.http.client_ip_header = "x-forwarded-for".into();
    })
    .await;
    let port = silent_callbacks().await;
    let feed = topic(&app, "all.atom");
    // Three hosts by name, one client: its callbacks accept and never answer.
    for host in ["127.0.0.1", "localhost", "127.0.0.1"] {
        let callback = format!("http://{host}:{port}/{host}");
        let response = subscribe_request(&app, &feed, &callback).await;
        assert_eq!(response.status(), 202, "{callback}");
    }
    let receiver = Receiver::start().await;
    let callback = receiver.url.replace("127.0.0.1", "localhost");
    let refused = subscribe_request(&app, &feed, &callback).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "60");
    assert!(refused.text().await.unwrap().contains("your verifications"));

    // Another client, behind the same proxy, subscribes at once.
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("hub.mode", "subscribe"),
            ("hub.topic", feed.as_str()),
            ("hub.callback", callback.as_str()),
        ])
        .finish();
    let accepted = app
        .client
        .post(app.url("/websub"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "203.0.113.9")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    wait_subscriptions(&app, |s| s.iter().any(|x| x["callback"] == callback)).await;
}

/// Caps per callback host and per feed: past them a new subscription is refused with 403 and a
/// reason, a renewal still passes, and other hosts are not affected.
#[tokio::test]
async fn subscriptions_are_capped_per_callback_host_and_per_feed() {
    let app = hub_app(|c| {
        c.websub.max_subscriptions_per_host = 2;
        c.websub.max_subscriptions_per_feed = 3;
    })
    .await;
    let receiver = Receiver::start().await;
    let feed = topic(&app, "hnyw.atom");
    let local = receiver.url.replace("127.0.0.1", "localhost");
    subscribe(&app, &feed, &format!("{local}/1"), &[]).await;
    subscribe(&app, &feed, &format!("{local}/2"), &[]).await;
    let third = format!("{local}/3");
    let refused = subscribe_request(&app, &feed, &third).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("localhost"));
    // A renewal passes; another host does, until the feed is full.
    subscribe(
        &app,
        &feed,
        &format!("{local}/1"),
        &[("hub.lease_seconds", "7200")],
    )
    .await;
    subscribe(&app, &feed, &format!("{}/1", receiver.url), &[]).await;
    let full = hub_post(
        &app,
        &[
            ("hub.mode", "subscribe"),
            ("hub.topic", &format!("{feed}?limit=5")),
            ("hub.callback", &format!("{}/2", receiver.url)),
        ],
    )
    .await;
    assert_eq!(full.status(), 403);
    assert!(
        full.text()
            .await
            .unwrap()
            .contains("this feed has 3 subscribers")
    );
    assert_eq!(subscriptions(&app).await.len(), 3);
}

/// The admin list comes in pages, in (topic, callback) order, each with the cursor of the next.
#[tokio::test]
async fn the_subscription_list_is_paginated() {
    let app = hub_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let feed = topic(&app, "hnyw.atom");
    for i in 0..5 {
        subscribe(&app, &feed, &format!("{}/{i}", receiver.url), &[]).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/websub/subscriptions?limit=2".to_owned();
    loop {
        let page: Value = app.get_authorized(&path).await.json().await.unwrap();
        let items = page["subscriptions"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|s| s["callback"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/websub/subscriptions?limit=2&after={next}"),
            None => break,
        }
    }
    let want: Vec<String> = (0..5).map(|i| format!("{}/{i}", receiver.url)).collect();
    assert_eq!(seen, want);
    let bad = app
        .get_authorized("/api/v1/websub/subscriptions?after=%%%")
        .await;
    assert_eq!(bad.status(), 400);
}

/// Subscribers whose callbacks accept a notification and never answer hold at most
/// `delivery.websub_max_share` of the workers: a webhook published while they hang still
/// goes out at once.
#[tokio::test]
async fn hanging_subscribers_never_starve_webhooks() {
    let app = hub_app(|c| {
        c.delivery.concurrency = 4;
        c.delivery.websub_max_share = 0.5;
        // Longer than the receivers' guard: a webhook stuck behind them would fail the test.
        c.delivery.request_timeout_secs = 120.0;
        c.delivery.lease_secs = 400.0;
        c.websub.coalesce_window_ms = 0;
    })
    .await;
    let hanging = Receiver::start().await;
    let feed = topic(&app, "hnyw.atom");
    for i in 0..6 {
        subscribe(&app, &feed, &format!("{}/{i}", hanging.url), &[]).await;
    }
    hanging.slow_down(Duration::from_secs(3600));
    let hook = Receiver::start().await;
    let created = app
        .client
        .post(app.url("/api/v1/webhooks"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": hook.url, "sections": ["zwgk"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    app.publish(&article("hang-1", "hnyw/ldhd", "挂起")).await;
    // Two of the four workers take notifications, and hang.
    hanging.wait_for_begun(2).await;
    app.publish(&article("hook-1", "zwgk", "政务公开")).await;
    let got = hook.wait_for_posts(1).await;
    assert_eq!(got[0].json()["data"]["article"]["id"], "hook-1");
}
