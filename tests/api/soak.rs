//! The soak: the real binary under mixed load for a while (`scripts/soak SECONDS`; three minutes
//! in CI, an hour documented in the README), with two restarts in the middle: a SIGKILL at a
//! quarter of the run and a SIGTERM at half. At the end it reports memory and descriptors over
//! time, deliveries lost and duplicated, and answers by class, and fails on any loss, any 5xx,
//! an unreadable feed, a bad signature, a panic, or memory or descriptors that grew in the last
//! half of the run.
//!
//! The load, all at once:
//! - a publisher: new articles, updates and deletions one by one, and a batch now and then;
//! - readers of feeds, pages (the index, a section's, a search) and the API, half of them
//!   revalidating with `If-None-Match`;
//! - webhook endpoints that answer at once, slowly (up to 1.5 s), only on the second attempt
//!   (some attempts outlast the time-out), and one that answers 410 from the first request;
//! - WebSub subscribers that come and go, with secrets, and one whose callback answers 410.
//!
//! Every reader and subscriber comes from one address here, so the per-client limits of the
//! public doors are lifted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TOKEN, config_head, free_port, fresh_database_url, wait_healthy};

/// Leaf and inner sections the publisher writes to.
const SECTIONS: [&str; 10] = [
    "hnyw/ldhd",
    "hnyw/bmdt",
    "hnyw/xxdt",
    "hnyw/tpxw",
    "zwgk/tzgg",
    "zwgk/zcwj",
    "zwgk/zcwj/zcjd",
    "zwgk/rsxx",
    "zjhn/rgwh",
    "zjhn/lyfw",
];

/// What readers ask for.
const READS: [&str; 14] = [
    "/feeds/all.atom",
    "/feeds/all.rss",
    "/feeds/all.json",
    "/feeds/hnyw.atom",
    "/feeds/hnyw/ldhd.rss",
    "/feeds/zwgk.json",
    "/feeds/zwgk/zcwj/zcjd.atom",
    "/feeds/zjhn/lyfw.rss",
    "/feeds/all.atom?limit=20",
    "/",
    "/feeds/hnyw.html",
    "/search?q=%E9%BB%84%E5%8D%97",
    "/healthz",
    "/api/v1/events?limit=50",
];

/// Topics subscribers choose from: each includes `hnyw/ldhd`, where the final article goes.
const TOPICS: [&str; 5] = [
    "all.atom",
    "hnyw.atom",
    "hnyw/ldhd.rss",
    "all.json",
    "hnyw.json",
];

/// Subscribers active at once; the oldest leaves when one more comes.
const ACTIVE_SUBSCRIBERS: usize = 6;

const READERS: usize = 4;

/// The longest wait, after the load stops, for every delivery to arrive.
const DRAIN: Duration = Duration::from_secs(300);

/// Answers by class, and the few 5xx in full.
#[derive(Default)]
struct Answers {
    by_status: Mutex<BTreeMap<u16, u64>>,
    server_errors: Mutex<Vec<String>>,
    /// Requests that got no answer: the server was down (a restart) or the connection broke.
    unanswered: AtomicU64,
}

impl Answers {
    fn count(&self, what: &str, status: StatusCode) {
        *self
            .by_status
            .lock()
            .unwrap()
            .entry(status.as_u16())
            .or_default() += 1;
        if status.is_server_error() {
            let mut errors = self.server_errors.lock().unwrap();
            if errors.len() < 20 {
                errors.push(format!("{status} {what}"));
            }
        }
    }

    fn total(&self) -> u64 {
        self.by_status.lock().unwrap().values().sum()
    }

    fn of_class(&self, class: u16) -> u64 {
        self.by_status
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| **s / 100 == class)
            .map(|(_, n)| n)
            .sum()
    }
}

/// What the publisher was told it stored.
#[derive(Default)]
struct Ledger {
    /// (article id, version) of every change acknowledged.
    acked: Mutex<HashSet<(String, i64)>>,
    /// Articles that exist now, to update or delete.
    live: Mutex<Vec<String>>,
    created: AtomicU64,
    updated: AtomicU64,
    deleted: AtomicU64,
    unchanged: AtomicU64,
}

impl Ledger {
    fn record(&self, result: &Value) {
        let id = result["id"]
            .as_str()
            .or_else(|| result["article"]["id"].as_str())
            .unwrap_or_default()
            .to_owned();
        let version = result["version"]
            .as_i64()
            .or_else(|| result["article"]["version"].as_i64())
            .unwrap_or_default();
        let counter = match result["status"].as_str() {
            Some("created") => &self.created,
            Some("updated") => &self.updated,
            Some("deleted") => &self.deleted,
            _ => {
                self.unchanged.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut live = self.live.lock().unwrap();
        if result["status"] == "deleted" {
            live.retain(|x| *x != id);
        } else if result["status"] == "created" {
            live.push(id.clone());
        }
        self.acked.lock().unwrap().insert((id, version));
    }
}

/// How a webhook receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// 204 at once.
    Steady,
    /// 200 after 0.2 to 1.5 s.
    Slow,
    /// 503 on a message's first attempt; one request in 20 is held past the time-out.
    Flaky,
    /// 410 Gone.
    Gone,
}

/// A webhook receiver: what it accepted, per message id.
struct Hook {
    behaviour: Behaviour,
    secret: Mutex<Vec<u8>>,
    requests: AtomicU64,
    /// Messages answered 2xx, and how many times.
    accepted: Mutex<HashMap<String, u32>>,
    /// Messages refused once on purpose (Flaky).
    refused: Mutex<HashSet<String>>,
    held: AtomicU64,
    bad_signatures: AtomicU64,
}

impl Hook {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            secret: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            accepted: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashSet::new()),
            held: AtomicU64::new(0),
            bad_signatures: AtomicU64::new(0),
        })
    }

    fn signed(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret.lock().unwrap()).unwrap();
        mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
        mac.update(body);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        header("webhook-signature")
            .split(' ')
            .any(|s| s == expected)
    }

    fn duplicates(&self) -> u64 {
        self.accepted
            .lock()
            .unwrap()
            .values()
            .map(|n| u64::from(n - 1))
            .sum()
    }
}

async fn answer_webhook(
    State(hook): State<Arc<Hook>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = hook.requests.fetch_add(1, Ordering::Relaxed);
    if !hook.signed(&headers, &body) {
        hook.bad_signatures.fetch_add(1, Ordering::Relaxed);
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match hook.behaviour {
        Behaviour::Steady => {}
        Behaviour::Slow => {
            let ms = rand::thread_rng().gen_range(200..1500);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Behaviour::Flaky => {
            if hook.refused.lock().unwrap().insert(id.clone()) {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            if n % 20 == 19 {
                // Past the request time-out: the service has given up on this attempt, so
                // it does not count as accepted.
                hook.held.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(7)).await;
                return StatusCode::OK;
            }
        }
        Behaviour::Gone => return StatusCode::GONE,
    }
    *hook.accepted.lock().unwrap().entry(id).or_default() += 1;
    StatusCode::NO_CONTENT
}

/// A server on `ip` (another loopback address is another host to the service).
async fn serve_on(ip: &str, app: Router) -> String {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// One subscriber of the hub: a callback path of the subscribers' server.
struct Subscriber {
    secret: String,
    /// Set once the hub verified the subscription.
    verified: bool,
    /// When the hub verified its unsubscription.
    left_at: Option<Instant>,
    notifications: u64,
    /// Notifications that arrived more than 30 s after the unsubscription was verified.
    late: u64,
    saw_final: bool,
}

impl Subscriber {
    fn new(secret: &str) -> Self {
        Self {
            secret: secret.to_owned(),
            verified: false,
            left_at: None,
            notifications: 0,
            late: 0,
            saw_final: false,
        }
    }
}

#[derive(Default)]
struct Subscribers {
    by_path: Mutex<HashMap<String, Subscriber>>,
    /// Paths the hub may verify an unsubscription of.
    leaving: Mutex<HashSet<String>>,
    final_title: Mutex<Option<String>>,
    bad_signatures: AtomicU64,
    unreadable: AtomicU64,
    gone_posts: AtomicU64,
}

async fn callback(
    State(subs): State<Arc<Subscribers>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = uri.path().to_owned();
    if method == Method::GET {
        let challenge = query.get("hub.challenge").cloned().unwrap_or_default();
        let mut by_path = subs.by_path.lock().unwrap();
        let Some(sub) = by_path.get_mut(&path) else {
            return (StatusCode::NOT_FOUND, String::new());
        };
        return match query.get("hub.mode").map(String::as_str) {
            Some("subscribe") if sub.left_at.is_none() => {
                sub.verified = true;
                (StatusCode::OK, challenge)
            }
            Some("unsubscribe") if subs.leaving.lock().unwrap().contains(&path) => {
                sub.left_at.get_or_insert_with(Instant::now);
                (StatusCode::OK, challenge)
            }
            _ => (StatusCode::NOT_FOUND, String::new()),
        };
    }
    if path.starts_with("/gone") {
        subs.gone_posts.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::GONE, String::new());
    }
    let final_title = subs.final_title.lock().unwrap().clone();
    let titles: Vec<String> = match feed_rs::parser::parse(&body[..]) {
        Ok(feed) => feed
            .entries
            .into_iter()
            .filter_map(|e| e.title.map(|t| t.content))
            .collect(),
        Err(_) => {
            subs.unreadable.fetch_add(1, Ordering::Relaxed);
            Vec::new()
        }
    };
    let mut by_path = subs.by_path.lock().unwrap();
    let Some(sub) = by_path.get_mut(&path) else {
        return (StatusCode::NOT_FOUND, String::new());
    };
    let signature = headers
        .get("x-hub-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut mac = Hmac::<Sha256>::new_from_slice(sub.secret.as_bytes()).unwrap();
    mac.update(&body);
    if signature != format!("sha256={}", hex::encode(mac.finalize().into_bytes())) {
        subs.bad_signatures.fetch_add(1, Ordering::Relaxed);
    }
    sub.notifications += 1;
    if sub
        .left_at
        .is_some_and(|at| at.elapsed() > Duration::from_secs(30))
    {
        sub.late += 1;
    }
    if final_title.is_some_and(|t| titles.contains(&t)) {
        sub.saw_final = true;
    }
    (StatusCode::NO_CONTENT, String::new())
}

/// One sample of the server process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    pid: u32,
    rss_kib: u64,
    descriptors: usize,
    threads: u64,
    database_kib: u64,
}

fn sample(pid: u32, at: Duration, database: &Path) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    let descriptors = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    let database_kib = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", database.display()))
                .ok()
                .map(|m| m.len())
        })
        .sum::<u64>()
        / 1024;
    Some(Sample {
        at,
        pid,
        rss_kib: field("VmRSS:")?,
        descriptors,
        threads: field("Threads:")?,
        database_kib,
    })
}

/// The server process, its output appended to `log`.
struct Server {
    child: tokio::process::Child,
    pid: u32,
}

impl Server {
    fn start(config: &Path, log: &Path) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env("TIDINGS_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let pid = child.id().unwrap();
        Self { child, pid }
    }

    /// Kills the process at once.
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Asks the process to stop (SIGTERM) and waits: it must end cleanly.
    async fn terminate(mut self) {
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "SIGTERM ended the server with {status}");
    }
}

/// Everything the load shares.
struct Load {
    base: String,
    client: reqwest::Client,
    stop: AtomicBool,
    answers: Answers,
    ledger: Ledger,
    documents_read: AtomicU64,
    unreadable_documents: Mutex<Vec<String>>,
}

impl Load {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sends a request until the server answers it (it may be restarting), counting the answer.
    async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Option<reqwest::Response> {
        for _ in 0..600 {
            match build().send().await {
                Ok(response) => {
                    self.answers.count(what, response.status());
                    return Some(response);
                }
                Err(_) => {
                    self.answers.unanswered.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        None
    }
}

fn document(id: &str, section: &str, title: &str, rng: &mut StdRng) -> Value {
    let paragraphs: String = (0..rng.gen_range(1..12))
        .map(|i| format!("<p>第{i}段：黄南州各族干部群众认真学习，推动高质量发展。</p>"))
        .collect();
    let mut article = json!({
        "id": id,
        "section": section,
        "title": title,
        "url": format!("https://www.huangnan.gov.cn/html/soak/{id}.html"),
        "published": "2026-11-30T09:00:00+08:00",
        "source": "黄南报",
        "editor": "才让",
        "content_html": paragraphs,
    });
    if rng.gen_bool(0.3) {
        article["images"] = json!([{ "url": format!("/images/{id}.jpg"), "caption": "图片" }]);
    }
    article
}

/// New articles, updates and deletions, one every 200 ms, and a batch of 20 every 50 of them.
async fn publish(load: Arc<Load>) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut next = 0u64;
    let mut tick = 0u64;
    while !load.stopping() {
        tick += 1;
        let api = |path: &str| format!("{}/api/v1/{path}", load.base);
        if tick % 50 == 0 {
            let lines: String = (0..20)
                .map(|_| {
                    next += 1;
                    let id = format!("soak-{next}");
                    let section = SECTIONS[rng.gen_range(0..SECTIONS.len())];
                    format!(
                        "{}\n",
                        document(&id, section, &format!("批量稿件{next}"), &mut rng)
                    )
                })
                .collect();
            let response = load
                .send("POST /articles/batch", || {
                    load.client
                        .post(api("articles/batch"))
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/x-ndjson")
                        .body(lines.clone())
                })
                .await;
            if let Some(response) = response
                && response.status() == 200
            {
                let body: Value = response.json().await.unwrap();
                for result in body["results"].as_array().unwrap() {
                    load.ledger.record(result);
                }
            }
        } else {
            let live = load.ledger.live.lock().unwrap().clone();
            let roll = rng.gen_range(0..100);
            let response = if roll < 60 || live.len() < 10 {
                next += 1;
                let id = format!("soak-{next}");
                let section = SECTIONS[rng.gen_range(0..SECTIONS.len())];
                let article = document(&id, section, &format!("稿件{next}"), &mut rng);
                load.send("POST /articles", || {
                    load.client
                        .post(api("articles"))
                        .bearer_auth(TOKEN)
                        .json(&article)
                })
                .await
            } else if roll < 93 {
                let id = &live[rng.gen_range(0..live.len())];
                let section = SECTIONS[rng.gen_range(0..SECTIONS.len())];
                let title = format!("修改稿件{tick}");
                let article = document(id, section, &title, &mut rng);
                load.send("PUT /articles/{id}", || {
                    load.client
                        .put(api(&format!("articles/{id}")))
                        .bearer_auth(TOKEN)
                        .json(&article)
                })
                .await
            } else {
                let id = &live[rng.gen_range(0..live.len())];
                load.send("DELETE /articles/{id}", || {
                    load.client
                        .delete(api(&format!("articles/{id}")))
                        .bearer_auth(TOKEN)
                })
                .await
            };
            if let Some(response) = response
                && response.status().is_success()
            {
                load.ledger.record(&response.json().await.unwrap());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A reader: what it asks for, at 20 requests a second; half of its requests revalidate.
async fn read(load: Arc<Load>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut etags: HashMap<&str, String> = HashMap::new();
    while !load.stopping() {
        let path = READS[rng.gen_range(0..READS.len())];
        let revalidate = rng.gen_bool(0.5);
        let etag = etags.get(path).cloned().filter(|_| revalidate);
        let url = format!("{}{path}", load.base);
        let response = load
            .send(&format!("GET {path}"), || {
                let mut request = load.client.get(&url).bearer_auth(TOKEN);
                if let Some(etag) = &etag {
                    request = request.header("if-none-match", etag);
                }
                request
            })
            .await;
        if let Some(response) = response
            && response.status() == 200
        {
            if let Some(etag) = response.headers().get("etag") {
                etags.insert(path, etag.to_str().unwrap().to_owned());
            }
            let body = response.bytes().await.unwrap_or_default();
            if path.starts_with("/feeds/") && !path.contains(".html") {
                load.documents_read.fetch_add(1, Ordering::Relaxed);
                if feed_rs::parser::parse(&body[..]).is_err() {
                    load.unreadable_documents
                        .lock()
                        .unwrap()
                        .push(path.to_owned());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Subscribers come and go: one more every `every`, the oldest leaving past
/// `ACTIVE_SUBSCRIBERS`.
async fn churn(load: Arc<Load>, subs: Arc<Subscribers>, callbacks: String, every: Duration) {
    let mut rng = StdRng::seed_from_u64(11);
    // (callback path, topic) of the subscribers that have not left.
    let mut active: Vec<(String, String)> = Vec::new();
    let hub = format!("{}/websub", load.base);
    let mut n = 0;
    while !load.stopping() {
        n += 1;
        let path = format!("/sub/{n}");
        let secret = format!("secret-of-subscriber-{n}");
        subs.by_path
            .lock()
            .unwrap()
            .insert(path.clone(), Subscriber::new(&secret));
        let topic = format!(
            "{}/feeds/{}",
            load.base,
            TOPICS[rng.gen_range(0..TOPICS.len())]
        );
        let form = [
            ("hub.mode", "subscribe"),
            ("hub.topic", topic.as_str()),
            ("hub.callback", &format!("{callbacks}{path}")),
            ("hub.secret", secret.as_str()),
        ];
        load.send("POST /websub", || load.client.post(&hub).form(&form))
            .await;
        active.push((path, topic));
        if active.len() > ACTIVE_SUBSCRIBERS {
            let (leaving, topic) = active.remove(0);
            subs.leaving.lock().unwrap().insert(leaving.clone());
            let form = [
                ("hub.mode", "unsubscribe"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", &format!("{callbacks}{leaving}")),
            ];
            load.send("POST /websub", || load.client.post(&hub).form(&form))
                .await;
        }
        tokio::time::sleep(every).await;
    }
}

async fn subscription_list(load: &Load) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{}/api/v1/websub/subscriptions?limit=1000", load.base);
        if let Some(after) = &after {
            url.push_str(&format!("&after={after}"));
        }
        let Some(response) = load
            .send("GET /api/v1/websub/subscriptions", || {
                load.client.get(&url).bearer_auth(TOKEN)
            })
            .await
        else {
            return all;
        };
        let page: Value = response.json().await.unwrap();
        all.extend(page["subscriptions"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// Every event of the log: its id.
async fn event_log(load: &Load) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = String::from("0");
    loop {
        let url = format!("{}/api/v1/events?after={after}&limit=1000", load.base);
        let response = load
            .send("GET /api/v1/events", || {
                load.client.get(&url).bearer_auth(TOKEN)
            })
            .await
            .unwrap();
        let page: Value = response.json().await.unwrap();
        let items = page["events"].as_array().unwrap();
        if items.is_empty() {
            return events;
        }
        events.extend(items.iter().cloned());
        after = page["next"].as_str().unwrap().to_owned();
    }
}

async fn register(load: &Load, url: &str, hook: &Hook) -> String {
    let response = load
        .send("POST /api/v1/webhooks", || {
            load.client
                .post(format!("{}/api/v1/webhooks", load.base))
                .bearer_auth(TOKEN)
                .json(&json!({ "url": url }))
        })
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap();
    *hook.secret.lock().unwrap() = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    body["id"].as_str().unwrap().to_owned()
}

fn write_config(path: &Path, port: u16, base: &str, database: &str) {
    std::fs::write(
        path,
        format!(
            r#"{head}
[feeds]
max_misses_per_client_per_minute = 1000000

[websub]
max_requests_per_client_per_minute = 1000000
verification_retry_secs = [1, 2]
lease_min_secs = 60

[delivery]
allow_private_destinations = true
retry_schedule_secs = [0, 1, 2, 4, 8, 15, 30, 60]
request_timeout_secs = 5
slow_host_timeout_secs = 2
connect_timeout_secs = 2
lease_secs = 15
"#,
            head = config_head(port, base, database),
        ),
    )
    .unwrap();
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/soak"]
async fn soak() {
    let seconds: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let run = Duration::from_secs(seconds);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let database = fresh_database_url(dir.path()).await;
    let database_file: PathBuf = database
        .strip_prefix("sqlite://")
        .map(|p| PathBuf::from(p.split('?').next().unwrap()))
        .unwrap_or_default();
    let config = dir.path().join("tidings.toml");
    write_config(&config, port, &base, &database);
    let log = std::env::var("SOAK_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("server.log"));

    let load = Arc::new(Load {
        base: base.clone(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        stop: AtomicBool::new(false),
        answers: Answers::default(),
        ledger: Ledger::default(),
        documents_read: AtomicU64::new(0),
        unreadable_documents: Mutex::new(Vec::new()),
    });
    let started = Instant::now();
    let mut server = Server::start(&config, &log);
    wait_healthy(&load.client, &base).await;

    let hooks = [
        ("127.0.0.2", Hook::new(Behaviour::Steady)),
        ("127.0.0.3", Hook::new(Behaviour::Slow)),
        ("127.0.0.4", Hook::new(Behaviour::Flaky)),
    ];
    for (ip, hook) in &hooks {
        let url = serve_on(
            ip,
            Router::new()
                .fallback(answer_webhook)
                .with_state(hook.clone()),
        )
        .await;
        register(&load, &format!("{url}/hook"), hook).await;
    }
    let subs = Arc::new(Subscribers::default());
    let callbacks = serve_on(
        "127.0.0.5",
        Router::new().fallback(callback).with_state(subs.clone()),
    )
    .await;
    // A subscriber whose callback answers 410 from its first notification on.
    subs.by_path
        .lock()
        .unwrap()
        .insert("/gone".into(), Subscriber::new("gone"));
    let response = load
        .send("POST /websub", || {
            load.client.post(format!("{base}/websub")).form(&[
                ("hub.mode", "subscribe"),
                ("hub.topic", &format!("{base}/feeds/all.atom")),
                ("hub.callback", &format!("{callbacks}/gone")),
                ("hub.secret", "gone"),
            ])
        })
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let current_pid = Arc::new(AtomicU64::new(u64::from(server.pid)));
    let sampler = {
        let (samples, pid, load, file) = (
            samples.clone(),
            current_pid.clone(),
            load.clone(),
            database_file.clone(),
        );
        let every = Duration::from_secs((seconds / 60).clamp(5, 60));
        tokio::spawn(async move {
            while !load.stopping() {
                let pid = pid.load(Ordering::Relaxed) as u32;
                if let Some(s) = sample(pid, started.elapsed(), &file) {
                    samples.lock().unwrap().push(s);
                }
                tokio::time::sleep(every).await;
            }
        })
    };
    let mut tasks = vec![tokio::spawn(publish(load.clone()))];
    for i in 0..READERS {
        tasks.push(tokio::spawn(read(load.clone(), 100 + i as u64)));
    }
    let churn_every = Duration::from_secs((seconds / 36).clamp(5, 60));
    tasks.push(tokio::spawn(churn(
        load.clone(),
        subs.clone(),
        callbacks.clone(),
        churn_every,
    )));

    // An endpoint that answers 410 comes at an eighth of the run.
    tokio::time::sleep(run / 8).await;
    let gone = Hook::new(Behaviour::Gone);
    let gone_url = serve_on(
        "127.0.0.6",
        Router::new()
            .fallback(answer_webhook)
            .with_state(gone.clone()),
    )
    .await;
    let gone_id = register(&load, &format!("{gone_url}/hook"), &gone).await;

    // A crash at a quarter, a restart at half.
    let mut restarts = Vec::new();
    for (at, crash) in [(run / 4, true), (run / 2, false)] {
        tokio::time::sleep(at.saturating_sub(started.elapsed())).await;
        if crash {
            server.kill().await;
        } else {
            server.terminate().await;
        }
        restarts.push(format!(
            "{} at {} s",
            if crash { "SIGKILL" } else { "SIGTERM" },
            started.elapsed().as_secs()
        ));
        server = Server::start(&config, &log);
        current_pid.store(u64::from(server.pid), Ordering::Relaxed);
        wait_healthy(&load.client, &base).await;
    }
    tokio::time::sleep(run.saturating_sub(started.elapsed())).await;
    load.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    sampler.await.unwrap();
    let loaded_for = started.elapsed();

    // The last article: every subscriber still there must be told of it.
    let final_title = "浸泡测试最后一篇".to_owned();
    *subs.final_title.lock().unwrap() = Some(final_title.clone());
    let staying: Vec<String> = {
        let leaving = subs.leaving.lock().unwrap().clone();
        let list = subscription_list(&load).await;
        list.iter()
            .filter(|s| s["state"] == "active")
            .filter_map(|s| s["callback"].as_str())
            .filter_map(|c| c.strip_prefix(&callbacks))
            .filter(|p| p.starts_with("/sub/") && !leaving.contains(*p))
            .map(str::to_owned)
            .collect()
    };
    let mut rng = StdRng::seed_from_u64(99);
    let last = document("soak-final", "hnyw/ldhd", &final_title, &mut rng);
    let response = load
        .send("POST /articles", || {
            load.client
                .post(format!("{base}/api/v1/articles"))
                .bearer_auth(TOKEN)
                .json(&last)
        })
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    load.ledger.record(&response.json().await.unwrap());

    // Drain: every event to every endpoint that takes it, the last notice to every subscriber.
    let events = event_log(&load).await;
    let event_ids: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let drain_started = Instant::now();
    let missing = |hook: &Hook| {
        let accepted = hook.accepted.lock().unwrap();
        event_ids
            .iter()
            .filter(|id| !accepted.contains_key(*id))
            .count()
    };
    let unnotified = || {
        let by_path = subs.by_path.lock().unwrap();
        staying
            .iter()
            .filter(|p| !by_path.get(*p).is_some_and(|s| s.saw_final))
            .count()
    };
    while drain_started.elapsed() < DRAIN
        && (hooks.iter().any(|(_, h)| missing(h) > 0) || unnotified() > 0)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained_in = drain_started.elapsed();
    let end = sample(server.pid, started.elapsed(), &database_file);
    let gone_endpoint: Value = load
        .send("GET /api/v1/webhooks/{id}", || {
            load.client
                .get(format!("{base}/api/v1/webhooks/{gone_id}"))
                .bearer_auth(TOKEN)
        })
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subscriptions = subscription_list(&load).await;
    let gone_subscribed = subscriptions
        .iter()
        .any(|s| s["callback"] == format!("{callbacks}/gone"));
    let last_pid = server.pid;
    server.terminate().await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let panics = log_text.matches("panicked").count();
    let errors = log_text.lines().filter(|l| l.contains("ERROR")).count();
    let warnings = log_text.lines().filter(|l| l.contains("WARN")).count();

    // The acknowledged changes that have no event.
    let logged: HashSet<(String, i64)> = events
        .iter()
        .map(|e| {
            (
                e["article_id"].as_str().unwrap().to_owned(),
                e["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let acked = load.ledger.acked.lock().unwrap().clone();
    let lost_writes = acked.difference(&logged).count();

    // The report.
    let ledger = &load.ledger;
    let answers = &load.answers;
    let mut report = String::new();
    let mut line = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    line(format!(
        "soak: {} s of load on {}, {}; drained in {:.1} s",
        loaded_for.as_secs(),
        if database_file.as_os_str().is_empty() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        restarts.join(", "),
        drained_in.as_secs_f64()
    ));
    line(format!(
        "writes acknowledged: {} created, {} updated, {} deleted ({} unchanged); events logged: {}; acknowledged writes without an event: {lost_writes}",
        ledger.created.load(Ordering::Relaxed),
        ledger.updated.load(Ordering::Relaxed),
        ledger.deleted.load(Ordering::Relaxed),
        ledger.unchanged.load(Ordering::Relaxed),
        events.len()
    ));
    let by_status = answers.by_status.lock().unwrap().clone();
    line(format!(
        "answers: {} in all, {by_status:?}; 5xx: {}; requests unanswered while the server was down: {}",
        answers.total(),
        answers.of_class(5),
        answers.unanswered.load(Ordering::Relaxed)
    ));
    line(format!(
        "feed documents read and parsed: {}, unreadable: {}",
        load.documents_read.load(Ordering::Relaxed),
        load.unreadable_documents.lock().unwrap().len()
    ));
    for (ip, hook) in &hooks {
        line(format!(
            "webhooks {:?} ({ip}): {} requests, {} of {} events delivered, lost {}, duplicates {}, bad signatures {}{}",
            hook.behaviour,
            hook.requests.load(Ordering::Relaxed),
            event_ids.len() - missing(hook),
            event_ids.len(),
            missing(hook),
            hook.duplicates(),
            hook.bad_signatures.load(Ordering::Relaxed),
            if hook.behaviour == Behaviour::Flaky {
                format!(
                    ", first attempts refused {}, attempts held past the time-out {}",
                    hook.refused.lock().unwrap().len(),
                    hook.held.load(Ordering::Relaxed)
                )
            } else {
                String::new()
            }
        ));
    }
    line(format!(
        "webhooks Gone: {} requests, endpoint enabled: {} ({})",
        gone.requests.load(Ordering::Relaxed),
        gone_endpoint["enabled"],
        gone_endpoint["disabled_reason"]
    ));
    let unnotified_at_end = unnotified();
    {
        let by_path = subs.by_path.lock().unwrap();
        let made = by_path.len() - 1;
        let verified = by_path
            .iter()
            .filter(|(path, s)| path.starts_with("/sub/") && s.verified)
            .count();
        let left = by_path.values().filter(|s| s.left_at.is_some()).count();
        let notifications: u64 = by_path.values().map(|s| s.notifications).sum();
        let late: u64 = by_path.values().map(|s| s.late).sum();
        line(format!(
            "websub: {made} subscriptions asked, {verified} verified, {left} unsubscribed; {notifications} notifications, {late} more than 30 s after an unsubscription, bad signatures {}, unreadable {}; the last article reached {} of {} subscribers; the 410 callback got {} posts and is {}",
            subs.bad_signatures.load(Ordering::Relaxed),
            subs.unreadable.load(Ordering::Relaxed),
            staying.len() - unnotified_at_end,
            staying.len(),
            subs.gone_posts.load(Ordering::Relaxed),
            if gone_subscribed {
                "still subscribed"
            } else {
                "unsubscribed"
            }
        ));
    }
    line(format!(
        "server log: {panics} panics, {errors} errors, {warnings} warnings"
    ));
    let samples = samples.lock().unwrap().clone();
    line("time s  pid      RSS MiB  descriptors  threads  database MiB".into());
    for s in samples.iter().chain(end.iter()) {
        line(format!(
            "{:>6}  {:<7}  {:>7}  {:>11}  {:>7}  {:>12}",
            s.at.as_secs(),
            s.pid,
            mib(s.rss_kib),
            s.descriptors,
            s.threads,
            mib(s.database_kib)
        ));
    }
    if let Ok(path) = std::env::var("SOAK_REPORT") {
        std::fs::write(path, &report).unwrap();
    }

    // What must hold.
    assert_eq!(
        answers.of_class(5),
        0,
        "{:?}",
        answers.server_errors.lock().unwrap()
    );
    assert_eq!(lost_writes, 0, "acknowledged writes without an event");
    for (_, hook) in &hooks {
        assert_eq!(missing(hook), 0, "{:?} lost deliveries", hook.behaviour);
        assert_eq!(hook.bad_signatures.load(Ordering::Relaxed), 0);
    }
    assert_eq!(
        gone_endpoint["enabled"], false,
        "a 410 disables the endpoint"
    );
    assert!(!gone_subscribed, "a 410 ends the subscription");
    assert_eq!(
        unnotified(),
        0,
        "subscribers the last article did not reach"
    );
    assert_eq!(subs.bad_signatures.load(Ordering::Relaxed), 0);
    assert_eq!(subs.unreadable.load(Ordering::Relaxed), 0);
    assert!(
        load.unreadable_documents.lock().unwrap().is_empty(),
        "unreadable feeds: {:?}",
        load.unreadable_documents.lock().unwrap()
    );
    assert_eq!(panics, 0, "the server panicked");
    // Flat: in the last process, from a quarter of its life to the end, memory and descriptors
    // do not grow past what caches and connections explain.
    let last: Vec<&Sample> = samples.iter().filter(|s| s.pid == last_pid).collect();
    if let (Some(first), Some(end)) = (last.get(last.len() / 4), end.as_ref()) {
        assert!(
            end.rss_kib <= first.rss_kib * 2 + 64 * 1024,
            "memory grew from {} to {} MiB",
            mib(first.rss_kib),
            mib(end.rss_kib)
        );
        assert!(
            end.descriptors <= first.descriptors + 64,
            "descriptors grew from {} to {}",
            first.descriptors,
            end.descriptors
        );
    } else {
        panic!("no samples of the last process");
    }
}
