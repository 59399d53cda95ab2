use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;
use tidings::app::Application;
use tidings::catalog::load_catalog;
use tidings::config::{Config, Scope, TokenConfig};
use tidings::delivery::client::Lookup;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-token-with-every-scope";
pub const READ_ONLY_TOKEN: &str = "test-token-that-may-only-read";

/// A running server on its own database.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub dir: TempDir,
    pub config: Config,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The test configuration: a temporary database, the shipped catalogue, two tokens.
pub fn test_config(dir: &Path) -> Config {
    let mut config = Config {
        database_url: format!("sqlite://{}", dir.join("tidings.db").display()),
        api_token: TOKEN.into(),
        catalog_dir: Some(repo_path("feeds")),
        tokens: vec![TokenConfig {
            name: "reader".into(),
            token: READ_ONLY_TOKEN.into(),
            scopes: vec![Scope::Read],
        }],
        ..Config::default()
    };
    // Every request of a test comes from one loopback client: the per-client rates are
    // tested on their own.
    config.websub.max_requests_per_client_per_minute = 1_000_000;
    config.feeds.max_misses_per_client_per_minute = 1_000_000;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut config = test_config(dir.path());
    config.database_url = fresh_database_url(dir.path()).await;
    adjust(&mut config);
    spawn_in(dir, config).await
}

/// Whether this run of the suite is on PostgreSQL (`TIDINGS_TEST_BACKEND=postgres`, which
/// `scripts/test` sets for its second pass) rather than SQLite.
pub fn on_postgres() -> bool {
    std::env::var("TIDINGS_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A database of its own for one test: a SQLite file in `dir`, or, on PostgreSQL, a new
/// database on the server of `TIDINGS_TEST_DATABASE_URL`.
pub async fn fresh_database_url(dir: &Path) -> String {
    if !on_postgres() {
        return format!("sqlite://{}", dir.join("tidings.db").display());
    }
    let server = std::env::var("TIDINGS_TEST_DATABASE_URL")
        .expect("TIDINGS_TEST_BACKEND=postgres needs TIDINGS_TEST_DATABASE_URL");
    let mut url = url::Url::parse(&server).expect("TIDINGS_TEST_DATABASE_URL is a URL");
    let name = format!("tidings_t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
        .await
        .expect("the PostgreSQL test server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a test database");
    let _ = sqlx::Connection::close(admin).await;
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Starts a server on an existing folder and configuration (to restart on the same data).
pub async fn spawn_in(dir: TempDir, config: Config) -> TestApp {
    spawn_at(dir, config, "127.0.0.1:0").await
}

/// [`spawn_in`], listening on `address` (`host:port`): a restart where the last run listened,
/// so that its URLs (feeds, topics) stay the same.
pub async fn spawn_at(dir: TempDir, config: Config, address: &str) -> TestApp {
    spawn_resolving(dir, config, address, Lookup::System).await
}

/// A server whose outbound requests resolve names with `lookup` (a table the test controls),
/// with the configuration `adjust` makes of the tests' own.
pub async fn spawn_app_resolving(adjust: impl FnOnce(&mut Config), lookup: Lookup) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut config = test_config(dir.path());
    config.database_url = fresh_database_url(dir.path()).await;
    adjust(&mut config);
    spawn_resolving(dir, config, "127.0.0.1:0", lookup).await
}

async fn spawn_resolving(
    dir: TempDir,
    mut config: Config,
    address: &str,
    lookup: Lookup,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .expect("a free port");
    let address = format!("http://{}", listener.local_addr().expect("an address"));
    config.listen = listener.local_addr().expect("an address").to_string();
    config.base_url = address.clone();
    let catalog = load_catalog(config.catalog_dir.as_deref().expect("a catalogue folder"))
        .expect("the shipped catalogue is valid");
    let app = Application::build_with_lookup(config.clone(), catalog, listener, lookup)
        .await
        .expect("the application builds");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .build()
            .expect("a client"),
        dir,
        config,
        shutdown,
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_article(&self, article: &Value) -> reqwest::Response {
        self.post_json("/api/v1/articles", article).await
    }

    /// POSTs `body` as JSON to `path` with the token that has every scope.
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .expect("the server answers")
    }

    /// Posts and expects success, returning the JSON answer.
    pub async fn publish(&self, article: &Value) -> Value {
        let response = self.post_article(article).await;
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON answer");
        assert!(
            status.is_success(),
            "publishing failed with {status}: {body}"
        );
        body
    }

    /// `DELETE /api/v1/articles/{id}` with the token that has every scope.
    pub async fn delete_article(&self, id: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/api/v1/articles/{id}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the server answers")
    }

    /// A GET with the token that has every scope.
    pub async fn get_authorized(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn get_text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.expect("a body")
    }

    pub async fn events(&self) -> Vec<Value> {
        let store =
            tidings::store::Store::connect(&self.config.database_url, &self.config.database)
                .await
                .expect("the database opens");
        let events = store.events_after(0, 10_000).await.expect("events");
        store.close().await;
        events
            .into_iter()
            .map(|e| serde_json::to_value(e).expect("an event serialises"))
            .collect()
    }

    /// Stops the server and gives back its folder and configuration.
    pub async fn stop(mut self) -> (TempDir, Config) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task")
                .expect("the server stops cleanly");
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("a folder"));
        (dir, self.config.clone())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The seed article, as the portal's CMS would send it.
pub fn seed_article() -> Value {
    let text = std::fs::read_to_string(repo_path("tests/fixtures/seed_article.json"))
        .expect("the fixture");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

/// A small valid article in `section`.
pub fn article(id: &str, section: &str, title: &str) -> Value {
    json!({
        "id": id,
        "section": section,
        "title": title,
        "url": format!("https://www.huangnan.gov.cn/{section}/{id}.html"),
        "published": "2024-03-01T10:00:00+08:00",
        "content_html": format!("<p>{title}</p>"),
    })
}

/// Whether an external tool is required (CI) or may be skipped (a developer's machine).
pub fn require_tool(name: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is required in CI but is not installed (see .ci/run)");
    }
    eprintln!("SKIPPED: {name} is not installed; this interop check did not run");
    false
}

/// Polls `check` until it yields a value. Tests wait for states, never for times: the timeout
/// only guards against a hang, and its message names what never happened.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let found = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}

/// Whether python3 can import `module` (an interop client installed by `.ci/run`).
pub fn has_python_module(module: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What a test needs to run the real binary: the base URL of a free loopback port, and a
/// configuration file in `dir` (see [`write_server_config`]) on a fresh database.
pub struct BinarySetup {
    pub base: String,
    pub config: PathBuf,
}

pub async fn binary_setup(dir: &Path, extra: &str) -> BinarySetup {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.join("tidings.toml");
    let database = fresh_database_url(dir).await;
    write_server_config(&config, port, &base, &database, extra);
    BinarySetup { base, config }
}

/// A child process killed and reaped however the test ends: a failed assertion must not
/// leave a server running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real binary serving with the configuration file `config`.
pub fn start_binary(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("TIDINGS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

/// Waits until a server answers `/healthz`.
pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server never became healthy");
}

/// A free loopback port: bound, then let go, for a server started next to take.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The top-level keys of a real server's configuration file: where it listens, its public
/// URL, its database, the tests' token and the shipped catalogue.
pub fn config_head(port: u16, public: &str, database: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:{port}"
base_url = "{public}"
database_url = "{database}"
api_token = "{TOKEN}"
catalog_dir = "{feeds}"
"#,
        feeds = repo_path("feeds").display(),
    )
}

/// Writes the configuration of a real server: loopback receivers allowed, quick retries,
/// short leases (so that a killed instance's work is taken over soon), `extra` appended.
pub fn write_server_config(path: &Path, port: u16, public: &str, database: &str, extra: &str) {
    std::fs::write(
        path,
        format!(
            r#"{head}
[feeds]
poll_interval_ms = {feed_poll}

[delivery]
allow_private_destinations = true
retry_schedule_secs = [0, 0.2, 0.5, 1, 2, 5]
jitter = 0.0
concurrency = 4
connect_timeout_secs = 1
request_timeout_secs = 1
lease_secs = 3
poll_interval_ms = 50
{extra}"#,
            head = config_head(port, public, database),
            // On PostgreSQL the change signal must carry changes between instances: the poll,
            // the fallback for a lost signal, is too slow to pass for it.
            feed_poll = if on_postgres() { 60_000 } else { 200 },
        ),
    )
    .unwrap();
}

/// `GET path` with the token that has every scope: the answer's JSON, which must be a 200.
pub async fn admin_get(app: &TestApp, path: &str) -> Value {
    let response = app.get_authorized(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("a JSON answer")
}

/// The endpoint's delivery log (its first 500), once it satisfies `done`.
pub async fn wait_log(
    app: &TestApp,
    endpoint: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/api/v1/webhooks/{endpoint}/deliveries?limit=500");
    eventually("the delivery log to reach the expected state", || async {
        let log = admin_get(app, &path).await["deliveries"]
            .as_array()
            .expect("a delivery log")
            .clone();
        done(&log).then_some(log)
    })
    .await
}
