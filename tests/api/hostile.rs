//! Hostile input: each case gets a precise 422 or yields feeds that stay valid.

use serde_json::{Value, json};

use crate::helpers::{TestApp, article, spawn_app, spawn_app_with};

enum Expect {
    /// 422 naming this field.
    Rejected(&'static str),
    /// Accepted; the stored article satisfies the check, and every feed stays valid.
    Accepted(fn(&Value) -> bool),
}

fn case(id: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut doc = article(id, "hnyw/xxdt", "县区动态");
    change(&mut doc);
    doc
}

/// Parses every format of the section's feeds strictly; returns the Atom and JSON texts.
async fn assert_feeds_valid(app: &TestApp, label: &str) -> (String, Value) {
    let rss = app.get_text("/feeds/hnyw/xxdt.rss").await;
    roxmltree::Document::parse(&rss)
        .unwrap_or_else(|e| panic!("{label}: RSS is not well-formed XML: {e}"));
    let atom = app.get_text("/feeds/hnyw/xxdt.atom").await;
    roxmltree::Document::parse(&atom)
        .unwrap_or_else(|e| panic!("{label}: Atom is not well-formed XML: {e}"));
    let json: Value = serde_json::from_str(&app.get_text("/feeds/hnyw/xxdt.json").await)
        .unwrap_or_else(|e| panic!("{label}: JSON Feed is not JSON: {e}"));
    for text in [&rss, &atom] {
        feed_rs::parser::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{label}: {e}"));
    }
    // RSS descriptions are HTML: a plain-text summary must arrive escaped, never as markup.
    let doc = roxmltree::Document::parse(&rss).unwrap();
    for description in doc.descendants().filter(|n| n.has_tag_name("description")) {
        let html = description.text().unwrap_or("");
        assert!(
            !html.contains("<img"),
            "{label}: markup leaked into an RSS description: {html}"
        );
    }
    (atom, json)
}

#[tokio::test]
async fn hostile_inputs_get_a_precise_422_or_a_valid_feed() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Value, Expect)> = vec![
        (
            // Found by schemathesis: under the limit as sent, over it once resolved.
            "an image URL over 2048 bytes once resolved against the article's",
            case("h-long-image", |d| {
                d["url"] = json!(format!("https://www.huangnan.gov.cn/{}/", "a".repeat(1500)));
                d["images"] = json!([{"url": "b".repeat(1000)}]);
            }),
            Expect::Rejected("images[0].url"),
        ),
        (
            "an article URL over 2048 bytes once percent-encoded",
            case("h-long-url", |d| {
                d["url"] = json!(format!("https://www.huangnan.gov.cn/{}", "黄".repeat(300)));
            }),
            Expect::Rejected("url"),
        ),
        (
            "C0 control characters",
            case("h-c0", |d| {
                d["title"] = json!("标\u{0}题\u{1}\u{8}\u{b}\u{c}\u{1f}");
                d["content_html"] = json!("<p>a\u{0}b\u{1b}c</p>");
                d["source"] = json!("来\u{7}源");
            }),
            Expect::Accepted(|a| {
                a["title"] == "标题" && a["content_html"] == "<p>abc</p>" && a["source"] == "来源"
            }),
        ),
        (
            "CDATA terminator",
            case("h-cdata", |d| {
                d["title"] = json!("a ]]> b <![CDATA[ c");
                d["content_html"] = json!("<p>]]></p><![CDATA[ x ]]>");
            }),
            Expect::Accepted(|a| a["title"] == "a ]]> b <![CDATA[ c"),
        ),
        (
            "named entities",
            case("h-nbsp", |d| {
                d["title"] = json!("甲&nbsp;乙 &ldquo;丙&rdquo; &amp; 丁")
            }),
            Expect::Accepted(|a| a["title"] == "甲\u{a0}乙 “丙” & 丁"),
        ),
        (
            "script",
            case("h-script", |d| {
                d["content_html"] = json!("<p>x</p><script>alert(1)</script><style>p{}</style>")
            }),
            Expect::Accepted(|a| a["content_html"] == "<p>x</p>"),
        ),
        (
            "event handlers",
            case("h-onclick", |d| {
                d["content_html"] = json!(
                    "<p onclick=\"alert(1)\" onmouseover=\"x\">x</p><img src=\"a.png\" onerror=\"alert(1)\">"
                )
            }),
            Expect::Accepted(|a| {
                let html = a["content_html"].as_str().unwrap();
                !html.contains("onclick")
                    && !html.contains("onerror")
                    && !html.contains("onmouseover")
            }),
        ),
        (
            "javascript links and iframes",
            case("h-js", |d| {
                d["content_html"] = json!(
                    "<a href=\"javascript:alert(1)\">x</a><a href=\"JaVaScRiPt:alert(1)\">y</a><iframe src=\"https://evil.example/\"></iframe>"
                )
            }),
            Expect::Accepted(|a| {
                let html = a["content_html"].as_str().unwrap().to_ascii_lowercase();
                !html.contains("javascript") && !html.contains("iframe")
            }),
        ),
        (
            "relative URLs",
            case("h-rel", |d| {
                d["url"] = json!("https://www.huangnan.gov.cn/hnyw/xxdt/202403/t1.html");
                d["content_html"] =
                    json!("<p><a href=\"../index.html\">i</a><img src=\"./p.png\"></p>");
                d["images"] = json!([{"url": "p.png", "caption": "图"}]);
            }),
            Expect::Accepted(|a| {
                let html = a["content_html"].as_str().unwrap();
                html.contains("href=\"https://www.huangnan.gov.cn/hnyw/xxdt/index.html\"")
                    && html.contains("src=\"https://www.huangnan.gov.cn/hnyw/xxdt/202403/p.png\"")
                    && a["images"][0]["url"] == "https://www.huangnan.gov.cn/hnyw/xxdt/202403/p.png"
            }),
        ),
        (
            "a 10,000-character title",
            case("h-long", |d| d["title"] = json!("长".repeat(10_000))),
            Expect::Rejected("title"),
        ),
        (
            "emoji",
            case("h-emoji", |d| d["title"] = json!("🎉 庆祝 👍🏽 🇨🇳")),
            Expect::Accepted(|a| a["title"] == "🎉 庆祝 👍🏽 🇨🇳"),
        ),
        (
            "right-to-left text",
            case("h-rtl", |d| d["title"] = json!("مرحبا بالعالم עברית")),
            Expect::Accepted(|a| a["title"] == "مرحبا بالعالم עברית"),
        ),
        (
            "an empty body",
            case("h-empty", |d| d["content_html"] = json!("")),
            Expect::Accepted(|a| a["content_html"] == ""),
        ),
        (
            "a missing title",
            case("h-missing", |d| {
                d.as_object_mut().unwrap().remove("title");
            }),
            Expect::Rejected("title"),
        ),
        (
            "a mistyped date",
            case("h-type", |d| d["published"] = json!(20240301)),
            Expect::Rejected("published"),
        ),
        (
            "an unknown section",
            case("h-sec", |d| d["section"] = json!("hnyw/nope")),
            Expect::Rejected("section"),
        ),
        (
            "a date in 2099",
            case("h-2099", |d| {
                d["published"] = json!("2099-01-01T00:00:00+08:00")
            }),
            Expect::Rejected("published"),
        ),
        (
            "a date without a zone",
            case("h-nozone", |d| {
                d["published"] = json!("2024-03-01 09:30:00")
            }),
            Expect::Accepted(|a| a["published"] == "2024-03-01T09:30:00+08:00"),
        ),
        (
            "a non-http URL",
            case("h-url", |d| d["url"] = json!("javascript:alert(1)")),
            Expect::Rejected("url"),
        ),
        (
            "whitespace title",
            case("h-blank", |d| d["title"] = json!(" \u{3000}\t ")),
            Expect::Rejected("title"),
        ),
        (
            "a year before 1000",
            case("h-y0", |d| d["published"] = json!("-0001-01-01")),
            Expect::Rejected("published"),
        ),
        (
            "a five-digit year",
            case("h-y5", |d| d["published"] = json!("+12345-01-01T00:00:00Z")),
            Expect::Rejected("published"),
        ),
        (
            "a local time before the zone's standard time",
            case("h-lmt", |d| d["published"] = json!("1900-01-01")),
            Expect::Rejected("published"),
        ),
        (
            "a huge summary",
            case("h-sum", |d| d["summary"] = json!("长".repeat(6000))),
            Expect::Accepted(|a| {
                let summary = a["summary"].as_str().unwrap();
                summary.chars().count() == 5000 && summary.ends_with("长…")
            }),
        ),
        (
            "too many images",
            case("h-img", |d| d["images"] = json!(vec!["a.png"; 201])),
            Expect::Rejected("images"),
        ),
        (
            "markup in a plain-text summary",
            case("h-sumhtml", |d| {
                d["summary"] = json!("a < b &lt;img src=x onerror=alert(1)&gt;")
            }),
            Expect::Accepted(|a| a["summary"] == "a < b <img src=x onerror=alert(1)>"),
        ),
    ];
    for (label, doc, expect) in cases {
        let response = app.post_article(&doc).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        match expect {
            Expect::Rejected(field) => {
                assert_eq!(status, 422, "{label}: {body}");
                let fields: Vec<&str> = body["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["field"].as_str().unwrap())
                    .collect();
                assert_eq!(fields, [field], "{label}");
            }
            Expect::Accepted(check) => {
                assert!(status.is_success(), "{label}: {status} {body}");
                assert!(
                    check(&body["article"]),
                    "{label}: stored as {}",
                    body["article"]
                );
                let (atom, json) = assert_feeds_valid(&app, label).await;
                let title = body["article"]["title"].as_str().unwrap();
                let item = json["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["url"] == body["article"]["url"]);
                assert_eq!(
                    item.map(|i| &i["title"]),
                    Some(&json!(title)),
                    "{label}: JSON title"
                );
                let doc = roxmltree::Document::parse(&atom).unwrap();
                let titles: Vec<&str> = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("title"))
                    .filter_map(|n| n.text())
                    .collect();
                assert!(titles.contains(&title), "{label}: Atom title round-trips");
            }
        }
    }
}

/// Bodies whose parse would cost the square of their size (unclosed or deeply nested elements,
/// thousands of attributes) are refused from one linear pass, before the sanitiser sees them;
/// a large but ordinary body (a long table with its optional end tags left out) is not.
#[tokio::test]
async fn bodies_that_would_make_the_sanitiser_quadratic_are_refused_before_parsing() {
    let app = spawn_app().await;
    let many_attributes: String = (0..1000).map(|i| format!(" data-a{i}=\"{i}\"")).collect();
    let cases = [
        ("unclosed <b>", "<b id=i>".repeat(20_000), "deep"),
        ("1 MB of nested <div>", "<div>".repeat(200_000), "deep"),
        (
            "formatting reopened by each paragraph",
            "<p><b id=1>x</p>".repeat(5_000),
            "deep",
        ),
        ("nested tables", "<table><tr><td>".repeat(1_000), "deep"),
        (
            "1,000 attributes on one element",
            format!("<p{many_attributes}>x</p>"),
            "attributes",
        ),
        ("120,000 line breaks", "<br>".repeat(120_000), "elements"),
    ];
    for (label, html, reason) in cases {
        let doc = case("h-shape", |d| d["content_html"] = json!(html));
        let response = app.post_article(&doc).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{label}: {body}");
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{label}: {body}");
        assert_eq!(errors[0]["field"], "content_html", "{label}");
        let message = errors[0]["reason"].as_str().unwrap_or_default();
        assert!(
            message.contains(reason) && message.contains("at most"),
            "{label}: {body}"
        );
    }
    assert!(app.events().await.is_empty(), "nothing refused was stored");

    let mut table = String::from("<table>");
    for row in 0..3_000 {
        table.push_str(&format!(
            "<tr><td>{row}<td><b>黄南</b><td>州<td><font size=2>会议</font><td>x"
        ));
    }
    table.push_str("</table>");
    let doc = case("h-table", |d| d["content_html"] = json!(table));
    let response = app.post_article(&doc).await;
    assert!(response.status().is_success(), "{}", response.status());
    let stored: Value = response.json().await.unwrap();
    let html = stored["article"]["content_html"].as_str().unwrap();
    assert_eq!(html.matches("<tr>").count(), 3_000);
    assert_feeds_valid(&app, "a long table").await;
}

/// A batch past `ingest.max_batch_items` is refused whole with a small 413, whether it is a
/// JSON array (counted without being built) or NDJSON; a batch at the limit is stored.
#[tokio::test]
async fn an_oversized_batch_is_refused_whole_with_a_small_answer() {
    let app = spawn_app_with(|c| c.ingest.max_batch_items = 20).await;
    let send = |body: String, media_type: &'static str| {
        app.client
            .post(app.url("/api/v1/articles/batch"))
            .bearer_auth(crate::helpers::TOKEN)
            .header("content-type", media_type)
            .body(body)
            .send()
    };
    // Megabytes of `1`: once answered with millions of rejections.
    let ones = format!("[{}1]", "1,".repeat(2 * 1024 * 1024));
    let docs: Vec<String> = (0..21)
        .map(|i| article(&format!("big-{i}"), "hnyw", "批量").to_string())
        .collect();
    for (label, body, media_type, count) in [
        (
            "an array of ones",
            ones,
            "application/json",
            2 * 1024 * 1024 + 1,
        ),
        (
            "21 articles",
            format!("[{}]", docs.join(",")),
            "application/json",
            21,
        ),
        (
            "21 NDJSON lines",
            docs.join("\n\n"),
            "application/x-ndjson",
            21,
        ),
    ] {
        let response = send(body, media_type).await.unwrap();
        assert_eq!(response.status(), 413, "{label}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{label}"
        );
        let text = response.text().await.unwrap();
        assert!(text.len() < 1024, "{label}: {text}");
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["type"], "/problems/too-many-items", "{label}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(&count.to_string()) && detail.contains("at most 20"),
            "{label}: {detail}"
        );
    }
    assert!(
        app.events().await.is_empty(),
        "nothing of a refused batch is stored"
    );

    let response = send(format!("[{}]", docs[..20].join(",")), "application/json")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["created"], 20);
    let response = send("{\"id\":1}".into(), "application/json").await.unwrap();
    assert_eq!(response.status(), 400, "an object is not a batch");
}

/// The hub's public form is read only as far as a form needs: a larger one is refused with a
/// plain-text 413 (the hub's protocol answers in text) before it is held in memory.
#[tokio::test]
async fn a_subscription_request_larger_than_a_form_needs_is_refused() {
    let app = spawn_app().await;
    let padded = format!(
        "hub.mode=subscribe&hub.topic={}&hub.callback=http%3A%2F%2Fexample.com%2Fcb&pad={}",
        app.url("/feeds/all.atom"),
        "a".repeat(64 * 1024)
    );
    let response = app
        .client
        .post(app.url("/websub"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(padded)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("at most 16384 bytes"), "{text}");
}

/// A request target or header fields past their limits get a problem naming what was too
/// large, as every other refusal does; the service goes on answering.
#[tokio::test]
async fn long_targets_and_large_headers_get_a_problem() {
    let app = spawn_app().await;
    let problem = |response: reqwest::Response, status: u16, kind: &'static str| async move {
        assert_eq!(response.status(), status);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], kind, "{body}");
        body
    };
    let long = format!("/feeds/all.atom?pad={}", "a".repeat(9000));
    let body = problem(
        app.client.get(app.url(&long)).send().await.unwrap(),
        414,
        "/problems/uri-too-long",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "uri");
    assert!(body["detail"].as_str().unwrap().contains("8192"), "{body}");

    let big = app
        .client
        .get(app.url("/feeds/all.atom"))
        .header("x-padding", "b".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    let body = problem(big, 431, "/problems/headers-too-large").await;
    assert_eq!(body["errors"][0]["field"], "headers");

    let mut many = app.client.get(app.url("/feeds/all.atom"));
    for n in 0..150 {
        many = many.header(format!("x-field-{n}"), "1");
    }
    let body = problem(
        many.send().await.unwrap(),
        431,
        "/problems/headers-too-large",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("at most 100"),
        "{body}"
    );

    // Within the limits all is as usual.
    let fine = app
        .client
        .get(app.url(&format!("/feeds/all.atom?pad={}", "a".repeat(4000))))
        .header("x-padding", "b".repeat(16 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
}

/// Connections that send nothing, or half a header, or sit idle after an answer are closed after
/// `http.header_read_timeout_secs`; with more of them than `http.max_connections`, `/healthz`
/// and the feeds still answer once the silent ones have been closed.
#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_and_never_stop_the_service() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app_with(|c| {
        c.http.header_read_timeout_secs = 1;
        c.http.max_connections = 64;
    })
    .await;
    let address = app.config.listen.clone();
    let mut held = Vec::new();
    for i in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        match i % 3 {
            0 => {}
            1 => stream
                .write_all(b"GET /feeds/all.atom HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap(),
            _ => stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap(),
        }
        held.push(stream);
    }
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(app.get("/feeds/all.atom").await.status(), 200);

    // The server ends every one of them: a read reaches the end (or a reset), after the answer
    // for those that sent a whole request.
    for (i, mut stream) in held.into_iter().enumerate() {
        let mut answer = Vec::new();
        let ended = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "connection {i} is still open");
        if i % 3 == 2 {
            assert!(
                answer.starts_with(b"HTTP/1.1 200"),
                "connection {i}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
}

/// A data folder deleted while the service runs: writes answer 503 problem+json instead of
/// 201 into a file nobody will open again, health says so, and cached feeds are still served.
/// A database missing beside its leftover write-ahead log is not silently replaced at start.
#[tokio::test]
async fn a_deleted_database_is_a_storage_fault_not_a_silent_success() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut config = crate::helpers::test_config(dir.path());
    config.database_url = format!("sqlite://{}", data.join("tidings.db").display());
    let app = crate::helpers::spawn_in(dir, config).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.publish(&article("before", "hnyw", "之前")).await;
    let feed = app.get_text("/feeds/all.atom").await;

    std::fs::remove_dir_all(&data).unwrap();
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 503);
    assert_eq!(health.headers()["content-type"], "application/problem+json");
    let response = app.post_article(&article("after", "hnyw", "之后")).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/unavailable");
    assert_eq!(
        app.get_text("/feeds/all.atom").await,
        feed,
        "the cache still serves"
    );

    // At start: the database is gone but its write-ahead log is there.
    let lost = tempfile::tempdir().unwrap();
    std::fs::write(lost.path().join("tidings.db-wal"), b"").unwrap();
    let url = format!("sqlite://{}", lost.path().join("tidings.db").display());
    let err = tidings::store::Store::connect(&url, &app.config.database)
        .await
        .expect_err("no new database in place of a lost one");
    assert!(err.to_string().contains("is missing but"), "{err}");
    assert!(!lost.path().join("tidings.db").exists());
}

/// Runs `prlimit` on the server's process (the file-size limit it sets stands for a full
/// disk); whether it succeeded.
async fn prlimit(pid: u32, fsize: &str) -> bool {
    tokio::process::Command::new("prlimit")
        // The soft limit only (`N:`): lifting it again needs no privilege.
        .args(["--pid", &pid.to_string(), &format!("--fsize={fsize}:")])
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// A database that cannot grow (a full disk, here a file-size limit set on the running
/// process): writes answer 503 problem+json and store nothing, the process lives on, cached
/// feeds and stored articles are still served, and once space is back writes work again
/// without a restart, with everything acknowledged before still there.
#[tokio::test]
async fn a_full_disk_answers_503_and_recovers_by_itself() {
    use crate::helpers::{
        BinarySetup, KillOnDrop, TOKEN, binary_setup, on_postgres, require_tool, start_binary,
        wait_healthy,
    };
    if on_postgres() {
        // PostgreSQL's disk is the server's, not this process's.
        return;
    }
    let available = tokio::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    if !require_tool("prlimit", available) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let BinarySetup { base, config } = binary_setup(dir.path(), "").await;
    let mut server = KillOnDrop(start_binary(&config));
    let pid = server.0.id();
    let client = reqwest::Client::new();
    wait_healthy(&client, &base).await;
    let post = |id: &str| {
        let body = article(id, "hnyw", "磁盘");
        client
            .post(format!("{base}/api/v1/articles"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    assert_eq!(post("before-full").await.unwrap().status(), 201);
    let feed = client
        .get(format!("{base}/feeds/all.atom"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(prlimit(pid, "1").await, "prlimit sets the limit");
    for n in 0..5 {
        let response = post(&format!("while-full-{n}")).await.unwrap();
        assert_eq!(response.status(), 503, "write {n} while full");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert!(response.headers().contains_key("retry-after"));
    }
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let served = client
        .get(format!("{base}/feeds/all.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.text().await.unwrap(), feed);
    let stored = client
        .get(format!("{base}/api/v1/articles/before-full"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the process lives on"
    );

    assert!(prlimit(pid, "unlimited").await, "prlimit lifts the limit");
    crate::helpers::eventually("writes to work again", || async {
        (post("after-full").await.ok()?.status() == 201).then_some(())
    })
    .await;
    for (id, status) in [
        ("before-full", 200),
        ("after-full", 200),
        ("while-full-0", 404),
    ] {
        let response = client
            .get(format!("{base}/api/v1/articles/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{id}");
    }
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop(server);
}

/// The public doors count per client: past its rate a client gets 429 with `Retry-After`
/// (plain text at the hub, a problem for feeds) while another client does not, and feed
/// requests served from the cache are never counted.
#[tokio::test]
async fn the_public_doors_limit_each_client() {
    let app = spawn_app_with(|c| {
        c.websub.max_requests_per_client_per_minute = 3;
        c.feeds.max_misses_per_client_per_minute = 2;
        c.http.client_ip_header = "x-forwarded-for".into();
    })
    .await;
    let hub = |ip: &'static str| {
        app.client
            .post(app.url("/websub"))
            .header("x-forwarded-for", format!("10.9.8.7, {ip}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("hub.mode=nonsense")
            .send()
    };
    for _ in 0..3 {
        assert_eq!(hub("192.0.2.1").await.unwrap().status(), 400);
    }
    let limited = hub("192.0.2.1").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert!(
        limited.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        hub("192.0.2.2").await.unwrap().status(),
        400,
        "another client"
    );

    let feed = |path: &'static str, ip: &'static str| {
        app.client
            .get(app.url(path))
            .header("x-forwarded-for", ip)
            .send()
    };
    for path in ["/feeds/hnyw.atom?limit=5", "/feeds/zwgk.atom?limit=5"] {
        assert_eq!(
            feed(path, "192.0.2.1").await.unwrap().status(),
            200,
            "{path}"
        );
    }
    let refused = feed("/feeds/zjhn.atom?limit=5", "192.0.2.1").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/too-many-requests");
    let cached = feed("/feeds/hnyw.atom?limit=5", "192.0.2.1").await.unwrap();
    assert_eq!(cached.status(), 200, "served from the cache: not counted");
    let other = feed("/feeds/zjhn.atom?limit=5", "192.0.2.2").await.unwrap();
    assert_eq!(other.status(), 200, "another client");
}
