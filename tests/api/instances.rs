//! Several instances of the real binary on one database, as behind a load balancer: a change
//! made through one is served by all, the work of a killed one is taken over without loss,
//! and WebSub notifications are not multiplied by the number of instances.

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    TOKEN, article, eventually, fresh_database_url, on_postgres, repo_path, require_tool,
    start_binary, wait_healthy, write_server_config,
};
use crate::receiver::Receiver;

/// Instances sharing one database and one public URL.
struct Cluster {
    _dir: tempfile::TempDir,
    /// Each instance's own address.
    bases: Vec<String>,
    /// The URL readers and subscribers use (a load balancer's); the first instance's here.
    public: String,
    children: Vec<Option<Child>>,
}

impl Cluster {
    async fn start(n: usize, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = fresh_database_url(dir.path()).await;
        Self::start_on(dir, &database, n, extra).await
    }

    async fn start_on(dir: tempfile::TempDir, database: &str, n: usize, extra: &str) -> Self {
        let ports: Vec<u16> = (0..n)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        let bases: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let public = bases[0].clone();
        let client = reqwest::Client::new();
        let mut children = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let config = dir.path().join(format!("instance-{i}.toml"));
            write_server_config(&config, *port, &public, database, extra);
            children.push(Some(start_binary(&config)));
            // One at a time: the first one migrates the database.
            wait_healthy(&client, &bases[i]).await;
        }
        Self {
            _dir: dir,
            bases,
            public,
            children,
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

async fn etag(client: &reqwest::Client, base: &str, path: &str) -> String {
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {base}{path}");
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_changes_what_the_others_serve() {
    let cluster = Cluster::start(3, "").await;
    let client = reqwest::Client::new();
    let path = "/feeds/hnyw.atom";
    let mut before = Vec::new();
    for base in &cluster.bases {
        before.push(etag(&client, base, path).await);
    }

    let published = Instant::now();
    let response = client
        .post(format!("{}/api/v1/articles", cluster.bases[0]))
        .bearer_auth(TOKEN)
        .json(&article("across", "hnyw/ldhd", "跨实例"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let mut delays = Vec::new();
    for (i, base) in cluster.bases.iter().enumerate().skip(1) {
        let old = before[i].clone();
        eventually("another instance to serve the change", || {
            let (client, old) = (client.clone(), old.clone());
            async move { (etag(&client, base, path).await != old).then_some(()) }
        })
        .await;
        delays.push(published.elapsed());
        let feed = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(feed.contains("跨实例"), "instance {i} serves the new entry");
    }
    // Every instance now serves the same bytes.
    let after: Vec<String> =
        futures::future::join_all(cluster.bases.iter().map(|b| etag(&client, b, path))).await;
    assert!(after.windows(2).all(|w| w[0] == w[1]), "{after:?}");
    println!("instances: a change through A reached the other instances' feeds after {delays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_three_instances_mid_fan_out_loses_no_delivery() {
    const ARTICLES: usize = 1000;
    const ENDPOINTS: usize = 3;
    let mut cluster = Cluster::start(3, "").await;
    let client = reqwest::Client::new();
    let mut receivers = Vec::new();
    for _ in 0..ENDPOINTS {
        let r = Receiver::start().await;
        // Slow enough that the fan-out is still running when an instance is killed.
        r.slow_down(Duration::from_millis(5));
        let response = client
            .post(format!("{}/api/v1/webhooks", cluster.bases[0]))
            .bearer_auth(TOKEN)
            .json(&json!({ "url": r.url }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        receivers.push(r);
    }
    let ndjson: String = (0..ARTICLES)
        .map(|i| format!("{}\n", article(&format!("many-{i}"), "zwgk/tzgg", "分担")))
        .collect();
    let response = client
        .post(format!("{}/api/v1/articles/batch", cluster.bases[1]))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    let batch: Value = response.json().await.unwrap();
    assert_eq!(batch["created"], ARTICLES, "{batch}");

    let total =
        |receivers: &[Receiver]| receivers.iter().map(|r| r.received().len()).sum::<usize>();
    eventually("the fan-out to be under way", || async {
        (total(&receivers) >= 300).then_some(())
    })
    .await;
    cluster.kill(2);
    let killed = Instant::now();
    let at_kill = total(&receivers);
    assert!(
        at_kill < ARTICLES * ENDPOINTS,
        "the kill came after the fan-out"
    );

    eventually("every (event, endpoint) pair to arrive", || async {
        receivers
            .iter()
            .all(|r| distinct_ids(r).len() >= ARTICLES)
            .then_some(())
    })
    .await;
    let takeover = killed.elapsed();
    let mut duplicates = 0;
    for r in &receivers {
        let seen = distinct_ids(r);
        assert_eq!(seen.len(), ARTICLES);
        duplicates += seen.values().map(|n| n - 1).sum::<usize>();
    }
    println!(
        "instances: {ARTICLES} articles x {ENDPOINTS} endpoints over 3 instances; one killed with \
         {at_kill} of {} delivered; all arrived {:.2} s after the kill, with {duplicates} \
         duplicate(s) (same webhook-id)",
        ARTICLES * ENDPOINTS,
        takeover.as_secs_f64()
    );
}

/// How often each `webhook-id` arrived.
fn distinct_ids(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for x in receiver.received() {
        *seen.entry(x.header("webhook-id").to_owned()).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_gets_one_notification_per_window_whichever_instances_are_involved() {
    let cluster = Cluster::start(
        3,
        "\n[websub]\ncoalesce_window_ms = 300\nverification_retry_secs = [0.05]\n",
    )
    .await;
    let client = reqwest::Client::new();
    let callback = Receiver::start().await;
    let topic = format!("{}/feeds/zwgk.atom", cluster.public);
    // Subscribe through B.
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("hub.mode", "subscribe"),
            ("hub.topic", topic.as_str()),
            ("hub.callback", callback.url.as_str()),
        ])
        .finish();
    let response = client
        .post(format!("{}/websub", cluster.bases[1]))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    callback.wait_for_gets(1).await;
    eventually("the subscription to be stored", || async {
        let body: Value = client
            .get(format!("{}/api/v1/websub/subscriptions", cluster.bases[2]))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (body["subscriptions"].as_array()?.len() == 1).then_some(())
    })
    .await;

    // Five articles through C in one batch: one window.
    let batch: Vec<Value> = (0..5)
        .map(|i| article(&format!("ws-{i}"), "zwgk/tzgg", &format!("通知{i}")))
        .collect();
    let response = client
        .post(format!("{}/api/v1/articles/batch", cluster.bases[2]))
        .bearer_auth(TOKEN)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = callback.wait_for_posts(1).await;
    // A later article, in a later window, through A: the second notification, which shows
    // that nothing else was queued in between.
    let first_body = String::from_utf8_lossy(&first[0].body).into_owned();
    let response = client
        .post(format!("{}/api/v1/articles", cluster.bases[0]))
        .bearer_auth(TOKEN)
        .json(&article("ws-later", "zwgk/tzgg", "后来"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let posts = callback.wait_for_posts(2).await;
    for i in 0..5 {
        assert!(
            first_body.contains(&format!("通知{i}")),
            "entry {i} in the first notification"
        );
    }
    let second = String::from_utf8_lossy(&posts[1].body).into_owned();
    assert!(
        second.contains("后来") && !second.contains("通知0"),
        "{second}"
    );
    assert_eq!(callback.posts().len(), 2, "one notification per window");
}

/// A PostgreSQL cluster of the test's own, which it may stop and start again.
pub(crate) struct OwnPostgres {
    dir: tempfile::TempDir,
    pub url: String,
}

impl OwnPostgres {
    pub async fn start() -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tidings-pg")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let out = cluster_command("start", dir.path()).await;
        if out.status.code() == Some(2) {
            require_tool("PostgreSQL (initdb, pg_ctl)", false);
            return None;
        }
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Some(Self { dir, url })
    }

    pub async fn stop(&self) {
        let out = cluster_command("stop", self.dir.path()).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub async fn resume(&self) {
        let out = cluster_command("resume", self.dir.path()).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new(repo_path("scripts/pg-cluster"))
            .args(["stop", self.dir.path().to_str().unwrap()])
            .output();
    }
}

async fn cluster_command(command: &str, dir: &Path) -> std::process::Output {
    tokio::process::Command::new(repo_path("scripts/pg-cluster"))
        .args([command, dir.to_str().unwrap()])
        .output()
        .await
        .expect("scripts/pg-cluster runs")
}

async fn post(client: &reqwest::Client, base: &str, id: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/articles"))
        .bearer_auth(TOKEN)
        .json(&article(id, "hnyw/ldhd", "断库"))
        .send()
        .await
        .unwrap()
}

/// The whole database goes away for a while: writes answer 503 (and change nothing), cached
/// feeds are still served, and everything resumes by itself when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_answer_503_while_the_database_is_down_and_resume_without_a_restart() {
    // It brings its own PostgreSQL server, whichever engine the rest of the run is on: once.
    if on_postgres() {
        return;
    }
    let Some(pg) = OwnPostgres::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster =
        Cluster::start_on(dir, &pg.url, 2, "\n[database]\nacquire_timeout_secs = 1\n").await;
    let client = reqwest::Client::new();
    let receiver = Receiver::start().await;
    let response = client
        .post(format!("{}/api/v1/webhooks", cluster.bases[0]))
        .bearer_auth(TOKEN)
        .json(&json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        post(&client, &cluster.bases[0], "before").await.status(),
        201
    );
    receiver.wait_for(1).await;
    let path = "/feeds/hnyw.atom";
    let mut cached = Vec::new();
    for base in &cluster.bases {
        let tag = eventually("the feed with the article", || async {
            let response = client.get(format!("{base}{path}")).send().await.ok()?;
            let tag = response.headers()["etag"].to_str().ok()?.to_owned();
            response.text().await.ok()?.contains("断库").then_some(tag)
        })
        .await;
        cached.push(tag);
    }

    pg.stop().await;
    let down = Instant::now();
    for (i, base) in cluster.bases.iter().enumerate() {
        let response = post(&client, base, &format!("during-{i}")).await;
        assert_eq!(response.status(), 503, "a write while the database is down");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert!(response.headers().contains_key("retry-after"));
        // Cached feeds are still served, and still revalidate.
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["etag"].to_str().unwrap(), cached[i]);
        let response = client
            .get(format!("{base}{path}"))
            .header("if-none-match", &cached[i])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304);
    }
    let health = client
        .get(format!("{}/healthz", cluster.bases[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503, "health reports the database");
    let outage = down.elapsed();

    pg.resume().await;
    let back = Instant::now();
    eventually("writes to work again", || async {
        (post(&client, &cluster.bases[1], "after").await.status() == 201).then_some(())
    })
    .await;
    let writes_back = back.elapsed();
    // The article written through B after the outage reaches A's feed and the receiver.
    eventually("the other instance to serve the new article", || async {
        let feed = client
            .get(format!("{}{path}", cluster.bases[0]))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        feed.contains("/after.html").then_some(())
    })
    .await;
    eventually(
        "the webhook of the article written after the outage",
        || async {
            receiver
                .received()
                .iter()
                .any(|r| r.json()["data"]["article"]["id"] == "after")
                .then_some(())
        },
    )
    .await;
    assert!(
        !receiver
            .received()
            .iter()
            .any(|r| r.json()["data"]["article"]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("during"))),
        "a write answered 503 changed nothing"
    );
    println!(
        "instances: the database was down {:.1} s; writes worked again {:.2} s after it came back",
        outage.as_secs_f64(),
        writes_back.as_secs_f64()
    );
}
