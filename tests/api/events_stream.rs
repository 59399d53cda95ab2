//! The event log live: `GET /api/v1/events/stream` and the public `/feeds/{scope}.events`,
//! read frame by frame as an SSE client parses them, and followed by a browser's `EventSource`
//! (Debian's chromium through `tests/js/event-source.mjs`) across a restart of the server.

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Value, json};
use tidings::config::{Scope, TokenConfig};

use crate::helpers::{
    READ_ONLY_TOKEN, TOKEN, TestApp, article, eventually, spawn_app, spawn_app_with,
};

/// A token that may publish and nothing else.
const PUBLISH_ONLY_TOKEN: &str = "test-token-that-may-only-publish";

/// One block of a stream, up to its blank line: a message's fields, or comments alone.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<u64>,
    pub comments: Vec<String>,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("a message with data"))
            .expect("the data is JSON")
    }
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// An open stream, parsed as the HTML standard's event stream format says (the parts our
/// streams use: fields with one space after the colon, comments, LF line ends).
pub(crate) struct SseStream {
    body: Body,
    buffer: Vec<u8>,
}

impl SseStream {
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        }
    }

    /// The next block; `None` once the server ended the stream. A minute of silence fails the
    /// test (heartbeats come far more often): the timeout only guards against a hang.
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(&String::from_utf8(block).expect("UTF-8")));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.body.next())
                .await
                .expect("the stream sent nothing for a minute");
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes.expect("a chunk")),
                None => {
                    assert!(self.buffer.is_empty(), "a partial frame at the end");
                    return None;
                }
            }
        }
    }

    /// The next message with data, passing over heartbeats and `retry:`.
    pub async fn next_message(&mut self) -> Frame {
        loop {
            let frame = self.next_frame().await.expect("the stream goes on");
            if frame.data.is_some() {
                return frame;
            }
        }
    }
}

fn parse_block(block: &str) -> Frame {
    let mut frame = Frame::default();
    for line in block.lines().filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match name {
            "" => frame.comments.push(value),
            "id" => frame.id = Some(value),
            "event" => frame.event = Some(value),
            "data" => {
                assert!(frame.data.is_none(), "our data is one line: {block}");
                frame.data = Some(value);
            }
            "retry" => frame.retry = Some(value.parse().expect("a number of milliseconds")),
            other => panic!("unknown field {other:?} in {block:?}"),
        }
    }
    frame
}

/// `GET path` with `token` (if any) and extra headers, answered.
async fn request(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the server answers")
}

/// The API's stream with the read-only token, from `after` (`Last-Event-ID`) or the end.
async fn open_api(app: &TestApp, last_event_id: Option<&str>) -> SseStream {
    let headers: Vec<(&str, &str)> = last_event_id
        .map(|id| ("last-event-id", id))
        .into_iter()
        .collect();
    let response = request(
        app,
        "/api/v1/events/stream",
        Some(READ_ONLY_TOKEN),
        &headers,
    )
    .await;
    let mut stream = SseStream::new(response);
    let first = stream.next_frame().await.expect("a first frame");
    assert_eq!(first.retry, Some(3000), "retry: comes first: {first:?}");
    stream
}

/// The log as `GET /api/v1/events` pages it.
async fn logged(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .get_authorized("/api/v1/events?after=0&limit=1000")
        .await
        .json()
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

/// Receives `count` messages and checks each against the log: id is the cursor, event is the
/// type, data is the log's item byte for byte (as JSON).
async fn receive_logged(app: &TestApp, stream: &mut SseStream, count: usize) -> Vec<Value> {
    let mut received = Vec::new();
    for _ in 0..count {
        received.push(stream.next_message().await);
    }
    let log = logged(app).await;
    received
        .iter()
        .map(|frame| {
            let data = frame.json();
            let id = frame.id.clone().expect("an id");
            assert_eq!(data["cursor"], id);
            assert_eq!(Some(data["type"].as_str().unwrap()), frame.event.as_deref());
            let item = log
                .iter()
                .find(|e| e["cursor"] == id)
                .expect("the event is in the log");
            assert_eq!(&data, item, "the message is the log's item");
            data
        })
        .collect()
}

fn kinds_and_articles(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["article_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn a_stream_sends_events_as_committed_and_resumes_after_last_event_id_with_nothing_missed_or_repeated()
 {
    let app = spawn_app().await;
    app.publish(&article("before", "hnyw/ldhd", "发布在连接之前"))
        .await;

    // Without a cursor a stream starts at the end of the log.
    let mut stream = open_api(&app, None).await;
    app.publish(&article("a1", "hnyw/ldhd", "第一篇")).await;
    app.publish(&article("a2", "zwgk/tzgg", "第二篇")).await;
    let got = receive_logged(&app, &mut stream, 2).await;
    assert_eq!(
        kinds_and_articles(&got),
        pairs(&[("article.published", "a1"), ("article.published", "a2")])
    );
    let last = got[1]["cursor"].as_str().unwrap().to_owned();
    drop(stream);

    // Missed while away: a publication, an update and a deletion.
    app.publish(&article("a3", "hnyw", "第三篇")).await;
    app.publish(&article("a1", "hnyw/ldhd", "第一篇（修订）"))
        .await;
    let deleted = app.delete_article("a2").await;
    assert!(deleted.status().is_success());

    let mut resumed = open_api(&app, Some(&last)).await;
    let missed = receive_logged(&app, &mut resumed, 3).await;
    assert_eq!(
        kinds_and_articles(&missed),
        pairs(&[
            ("article.published", "a3"),
            ("article.updated", "a1"),
            ("article.deleted", "a2"),
        ])
    );
    // Then live again: the next message is the next event, not a repeat.
    app.publish(&article("a4", "hnyw", "第四篇")).await;
    let next = receive_logged(&app, &mut resumed, 1).await;
    assert_eq!(
        kinds_and_articles(&next),
        pairs(&[("article.published", "a4")])
    );

    // `?after=` for clients that cannot send headers; `Last-Event-ID` wins over it, as an
    // EventSource reconnecting to the same URL sends it.
    let response = request(
        &app,
        &format!("/api/v1/events/stream?after={last}"),
        Some(TOKEN),
        &[],
    )
    .await;
    let mut by_query = SseStream::new(response);
    assert_eq!(by_query.next_message().await.json(), missed[0]);
    let response = request(
        &app,
        "/api/v1/events/stream?after=0",
        Some(TOKEN),
        &[("last-event-id", &last)],
    )
    .await;
    let mut by_header = SseStream::new(response);
    assert_eq!(by_header.next_message().await.json(), missed[0]);
    let response = request(&app, "/api/v1/events/stream?after=0", Some(TOKEN), &[]).await;
    let mut from_start = SseStream::new(response);
    assert_eq!(
        from_start.next_message().await.json()["article_id"],
        "before"
    );
}

#[tokio::test]
async fn a_stream_needs_a_read_or_admin_token_and_a_valid_cursor() {
    let app = spawn_app_with(|config| {
        config.tokens.push(TokenConfig {
            name: "cms".into(),
            token: PUBLISH_ONLY_TOKEN.into(),
            scopes: vec![Scope::Publish],
        });
    })
    .await;
    let path = "/api/v1/events/stream";
    let problem = |status: u16| {
        move |response: reqwest::Response| {
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        }
    };
    let none = request(&app, path, None, &[]).await;
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"tidings\""
    );
    problem(401)(none);
    problem(401)(request(&app, path, Some("not-a-token-of-this-server"), &[]).await);
    problem(403)(request(&app, path, Some(PUBLISH_ONLY_TOKEN), &[]).await);
    for token in [READ_ONLY_TOKEN, TOKEN] {
        SseStream::new(request(&app, path, Some(token), &[]).await);
    }
    let bad = request(&app, &format!("{path}?after=x"), Some(TOKEN), &[]).await;
    problem(400)(bad);
    let bad = request(&app, path, Some(TOKEN), &[("last-event-id", "-1")]).await;
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "Last-Event-ID", "{body}");
    // An empty Last-Event-ID is none (an EventSource that got no id yet sends none).
    let empty = request(&app, path, Some(TOKEN), &[("last-event-id", "")]).await;
    SseStream::new(empty);
}

#[tokio::test]
async fn beyond_max_streams_the_answer_is_503_until_a_stream_closes() {
    let app = spawn_app_with(|config| {
        config.events.max_streams = 2;
        // A closed connection is noticed at the next write: make it come soon.
        config.events.heartbeat_secs = 0.05;
    })
    .await;
    let first = open_api(&app, None).await;
    let _second = open_api(&app, None).await;
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains("tidings_event_streams 2\n"), "{metrics}");

    let refused = request(&app, "/api/v1/events/stream", Some(TOKEN), &[]).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()[CONTENT_TYPE], "application/problem+json");
    assert_eq!(refused.headers()[RETRY_AFTER], "30");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "/problems/unavailable");
    assert!(
        body["detail"].as_str().unwrap().contains("2 event streams"),
        "{body}"
    );

    drop(first);
    let _third = eventually("a closed stream to give its place back", || async {
        let response = request(&app, "/api/v1/events/stream", Some(TOKEN), &[]).await;
        (response.status() == 200).then(|| SseStream::new(response))
    })
    .await;
}

#[tokio::test]
async fn heartbeats_are_comments_and_keep_a_quiet_stream_open() {
    let app = spawn_app_with(|config| config.events.heartbeat_secs = 0.05).await;
    let mut stream = open_api(&app, None).await;
    for _ in 0..3 {
        let frame = stream.next_frame().await.expect("the stream goes on");
        assert_eq!(
            frame,
            Frame {
                comments: vec!["keep-alive".into()],
                ..Frame::default()
            }
        );
    }
    app.publish(&article("after-quiet", "hnyw", "安静之后"))
        .await;
    assert_eq!(
        stream.next_message().await.json()["article_id"],
        "after-quiet"
    );
}

#[tokio::test]
async fn a_server_with_open_streams_stops_and_ends_them() {
    let app = spawn_app_with(|config| {
        // Only the streams' ending can let the shutdown finish in time, not its grace period.
        config.http.request_timeout_secs = 3600;
        config.events.public_streams = true;
    })
    .await;
    let mut api = open_api(&app, None).await;
    let mut public = SseStream::new(request(&app, "/feeds/all.events", None, &[]).await);
    assert!(public.next_frame().await.unwrap().retry.is_some());
    tokio::time::timeout(Duration::from_secs(60), app.stop())
        .await
        .expect("the server stops with streams open");
    assert_eq!(api.next_frame().await, None, "the stream ended cleanly");
    assert_eq!(public.next_frame().await, None, "the stream ended cleanly");
}

#[tokio::test]
async fn an_event_written_by_another_process_reaches_the_stream() {
    let app = spawn_app().await;
    let mut stream = open_api(&app, None).await;
    // Another writer on the same database: the command line, or another instance.
    let catalog = tidings::catalog::load_catalog(app.config.catalog_dir.as_deref().unwrap())
        .expect("the catalogue");
    let other = tidings::service::Service::open(app.config.clone(), catalog)
        .await
        .expect("a second service on the database");
    other
        .publish(article("elsewhere", "zwgk", "别处写入"))
        .await
        .expect("published");
    other.close().await;
    let got = stream.next_message().await;
    assert_eq!(got.json()["article_id"], "elsewhere");
}

#[tokio::test]
async fn a_public_stream_is_off_unless_configured() {
    let app = spawn_app().await;
    let response = request(&app, "/feeds/hnyw.events", None, &[]).await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
    let page = app.get_text("/feeds/hnyw.html").await;
    assert!(!page.contains("id=\"live\""), "no live notice");
    assert!(!page.contains("EventSource"));
}

#[tokio::test]
async fn a_public_stream_sends_its_scopes_events_with_public_fields_only() {
    let app = spawn_app_with(|config| config.events.public_streams = true).await;
    let mut hnyw = SseStream::new(request(&app, "/feeds/hnyw.events", None, &[]).await);
    let tag = "/feeds/tags/%E5%8F%8C%E6%8B%A5.events";
    let mut tagged = SseStream::new(request(&app, tag, None, &[]).await);
    let unknown = request(&app, "/feeds/hnyw/nope.events", None, &[]).await;
    assert_eq!(unknown.status(), 404);

    app.publish(&article("elsewhere", "zwgk/tzgg", "不在要闻"))
        .await;
    let mut inside = article("inside", "hnyw/ldhd", "领导动态里的一篇");
    inside["summary"] = json!("摘要");
    inside["tags"] = json!(["双拥"]);
    inside["source"] = json!("黄南报");
    app.publish(&inside).await;
    // Read before the article changes again: once a later version replaces it, an event may
    // go out with the article's id and section alone (see the README, "Live stream").
    let published = hnyw.next_message().await;
    // Moved out of hnyw: the scope's feeds change, so its stream tells.
    let mut moved = inside.clone();
    moved["section"] = json!("zwgk/tzgg");
    app.publish(&moved).await;
    app.publish(&article("next", "hnyw", "要闻")).await;

    assert_eq!(published.event.as_deref(), Some("article.published"));
    let data = published.json();
    assert_eq!(data["cursor"], published.id.clone().unwrap());
    assert_eq!(data["type"], "article.published");
    let shown = &data["article"];
    assert_eq!(shown["id"], "inside");
    assert_eq!(shown["title"], "领导动态里的一篇");
    assert_eq!(shown["url"], inside["url"]);
    assert_eq!(shown["section"], "hnyw/ldhd");
    assert_eq!(shown["summary"], "摘要");
    assert_eq!(shown["source"], "黄南报");
    assert_eq!(shown["tags"], json!(["双拥"]));
    assert_eq!(shown["published"], "2024-03-01T10:00:00+08:00");
    for internal in [
        "content_html",
        "version",
        "created_at",
        "modified_at",
        "deleted_at",
    ] {
        assert!(
            shown.get(internal).is_none(),
            "{internal} is not shown: {shown}"
        );
    }
    for internal in ["id", "version", "article_id"] {
        assert!(
            data.get(internal).is_none(),
            "{internal} is not shown: {data}"
        );
    }
    let moved_out = hnyw.next_message().await;
    assert_eq!(moved_out.event.as_deref(), Some("article.updated"));
    assert_eq!(moved_out.json()["article"]["section"], "zwgk/tzgg");
    let next = hnyw.next_message().await;
    assert_eq!(
        next.json()["article"]["id"],
        "next",
        "nothing of zwgk in between"
    );

    // The tag's stream: the tagged article's two events, nothing else.
    assert_eq!(
        tagged.next_message().await.json()["article"]["id"],
        "inside"
    );
    assert_eq!(
        tagged.next_message().await.json()["article"]["id"],
        "inside"
    );
    app.publish(&inside).await;
    assert_eq!(
        tagged.next_message().await.event.as_deref(),
        Some("article.updated"),
        "moved back: the next event of the tag, with no other in between"
    );

    // A deletion says which article, and no more.
    let deleted = app.delete_article("next").await;
    assert!(deleted.status().is_success());
    // (`inside` moved back into hnyw first.)
    assert_eq!(hnyw.next_message().await.json()["article"]["id"], "inside");
    let gone = hnyw.next_message().await;
    assert_eq!(gone.event.as_deref(), Some("article.deleted"));
    assert_eq!(
        gone.json()["article"],
        json!({ "id": "next", "section": "hnyw" })
    );

    // The page tells of new articles live from the same stream.
    let page = app.get_text("/feeds/hnyw/ldhd.html").await;
    assert!(
        page.contains(&format!(
            "data-stream=\"{}/feeds/hnyw/ldhd.events\" hidden>",
            app.address
        )),
        "{page}"
    );
}

#[tokio::test]
async fn one_client_holds_a_few_public_streams_at_most() {
    let app = spawn_app_with(|config| {
        config.events.public_streams = true;
        config.events.max_public_streams_per_client = 2;
    })
    .await;
    let _one = SseStream::new(request(&app, "/feeds/all.events", None, &[]).await);
    let _two = SseStream::new(request(&app, "/feeds/hnyw.events", None, &[]).await);
    let refused = request(&app, "/feeds/zwgk.events", None, &[]).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()[CONTENT_TYPE], "application/problem+json");
    assert!(refused.headers().get(RETRY_AFTER).is_some());
    // The API's streams are not the public doors' count.
    open_api(&app, None).await;
}

/// The next line the browser script prints, as JSON (a minute of silence fails the test: the
/// timeout only guards against a hang).
async fn next_step(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(90), lines.next_line())
        .await
        .expect("the browser script said nothing for 90 s")
        .expect("its output")
        .expect("the browser script ended early (its errors are above)");
    serde_json::from_str(&line).expect("a JSON line")
}

#[tokio::test]
async fn a_browser_event_source_shows_new_articles_and_resumes_after_a_restart() {
    if !crate::browser::browser_available().await {
        return;
    }
    let app = spawn_app_with(|config| {
        config.events.public_streams = true;
        // The browser reconnects soon after the server went away.
        config.events.retry_ms = 100;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut script = tokio::process::Command::new("node")
        .arg(crate::helpers::repo_path("tests/js/event-source.mjs"))
        .arg(app.url("/feeds/hnyw.html"))
        .env("CHROMIUM", crate::browser::chromium_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut to_browser = script.stdin.take().unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(script.stdout.take().unwrap()));
    let mut tell = async |line: &str| {
        tokio::io::AsyncWriteExt::write_all(&mut to_browser, format!("{line}\n").as_bytes())
            .await
            .expect("the browser script reads");
    };
    assert_eq!(next_step(&mut lines).await["step"], "connected");

    let first = article("live-1", "hnyw/ldhd", "第一篇实时文章");
    app.publish(&first).await;
    let first_cursor = logged(&app).await.last().unwrap()["cursor"].clone();
    tell("expect 第一篇实时文章").await;
    let seen = next_step(&mut lines).await;
    assert_eq!(seen["step"], "seen");
    assert_eq!(seen["href"], first["url"]);

    // The server goes away, which ends the stream; meanwhile another process publishes.
    let (dir, config) = app.stop().await;
    let catalog = tidings::catalog::load_catalog(config.catalog_dir.as_deref().unwrap())
        .expect("the catalogue");
    let writer = tidings::service::Service::open(config.clone(), catalog)
        .await
        .expect("the database opens");
    writer
        .publish(article("live-2", "hnyw", "停机时发布的文章"))
        .await
        .expect("published");
    writer.close().await;
    // Back where it was: the browser reconnects by itself, after the last id it got.
    let _app = crate::helpers::spawn_at(dir, config, &address).await;
    tell("expect 停机时发布的文章").await;
    assert_eq!(next_step(&mut lines).await["step"], "seen");

    tell("done").await;
    let report = next_step(&mut lines).await;
    assert_eq!(report["errors"]["page"], json!([]), "{report}");
    let streams = report["streams"].as_array().unwrap();
    assert_eq!(streams[0]["lastEventId"], Value::Null, "{report}");
    assert!(
        streams[1..]
            .iter()
            .any(|s| s["lastEventId"] == first_cursor),
        "a reconnection sent Last-Event-ID {first_cursor}: {report}"
    );
    for stream in streams {
        assert_eq!(
            stream["url"],
            format!("http://{address}/feeds/hnyw.events"),
            "{report}"
        );
    }
}

/// The database goes away under an open stream that has events to read: the stream stays
/// open (heartbeats go on) and sends them once the database is back, without a reconnection.
#[tokio::test]
async fn a_stream_outlives_the_database_going_away_and_sends_what_it_missed() {
    // It brings its own PostgreSQL server, whichever engine the rest of the run is on: once.
    if crate::helpers::on_postgres() {
        return;
    }
    let Some(pg) = crate::instances::OwnPostgres::start().await else {
        return;
    };
    let app = spawn_app_with(|config| {
        config.database_url = pg.url.clone();
        config.database.acquire_timeout_secs = 1;
        config.events.heartbeat_secs = 0.05;
    })
    .await;
    app.publish(&article("before-outage", "hnyw", "断库之前"))
        .await;
    pg.stop().await;
    // Opening a stream reads nothing from the store; its first read fails.
    let response = request(&app, "/api/v1/events/stream?after=0", Some(TOKEN), &[]).await;
    let mut stream = SseStream::new(response);
    for _ in 0..3 {
        let frame = stream.next_frame().await.expect("the stream stays open");
        assert!(frame.data.is_none(), "nothing to send yet: {frame:?}");
    }
    pg.resume().await;
    let back = tokio::time::timeout(Duration::from_secs(90), stream.next_message())
        .await
        .expect("the event once the database is back");
    assert_eq!(back.json()["article_id"], "before-outage");
}
