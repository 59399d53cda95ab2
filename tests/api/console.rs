//! The operator's console at `/admin`: logging in with an admin token, a session that lives in
//! its cookie alone, nothing served without one, forms refused without the session's CSRF
//! token or from another site, and actions that change what the JSON API shows.

use reqwest::StatusCode;
use reqwest::header::{LOCATION, ORIGIN, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};
use tidings::config::{Scope, TokenConfig};
use tidings::domain::Secret;
use tidings::webhooks::signature::signature_header;

use crate::events_stream::SseStream;
use crate::fake_robots::{FakeRobot, Vendor};
use crate::helpers::{
    KillOnDrop, READ_ONLY_TOKEN, TOKEN, TestApp, admin_get, eventually, free_port,
    fresh_database_url, seed_article, spawn_app_with, spawn_in, start_binary, wait_healthy,
    wait_log, write_server_config,
};
use crate::receiver::{Receiver, Reply};
use crate::websub::subscribe;

/// An admin token of the `[[tokens]]` kind, beside the tests' `api_token`.
const OPS_TOKEN: &str = "ops-token-with-the-admin-scope";

/// A server whose engine reaches loopback receivers and gives up after two quick attempts.
async fn app() -> TestApp {
    console_app().await
}

async fn console_app() -> TestApp {
    spawn_app_with(|c| {
        c.delivery.allow_private_destinations = true;
        c.delivery.retry_schedule_secs = vec![0.0, 0.05];
        c.delivery.jitter = 0.0;
        c.delivery.poll_interval_ms = 20;
        c.tokens.push(TokenConfig {
            name: "ops".into(),
            token: OPS_TOKEN.into(),
            scopes: vec![Scope::Admin],
        });
    })
    .await
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn log_in(app: &TestApp, token: &str) -> reqwest::Response {
    client()
        .post(app.url("/admin/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

/// A logged-in browser: its session cookie and the CSRF token its forms carry.
struct Browser {
    base: String,
    cookie: String,
    csrf: String,
}

/// The `name=value` of a `Set-Cookie` answer.
fn cookie_of(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

fn csrf_in(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html).expect("a form with a CSRF token")[1].to_owned()
}

impl Browser {
    async fn open(app: &TestApp, token: &str) -> Self {
        let response = log_in(app, token).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = cookie_of(&response);
        let mut browser = Self {
            base: app.address.clone(),
            cookie,
            csrf: String::new(),
        };
        let (status, html) = browser.get("/admin").await;
        assert_eq!(status, 200);
        browser.csrf = csrf_in(&html);
        browser
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.fetch(path).await;
        (response.status(), response.text().await.unwrap())
    }

    /// `GET path` with the session, the answer whole (headers, a stream).
    async fn fetch(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form as the browser would: with the CSRF token, from this site.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        client()
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header(ORIGIN, &self.base)
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()[LOCATION].to_str().unwrap()
}

async fn create_endpoint(app: &TestApp, url: &str) -> String {
    let response = app
        .post_json("/api/v1/webhooks", &json!({ "url": url }))
        .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn logging_in_takes_an_admin_token_and_sets_a_strict_cookie() {
    let app = app().await;
    let (status, html) = {
        let response = client().get(app.url("/admin")).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(html.contains("name=\"token\""), "the login form: {html}");
    assert!(!html.contains("id=\"queue\""), "nothing of the console");

    for wrong in ["not-a-token-of-ours-at-all", READ_ONLY_TOKEN, ""] {
        let response = log_in(&app, wrong).await;
        assert_eq!(response.status(), 401, "{wrong:?}");
        assert!(response.headers().get(SET_COOKIE).is_none());
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("令牌错误") && html.contains("name=\"token\""));
    }

    for token in [TOKEN, OPS_TOKEN] {
        let response = log_in(&app, token).await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/admin");
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let attributes: Vec<&str> = set.split("; ").collect();
        assert!(attributes[0].starts_with("tidings_admin="), "{set}");
        for attribute in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/admin",
            "Max-Age=28800",
        ] {
            assert!(attributes.contains(&attribute), "{attribute} in {set}");
        }
        assert!(!set.contains("Secure"), "over http: {set}");
        let browser = Browser::open(&app, token).await;
        let (status, html) = browser.get("/admin").await;
        assert_eq!(status, 200);
        assert!(html.contains("id=\"queue\"") && html.contains("/admin/logout"));
        let cache = browser.fetch("/admin").await;
        assert_eq!(cache.headers()["cache-control"], "no-store");
        assert_eq!(cache.headers()["x-frame-options"], "DENY");
    }

    // Logging out clears the cookie; the form says so.
    let browser = Browser::open(&app, TOKEN).await;
    let out = browser.post("/admin/logout", &[]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/admin?done=logged-out");
    let cleared = out.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("tidings_admin=;") && cleared.contains("Max-Age=0"));
    let html = client()
        .get(app.url("/admin?done=logged-out"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("已退出"));
}

#[tokio::test]
async fn failed_logins_past_the_rate_hold_a_client_back_even_with_the_right_token() {
    let app = spawn_app_with(|c| c.admin.max_failed_logins_per_client_per_minute = 2).await;
    for _ in 0..2 {
        assert_eq!(log_in(&app, "a-wrong-token-guessed").await.status(), 401);
    }
    let third = log_in(&app, "a-wrong-token-guessed").await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key(RETRY_AFTER));
    let right = log_in(&app, TOKEN).await;
    assert_eq!(right.status(), 429, "held back whatever it sends");
    assert!(right.headers().get(SET_COOKIE).is_none());
    assert!(right.text().await.unwrap().contains("登录失败次数过多"));
}

#[tokio::test]
async fn nothing_of_the_console_is_served_without_a_session() {
    let app = app().await;
    let id = create_endpoint(&app, "http://127.0.0.1:9/hook").await;
    let gets = [
        "/admin/endpoints/new".to_owned(),
        format!("/admin/endpoints/{id}"),
        format!("/admin/endpoints/{id}?before=5"),
        "/admin/sections/hnyw/ldhd".to_owned(),
        "/admin/sections/all".to_owned(),
        "/admin/no/such/page".to_owned(),
        "/admin/".to_owned(),
        "/admin/login".to_owned(),
        "/admin/logout".to_owned(),
        "/admin/endpoints".to_owned(),
        format!("/admin/endpoints/{id}/disable"),
        "/admin/deliveries/dlv_x/resend".to_owned(),
        "/admin/live.js".to_owned(),
        "/admin/events/stream".to_owned(),
    ];
    let posts = [
        "/admin/logout".to_owned(),
        "/admin/endpoints".to_owned(),
        format!("/admin/endpoints/{id}/disable"),
        format!("/admin/endpoints/{id}/enable"),
        format!("/admin/endpoints/{id}/test"),
        format!("/admin/endpoints/{id}/rotate-secret"),
        format!("/admin/endpoints/{id}/recover"),
        "/admin/deliveries/dlv_x/resend".to_owned(),
        "/admin/no/such/action".to_owned(),
        "/admin".to_owned(),
        "/admin/".to_owned(),
        "/admin/endpoints/new".to_owned(),
        format!("/admin/endpoints/{id}"),
        "/admin/sections/hnyw".to_owned(),
        "/admin/live.js".to_owned(),
        "/admin/events/stream".to_owned(),
    ];
    // No cookie, a forged one, one whose end was rewritten, one of a token that is no more.
    let real = cookie_of(&log_in(&app, TOKEN).await);
    let value = real.strip_prefix("tidings_admin=").unwrap();
    let (expiry, rest) = value.split_once('.').unwrap();
    let extended = format!(
        "tidings_admin={}.{rest}",
        expiry.parse::<i64>().unwrap() + 60
    );
    let cookies = [
        None,
        Some(
            "tidings_admin=1999999999.api_token.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                .to_owned(),
        ),
        Some(extended),
        Some("tidings_admin=".to_owned()),
    ];
    for cookie in &cookies {
        for path in &gets {
            let mut request = client().get(app.url(path));
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 303, "GET {path} with {cookie:?}");
            assert_eq!(location(&response), "/admin");
            let body = response.text().await.unwrap();
            assert!(!body.contains("csrf"), "GET {path}: {body}");
        }
        for path in &posts {
            let mut request = client().post(app.url(path)).form(&[("csrf", "x")]);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 403, "POST {path} with {cookie:?}");
            let body = response.text().await.unwrap();
            assert!(body.contains("请先登录控制台"), "POST {path}: {body}");
        }
    }
    let endpoint = admin_get(&app, &format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(endpoint["enabled"], true, "nothing was done");
}

#[tokio::test]
async fn a_session_holds_across_instances_and_restarts_until_the_token_changes() {
    let app = app().await;
    let browser = Browser::open(&app, TOKEN).await;

    // Another instance with the same configuration (here on a database of its own: the
    // session is kept nowhere but in the cookie).
    let other = console_app().await;
    let elsewhere = Browser {
        base: other.address.clone(),
        cookie: browser.cookie.clone(),
        csrf: browser.csrf.clone(),
    };
    let (status, html) = elsewhere.get("/admin").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(csrf_in(&html), browser.csrf, "the same session's token");

    let (dir, config) = app.stop().await;
    let restarted = spawn_in(dir, config.clone()).await;
    let again = Browser {
        base: restarted.address.clone(),
        cookie: browser.cookie.clone(),
        csrf: browser.csrf.clone(),
    };
    assert_eq!(
        again.get("/admin").await.0,
        200,
        "a restart forgets nothing"
    );
    let (dir, mut config) = restarted.stop().await;

    config.api_token = "a-new-token-after-a-leak".into();
    let rotated = spawn_in(dir, config).await;
    let response = client()
        .get(rotated.url("/admin/sections/all"))
        .header("cookie", &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "a new token ends the old sessions");
}

/// `base_url` decides the cookie's `Secure` and its path, and the paths of links and
/// redirects: here the real binary behind a proxy that serves it at `https://…/portal`.
#[tokio::test]
async fn behind_https_the_cookie_is_secure_and_follows_the_base_path() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("tidings.toml");
    let database = fresh_database_url(dir.path()).await;
    write_server_config(
        &config,
        port,
        "https://news.example.gov.cn/portal",
        &database,
        "",
    );
    let _server = KillOnDrop(start_binary(&config));
    let direct = format!("http://127.0.0.1:{port}");
    wait_healthy(&reqwest::Client::new(), &direct).await;
    let response = client()
        .post(format!("{direct}/admin/login"))
        .header(ORIGIN, "https://news.example.gov.cn")
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/portal/admin");
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    let attributes: Vec<&str> = set.split("; ").collect();
    for attribute in [
        "Secure",
        "Path=/portal/admin",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(attributes.contains(&attribute), "{attribute} in {set}");
    }
    let html = client()
        .get(format!("{direct}/admin"))
        .header("cookie", cookie_of(&response))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("action=\"/portal/admin/logout\""), "{html}");
}

#[tokio::test]
async fn forms_without_the_sessions_token_or_from_another_site_are_refused() {
    let app = app().await;
    let id = create_endpoint(&app, "http://127.0.0.1:9/hook").await;
    let browser = Browser::open(&app, TOKEN).await;
    let other_session = Browser::open(&app, OPS_TOKEN).await;
    assert_ne!(browser.csrf, other_session.csrf);
    let path = format!("/admin/endpoints/{id}/disable");
    let send = |csrf: Option<&str>, headers: &[(&str, &str)]| {
        let mut request = client()
            .post(app.url(&path))
            .header("cookie", &browser.cookie);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let form: Vec<(&str, &str)> = csrf.map(|c| ("csrf", c)).into_iter().collect();
        request.form(&form).send()
    };
    let refusals = [
        (None, vec![]),
        (Some("AAAA"), vec![]),
        (Some(other_session.csrf.as_str()), vec![]),
        (
            Some(browser.csrf.as_str()),
            vec![("origin", "https://evil.example")],
        ),
        (Some(browser.csrf.as_str()), vec![("origin", "null")]),
        (
            Some(browser.csrf.as_str()),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            Some(browser.csrf.as_str()),
            vec![("sec-fetch-site", "same-site")],
        ),
    ];
    for (csrf, headers) in &refusals {
        let response = send(*csrf, headers).await.unwrap();
        assert_eq!(response.status(), 403, "{csrf:?} {headers:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("表单已失效"), "{html}");
        let endpoint = admin_get(&app, &format!("/api/v1/webhooks/{id}")).await;
        assert_eq!(
            endpoint["enabled"], true,
            "{csrf:?} {headers:?} changed nothing"
        );
    }
    // A login from another site is refused too (login CSRF).
    let response = client()
        .post(app.url("/admin/login"))
        .header(ORIGIN, "https://evil.example")
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get(SET_COOKIE).is_none());

    // The same form, from this site with the session's token, is done.
    let host = app.address.trim_start_matches("http://").to_owned();
    for headers in [
        vec![],
        vec![
            ("origin", app.address.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
        vec![("origin", "http://localhost:1")],
    ] {
        let response = send(Some(browser.csrf.as_str()), &headers).await.unwrap();
        if headers
            .first()
            .is_some_and(|(_, v)| *v == "http://localhost:1")
        {
            assert_eq!(
                response.status(),
                403,
                "another origin than ours and {host}"
            );
        } else {
            assert_eq!(response.status(), 303, "{headers:?}");
        }
    }
    let endpoint = admin_get(&app, &format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(endpoint["enabled"], false);
}

#[tokio::test]
async fn enabling_disabling_and_testing_change_what_the_api_shows() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let id = create_endpoint(&app, &receiver.url).await;
    let browser = Browser::open(&app, TOKEN).await;

    let response = browser
        .post(&format!("/admin/endpoints/{id}/disable"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        format!("/admin/endpoints/{id}?done=disabled")
    );
    assert_eq!(
        admin_get(&app, &format!("/api/v1/webhooks/{id}")).await["enabled"],
        false
    );
    let (_, html) = browser.get(location(&response)).await;
    assert!(html.contains("端点已停用") && html.contains("state disabled"));

    let response = browser
        .post(&format!("/admin/endpoints/{id}/enable"), &[])
        .await;
    assert_eq!(
        location(&response),
        format!("/admin/endpoints/{id}?done=enabled")
    );
    assert_eq!(
        admin_get(&app, &format!("/api/v1/webhooks/{id}")).await["enabled"],
        true
    );

    let response = browser
        .post(&format!("/admin/endpoints/{id}/test"), &[])
        .await;
    assert_eq!(
        location(&response),
        format!("/admin/endpoints/{id}?done=test-queued")
    );
    let got = receiver.wait_for_posts(1).await;
    assert_eq!(got[0].json()["type"], "webhook.test");
    let log = wait_log(&app, &id, |log| {
        log.iter().any(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(log[0]["type"], "webhook.test");
    // The endpoint's page shows the attempt and its answer's status.
    let (status, html) = browser.get(&format!("/admin/endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("id=\"{}\"", log[0]["id"].as_str().unwrap())));
    assert!(
        html.contains("<span class=\"state delivered\">200</span>"),
        "{html}"
    );
    assert!(html.contains("<code>webhook.test</code>"));

    let (status, _) = browser.get("/admin/endpoints/ep_nobody").await;
    assert_eq!(status, 404);
    let response = browser.post("/admin/endpoints/ep_nobody/test", &[]).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn resending_and_recovering_send_failed_deliveries_again() {
    let app = app().await;
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::status(500));
    let id = create_endpoint(&app, &receiver.url).await;
    let browser = Browser::open(&app, TOKEN).await;
    app.publish(&seed_article()).await;
    let mut second = seed_article();
    second["id"] = json!("second-article");
    app.publish(&second).await;
    let log = wait_log(&app, &id, |log| {
        log.len() == 2 && log.iter().all(|d| d["status"] == "failed")
    })
    .await;
    let (_, overview) = browser.get("/admin").await;
    assert!(overview.contains("<span class=\"state failing\">失败中</span>"));

    receiver.otherwise(Reply::status(204));
    let delivery = log[0]["id"].as_str().unwrap();
    let response = browser
        .post(&format!("/admin/deliveries/{delivery}/resend"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        format!("/admin/endpoints/{id}?done=resent")
    );
    wait_log(&app, &id, |log| {
        log[0]["status"] == "delivered" && log[1]["status"] == "failed"
    })
    .await;

    let response = browser
        .post(
            &format!("/admin/endpoints/{id}/recover"),
            &[("since", "2000-01-01T00:00")],
        )
        .await;
    assert_eq!(
        location(&response),
        format!("/admin/endpoints/{id}?done=recovered&n=1")
    );
    let log = wait_log(&app, &id, |log| {
        log.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(log.len(), 2);
    let (_, html) = browser.get(location(&response)).await;
    assert!(html.contains("已重新排队 1 条失败的投递"));

    let response = browser
        .post(
            &format!("/admin/endpoints/{id}/recover"),
            &[("since", "yesterday")],
        )
        .await;
    assert_eq!(
        location(&response),
        format!("/admin/endpoints/{id}?done=bad-time")
    );
    let response = browser
        .post("/admin/deliveries/dlv_nobody/resend", &[])
        .await;
    assert_eq!(location(&response), "/admin?done=no-such-delivery");
}

#[tokio::test]
async fn a_rotated_secret_is_shown_once_and_signs_what_follows() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let id = create_endpoint(&app, &receiver.url).await;
    let browser = Browser::open(&app, TOKEN).await;
    let response = browser
        .post(&format!("/admin/endpoints/{id}/rotate-secret"), &[])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let re = regex::Regex::new(r#"<code class="secret" id="secret">(whsec_[^<]+)</code>"#).unwrap();
    let secret = re.captures(&html).expect("the new secret")[1].to_owned();
    let (_, page) = browser.get(&format!("/admin/endpoints/{id}")).await;
    assert!(!page.contains(&secret), "never shown again");

    browser
        .post(&format!("/admin/endpoints/{id}/test"), &[])
        .await;
    let got = receiver.wait_for_posts(1).await;
    let received = &got[0];
    let timestamp: i64 = received.header("webhook-timestamp").parse().unwrap();
    let expected = signature_header(
        &[&Secret::parse(&secret).unwrap()],
        received.header("webhook-id"),
        timestamp,
        &received.body,
    );
    let signatures: Vec<&str> = received.header("webhook-signature").split(' ').collect();
    assert!(signatures.contains(&expected.as_str()), "{signatures:?}");
    assert_eq!(
        signatures.len(),
        2,
        "the old secret signs beside it meanwhile"
    );
}

#[tokio::test]
async fn an_endpoint_added_in_the_console_is_the_apis_with_its_secret_shown_once() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let browser = Browser::open(&app, TOKEN).await;
    let (status, form) = browser.get("/admin/endpoints/new").await;
    assert_eq!(status, 200);
    assert!(form.contains("<option value=\"standard\" selected>"));

    let refused = browser
        .post(
            "/admin/endpoints",
            &[
                ("url", "http://127.0.0.1:9/hook"),
                ("sections", "hnyw/ldhdd"),
                ("rate_limit", "lots"),
                ("event_types", "article.published"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("<code>sections[0]</code> unknown section &quot;hnyw/ldhdd&quot; (hnyw/ldhd"),
        "{html}"
    );
    assert!(html.contains("<code>rate_limit</code>"));
    assert!(
        html.contains("value=\"article.published\" checked"),
        "kept as sent"
    );
    assert_eq!(
        admin_get(&app, "/api/v1/webhooks").await["endpoints"],
        json!([])
    );

    let created = browser
        .post(
            "/admin/endpoints",
            &[
                ("url", &receiver.url),
                ("description", "搜索索引"),
                ("kind", "standard"),
                ("event_types", "article.published"),
                ("event_types", "article.updated"),
                ("sections", "hnyw zwgk/tzgg"),
                ("rate_limit", "20"),
            ],
        )
        .await;
    assert_eq!(created.status(), 201);
    let html = created.text().await.unwrap();
    let re = regex::Regex::new(r#"id="secret">(whsec_[^<]+)<"#).unwrap();
    let secret = re.captures(&html).expect("the secret")[1].to_owned();
    let endpoints = admin_get(&app, "/api/v1/webhooks").await["endpoints"].clone();
    let endpoint = &endpoints[0];
    assert_eq!(endpoint["url"], receiver.url);
    assert_eq!(endpoint["description"], "搜索索引");
    assert_eq!(
        endpoint["event_types"],
        json!(["article.published", "article.updated"])
    );
    assert_eq!(endpoint["sections"], json!(["hnyw", "zwgk/tzgg"]));
    assert_eq!(endpoint["rate_limit"], 20.0);
    let id = endpoint["id"].as_str().unwrap();

    app.publish(&seed_article()).await;
    let got = receiver.wait_for_posts(1).await;
    let timestamp: i64 = got[0].header("webhook-timestamp").parse().unwrap();
    let expected = signature_header(
        &[&Secret::parse(&secret).unwrap()],
        got[0].header("webhook-id"),
        timestamp,
        &got[0].body,
    );
    assert_eq!(got[0].header("webhook-signature"), expected);
    let (_, page) = browser.get(&format!("/admin/endpoints/{id}")).await;
    assert!(!page.contains(&secret));
}

#[tokio::test]
async fn a_robot_added_in_the_console_shows_its_message_first_and_signs_as_its_vendor_says() {
    let app = app().await;
    let robot = FakeRobot::start(Vendor::DingTalk, Some("SECc0ns0le5ecret")).await;
    let browser = Browser::open(&app, TOKEN).await;
    let fields = [
        ("url", robot.url.as_str()),
        ("kind", "dingtalk"),
        ("secret", "SECc0ns0le5ecret"),
        ("sections", "hnyw"),
    ];

    // A preview adds nothing: it shows the message, and keeps every field for the next step.
    let mut previewing = fields.to_vec();
    previewing.push(("preview", "1"));
    let previewed = browser.post("/admin/endpoints", &previewing).await;
    assert_eq!(previewed.status(), 200);
    let html = previewed.text().await.unwrap();
    let re = regex::Regex::new(r#"(?s)<pre class="message"><code>(.*?)</code></pre>"#).unwrap();
    let shown = re.captures(&html).expect("the message's preview")[1].replace("&quot;", "\"");
    let message: Value = serde_json::from_str(&shown).expect("the preview is the message's JSON");
    assert_eq!(message["msgtype"], "actionCard", "{message}");
    assert!(
        message["actionCard"]["title"]
            .as_str()
            .unwrap()
            .contains("黄南州"),
        "the sample article: {message}"
    );
    assert!(html.contains("<option value=\"dingtalk\" selected>"));
    assert!(html.contains("name=\"secret\" value=\"SECc0ns0le5ecret\""));
    assert_eq!(
        admin_get(&app, "/api/v1/webhooks").await["endpoints"],
        json!([])
    );

    // A template that cannot serve is named, before anything is added.
    let mut templated = fields.to_vec();
    templated.extend([
        ("template", "{\"text\": \"{{ title }}\"}"),
        ("preview", "1"),
    ]);
    let refused = browser.post("/admin/endpoints", &templated).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("<code>template</code>"), "{html}");
    assert!(html.contains("msgtype"), "says what is missing: {html}");
    let template = "{\"msgtype\": \"text\", \"text\": {\"content\": \"{{ title }} {{ url }}\"}}";
    templated[4] = ("template", template);
    let previewed = browser.post("/admin/endpoints", &templated).await;
    assert_eq!(previewed.status(), 200);
    let html = previewed.text().await.unwrap();
    assert!(
        html.contains("&quot;msgtype&quot;: &quot;text&quot;"),
        "the template's message: {html}"
    );

    let created = browser.post("/admin/endpoints", &fields).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let to = location(&created).to_owned();
    assert!(to.ends_with("?done=created"), "{to}");
    let endpoint = admin_get(&app, "/api/v1/webhooks").await["endpoints"][0].clone();
    assert_eq!(endpoint["kind"], "dingtalk");
    assert_eq!(endpoint["signed"], true);
    assert_eq!(endpoint["event_types"], json!(["article.published"]));
    let id = endpoint["id"].as_str().unwrap().to_owned();
    assert!(to.contains(&format!("/admin/endpoints/{id}")), "{to}");

    let (_, page) = browser.get(&to).await;
    assert!(page.contains("端点已添加。"));
    assert!(page.contains("data-kind=\"dingtalk\">钉钉自定义机器人"));
    assert!(page.contains("access_token=***"));
    assert!(
        !page.contains(&robot.credential),
        "the credential is masked"
    );
    assert!(!page.contains("SECc0ns0le5ecret"));
    assert!(page.contains("<section id=\"preview\">"));
    assert!(
        !page.contains("/rotate-secret"),
        "a robot's secret is its vendor's"
    );
    let rotate = browser
        .post(&format!("/admin/endpoints/{id}/rotate-secret"), &[])
        .await;
    assert_eq!(rotate.status(), StatusCode::SEE_OTHER);
    assert!(location(&rotate).ends_with("?done=robot-secret"));

    app.publish(&seed_article()).await;
    let got = robot.wait_for(1).await;
    assert!(got[0].problems.is_empty(), "{:?}", got[0].problems);
    assert_eq!(got[0].message["msgtype"], "actionCard");
    assert_eq!(
        got[0].message["actionCard"]["title"],
        seed_article()["title"]
    );
}

#[tokio::test]
async fn the_consoles_stream_sends_each_event_as_the_overview_lists_it() {
    let app = app().await;
    let anonymous = client();
    for path in ["/admin/live.js", "/admin/events/stream"] {
        let response = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
    }
    app.publish(&seed_article()).await;
    let browser = Browser::open(&app, TOKEN).await;

    let response = browser.fetch("/admin").await;
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    let html = response.text().await.unwrap();
    assert!(html.contains("<script src=\"/admin/live.js\" defer></script>"));
    assert!(
        html.contains(
            "<noscript><meta http-equiv=\"refresh\" content=\"30; url=/admin\"></noscript>"
        ),
        "without scripts the overview reloads itself"
    );
    let title = seed_article()["title"].as_str().unwrap().to_owned();
    assert!(
        html.contains(&format!(">{title}</a>")),
        "the latest events are listed"
    );
    let re = regex::Regex::new(r#"<ul [^>]*id="live-events"[^>]*data-after="(\d+)""#).unwrap();
    let after = re.captures(&html).expect("where the stream goes on")[1].to_owned();
    assert!(html.contains("<section id=\"queue\" data-live>"));

    let script = browser.fetch("/admin/live.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().await.unwrap().contains("new EventSource("));

    let response = browser
        .fetch(&format!("/admin/events/stream?after={after}"))
        .await;
    let mut stream = SseStream::new(response);
    let mut updated = seed_article();
    updated["title"] = json!("黄南州双拥工作会议（更新）");
    app.publish(&updated).await;
    let frame = stream.next_message().await;
    assert_eq!(frame.event.as_deref(), Some("article.updated"));
    let item = frame.json();
    assert_eq!(item["type"], "article.updated");
    assert_eq!(item["title"], "黄南州双拥工作会议（更新）");
    assert_eq!(item["section"], "hnyw/ldhd");
    assert_eq!(item["href"], "/admin/sections/hnyw/ldhd");
    assert_eq!(frame.id.as_deref(), item["cursor"].as_str());
    assert!(
        item["cursor"].as_str().unwrap().parse::<i64>().unwrap() > after.parse::<i64>().unwrap()
    );
}

#[tokio::test]
async fn a_sections_history_shows_each_article_with_its_versions_and_events() {
    let app = app().await;
    let browser = Browser::open(&app, TOKEN).await;
    let mut article = seed_article();
    app.publish(&article).await;
    article["title"] = json!("改过的标题");
    app.publish(&article).await;
    let events = app.events().await;
    assert_eq!(events.len(), 2);

    let (status, html) = browser.get("/admin/sections/hnyw").await;
    assert_eq!(status, 200);
    assert!(html.contains("改过的标题"));
    assert!(html.contains("<td>v2</td>"));
    for event in &events {
        assert!(html.contains(event["id"].as_str().unwrap()), "{event}");
    }
    let updated = html.find("<code>article.updated</code> v2").unwrap();
    let published = html.find("<code>article.published</code> v1").unwrap();
    assert!(updated < published, "newest first");

    let id = article["id"].as_str().unwrap();
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/articles/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let (_, html) = browser.get("/admin/sections/all").await;
    assert!(html.contains("<h2>已删除的文章</h2>"));
    assert!(html.contains("<code>article.deleted</code> v3"));
    let (status, _) = browser.get("/admin/sections/no/such").await;
    assert_eq!(status, 404);
    let (_, overview) = browser.get("/admin").await;
    assert!(overview.contains("href=\"/admin/sections/hnyw/ldhd\""));
}

#[tokio::test]
async fn the_overview_shows_each_subscriptions_last_success() {
    let app = app().await;
    let subscriber = Receiver::start().await;
    let topic = format!("{}/feeds/hnyw.rss", app.address);
    subscribe(&app, &topic, &subscriber.url, &[]).await;
    let browser = Browser::open(&app, TOKEN).await;
    let row = |html: &str| {
        let start = html
            .find(&format!("<code>{}</code>", subscriber.url))
            .expect("the row");
        let end = start + html[start..].find("</tr>").unwrap();
        html[start..end].to_owned()
    };
    let (_, html) = browser.get("/admin").await;
    assert!(
        row(&html).ends_with("<td><span class=\"muted\">从未</span></td>"),
        "{}",
        row(&html)
    );

    app.publish(&seed_article()).await;
    subscriber.wait_for_posts(1).await;
    let shown = eventually("the notification's success on the overview", || async {
        let (_, html) = browser.get("/admin").await;
        let row = row(&html);
        (!row.contains("从未")).then_some(row)
    })
    .await;
    assert!(
        shown.contains("<span class=\"state delivered\">"),
        "{shown}"
    );
    let re = regex::Regex::new(r#"<td><time datetime="[^"]+">[^<]+\+08:00</time></td>$"#).unwrap();
    assert!(
        re.is_match(&shown),
        "the last success, in the site's time: {shown}"
    );
}
