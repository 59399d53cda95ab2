//! The operator's console in a real browser (Debian's chromium through playwright-core,
//! `tests/js/console.mjs`): an endpoint whose receiver fails is seen failing on the overview,
//! which lists an article published while it is open without a reload; once the receiver is
//! back, its failed delivery is resent from the endpoint's page with its button, and the page
//! shows the attempt that succeeded by itself. A chat robot is added through the form after a
//! preview of its message. Screenshots of the login form, the overview, the endpoint's page
//! and the robot's preview at a desktop and a phone width are kept in
//! `target/browser-screenshots/`.

use serde_json::{Value, json};

use crate::browser::{assert_steady, browser_available, run_in_browser, screenshot_dir};
use crate::fake_robots::{FakeRobot, Vendor};
use crate::helpers::{TOKEN, TestApp, eventually, seed_article, spawn_app_with};
use crate::receiver::{Receiver, Reply};

/// Runs `tests/js/console.mjs` with `args` after its output folder, state file and base URL.
async fn run_console(app: &TestApp, args: &[&str]) -> Value {
    run_console_into(app, &screenshot_dir(), args).await
}

/// [`run_console`], its screenshots kept in `out`.
async fn run_console_into(app: &TestApp, out: &std::path::Path, args: &[&str]) -> Value {
    let state = app.dir.path().join("console-session.json");
    let mut all: Vec<std::ffi::OsString> =
        vec![out.into(), state.into(), app.address.clone().into()];
    all.extend(args.iter().map(Into::into));
    run_in_browser("console.mjs", all).await
}

/// No error of any kind, no sideways scrolling, no script but the console's own, and every
/// form with its token.
fn assert_clean(label: &str, seen: &Value) {
    assert_steady(label, seen);
    let facts = &seen["facts"];
    let scripts = facts["scripts"].as_array().unwrap();
    assert!(
        scripts.is_empty() || scripts == &[json!("/admin/live.js")],
        "{label}: {scripts:?}"
    );
    for form in facts["forms"].as_array().unwrap() {
        assert_eq!(form["csrf"], true, "{label}: {form}");
    }
    println!("screenshot: {}", seen["screenshot"].as_str().unwrap_or(""));
}

#[tokio::test]
async fn an_operator_resends_a_failed_delivery_from_the_console_in_a_browser() {
    if !browser_available().await {
        return;
    }
    let app = spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.retry_schedule_secs = vec![0.0, 0.05];
        c.delivery.jitter = 0.0;
        c.delivery.poll_interval_ms = 20;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::status(503));
    let created = app
        .post_json(
            "/api/v1/webhooks",
            &json!({ "url": receiver.url, "description": "搜索索引", "sections": ["hnyw"] }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.publish(&seed_article()).await;
    let log_path = format!("/api/v1/webhooks/{id}/deliveries");
    let failed = eventually("the delivery to fail", || async {
        let log: Value = app.get_authorized(&log_path).await.json().await.unwrap();
        let first = log["deliveries"][0].clone();
        (first["status"] == "failed").then_some(first)
    })
    .await;

    let mut live = seed_article();
    live["id"] = json!("hn-live-article");
    live["url"] = json!("https://www.huangnan.gov.cn/hnyw/ldhd/202106/t20210602_live.html");
    // Markup in a title is text: the script must not make it elements.
    let title = "同仁市召开<b>民族团结</b>进步示范创建推进会 & \"示范\"";
    live["title"] = json!(title);
    // In a section the endpoint does not take, so that the queue stays as it is.
    live["section"] = json!("zwgk/tzgg");
    live.as_object_mut().unwrap().remove("section_titles");
    let seen = run_console(&app, &["login", TOKEN, &id, &live.to_string()]).await;
    assert_eq!(seen["form"]["h1"], "登录");
    let desktop = &seen["desktop"]["facts"];
    assert_eq!(desktop["scripts"], json!(["/admin/live.js"]));
    assert_eq!(desktop["streaming"], "on");
    assert_eq!(
        desktop["liveEvents"][0],
        json!({
            "type": "article.published",
            "title": title,
            "href": "/admin/sections/zwgk/tzgg",
            "time": desktop["liveEvents"][0]["time"],
        }),
        "the new article first, without a reload"
    );
    assert!(
        desktop["liveEvents"][0]["time"]
            .as_str()
            .unwrap()
            .ends_with("+08:00")
    );
    assert_eq!(
        desktop["liveEvents"][1]["title"],
        seed_article()["title"],
        "the events before it, as the page opened with them"
    );
    let endpoint_href = format!("/admin/endpoints/{id}");
    for width in ["desktop", "phone"] {
        let overview = &seen[width];
        assert_clean(&format!("the overview at {width}"), overview);
        let facts = &overview["facts"];
        assert_eq!(facts["url"], format!("{}/admin", app.address));
        assert_eq!(facts["lang"], "zh-CN");
        assert_eq!(
            facts["endpointRow"],
            json!({ "state": "失败中", "href": endpoint_href }),
            "{width}"
        );
        assert_eq!(facts["queueFailed"], "1");
    }
    let cookies = seen["cookies"].as_array().unwrap();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(cookies[0]["name"], "tidings_admin");
    assert_eq!(cookies[0]["path"], "/admin");
    assert_eq!(cookies[0]["httpOnly"], true);
    assert_eq!(cookies[0]["sameSite"], "Strict");

    // Back, but slow: the page opens on the resent delivery still waiting, then shows its
    // outcome by itself.
    receiver.otherwise(Reply::status(204));
    receiver.slow_down(std::time::Duration::from_secs(3));
    let seen = run_console(&app, &["resend", &id]).await;
    assert_eq!(seen["resent"], failed["id"]);
    let waiting = seen["afterClick"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == failed["id"])
        .expect("the resent delivery");
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert_eq!(
        seen["reloaded"], false,
        "the page showed the outcome by itself"
    );
    assert_eq!(
        seen["afterClick"]["flash"], "投递已重新排队。",
        "{}",
        seen["afterClick"]
    );
    for width in ["desktop", "phone"] {
        assert_clean(&format!("the endpoint's page at {width}"), &seen[width]);
    }
    let deliveries = seen["desktop"]["facts"]["deliveries"].as_array().unwrap();
    let resent = deliveries
        .iter()
        .find(|d| d["id"] == failed["id"])
        .expect("the resent delivery is listed");
    assert_eq!(resent["status"], "delivered", "{resent}");
    assert_eq!(
        resent["attempts"][0], "204",
        "the newest attempt first: {resent}"
    );
    assert!(
        resent["attempts"].as_array().unwrap()[1..]
            .iter()
            .all(|code| code == "503"),
        "{resent}"
    );
    let log: Value = app.get_authorized(&log_path).await.json().await.unwrap();
    assert_eq!(log["deliveries"][0]["status"], "delivered");
    assert_eq!(
        receiver.posts().last().unwrap().header("webhook-id"),
        failed["message_id"]
    );
}

#[tokio::test]
async fn an_operator_previews_and_adds_a_chat_robot_in_a_browser() {
    if !browser_available().await {
        return;
    }
    let app = spawn_app_with(|c| c.delivery.allow_private_destinations = true).await;
    let robot = FakeRobot::start(Vendor::WeCom, None).await;
    // A session first: the login run saves it (its screenshots are the other test's).
    let elsewhere = app.dir.path().join("screenshots");
    let article = seed_article().to_string();
    let seen = run_console_into(&app, &elsewhere, &["login", TOKEN, "none", &article]).await;
    assert_eq!(seen["desktop"]["facts"]["streaming"], "on");

    let seen = run_console(&app, &["robot", "wecom", &robot.url]).await;
    for (label, part) in [
        ("the preview", &seen["preview"]),
        ("the preview on a phone", &seen["phone"]),
        ("the robot's page", &seen["added"]),
    ] {
        assert_clean(label, part);
    }
    for part in ["preview", "phone"] {
        let shown = seen[part]["facts"]["preview"].as_str().unwrap();
        let message: Value = serde_json::from_str(shown).expect("the preview is JSON");
        assert_eq!(message["msgtype"], "news", "{part}: {message}");
        assert!(
            message["news"]["articles"][0]["title"]
                .as_str()
                .unwrap()
                .contains("黄南州"),
            "{message}"
        );
    }
    let added = &seen["added"]["facts"];
    assert_eq!(added["flash"], "端点已添加。");
    assert_eq!(added["kind"], "wecom");
    let endpoints: Value = app
        .get_authorized("/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(endpoints["endpoints"][0]["kind"], "wecom");
    assert_eq!(endpoints["endpoints"][0]["description"], "办公室工作群");

    let mut article = seed_article();
    article["id"] = json!("hn-robot-article");
    article["url"] = json!("https://www.huangnan.gov.cn/hnyw/ldhd/202106/t20210603_robot.html");
    app.publish(&article).await;
    let got = robot.wait_for(1).await;
    assert!(got[0].problems.is_empty(), "{:?}", got[0].problems);
    assert_eq!(got[0].message["msgtype"], "news");
}
