//! Signed webhooks through the durable delivery engine, against real receivers.

use std::time::Duration;
use tokio::process::Command;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    TOKEN, TestApp, admin_get, article, eventually, on_postgres, repo_path, require_tool,
    spawn_app_with, spawn_in, wait_log,
};
use crate::receiver::{Received, Receiver, Reply};

/// A server whose engine may reach loopback receivers and retries quickly.
async fn app_with_schedule(schedule: &[f64]) -> TestApp {
    let schedule = schedule.to_vec();
    spawn_app_with(move |c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.retry_schedule_secs = schedule;
        c.delivery.jitter = 0.0;
        c.delivery.poll_interval_ms = 20;
    })
    .await
}

async fn app() -> TestApp {
    app_with_schedule(&[0.0, 0.05, 0.05, 0.05]).await
}

async fn create_endpoint(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/api/v1/webhooks", &body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn admin_post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.post_json(path, &body).await
}

/// `PATCH /api/v1/webhooks/{id}` with `body`: the answer's JSON.
async fn patch_endpoint(app: &TestApp, id: &str, body: Value) -> Value {
    app.client
        .patch(app.url(&format!("/api/v1/webhooks/{id}")))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn has_standardwebhooks() -> bool {
    crate::helpers::has_python_module("standardwebhooks")
}

/// Verifies each request with the reference Python library, against any of `secrets`.
async fn verify_with_reference_library(app: &TestApp, secret: &str, received: &[Received]) {
    if !require_tool("python3 standardwebhooks", has_standardwebhooks()) {
        return;
    }
    let deliveries: Vec<Value> = received
        .iter()
        .map(|r| {
            json!({
                "secret": secret,
                "headers": {
                    "webhook-id": r.header("webhook-id"),
                    "webhook-timestamp": r.header("webhook-timestamp"),
                    "webhook-signature": r.header("webhook-signature"),
                },
                "body": String::from_utf8(r.body.to_vec()).unwrap(),
            })
        })
        .collect();
    let file = tempfile::NamedTempFile::new_in(app.dir.path()).unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&deliveries).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(repo_path("tests/interop/verify_webhooks.py"))
        .arg(file.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        received.len().to_string()
    );
}

#[tokio::test]
async fn endpoints_are_created_with_a_secret_and_shown_without_it() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let created = create_endpoint(
        &app,
        json!({"url": receiver.url, "description": "搜索索引"}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    let id = created["id"].as_str().unwrap();
    let shown = admin_get(&app, &format!("/api/v1/webhooks/{id}")).await;
    assert!(shown.get("secret").is_none());
    assert_eq!(shown["description"], "搜索索引");
    assert_eq!(shown["enabled"], true);
    let listed = admin_get(&app, "/api/v1/webhooks").await;
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 1);

    let bad = app.post_json("/api/v1/webhooks", &json!({"url": "ftp://x", "event_types": ["article.eaten"], "sections": ["nope"], "secret": "abc", "rate_limit": -1})).await;
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "event_types[0]",
            "rate_limit",
            "secret",
            "sections[0]",
            "url"
        ]
    );

    let reader = app
        .client
        .get(app.url("/api/v1/webhooks"))
        .bearer_auth(crate::helpers::READ_ONLY_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(reader.status(), 403);
    let gone = app
        .client
        .delete(app.url(&format!("/api/v1/webhooks/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(
        app.get_authorized(&format!("/api/v1/webhooks/{id}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn private_and_loopback_destinations_are_refused_unless_allowed() {
    let app = spawn_app_with(|_| {}).await;
    let mut urls: Vec<String> = [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:8080/hook",
        "https://user:secret@example.com/hook",
    ]
    .map(String::from)
    .to_vec();
    // A name other than `localhost` that resolves to loopback, so that only resolution can
    // catch it: the machine's own aliases in /etc/hosts.
    match loopback_alias() {
        Some(name) => urls.push(format!("http://{name}/hook")),
        None => eprintln!(
            "SKIPPED: no loopback alias in /etc/hosts; resolution is covered by unit tests"
        ),
    }
    for url in &urls {
        let response = admin_post(&app, "/api/v1/webhooks", json!({"url": url})).await;
        assert_eq!(response.status(), 422, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "url", "{url}");
    }
}

fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|line| {
        let mut words = line.split('#').next()?.split_whitespace();
        let ip: std::net::IpAddr = words.next()?.parse().ok()?;
        if !ip.is_loopback() {
            return None;
        }
        words.find(|w| !w.contains("localhost")).map(str::to_owned)
    })
}

#[tokio::test]
async fn deliveries_follow_type_and_section_filters_and_verify_with_the_reference_library() {
    let app = app().await;
    let deletions = Receiver::start().await;
    let news = Receiver::start().await;
    let notices = Receiver::start().await;
    let d = create_endpoint(
        &app,
        json!({"url": deletions.url, "event_types": ["article.deleted"]}),
    )
    .await;
    let n = create_endpoint(&app, json!({"url": news.url, "sections": ["hnyw"]})).await;
    let z = create_endpoint(&app, json!({"url": notices.url, "sections": ["zwgk/tzgg"]})).await;

    app.publish(&crate::helpers::seed_article()).await;
    let mut changed = crate::helpers::seed_article();
    changed["title"] = json!("黄南:双拥工作再上新台阶(更新)");
    app.publish(&changed).await;
    app.client
        .delete(app.url("/api/v1/articles/hn-20210601-shuangyong"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    let got = news.wait_for(3).await;
    let types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        ["article.published", "article.updated", "article.deleted"]
    );
    let first = got[0].json();
    assert_eq!(first["data"]["article"]["id"], "hn-20210601-shuangyong");
    assert_eq!(first["data"]["article"]["source"], "黄南报");
    assert_eq!(first["data"]["sections"], json!(["hnyw/ldhd", "hnyw"]));
    assert_eq!(first["data"]["version"], 1);
    assert_eq!(
        got[1].json()["data"]["article"]["title"],
        "黄南:双拥工作再上新台阶(更新)"
    );
    let deleted = got[2].json();
    assert_eq!(
        deleted["data"],
        json!({"id": "hn-20210601-shuangyong", "section": "hnyw/ldhd", "version": 3})
    );
    for r in &got {
        assert!(r.header("webhook-id").starts_with("evt_"));
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("user-agent").starts_with("tidings/"));
    }

    let only_deletion = deletions.wait_for(1).await;
    assert_eq!(only_deletion[0].json()["type"], "article.deleted");
    assert_eq!(
        only_deletion[0].header("webhook-id"),
        got[2].header("webhook-id"),
        "one id per event"
    );

    // The dispatcher wrote every endpoint's deliveries for an event in one transaction, so
    // once the others have theirs, the unmatched endpoint provably has none.
    let log = admin_get(
        &app,
        &format!("/api/v1/webhooks/{}/deliveries", z["id"].as_str().unwrap()),
    )
    .await;
    assert!(log["deliveries"].as_array().unwrap().is_empty());
    assert!(notices.received().is_empty());
    let d_log = wait_log(&app, d["id"].as_str().unwrap(), |l| {
        l.len() == 1 && l[0]["status"] == "delivered"
    })
    .await;
    assert_eq!(d_log[0]["attempt_log"][0]["status_code"], 200);

    verify_with_reference_library(&app, n["secret"].as_str().unwrap(), &got).await;
    verify_with_reference_library(&app, d["secret"].as_str().unwrap(), &only_deletion).await;
    for r in &got {
        let body = r.json();
        let kind = body["type"].as_str().unwrap();
        validate_against_published_schema(&app, kind, std::slice::from_ref(&body)).await;
    }
}

fn has_jsonschema() -> bool {
    crate::helpers::has_python_module("jsonschema")
}

/// Validates bodies against the schema tidings serves for their type.
async fn validate_against_published_schema(app: &TestApp, kind: &str, bodies: &[Value]) {
    let response = app
        .get(&format!("/api/v1/schemas/webhooks/{kind}.json"))
        .await;
    assert_eq!(response.status(), 200, "a schema for {kind}");
    let schema = response.text().await.unwrap();
    if !require_tool("python3 jsonschema", has_jsonschema()) {
        return;
    }
    let schema_file = tempfile::NamedTempFile::new_in(app.dir.path()).unwrap();
    std::fs::write(schema_file.path(), schema).unwrap();
    let docs = tempfile::NamedTempFile::new_in(app.dir.path()).unwrap();
    std::fs::write(docs.path(), serde_json::to_vec(bodies).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(repo_path("tests/interop/validate_schema.py"))
        .arg(schema_file.path())
        .arg(docs.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{kind}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_id_and_a_fresh_signature() {
    let app = app().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::status(500), Reply::status(502)]);
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    app.publish(&article("r-1", "hnyw/ldhd", "重试")).await;
    let got = receiver.wait_for(3).await;
    assert_eq!(got[0].header("webhook-id"), got[2].header("webhook-id"));
    assert_eq!(got[0].body, got[2].body, "the same bytes every attempt");
    let log = wait_log(&app, ep["id"].as_str().unwrap(), |l| {
        l.len() == 1 && l[0]["status"] == "delivered"
    })
    .await;
    let attempts: Vec<u64> = log[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [500, 502, 200]);
    assert_eq!(log[0]["attempt_log"][0]["error_class"], "http");
    verify_with_reference_library(&app, ep["secret"].as_str().unwrap(), &got).await;
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    receiver.script([Reply::status(302).with_header("location", elsewhere.url.clone())]);
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    app.publish(&article("redir-1", "hnyw", "重定向")).await;
    let log = wait_log(&app, ep["id"].as_str().unwrap(), |l| {
        l.len() == 1 && l[0]["status"] == "delivered"
    })
    .await;
    let codes: Vec<u64> = log[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [302, 200]);
    assert!(
        elsewhere.received().is_empty(),
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_re_enabling_resumes() {
    let app = app().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::status(410)]);
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    let id = ep["id"].as_str().unwrap();
    app.publish(&article("gone-1", "hnyw", "已停用")).await;
    receiver.wait_for(1).await;
    let endpoint = eventually("the endpoint to be disabled", || async {
        let e = admin_get(&app, &format!("/api/v1/webhooks/{id}")).await;
        (e["enabled"] == false).then_some(e)
    })
    .await;
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    let patched = patch_endpoint(&app, id, json!({"enabled": true})).await;
    assert_eq!(patched["enabled"], true);
    assert!(patched["disabled_reason"].is_null() && patched["failing_since"].is_null());
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
}

#[tokio::test]
async fn retry_after_is_honoured_within_its_clamp() {
    let app = app_with_schedule(&[0.0, 2.0, 2.0]).await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::status(503).with_header("retry-after", "3")]);
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    app.publish(&article("ra-1", "hnyw", "稍后")).await;
    let log = wait_log(&app, ep["id"].as_str().unwrap(), |l| {
        l.len() == 1 && l[0]["attempts"] == 1
    })
    .await;
    let attempted: DateTime<Utc> = log[0]["attempt_log"][0]["attempted_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let next: DateTime<Utc> = log[0]["next_attempt_at"].as_str().unwrap().parse().unwrap();
    let delay = (next - attempted).num_milliseconds();
    // Retry-After 3 s lies inside [2 s, 4 s], so it is honoured as sent (plus the time the
    // attempt took); ignored, it would be 2 s.
    assert!((3000..4000).contains(&delay), "{delay} ms");
}

#[tokio::test]
async fn versions_of_one_article_arrive_in_order_even_when_the_first_attempt_fails() {
    let app = app().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::status(500)]);
    create_endpoint(&app, json!({"url": receiver.url})).await;
    let mut doc = article("order-1", "hnyw/ldhd", "版本1");
    app.publish(&doc).await;
    for v in 2..=3 {
        doc["title"] = json!(format!("版本{v}"));
        app.publish(&doc).await;
    }
    let got = receiver.wait_for(4).await;
    let versions: Vec<i64> = got
        .iter()
        .map(|r| r.json()["data"]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 1, 2, 3]);
}

#[tokio::test]
async fn the_rate_limit_spaces_deliveries() {
    let app = app().await;
    let receiver = Receiver::start().await;
    create_endpoint(&app, json!({"url": receiver.url, "rate_limit": 10})).await;
    for i in 0..6 {
        app.publish(&article(&format!("rl-{i}"), "zwgk", &format!("限速{i}")))
            .await;
    }
    let got = receiver.wait_for(6).await;
    // Six sends at ten per second cannot take less than five intervals; a lower bound only.
    let span = got[5].at - got[0].at;
    assert!(span >= Duration::from_millis(480), "{span:?}");
}

#[tokio::test]
async fn an_exhausted_delivery_fails_visibly_and_recover_sends_it_again() {
    let app = app().await;
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::status(500));
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    let id = ep["id"].as_str().unwrap();
    let before = Utc::now() - chrono::Duration::seconds(5);
    app.publish(&article("ex-1", "hnyw", "放弃")).await;
    let log = wait_log(&app, id, |l| l.len() == 1 && l[0]["status"] == "failed").await;
    assert_eq!(log[0]["attempts"], 4);
    let failed = admin_get(
        &app,
        &format!("/api/v1/webhooks/{id}/deliveries?status=failed"),
    )
    .await;
    assert_eq!(failed["deliveries"].as_array().unwrap().len(), 1);
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains("tidings_delivery_failed 1"), "{metrics}");
    assert!(
        metrics.contains("tidings_webhook_deliveries_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );

    receiver.otherwise(Reply::status(200));
    let recovered = admin_post(
        &app,
        &format!("/api/v1/webhooks/{id}/recover"),
        json!({"since": before.to_rfc3339()}),
    )
    .await;
    assert_eq!(recovered.status(), 202);
    assert_eq!(recovered.json::<Value>().await.unwrap()["requeued"], 1);
    wait_log(&app, id, |l| l[0]["status"] == "delivered").await;
    let got = receiver.received();
    assert_eq!(got.len(), 5);
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == got[0].header("webhook-id"))
    );
}

#[tokio::test]
async fn resend_keeps_the_webhook_id_and_test_sends_a_test_event() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    let id = ep["id"].as_str().unwrap();
    let test = admin_post(&app, &format!("/api/v1/webhooks/{id}/test"), json!({})).await;
    assert_eq!(test.status(), 202);
    let first = receiver.wait_for(1).await;
    assert_eq!(first[0].json()["type"], "webhook.test");
    validate_against_published_schema(&app, "webhook.test", &[first[0].json()]).await;
    app.publish(&article("rs-1", "hnyw", "重发")).await;
    receiver.wait_for(2).await;
    let log = wait_log(&app, id, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let delivery = log[1]["id"].as_str().unwrap();
    let resent = admin_post(
        &app,
        &format!("/api/v1/deliveries/{delivery}/resend"),
        json!({}),
    )
    .await;
    assert_eq!(resent.status(), 202);
    let got = receiver.wait_for(3).await;
    assert_eq!(got[2].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(got[2].body, got[1].body);
    assert_eq!(
        admin_post(&app, "/api/v1/deliveries/dlv_nope/resend", json!({}))
            .await
            .status(),
        404
    );
    verify_with_reference_library(&app, ep["secret"].as_str().unwrap(), &got).await;
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    let id = ep["id"].as_str().unwrap();
    let old = ep["secret"].as_str().unwrap().to_owned();
    let rotated: Value = admin_post(
        &app,
        &format!("/api/v1/webhooks/{id}/rotate-secret"),
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    app.publish(&article("rot-1", "hnyw", "轮换")).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2);
    verify_with_reference_library(&app, &old, &got).await;
    verify_with_reference_library(&app, &new, &got).await;
}

#[tokio::test]
async fn the_events_api_pages_through_everything_with_the_webhook_ids() {
    let app = app().await;
    let receiver = Receiver::start().await;
    create_endpoint(&app, json!({"url": receiver.url})).await;
    for i in 0..25 {
        app.publish(&article(&format!("ev-{i}"), "zjhn", &format!("事件{i}")))
            .await;
    }
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = admin_get(&app, &format!("/api/v1/events?limit=10&after={cursor}")).await;
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        ids.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        cursor = page["next"].as_str().unwrap().to_owned();
    }
    assert_eq!(ids.len(), 25);
    let got = receiver.wait_for(25).await;
    let mut delivered: Vec<String> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    delivered.sort();
    let mut listed = ids.clone();
    listed.sort();
    assert_eq!(delivered, listed);
    let bad = app.get_authorized("/api/v1/events?after=x").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_reported_then_disabled_with_its_reason() {
    let app = spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.retry_schedule_secs = vec![0.0, 0.3, 0.3, 0.3, 0.3];
        c.delivery.jitter = 0.0;
        c.delivery.poll_interval_ms = 20;
        c.delivery.failing_after_secs = 0.2;
        c.delivery.disable_after_secs = 0.5;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::status(500));
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    let id = ep["id"].as_str().unwrap();
    app.publish(&article("sick-1", "hnyw", "故障")).await;
    receiver.wait_for(2).await;
    let endpoint = eventually("the endpoint to be disabled", || async {
        let e = admin_get(&app, &format!("/api/v1/webhooks/{id}")).await;
        (e["enabled"] == false).then_some(e)
    })
    .await;
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failing without a success since")
    );
    assert!(endpoint["failing_since"].is_string());
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("tidings_webhook_endpoints_disabled 1"),
        "{metrics}"
    );
    // Nothing more is sent to a disabled endpoint.
    let sent = receiver.received().len();
    app.publish(&article("sick-2", "hnyw", "故障2")).await;
    let log = wait_log(&app, id, |l| l.len() == 2).await;
    assert_eq!(log[1]["attempts"], 0);
    assert_eq!(receiver.received().len(), sent);
}

#[tokio::test]
async fn an_article_too_large_for_one_body_is_sent_without_its_largest_fields() {
    let app = app().await;
    let receiver = Receiver::start().await;
    create_endpoint(&app, json!({"url": receiver.url})).await;
    let mut doc = article("big-1", "hnyw", "很长的文章");
    doc["content_html"] = json!(format!("<p>{}</p>", "黄南".repeat(60_000)));
    app.publish(&doc).await;
    let got = receiver.wait_for(1).await;
    assert!(
        got[0].body.len() <= 256 * 1024,
        "{} bytes",
        got[0].body.len()
    );
    let body = got[0].json();
    assert_eq!(body["data"]["article"]["omitted"], json!(["content_html"]));
    assert_eq!(body["data"]["article"]["title"], "很长的文章");
    validate_against_published_schema(&app, "article.published", &[body]).await;

    // The largest field goes first: here the images, and the body stays.
    let mut doc = article("big-2", "hnyw", "图片很多的文章");
    doc["content_html"] = json!(format!("<p>{}</p>", "黄南".repeat(5_000)));
    doc["images"] = json!(
        (0..200)
            .map(|i| json!({"url": format!("p{i}.jpg"), "caption": "图片说明".repeat(250)}))
            .collect::<Vec<_>>()
    );
    app.publish(&doc).await;
    let got = receiver.wait_for(2).await;
    let body = got[1].json();
    assert!(got[1].body.len() <= 256 * 1024);
    assert_eq!(body["data"]["article"]["omitted"], json!(["images"]));
    assert!(
        body["data"]["article"]["content_html"]
            .as_str()
            .unwrap()
            .contains("黄南")
    );
    validate_against_published_schema(&app, "article.published", &[body]).await;
}

#[tokio::test]
async fn a_null_url_and_a_tiny_rate_limit_are_refused_by_name() {
    let app = app().await;
    for (body, field) in [
        (json!({"url": null}), "url"),
        (
            json!({"url": "https://example.com/h", "rate_limit": 1e-300}),
            "rate_limit",
        ),
    ] {
        let response = admin_post(&app, "/api/v1/webhooks", body).await;
        assert_eq!(response.status(), 422);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field);
    }
}

#[tokio::test]
async fn a_delivery_waiting_behind_a_failed_version_does_not_make_the_engine_due_now() {
    let app = app_with_schedule(&[0.0, 3600.0]).await;
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::status(500));
    let ep = create_endpoint(&app, json!({"url": receiver.url})).await;
    let mut doc = article("spin-1", "hnyw", "版本1");
    app.publish(&doc).await;
    doc["title"] = json!("版本2");
    app.publish(&doc).await;
    wait_log(&app, ep["id"].as_str().unwrap(), |l| {
        l.len() == 2 && l[0]["attempts"] == 1
    })
    .await;
    // Version 2 is blocked behind version 1, whose retry is an hour away: so is the engine's
    // next wake-up (it used to be "now", and the engine spun).
    let store = tidings::store::Store::connect(&app.config.database_url, &app.config.database)
        .await
        .unwrap();
    let next = store
        .next_due()
        .await
        .unwrap()
        .expect("something is pending");
    store.close().await;
    assert!(next > Utc::now() + chrono::Duration::minutes(50), "{next}");
}

/// The engine claims ahead of its free workers; what it claimed but has not started when the
/// server stops is given back, due now, rather than left leased until its lease runs out.
#[tokio::test]
async fn claimed_deliveries_not_yet_started_are_given_back_at_shutdown() {
    let app = spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.concurrency = 1;
        c.delivery.poll_interval_ms = 20;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.slow_down(Duration::from_secs(2));
    for _ in 0..3 {
        create_endpoint(&app, json!({"url": receiver.url})).await;
    }
    app.publish(&article("ahead-1", "hnyw/ldhd", "先领后发"))
        .await;
    // One delivery is being sent (its receiver is slow), one is claimed and waits for the
    // worker, one is not claimed.
    receiver.wait_for_begun(1).await;
    let (dir, config) = app.stop().await;
    let (leased, pending) = queue_counts(&config.database_url).await;
    assert_eq!(
        (leased, pending),
        (0, 2),
        "after the stop: deliveries still leased, deliveries pending"
    );

    receiver.slow_down(Duration::ZERO);
    let _app = spawn_in(dir, config).await;
    receiver.wait_for(3).await;
}

/// Deliveries holding a lease, and deliveries pending, read from the stopped server's store.
async fn queue_counts(database_url: &str) -> (i64, i64) {
    let sql = "SELECT (SELECT count(*) FROM deliveries WHERE lease_until IS NOT NULL),
                      (SELECT count(*) FROM deliveries WHERE status = 'pending')";
    if on_postgres() {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        sqlx::query_as(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        sqlx::query_as(sql).fetch_one(&pool).await.unwrap()
    }
}

/// A fan-out larger than the first part is queued in several transactions while the first
/// deliveries go out: every endpoint still gets each version once, in order.
#[tokio::test]
async fn a_fan_out_queued_in_parts_reaches_every_endpoint_once_in_order() {
    const ENDPOINTS: usize = 130;
    let app = app().await;
    let receiver = Receiver::start().await;
    for i in 0..ENDPOINTS {
        create_endpoint(&app, json!({"url": format!("{}/{i}", receiver.url)})).await;
    }
    let mut doc = article("parts-1", "hnyw/ldhd", "版本1");
    app.publish(&doc).await;
    doc["title"] = json!("版本2");
    app.publish(&doc).await;
    let got = receiver.wait_for(2 * ENDPOINTS).await;
    let mut by_endpoint: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for r in &got {
        by_endpoint
            .entry(r.uri.path().to_owned())
            .or_default()
            .push(r.json()["data"]["version"].as_i64().unwrap());
    }
    assert_eq!(by_endpoint.len(), ENDPOINTS);
    for (path, versions) in &by_endpoint {
        assert_eq!(versions, &[1, 2], "{path}");
    }
}

/// A host that keeps timing out holds few workers: once its requests have timed out, it gets
/// one delivery at a time, with a shorter time-out, and a delivery to another host queued
/// behind a dozen of its own goes out at once instead of waiting for all of them.
#[tokio::test]
async fn a_host_that_keeps_timing_out_holds_few_workers() {
    let app = spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.concurrency = 4;
        c.delivery.request_timeout_secs = 1.0;
        c.delivery.connect_timeout_secs = 1.0;
        c.delivery.lease_secs = 30.0;
        c.delivery.retry_schedule_secs = vec![0.0, 3600.0];
        c.delivery.jitter = 0.0;
        c.delivery.poll_interval_ms = 20;
        c.delivery.slow_host_after_timeouts = 1;
        c.delivery.slow_host_concurrency = 1;
        c.delivery.slow_host_timeout_secs = 0.5;
    })
    .await;
    let hanging = Receiver::start().await;
    hanging.slow_down(Duration::from_secs(3600));
    let other = Receiver::start_on("127.0.0.2").await;
    for i in 0..12 {
        create_endpoint(
            &app,
            json!({"url": format!("{}/{i}", hanging.url), "sections": ["hnyw"]}),
        )
        .await;
    }
    create_endpoint(&app, json!({"url": other.url, "sections": ["zwgk"]})).await;

    app.publish(&article("slow-1", "hnyw/ldhd", "超时")).await;
    // Every worker takes a delivery to the hanging host.
    hanging.wait_for_begun(4).await;
    app.publish(&article("other-1", "zwgk", "政务公开")).await;
    let got = other.wait_for_posts(1).await;
    assert_eq!(got[0].json()["data"]["article"]["id"], "other-1");
    let begun = hanging.begun();
    assert!(
        begun <= 6,
        "{begun} deliveries to the hanging host began first; its eight others were due earlier"
    );
}

/// Names are checked where they resolve, here with a resolver the test controls: a name that
/// resolves to a private, link-local (cloud metadata) or loopback address, alone or beside a
/// public one, is refused at registration; a name that resolved to a public address when it
/// was registered and to loopback when it is sent to (DNS rebinding) is refused at send time,
/// before any connection, and the receiver behind it gets nothing.
#[tokio::test]
async fn names_resolving_to_private_addresses_are_refused_when_registered_and_when_sent() {
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tidings::delivery::client::Lookup;

    let receiver = Receiver::start().await;
    let port = url::Url::parse(&receiver.url).unwrap().port().unwrap();
    let rebind_lookups = Arc::new(AtomicUsize::new(0));
    let lookups = rebind_lookups.clone();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let table = move |host: &str| -> Vec<IpAddr> {
        match host {
            "intranet.example" => vec![ip("10.1.2.3")],
            "metadata.example" => vec![ip("169.254.169.254")],
            "mixed.example" => vec![ip("93.184.216.34"), ip("127.0.0.1")],
            "mapped.example" => vec![ip("::ffff:127.0.0.1")],
            // Public when registered, loopback ever after.
            "rebind.example" if lookups.fetch_add(1, Ordering::SeqCst) == 0 => {
                vec![ip("93.184.216.34")]
            }
            "rebind.example" => vec![ip("127.0.0.1")],
            _ => Vec::new(),
        }
    };
    let app = crate::helpers::spawn_app_resolving(
        |c| {
            c.delivery.retry_schedule_secs = vec![0.0, 0.05];
            c.delivery.jitter = 0.0;
            c.delivery.poll_interval_ms = 20;
        },
        Lookup::Table(Arc::new(table)),
    )
    .await;
    for host in [
        "intranet.example",
        "metadata.example",
        "mixed.example",
        "mapped.example",
    ] {
        let url = format!("http://{host}:{port}/hook");
        let response = app
            .post_json("/api/v1/webhooks", &json!({"url": url}))
            .await;
        assert_eq!(response.status(), 422, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "url", "{url}");
        assert!(
            body["errors"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("non-public"),
            "{body}"
        );
    }

    let endpoint = create_endpoint(
        &app,
        json!({"url": format!("http://rebind.example:{port}/hook")}),
    )
    .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    app.publish(&article("rebind-1", "hnyw", "重绑定")).await;
    let log = wait_log(&app, &id, |log| log.iter().any(|d| d["status"] == "failed")).await;
    let error = log[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("non-public"), "{log:?}");
    assert!(
        rebind_lookups.load(Ordering::SeqCst) >= 2,
        "resolved again to send"
    );
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
}

/// One article, one form: what the POST answers, what `GET` returns and what the webhook
/// carries are the same JSON, times included (to the microsecond everywhere), for a new
/// article and for a change that got its `updated` time from the service.
#[tokio::test]
async fn the_answer_the_get_and_the_webhook_show_the_same_article() {
    let app = app().await;
    let receiver = Receiver::start().await;
    create_endpoint(&app, json!({ "url": receiver.url })).await;
    let mut document = article("same-form", "hnyw/ldhd", "一致");
    for round in 1..=2 {
        if round == 2 {
            document["title"] = json!("一致（修改）");
        }
        let answered: Value = app.post_article(&document).await.json().await.unwrap();
        let got: Value = app
            .get_authorized("/api/v1/articles/same-form")
            .await
            .json()
            .await
            .unwrap();
        let sent = receiver.wait_for_posts(round).await[round - 1].json();
        assert_eq!(answered["article"], got, "round {round}");
        assert_eq!(sent["data"]["article"], got, "round {round}");
        let modified = got["modified_at"].as_str().unwrap();
        let fraction = modified.split('.').nth(1).unwrap_or("Z");
        assert!(fraction.len() <= 7, "{modified}: at most microseconds");
        if round == 2 {
            assert_eq!(got["version"], 2);
            assert!(got["updated"].is_string(), "{got}");
        }
    }
}

/// An endpoint whose host does not resolve is registered (it may resolve later), and the
/// answer says so, at creation and when a PATCH moves it there; one that resolves gets no
/// warning.
#[tokio::test]
async fn an_endpoint_whose_host_does_not_resolve_is_registered_with_a_warning() {
    use std::sync::Arc;
    use tidings::delivery::client::Lookup;

    let table = |host: &str| -> Vec<std::net::IpAddr> {
        match host {
            "search.example" => vec!["93.184.216.34".parse().unwrap()],
            _ => Vec::new(),
        }
    };
    let app = crate::helpers::spawn_app_resolving(|_| {}, Lookup::Table(Arc::new(table))).await;
    let created = create_endpoint(&app, json!({ "url": "https://nowhere.example/hook" })).await;
    let warnings = created["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.starts_with("url: nowhere.example does not resolve now"),
        "{warning}"
    );
    assert!(
        warning.ends_with("deliveries fail until it does"),
        "{warning}"
    );
    let id = created["id"].as_str().unwrap();
    assert!(
        admin_get(&app, &format!("/api/v1/webhooks/{id}"))
            .await
            .get("warnings")
            .is_none()
    );

    let resolved = create_endpoint(&app, json!({ "url": "https://search.example/hook" })).await;
    assert!(resolved.get("warnings").is_none(), "{resolved}");

    let patched = patch_endpoint(
        &app,
        resolved["id"].as_str().unwrap(),
        json!({ "url": "https://gone.example/hook" }),
    )
    .await;
    assert!(
        patched["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("url: gone.example does not resolve now"),
        "{patched}"
    );
}
