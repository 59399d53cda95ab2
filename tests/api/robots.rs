//! Chat robots (WeCom, DingTalk, Feishu) as webhook endpoints, against fake robot servers that
//! check what each vendor documents (see `fake_robots`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_robots::{FakeRobot, Got, Vendor, answer};
use crate::helpers::{
    TOKEN, TestApp, admin_get, binary_setup, eventually, seed_article, spawn_app_with,
    wait_healthy, wait_log,
};

/// A server that may reach loopback robots, retries quickly, and waits `busy_wait` after a
/// robot said "too fast".
async fn app_waiting(busy_wait: f64) -> TestApp {
    spawn_app_with(move |c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.retry_schedule_secs = vec![0.0, 0.05, 0.05, 0.05, 0.05];
        c.delivery.jitter = 0.0;
        c.delivery.poll_interval_ms = 20;
        c.delivery.robot_busy_wait_secs = busy_wait;
    })
    .await
}

async fn app() -> TestApp {
    app_waiting(60.0).await
}

async fn create(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/api/v1/webhooks", &body).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{answer}");
    answer
}

/// An endpoint for `robot`, quick enough not to hold a test back (`rate_limit` 100): its id.
async fn quick_endpoint(app: &TestApp, robot: &FakeRobot) -> String {
    let body = json!({"url": robot.url, "kind": robot.vendor.name(), "rate_limit": 100});
    create(app, body).await["id"].as_str().unwrap().to_owned()
}

/// `POST /api/v1/webhooks/{id}/test`, which must be queued.
async fn send_test(app: &TestApp, id: &str) {
    let sent = app
        .post_json(&format!("/api/v1/webhooks/{id}/test"), &json!({}))
        .await;
    assert_eq!(sent.status(), 202);
}

async fn patch(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/api/v1/webhooks/{id}")))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The seed article without its images: the vendors' text-only messages.
fn article_without_images(id: &str) -> Value {
    let mut article = seed_article();
    article["id"] = json!(id);
    article["url"] = json!(format!("https://www.huangnan.gov.cn/hnyw/ldhd/{id}.html"));
    article["images"] = json!([]);
    article["content_html"] = json!("<p>5月31日,黄南州召开全州双拥工作领导小组会议。</p>");
    article["summary"] = json!("黄南州召开全州双拥工作领导小组会议，安排部署下一阶段重点工作。");
    article
}

fn no_problems(got: &[Got]) {
    for message in got {
        assert!(
            message.problems.is_empty(),
            "{:?}: {}",
            message.problems,
            message.raw
        );
    }
}

#[tokio::test]
async fn a_published_article_arrives_rendered_and_signed_at_each_vendor() {
    let app = app().await;
    let wecom = FakeRobot::start(Vendor::WeCom, None).await;
    let dingtalk = FakeRobot::start(Vendor::DingTalk, Some("SECd1n9t4lk0s3cr3t")).await;
    let feishu = FakeRobot::start(Vendor::Feishu, Some("f31shu-s3cr3t")).await;
    let mut ids = Vec::new();
    for (robot, secret) in [
        (&wecom, None),
        (&dingtalk, robot_secret(&dingtalk)),
        (&feishu, robot_secret(&feishu)),
    ] {
        let mut body = json!({"url": robot.url, "kind": robot.vendor.name(), "sections": ["hnyw"]});
        if let Some(secret) = secret {
            body["secret"] = json!(secret);
        }
        let created = create(&app, body).await;
        assert_eq!(created["kind"], robot.vendor.name());
        assert_eq!(created["event_types"], json!(["article.published"]));
        assert_eq!(created["signed"], secret.is_some());
        assert!(created.get("secret").is_none(), "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }

    // One article with images, one without; and one elsewhere, which no robot wants. The
    // second is published once the first has arrived: published together, they could go as
    // one digest (see a_burst_held_back_by_the_rate_limit_goes_as_one_digest).
    app.publish(&seed_article()).await;
    for robot in [&wecom, &dingtalk, &feishu] {
        robot.wait_for(1).await;
    }
    app.publish(&article_without_images("hn-text-only")).await;
    let mut other = article_without_images("elsewhere");
    other["section"] = json!("zwgk/tzgg");
    other.as_object_mut().unwrap().remove("section_titles");
    app.publish(&other).await;

    let title = seed_article()["title"].as_str().unwrap().to_owned();
    let image = seed_article()["images"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    // Different articles go in parallel: each message is found by its type.
    let of_type = |got: &[Got], field: &str, wanted: &str| -> Value {
        got.iter()
            .find(|g| g.message[field] == wanted)
            .unwrap_or_else(|| panic!("no {wanted} message in {got:?}"))
            .message
            .clone()
    };
    let got = wecom.wait_for(2).await;
    no_problems(&got);
    let news = of_type(&got, "msgtype", "news");
    let card = &news["news"]["articles"][0];
    assert_eq!(card["title"], title);
    assert_eq!(card["url"], seed_article()["url"]);
    // Without a summary of its own, the start of the body, as feeds show it.
    let description = card["description"].as_str().unwrap();
    assert!(
        description.starts_with("领导动态 · 黄南报 · 2021-06-01 · 5月31日,黄南州召开"),
        "{description}"
    );
    assert!(description.len() <= 512, "WeCom's limit: {description}");
    assert_eq!(card["picurl"], image);
    let markdown = of_type(&got, "msgtype", "markdown");
    let content = markdown["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!(
            "**[{title}](https://www.huangnan.gov.cn/hnyw/ldhd/hn-text-only.html)**"
        )),
        "{content}"
    );
    assert!(content.contains("安排部署下一阶段重点工作"), "{content}");

    let got = dingtalk.wait_for(2).await;
    no_problems(&got);
    let action_card = of_type(&got, "msgtype", "actionCard");
    let action = &action_card["actionCard"];
    assert_eq!(action["title"], title);
    assert_eq!(action["singleURL"], seed_article()["url"]);
    let text = action["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("![]({image})")), "{text}");
    of_type(&got, "msgtype", "markdown");
    assert!(
        got.iter()
            .all(|g| g.uri.query().unwrap().contains("&sign=")),
        "signed in the query"
    );

    let got = feishu.wait_for(2).await;
    no_problems(&got);
    let interactive = got
        .iter()
        .find(|g| g.raw.contains("t20210601_1.html"))
        .expect("the card of the article with images");
    let card = &interactive.message["card"];
    assert_eq!(interactive.message["msg_type"], "interactive");
    assert_eq!(card["header"]["title"]["content"], title);
    assert_eq!(
        card["elements"][0]["text"]["content"],
        "领导动态 · 黄南报 · 2021-06-01"
    );
    let button = &card["elements"].as_array().unwrap().last().unwrap()["actions"][0];
    assert_eq!(button["url"], seed_article()["url"]);
    assert!(
        got.iter().all(|g| g.raw.contains("\"sign\"")),
        "signed in the body"
    );

    // Every delivery delivered; the article elsewhere sent nowhere.
    for id in &ids {
        let log = wait_log(&app, id, |log| {
            log.len() == 2 && log.iter().all(|d| d["status"] == "delivered")
        })
        .await;
        assert_eq!(log[0]["attempt_log"][0]["status_code"], 200);
    }
    // A deletion is sent to no robot: the next message is the next publication.
    let deleted = app.delete_article("hn-text-only").await;
    assert!(deleted.status().is_success());
    let mut later = article_without_images("hn-later");
    later["title"] = json!("后来的文章");
    app.publish(&later).await;
    let got = wecom.wait_for(3).await;
    assert!(got[2].raw.contains("后来的文章"), "{}", got[2].raw);
    assert_eq!(wecom.got().len(), 3, "no message for the deletion");
}

fn robot_secret(robot: &FakeRobot) -> Option<&str> {
    robot.secret.as_deref()
}

#[tokio::test]
async fn an_error_code_is_a_failed_attempt_with_the_vendors_message_and_is_retried() {
    let app = app().await;
    let robot = FakeRobot::start(Vendor::WeCom, None).await;
    robot.script(&["refused"]);
    let id = quick_endpoint(&app, &robot).await;
    app.publish(&seed_article()).await;
    let log = wait_log(&app, &id, |log| {
        log.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    let attempts = log[0]["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(attempts[0]["error_class"], "rejected");
    let reason = attempts[0]["error"].as_str().unwrap();
    assert!(
        reason.starts_with("errcode 93000: invalid webhook url"),
        "{reason}"
    );
    assert!(attempts[1]["error"].is_null());
    assert_eq!(robot.wait_for(2).await.len(), 2);

    // Feishu's and DingTalk's codes read the same way.
    for vendor in [Vendor::DingTalk, Vendor::Feishu] {
        let robot = FakeRobot::start(vendor, None).await;
        robot.script(&["refused"]);
        let id = quick_endpoint(&app, &robot).await;
        send_test(&app, &id).await;
        let log = wait_log(&app, &id, |log| {
            log.first().is_some_and(|d| d["status"] == "delivered")
        })
        .await;
        let first = &log[0]["attempt_log"][0];
        assert_eq!(first["error_class"], "rejected", "{vendor:?}");
        let expected = answer(vendor, "refused");
        let message = expected
            .get("errmsg")
            .or(expected.get("msg"))
            .and_then(Value::as_str)
            .unwrap();
        assert!(
            first["error"].as_str().unwrap().ends_with(message),
            "{vendor:?}: {first}"
        );
    }
}

#[tokio::test]
async fn a_too_fast_answer_is_retried_after_the_busy_wait() {
    let busy_wait = 1.0;
    let app = app_waiting(busy_wait).await;
    for vendor in [Vendor::DingTalk, Vendor::Feishu, Vendor::WeCom] {
        let robot = FakeRobot::start(vendor, None).await;
        robot.script(&["too_fast"]);
        let id = quick_endpoint(&app, &robot).await;
        send_test(&app, &id).await;
        let log = wait_log(&app, &id, |log| {
            log.first()
                .is_some_and(|d| d["attempts"] == 1 && d["status"] == "pending")
        })
        .await;
        // The schedule's next step is 50 ms; "too fast" holds it for the busy wait.
        let attempted: chrono::DateTime<chrono::Utc> = log[0]["attempt_log"][0]["attempted_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let next: chrono::DateTime<chrono::Utc> =
            log[0]["next_attempt_at"].as_str().unwrap().parse().unwrap();
        assert!(
            (next - attempted).num_milliseconds() as f64 >= busy_wait * 1000.0,
            "{vendor:?}: next attempt at {next}, the first at {attempted}"
        );
        let got = robot.wait_for(2).await;
        assert!(
            got[1].at - got[0].at >= Duration::from_secs_f64(busy_wait),
            "{vendor:?}: asked again too soon"
        );
        wait_log(&app, &id, |log| {
            log.first().is_some_and(|d| d["status"] == "delivered")
        })
        .await;
    }
}

#[tokio::test]
async fn a_custom_template_is_used() {
    let app = app().await;
    let robot = FakeRobot::start(Vendor::Feishu, Some("t3mpl4te")).await;
    let template = r#"{"msg_type":"text","content":{"text":"{{ section }}｜{{ title }}\n{{ url }}{% if image %}\n{{ image }}{% endif %}"}}"#;
    let created = create(
        &app,
        json!({"url": robot.url, "kind": "feishu", "secret": "t3mpl4te", "template": template,
               "rate_limit": 100}),
    )
    .await;
    assert_eq!(created["template"], template);
    app.publish(&seed_article()).await;
    let got = robot.wait_for(1).await;
    no_problems(&got);
    let article = seed_article();
    assert_eq!(
        got[0].message,
        json!({"msg_type": "text", "content": {"text": format!(
            "领导动态｜{}\n{}\n{}",
            article["title"].as_str().unwrap(),
            article["url"].as_str().unwrap(),
            article["images"][0]["url"].as_str().unwrap(),
        )}})
    );

    // A title that would break JSON arrives as it was written.
    let mut hostile = article_without_images("hostile");
    hostile["title"] = json!("引号\"与\\反斜杠 {{ 7*7 }} {% raw %}");
    app.publish(&hostile).await;
    let got = robot.wait_for(2).await;
    no_problems(&got);
    let text = got[1].message["content"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("领导动态｜引号\"与\\反斜杠 {{ 7*7 }} {% raw %}\n"),
        "{text}"
    );

    // Back to the default message.
    let patched: Value = patch(
        &app,
        created["id"].as_str().unwrap(),
        json!({"template": null}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(patched["template"].is_null(), "{patched}");
}

#[tokio::test]
async fn a_bad_template_is_refused_with_422_naming_template() {
    let app = app().await;
    let robot = FakeRobot::start(Vendor::WeCom, None).await;
    let refused = |body: Value| {
        let app = &app;
        async move {
            let response = app.post_json("/api/v1/webhooks", &body).await;
            assert_eq!(response.status(), 422, "{body}");
            let problem: Value = response.json().await.unwrap();
            problem["errors"].as_array().unwrap().clone()
        }
    };
    for (template, reason) in [
        ("{{ title }}", "does not render JSON"),
        (r#"{"text":{"content":"{{ title }}"}}"#, "\"msgtype\""),
        (
            r#"{"msgtype":"text","text":{"content":"{{ title "}}"#,
            "cannot be rendered",
        ),
        (
            r#"{"msgtype":"text"{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}}"#,
            "fuel",
        ),
    ] {
        let errors =
            refused(json!({"url": robot.url, "kind": "wecom", "template": template})).await;
        assert_eq!(errors[0]["field"], "template", "{errors:?}");
        let said = errors[0]["reason"].as_str().unwrap();
        assert!(said.contains(reason), "{template}: {said}");
    }
    // Feishu names its type msg_type; a standard endpoint takes no template.
    let feishu = FakeRobot::start(Vendor::Feishu, None).await;
    let errors = refused(json!({"url": feishu.url, "kind": "feishu",
                                "template": r#"{"msgtype":"text","text":{"content":"x"}}"#}))
    .await;
    assert_eq!(errors[0]["field"], "template");
    let errors = refused(json!({"url": "http://127.0.0.1:9/hook",
                                "template": r#"{"msgtype":"text"}"#}))
    .await;
    assert_eq!(errors[0]["field"], "template");
    // Nor do robots take deletions, a WeCom robot a secret, or a URL without its key.
    let errors = refused(json!({"url": robot.url, "kind": "wecom",
                                "event_types": ["article.deleted"]}))
    .await;
    assert_eq!(errors[0]["field"], "event_types");
    let errors = refused(json!({"url": robot.url, "kind": "wecom", "secret": "SECx"})).await;
    assert_eq!(errors[0]["field"], "secret");
    let errors =
        refused(json!({"url": robot.url.replace("key=", "nokey="), "kind": "wecom"})).await;
    assert_eq!(errors[0]["field"], "url");

    // A PATCH is checked as the endpoint will be, and a refused one changes nothing.
    let id = create(&app, json!({"url": robot.url, "kind": "wecom"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = patch(&app, &id, json!({"template": "not json {{ title }}"})).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "template");
    let response = patch(&app, &id, json!({"kind": "standard"})).await;
    assert_eq!(response.status(), 422);
    let shown = admin_get(&app, &format!("/api/v1/webhooks/{id}")).await;
    assert!(
        shown["template"].is_null() && shown["kind"] == "wecom",
        "{shown}"
    );
}

#[tokio::test]
async fn the_test_message_is_in_the_vendors_format_and_the_answer_previews_it() {
    let app = app().await;
    let robot = FakeRobot::start(Vendor::DingTalk, Some("SECpr3v13w")).await;
    let id = create(
        &app,
        json!({"url": robot.url, "kind": "dingtalk", "secret": "SECpr3v13w"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .post_json(&format!("/api/v1/webhooks/{id}/test"), &json!({}))
        .await;
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    let preview = &answer["preview"];
    assert_eq!(preview["msgtype"], "actionCard");
    assert!(
        preview["actionCard"]["title"]
            .as_str()
            .unwrap()
            .starts_with("【测试】"),
        "{preview}"
    );
    let got = robot.wait_for(1).await;
    no_problems(&got);
    assert_eq!(
        &got[0].message, preview,
        "what is sent is what was previewed"
    );
    // A standard endpoint's test answer is as it was.
    let plain = create(&app, json!({"url": "http://127.0.0.1:9/hook"})).await;
    let answer: Value = app
        .post_json(
            &format!("/api/v1/webhooks/{}/test", plain["id"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(answer.get("preview").is_none(), "{answer}");
    // A robot's secret is changed with PATCH, never rotated.
    let rotated = app
        .post_json(&format!("/api/v1/webhooks/{id}/rotate-secret"), &json!({}))
        .await;
    assert_eq!(rotated.status(), 422);
}

#[tokio::test]
async fn a_wecom_key_never_appears_in_api_answers_nor_in_the_log() {
    // The real binary, its log at the debug level kept in a file.
    let dir = tempfile::tempdir().unwrap();
    let setup = binary_setup(dir.path(), "").await;
    let log_path = dir.path().join("tidings.log");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["--config", setup.config.to_str().unwrap(), "serve"])
        .env("TIDINGS_LOG", "debug")
        .stdout(std::process::Stdio::from(
            std::fs::File::create(&log_path).unwrap(),
        ))
        .stderr(std::process::Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&log_path)
                .unwrap(),
        ))
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let client = reqwest::Client::new();
    wait_healthy(&client, &setup.base).await;
    let robot = FakeRobot::start(Vendor::WeCom, None).await;
    robot.script(&["refused"]);
    let key = robot.credential.clone();
    let api = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}{path}", setup.base))
            .bearer_auth(TOKEN)
    };

    let mut answers = Vec::new();
    let created = api(reqwest::Method::POST, "/api/v1/webhooks")
        .json(&json!({"url": robot.url, "kind": "wecom", "description": "州政府办公室群"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(
        created["url"]
            .as_str()
            .unwrap()
            .ends_with("/cgi-bin/webhook/send?key=***"),
        "{created}"
    );
    answers.push(created.to_string());
    let published = api(reqwest::Method::POST, "/api/v1/articles")
        .json(&seed_article())
        .send()
        .await
        .unwrap();
    assert!(published.status().is_success());
    // A refused attempt, then a delivery: the attempt log holds the vendor's answers.
    robot.wait_for(2).await;
    let deliveries = eventually("the delivery to be delivered", || async {
        let log: Value = api(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        (log["deliveries"][0]["status"] == "delivered").then_some(log)
    })
    .await;
    answers.push(deliveries.to_string());
    for (method, path, body) in [
        (reqwest::Method::GET, format!("/api/v1/webhooks/{id}"), None),
        (reqwest::Method::GET, "/api/v1/webhooks".to_owned(), None),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/webhooks/{id}"),
            Some(json!({"description": "改名"})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/webhooks/{id}/test"),
            Some(json!({})),
        ),
        (reqwest::Method::GET, "/api/v1/events".to_owned(), None),
        (reqwest::Method::GET, "/metrics".to_owned(), None),
    ] {
        let mut request = api(method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{method} {path}");
        answers.push(response.text().await.unwrap());
    }
    // A URL sent back as shown is refused rather than stored.
    let masked = api(reqwest::Method::PATCH, &format!("/api/v1/webhooks/{id}"))
        .json(&json!({"url": created["url"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(masked.status(), 422);
    answers.push(masked.text().await.unwrap());
    robot.wait_for(3).await;

    server.start_kill().unwrap();
    server.wait().await.unwrap();
    for answer in &answers {
        assert!(
            !answer.contains(&key),
            "the key leaked in an answer: {answer}"
        );
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("webhook endpoint created"),
        "the log was kept at the debug level: {log}"
    );
    assert!(!log.contains(&key), "the key leaked in the log");
}

#[tokio::test]
async fn a_burst_held_back_by_the_rate_limit_goes_as_one_digest() {
    let app = app().await;
    let robots = [
        FakeRobot::start(Vendor::WeCom, None).await,
        FakeRobot::start(Vendor::DingTalk, Some("SECd1g3st")).await,
        FakeRobot::start(Vendor::Feishu, Some("d1g3st")).await,
    ];
    let mut ids = Vec::new();
    for robot in &robots {
        // One message every 5 s: the first article goes at once, the rest wait for the next
        // slot, and go then as one.
        let mut body = json!({"url": robot.url, "kind": robot.vendor.name(), "rate_limit": 0.2});
        if let Some(secret) = &robot.secret {
            body["secret"] = json!(secret);
        }
        ids.push(create(&app, body).await["id"].as_str().unwrap().to_owned());
    }
    let titles: Vec<String> = (1..=4).map(|n| format!("第{n}篇：突发消息")).collect();
    for (n, title) in titles.iter().enumerate() {
        let mut article = article_without_images(&format!("burst-{n}"));
        article["title"] = json!(title);
        app.publish(&article).await;
    }
    for (robot, id) in robots.iter().zip(&ids) {
        let log = wait_log(&app, id, |log| {
            log.len() == 4 && log.iter().all(|d| d["status"] == "delivered")
        })
        .await;
        let got = robot.got();
        no_problems(&got);
        assert!(
            got.len() < 4,
            "{:?}: the burst went one by one: {got:?}",
            robot.vendor
        );
        for title in &titles {
            assert_eq!(
                got.iter()
                    .filter(|g| g.raw.contains(title.as_str()))
                    .count(),
                1,
                "{:?}: {title} arrived once",
                robot.vendor
            );
        }
        // Each delivery of a digest is in the log with the attempt that carried it.
        assert!(log.iter().all(|d| d["attempts"] == 1), "{log:?}");
    }
}
