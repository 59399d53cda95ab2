//! Configuration: built-in defaults, under the file `--config` names (or `config/tidings.toml`
//! when it names none and that file exists), under `TIDINGS_…` environment variables.
//!
//! Every key can be overridden from the environment; nested keys use `__`
//! (`TIDINGS_FEEDS__MAX_LIMIT=100`). The common top-level keys have the short names operators
//! rely on: `TIDINGS_LISTEN`, `TIDINGS_BASE_URL`, `TIDINGS_DATABASE_URL`, `TIDINGS_API_TOKEN`.
//!
//! A database URL may carry a password: show it only through [`redacted_database_url`].

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The whole configuration, every field with its default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds to.
    pub listen: String,
    /// The absolute URL tidings is reached at: used in feed self links, hub links, OPML.
    /// Empty: `http://` and `listen` (loopback for an unspecified address).
    pub base_url: String,
    /// `sqlite://path` (created on first start), or `postgres://user:password@host/db`
    /// (`postgresql://` too; the database must exist, the schema is created on first start).
    pub database_url: String,
    /// One token with every scope, for simple setups; empty disables it.
    pub api_token: String,
    /// When no token is configured at all, `serve` uses the token in this file, and writes a
    /// new random one there first (mode 0600) if there is none. Empty: no such file.
    pub api_token_file: PathBuf,
    /// Folder of the section catalogue; a relative one set in a file is relative to that
    /// file's folder. None: the catalogue built into the binary (the shipped `feeds/`).
    pub catalog_dir: Option<PathBuf>,
    /// Scoped tokens.
    pub tokens: Vec<TokenConfig>,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub feeds: FeedsConfig,
    pub ingest: IngestConfig,
    pub delivery: DeliveryConfig,
    pub websub: WebSubConfig,
    pub admin: AdminConfig,
    pub events: EventsConfig,
}

/// A bearer token and what it may do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Shown in logs instead of the token.
    pub name: String,
    pub token: String,
    pub scopes: Vec<Scope>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Create, update and delete articles.
    Publish,
    /// Read articles and the event log through the API.
    Read,
    /// Manage webhooks and subscriptions.
    Admin,
}

/// The connection pool of a PostgreSQL database. SQLite keeps its own: one writer and a few
/// readers on a local file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Connections open at most (one more listens for changes made by other instances).
    pub max_connections: u32,
    /// How long a unit of work waits for a free connection before it fails (503), in seconds.
    pub acquire_timeout_secs: u64,
    /// Longest a statement may run before the server cancels it, in seconds; 0: no limit.
    pub statement_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_secs: 5,
            statement_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Time allowed for one request, in seconds.
    pub request_timeout_secs: u64,
    /// Time allowed for a request's headers to arrive, and for an idle connection to send its
    /// next request, in seconds; the connection is closed after it.
    pub header_read_timeout_secs: u64,
    /// Connections open at once; past it, new ones wait to be accepted. Kept below the
    /// process's descriptor limit.
    pub max_connections: usize,
    /// Longest request target (path and query), in bytes (414 beyond).
    pub max_uri_bytes: usize,
    /// Most bytes of header fields in one request, names and values (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields in one request (431 beyond).
    pub max_headers: usize,
    /// Where a client's address comes from, for the per-client limits of the public doors:
    /// empty for the connection's peer, or a header a reverse proxy in front sets (such as
    /// `X-Forwarded-For`, whose last address counts: the one the nearest proxy added).
    pub client_ip_header: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsConfig {
    /// Entries in a feed without `?limit=`, and the articles a scope's page shows.
    pub default_limit: u32,
    /// Largest `?limit=` accepted.
    pub max_limit: u32,
    /// `Cache-Control: public, max-age=N` on feeds and pages.
    pub max_age_secs: u32,
    /// How often to look for changes written by other processes (the CLI, other instances).
    pub poll_interval_ms: u64,
    /// Feed requests one client may make per minute that find no cached document and render
    /// one (429 beyond); requests served from the cache are not counted. Pages and searches,
    /// rendered at each request, count too.
    pub max_misses_per_client_per_minute: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// How far in the future a publication time may lie (clock skew, scheduled posts).
    pub max_future_secs: i64,
    /// Longest title accepted, in characters.
    pub max_title_chars: usize,
    /// Longest body accepted, in bytes after sanitising.
    pub max_content_bytes: usize,
    /// Most elements (start tags) in a body.
    pub max_html_elements: usize,
    /// Deepest nesting of elements in a body, counting formatting elements left open.
    pub max_html_depth: usize,
    /// Most attributes on one element of a body.
    pub max_html_attributes: usize,
    /// Most articles in one `POST /api/v1/articles/batch`.
    pub max_batch_items: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            base_url: String::new(),
            database_url: "sqlite://data/tidings.db".into(),
            api_token: String::new(),
            api_token_file: PathBuf::from("data/api-token"),
            catalog_dir: None,
            tokens: Vec::new(),
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            feeds: FeedsConfig::default(),
            ingest: IngestConfig::default(),
            delivery: DeliveryConfig::default(),
            websub: WebSubConfig::default(),
            admin: AdminConfig::default(),
            events: EventsConfig::default(),
        }
    }
}

/// Live streams of the event log (Server-Sent Events).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Streams open at once, the API's and the public ones together (503 beyond).
    pub max_streams: usize,
    /// Public streams one client may hold open at once (429 beyond; see
    /// `http.client_ip_header`).
    pub max_public_streams_per_client: usize,
    /// A stream silent this long gets a comment, so that proxies keep it open, in seconds.
    pub heartbeat_secs: f64,
    /// How long a client should wait before reconnecting (the stream's `retry:`), in
    /// milliseconds.
    pub retry_ms: u64,
    /// Serve each scope's public stream (`/feeds/{scope}.events`), and show new articles live
    /// on the scope's page.
    pub public_streams: bool,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            max_streams: 256,
            max_public_streams_per_client: 4,
            heartbeat_secs: 15.0,
            retry_ms: 3000,
            public_streams: false,
        }
    }
}

/// The delivery engine (webhooks now, WebSub next).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Delay before each attempt, in seconds: the first is the initial delivery, the last
    /// attempt's failure gives up. Fractions are allowed.
    pub retry_schedule_secs: Vec<f64>,
    /// Each delay is spread by ± this fraction.
    pub jitter: f64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// The most of those that WebSub deliveries may hold (a fraction): the rest is kept for
    /// webhooks, which subscribers whose callbacks hang can then never starve.
    pub websub_max_share: f64,
    /// The most deliveries in flight to one host at once (one server must not hold every
    /// worker).
    pub max_per_host: usize,
    /// A host whose requests timed out this many times in a row is slow: it gets at most
    /// `slow_host_concurrency` deliveries at once and `slow_host_timeout_secs` for each,
    /// until one is answered in time.
    pub slow_host_after_timeouts: u32,
    pub slow_host_concurrency: usize,
    /// (At most `request_timeout_secs`.)
    pub slow_host_timeout_secs: f64,
    pub connect_timeout_secs: f64,
    /// Total time allowed for one request.
    pub request_timeout_secs: f64,
    /// How long a claimed delivery is reserved for its worker; must outlive the request.
    pub lease_secs: f64,
    /// How much of a receiver's answer is kept in the attempt log, in bytes.
    pub max_response_bytes: usize,
    /// Allow destinations on loopback, private, link-local and other non-public addresses.
    pub allow_private_destinations: bool,
    /// After this long failing without a success an endpoint is reported failing.
    pub failing_after_secs: f64,
    /// After this long failing without a success an endpoint is disabled.
    pub disable_after_secs: f64,
    /// How long a rotated-out secret keeps signing beside the new one.
    pub rotation_grace_secs: f64,
    /// The least wait before trying a chat robot again after it answered "too fast" (WeCom
    /// 45009, DingTalk 130101, Feishu 9499 or 11232), in seconds.
    pub robot_busy_wait_secs: f64,
    /// How often to look for work when nothing wakes the engine, in milliseconds.
    pub poll_interval_ms: u64,
}

/// The operator's console at `/admin`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// How long a console session lasts after logging in, in seconds.
    pub session_secs: u64,
    /// Failed logins one client may make per minute; past it, every login of that client is
    /// refused (429) until the minute has passed.
    pub max_failed_logins_per_client_per_minute: u32,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            session_secs: 8 * 3600,
            max_failed_logins_per_client_per_minute: 10,
        }
    }
}

/// The WebSub hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSubConfig {
    /// Lease granted when the subscriber asks for none, in seconds.
    pub lease_default_secs: i64,
    /// Requested leases are clamped to [min, max].
    pub lease_min_secs: i64,
    pub lease_max_secs: i64,
    /// Changes to a topic arriving within this window go out as one notification.
    pub coalesce_window_ms: u64,
    /// `X-Hub-Signature` algorithm: sha1, sha256, sha384 or sha512.
    pub signature_algorithm: crate::domain::SignatureAlgorithm,
    /// Waits before retrying a verification that met a 5xx or a network error, in seconds.
    pub verification_retry_secs: Vec<f64>,
    /// Largest subscription request (the form posted to the hub), in bytes.
    pub max_request_bytes: usize,
    /// Verifications of intent pending at once (accepted, not yet verified or given up).
    pub max_pending_verifications: usize,
    /// Of those, for callbacks on one host.
    pub max_pending_per_host: usize,
    /// Of those, asked for by one client (see `http.client_ip_header`).
    pub max_pending_per_client: usize,
    /// Active subscriptions with callbacks on one host (any scheme or port).
    pub max_subscriptions_per_host: u64,
    /// Active subscriptions to one feed (any spelling of its topic).
    pub max_subscriptions_per_feed: u64,
    /// Subscription requests one client may send per minute (429 beyond).
    pub max_requests_per_client_per_minute: u32,
}

impl Default for WebSubConfig {
    fn default() -> Self {
        Self {
            lease_default_secs: 10 * 86400,
            lease_min_secs: 3600,
            lease_max_secs: 30 * 86400,
            coalesce_window_ms: 1000,
            signature_algorithm: crate::domain::SignatureAlgorithm::Sha256,
            verification_retry_secs: vec![1.0, 5.0, 25.0],
            max_request_bytes: 16 * 1024,
            max_pending_verifications: 4096,
            max_pending_per_host: 64,
            max_pending_per_client: 32,
            max_subscriptions_per_host: 1000,
            max_subscriptions_per_feed: 10_000,
            max_requests_per_client_per_minute: 60,
        }
    }
}

impl WebSubConfig {
    /// The hub's absolute URL, the same byte for byte in every header and document.
    pub fn hub_url(&self, public_base: &str) -> String {
        format!("{public_base}/websub")
    }

    /// The lease to grant for a requested one (§5.1: the hub decides).
    pub fn grant_lease(&self, requested: Option<i64>) -> i64 {
        requested
            .unwrap_or(self.lease_default_secs)
            .clamp(self.lease_min_secs, self.lease_max_secs)
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            retry_schedule_secs: vec![
                0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0,
            ],
            jitter: 0.2,
            concurrency: 32,
            websub_max_share: 0.75,
            max_per_host: 16,
            slow_host_after_timeouts: 2,
            slow_host_concurrency: 2,
            slow_host_timeout_secs: 5.0,
            connect_timeout_secs: 5.0,
            request_timeout_secs: 15.0,
            lease_secs: 60.0,
            max_response_bytes: 4096,
            allow_private_destinations: false,
            failing_after_secs: 24.0 * 3600.0,
            disable_after_secs: 5.0 * 24.0 * 3600.0,
            rotation_grace_secs: 24.0 * 3600.0,
            robot_busy_wait_secs: 60.0,
            poll_interval_ms: 1000,
        }
    }
}

impl HttpConfig {
    /// The HTTP/1 parser's own ceiling on a request target (it answers a bare 414 past it).
    pub const URI_CEILING: usize = 65_534;
    /// The largest `max_header_bytes` accepted: the connection's read buffer is sized from it.
    pub const HEADER_CEILING: usize = 1024 * 1024;

    /// The connection's read buffer: room for a request line and header fields well past the
    /// limits, so that the service, not the parser, answers a request that passes them.
    pub fn read_buffer_bytes(&self) -> usize {
        (2 * (self.max_uri_bytes + self.max_header_bytes)).max(64 * 1024)
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 15,
            max_connections: 8192,
            max_uri_bytes: 8192,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            client_ip_header: String::new(),
        }
    }
}

impl FeedsConfig {
    /// The number of entries served for `?limit=n` (1 ≤ n ≤ `max_limit`): the smallest of 1,
    /// 5, 10, 20, 50, 100, 200, 500, `default_limit` and `max_limit` that is not below n. A
    /// client gets at least what it asked for, and a feed has a few cached forms, where any
    /// number would let a client make a render with every request.
    pub fn limit_step(&self, n: u32) -> u32 {
        [
            1,
            5,
            10,
            20,
            50,
            100,
            200,
            500,
            self.default_limit,
            self.max_limit,
        ]
        .into_iter()
        .filter(|&step| step >= n && step <= self.max_limit)
        .min()
        .unwrap_or(self.max_limit)
    }
}

impl Default for FeedsConfig {
    fn default() -> Self {
        Self {
            default_limit: 50,
            max_limit: 500,
            max_age_secs: 300,
            poll_interval_ms: 1000,
            max_misses_per_client_per_minute: 600,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_future_secs: 24 * 3600,
            max_title_chars: 1000,
            max_content_bytes: 2 * 1024 * 1024,
            max_html_elements: 100_000,
            max_html_depth: 256,
            max_html_attributes: 64,
            max_batch_items: 1000,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the configuration file: {reason}", file.display())]
    Unreadable {
        file: PathBuf,
        reason: std::io::Error,
    },
    #[error("{}:{line}: {message}", file.display())]
    File {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("configuration: {0}")]
    Layered(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The configuration file read when the command line names none, if it exists.
pub const DEFAULT_FILE: &str = "config/tidings.toml";

impl Config {
    /// The built-in defaults, then `file` (which must exist and be readable) or, when `None`,
    /// [`DEFAULT_FILE`] if it exists, then the environment. Returns the file read, if any.
    pub fn load(file: Option<&Path>) -> Result<(Self, Option<PathBuf>), ConfigError> {
        let file = match file {
            Some(file) => Some(file.to_owned()),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|f| f.exists()),
        };
        if let Some(file) = &file {
            check_file(file)?;
        }
        let figment = Self::figment(file.as_deref());
        let mut config: Config = figment.extract().map_err(Box::new)?;
        if let Some(dir) = &config.catalog_dir
            && dir.is_relative()
            && let Some(folder) = file_folder_of(&figment, "catalog_dir")
        {
            config.catalog_dir = Some(folder.join(dir));
        }
        let config = config.settled();
        config.validate()?;
        Ok((config, file))
    }

    /// Fills in what follows from other keys: an empty `base_url` becomes `http://` and the
    /// `listen` address (loopback for an unspecified one).
    pub fn settled(mut self) -> Self {
        self.base_url = self.effective_base_url();
        self
    }

    fn effective_base_url(&self) -> String {
        if self.base_url.trim().is_empty() {
            format!("http://{}", reachable(&self.listen))
        } else {
            self.base_url.clone()
        }
    }

    /// The layers: defaults, the file if any, the environment.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.merge(
            // TIDINGS_LOG is read by the logger; TIDINGS_TEST_* belong to the test suite.
            Env::prefixed("TIDINGS_").split("__").ignore(&[
                "LOG",
                "TEST_BACKEND",
                "TEST_DATABASE_URL",
            ]),
        )
    }

    /// Checks what serde cannot: URLs, limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let base_url = self.effective_base_url();
        let base = url::Url::parse(&base_url)
            .map_err(|e| ConfigError::Invalid(format!("base_url {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid(format!(
                "base_url {base_url:?} must be an absolute http(s) URL"
            )));
        }
        if self.feeds.default_limit == 0 || self.feeds.default_limit > self.feeds.max_limit {
            return Err(ConfigError::Invalid(
                "feeds.default_limit must be between 1 and feeds.max_limit".into(),
            ));
        }
        if !is_supported_database_url(&self.database_url) {
            return Err(ConfigError::Invalid(format!(
                "database_url {:?}: use sqlite://path, postgres:// or postgresql://",
                redacted_database_url(&self.database_url)
            )));
        }
        if !(self.delivery.websub_max_share > 0.0 && self.delivery.websub_max_share <= 1.0) {
            return Err(ConfigError::Invalid(
                "delivery.websub_max_share must be above 0 and at most 1".into(),
            ));
        }
        let d = &self.delivery;
        if d.max_per_host == 0
            || d.slow_host_after_timeouts == 0
            || d.slow_host_concurrency == 0
            || d.slow_host_timeout_secs.is_nan()
            || d.slow_host_timeout_secs <= 0.0
        {
            return Err(ConfigError::Invalid(
                "delivery.max_per_host, slow_host_after_timeouts and slow_host_concurrency must be \
                 at least 1, and slow_host_timeout_secs above 0"
                    .into(),
            ));
        }
        if self.http.header_read_timeout_secs == 0 || self.http.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "http.header_read_timeout_secs and http.max_connections must be at least 1".into(),
            ));
        }
        if self.feeds.max_misses_per_client_per_minute == 0
            || self.websub.max_requests_per_client_per_minute == 0
        {
            return Err(ConfigError::Invalid(
                "feeds.max_misses_per_client_per_minute and \
                 websub.max_requests_per_client_per_minute must be at least 1"
                    .into(),
            ));
        }
        let http = &self.http;
        if !(256..=HttpConfig::URI_CEILING).contains(&http.max_uri_bytes)
            || !(1024..=HttpConfig::HEADER_CEILING).contains(&http.max_header_bytes)
            || !(16..=1000).contains(&http.max_headers)
        {
            return Err(ConfigError::Invalid(format!(
                "http.max_uri_bytes must be from 256 to {}, http.max_header_bytes from 1024 to {}, \
                 http.max_headers from 16 to 1000",
                HttpConfig::URI_CEILING,
                HttpConfig::HEADER_CEILING
            )));
        }
        if !(60..=30 * 86400).contains(&self.admin.session_secs)
            || self.admin.max_failed_logins_per_client_per_minute == 0
        {
            return Err(ConfigError::Invalid(
                "admin.session_secs must be from 60 to 2592000, and \
                 admin.max_failed_logins_per_client_per_minute at least 1"
                    .into(),
            ));
        }
        if self.database.max_connections == 0 || self.database.acquire_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "database.max_connections and database.acquire_timeout_secs must be at least 1"
                    .into(),
            ));
        }
        let d = &self.delivery;
        if d.retry_schedule_secs.is_empty()
            || d.retry_schedule_secs
                .iter()
                .any(|s| !(0.0..=7.0 * 86400.0).contains(s))
        {
            return Err(ConfigError::Invalid(
                "delivery.retry_schedule_secs needs at least one delay, each from 0 to 604800"
                    .into(),
            ));
        }
        if !(0.0..1.0).contains(&d.jitter) || d.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "delivery.jitter must be in [0, 1) and delivery.concurrency at least 1".into(),
            ));
        }
        if d.lease_secs <= d.request_timeout_secs + d.connect_timeout_secs {
            return Err(ConfigError::Invalid(
                "delivery.lease_secs must exceed the request and connect timeouts together".into(),
            ));
        }
        let w = &self.websub;
        if w.lease_min_secs < 1
            || w.lease_min_secs > w.lease_max_secs
            || !(w.lease_min_secs..=w.lease_max_secs).contains(&w.lease_default_secs)
        {
            return Err(ConfigError::Invalid(
                "websub: need 1 <= lease_min_secs <= lease_default_secs <= lease_max_secs".into(),
            ));
        }
        let e = &self.events;
        if e.max_streams == 0
            || e.max_public_streams_per_client == 0
            || !(0.01..=3600.0).contains(&e.heartbeat_secs)
        {
            return Err(ConfigError::Invalid(
                "events.max_streams and events.max_public_streams_per_client must be at least 1, \
                 events.heartbeat_secs from 0.01 to 3600"
                    .into(),
            ));
        }
        if !self.api_token.is_empty() && self.api_token.len() < 16 {
            return Err(ConfigError::Invalid(
                "api_token must be at least 16 characters, like every token".into(),
            ));
        }
        for t in &self.tokens {
            if t.token.len() < 16 {
                return Err(ConfigError::Invalid(format!(
                    "tokens: the token named {:?} must be at least 16 characters",
                    t.name
                )));
            }
        }
        Ok(())
    }

    /// `base_url` without a trailing slash, ready to have paths appended.
    pub fn public_base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

/// The folder of the file that set `key`, when a file set it.
fn file_folder_of(figment: &Figment, key: &str) -> Option<PathBuf> {
    let value = figment.find_value(key).ok()?;
    let metadata = figment.get_metadata(value.tag())?;
    match metadata.source.as_ref()? {
        figment::Source::File(path) => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            Some(path.parent()?.to_owned())
        }
        _ => None,
    }
}

/// The address a client on this machine reaches a server listening on `listen` at: an
/// unspecified address (`0.0.0.0`, `[::]`) becomes loopback.
fn reachable(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let ip: std::net::IpAddr = if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            std::net::SocketAddr::new(ip, addr.port()).to_string()
        }
        _ => listen.to_owned(),
    }
}

/// Whether a database URL names a backend this build has.
fn is_supported_database_url(url: &str) -> bool {
    ["sqlite:", "postgres:", "postgresql:"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
}

/// A database URL fit for logs and error messages: its password (in the user information or
/// a `password=` parameter) replaced by `***`. Anything that cannot be parsed as a URL keeps
/// only what comes before `://`, so that nothing secret can slip through a malformed value.
pub fn redacted_database_url(url: &str) -> String {
    const MASK: &str = "***";
    let Ok(mut parsed) = url::Url::parse(url) else {
        return match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://{MASK}"),
            None if url.starts_with("sqlite:") => url.to_owned(),
            None => MASK.to_owned(),
        };
    };
    if parsed.password().is_some() && parsed.set_password(Some(MASK)).is_err() {
        return format!("{}://{MASK}", parsed.scheme());
    }
    if parsed.query_pairs().any(|(key, _)| is_password_key(&key)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_password_key(&key) {
                    MASK.to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

fn is_password_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password")
}

/// Reads the file alone with every key checked, so that a typo is named with its line.
fn check_file(file: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|reason| ConfigError::Unreadable {
        file: file.to_owned(),
        reason,
    })?;
    toml::from_str::<Config>(&text).map(|_| ()).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].bytes().filter(|b| *b == b'\n').count() + 1)
            .unwrap_or(0);
        ConfigError::File {
            file: file.to_owned(),
            line,
            message: e.message().trim().to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_follows_listen_when_unset() {
        let settled = |listen: &str, base: &str| {
            Config {
                listen: listen.into(),
                base_url: base.into(),
                ..Config::default()
            }
            .settled()
            .base_url
        };
        assert_eq!(settled("127.0.0.1:9090", ""), "http://127.0.0.1:9090");
        assert_eq!(settled("0.0.0.0:9090", ""), "http://127.0.0.1:9090");
        assert_eq!(settled("[::]:80", " "), "http://[::1]:80");
        assert_eq!(settled("localhost:8080", ""), "http://localhost:8080");
        assert_eq!(
            settled("0.0.0.0:9090", "https://news.example.gov.cn"),
            "https://news.example.gov.cn"
        );
        assert_eq!(
            Config::default().settled().base_url,
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn a_named_file_must_exist_and_its_catalogue_is_relative_to_it() {
        let missing = Path::new("/nonexistent/tidings.toml");
        let err = Config::load(Some(missing)).unwrap_err();
        assert!(matches!(err, ConfigError::Unreadable { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("/nonexistent/tidings.toml: cannot read the configuration file"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("etc");
        std::fs::create_dir(&folder).unwrap();
        let file = folder.join("tidings.toml");
        std::fs::write(
            &file,
            "catalog_dir = \"../feeds\"\nlisten = \"127.0.0.1:9\"\n",
        )
        .unwrap();
        let (config, read) = Config::load(Some(&file)).unwrap();
        assert_eq!(read.as_deref(), Some(file.as_path()));
        let expected = std::fs::canonicalize(&folder).unwrap().join("../feeds");
        assert_eq!(config.catalog_dir, Some(expected));
        assert_eq!(config.base_url, "http://127.0.0.1:9");

        std::fs::write(&file, "catalog_dir = \"/srv/feeds\"\n").unwrap();
        let (config, _) = Config::load(Some(&file)).unwrap();
        assert_eq!(config.catalog_dir, Some(PathBuf::from("/srv/feeds")));
    }

    #[test]
    fn every_token_is_at_least_16_characters() {
        let short = Config {
            api_token: "short-token".into(),
            ..Config::default()
        };
        let err = short.validate().unwrap_err().to_string();
        assert!(
            err.contains("api_token must be at least 16 characters"),
            "{err}"
        );
        let long = Config {
            api_token: "a-token-long-enough".into(),
            ..Config::default()
        };
        assert!(long.validate().is_ok());
    }

    #[test]
    fn database_urls_lose_their_passwords() {
        let cases = [
            (
                "postgres://tidings:s3cret@db.example:5432/tidings",
                "postgres://tidings:***@db.example:5432/tidings",
            ),
            (
                "postgresql://tidings:p%40ss@db/tidings?sslmode=require",
                "postgresql://tidings:***@db/tidings?sslmode=require",
            ),
            (
                "postgres://tidings:p@ss@db/tidings",
                "postgres://tidings:***@db/tidings",
            ),
            (
                "postgres://db/tidings?user=t&password=s3cret",
                "postgres://db/tidings?user=t&password=***",
            ),
            (
                "postgres://tidings@db/tidings",
                "postgres://tidings@db/tidings",
            ),
            ("postgres://u:s3cret@db:port/x", "postgres://***"),
            ("sqlite://data/tidings.db", "sqlite://data/tidings.db"),
            ("not a url s3cret", "***"),
        ];
        for (url, shown) in cases {
            assert_eq!(redacted_database_url(url), shown, "{url}");
        }
    }

    #[test]
    fn postgres_urls_are_accepted_and_shown_without_password() {
        let mut config = Config {
            database_url: "postgresql://t:s3cret@db/tidings".into(),
            ..Config::default()
        };
        config.validate().expect("a PostgreSQL URL is valid");
        config.database_url = "postgres://t:s3cret@db/tidings".into();
        config.validate().expect("a PostgreSQL URL is valid");
        config.database_url = "mysql://t:s3cret@db/tidings".into();
        let err = config
            .validate()
            .expect_err("MySQL is not supported")
            .to_string();
        assert!(err.contains("mysql://t:***@db/tidings"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        config.database_url = "sqlite://data/tidings.db".into();
        config.database.max_connections = 0;
        assert!(config.validate().is_err());
    }
}
