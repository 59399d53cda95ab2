//! A polite HTTP fetcher for upstream feeds and pages.
//!
//! Conditional GET with the validators of the last fetch; redirects followed by hand, each hop
//! checked for its scheme, its address (the delivery client's address policy and resolver) and
//! `robots.txt`; a body cap enforced while reading; and per host (`host:port`) at most
//! `per_host_concurrency` requests at once, their starts at least `per_host_delay` apart (or
//! the `Crawl-delay` the host's `robots.txt` asks for, when longer, up to 10 s).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, LINK, LOCATION,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use super::robots::{self, MAX_ROBOTS_BYTES, Refusal, Robots};
use crate::delivery::client::{AddressPolicy, AddressRefused, Lookup, policy_resolver};

#[cfg(test)]
mod tests;

/// Hosts remembered beyond this many are forgotten when idle, so that fetching ever new hosts
/// cannot grow the map without end.
const MAX_HOSTS: usize = 1024;

/// How the fetcher behaves towards the sites it reads.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Sent with every request; its product token (`tidings` of `tidings/0.1.0`) is what
    /// `robots.txt` groups are matched against.
    pub user_agent: String,
    /// The largest body accepted, after decompression.
    pub max_bytes: usize,
    pub max_redirects: usize,
    /// For one request, from connecting to the end of the body.
    pub timeout: Duration,
    pub per_host_concurrency: usize,
    /// The least time between the starts of two requests to one host.
    pub per_host_delay: Duration,
    pub respect_robots: bool,
    /// Which addresses may be reached: the delivery client's rule, so that a redirect cannot
    /// lead into the private network.
    pub addresses: AddressPolicy,
    /// How names resolve (tests give a table).
    pub lookup: Lookup,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            user_agent: format!("tidings/{}", env!("CARGO_PKG_VERSION")),
            max_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            timeout: Duration::from_secs(30),
            per_host_concurrency: 1,
            per_host_delay: Duration::from_secs(1),
            respect_robots: true,
            addresses: AddressPolicy {
                allow_private: false,
            },
            lookup: Lookup::System,
        }
    }
}

/// The validators of a fetched resource, sent back to ask whether it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a GET gave.
// One value per fetch, moved once: boxing the page would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Fetched {
    /// 304: unchanged since the validators given.
    NotModified,
    Page(Page),
}

/// A fetched resource.
#[derive(Debug, Clone)]
pub struct Page {
    /// Where it was found, after redirects.
    pub url: Url,
    pub content_type: Option<String>,
    pub bytes: Bytes,
    pub validators: Validators,
    pub cache_control: Option<String>,
    /// Every `Link` header value, raw (see `ingest::upstream::hub_links`).
    pub links: Vec<String>,
}

/// Why a fetch failed; each names the URL it was at.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: not an http or https URL")]
    NotHttp { url: Url },
    #[error("{url}: refused: {reason}")]
    Refused { url: Url, reason: String },
    #[error("{url}: refused by robots.txt")]
    RobotsDisallowed { url: Url },
    #[error("{url}: refused until robots.txt can be fetched ({reason})")]
    RobotsUnreachable { url: Url, reason: String },
    #[error("{url}: larger than {max} bytes")]
    TooLarge { url: Url, max: usize },
    #[error("{url}: redirect loop")]
    RedirectLoop { url: Url },
    #[error("{url}: too many redirects (more than {max})")]
    TooManyRedirects { url: Url, max: usize },
    #[error("{url}: redirect without a usable Location")]
    BadRedirect { url: Url },
    #[error("{url}: HTTP status {status}")]
    Status { url: Url, status: u16 },
    #[error("{url}: timed out after {} ms", timeout.as_millis())]
    TimedOut { url: Url, timeout: Duration },
    #[error("{url}: connection failed: {reason}")]
    Connection { url: Url, reason: String },
}

/// The fetcher; cheap to clone (the clones share hosts, `robots.txt` and connections).
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    policy: FetchPolicy,
    /// `robots.txt` groups are matched against this.
    agent: String,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

/// What the fetcher keeps for one `host:port`.
#[derive(Debug)]
struct Host {
    permits: Arc<Semaphore>,
    /// When the next request may start (reserved by the one before it).
    next_start: Mutex<Option<Instant>>,
    /// Held while `robots.txt` is fetched, so that it is fetched once.
    robots: tokio::sync::Mutex<Option<Robots>>,
    /// The `Crawl-delay` its `robots.txt` asks for, when longer than the policy's delay.
    crawl_delay: Mutex<Option<Duration>>,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            // Redirects are followed here, hop by hop, so that each hop is checked.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(policy_resolver(policy.addresses, policy.lookup.clone()))
            .user_agent(policy.user_agent.clone())
            // Feeds compress well; the cap applies to the inflated body.
            .gzip(true)
            .brotli(true)
            .build()
            .expect("a client of these settings builds");
        let agent = robots::product_token(&policy.user_agent).to_owned();
        Self {
            inner: Arc::new(Inner {
                client,
                policy,
                agent,
                hosts: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// GETs `url`, sending `known` as `If-None-Match` / `If-Modified-Since`.
    ///
    /// Follows at most `max_redirects` redirects (301, 302, 303, 307, 308), refusing a loop;
    /// refuses a body over `max_bytes` (before reading it when `Content-Length` says so); any
    /// status but 2xx and 304 is an error.
    #[tracing::instrument(skip_all, fields(url = %url))]
    pub async fn get(&self, url: &Url, known: &Validators) -> Result<Fetched, FetchError> {
        let policy = &self.inner.policy;
        let mut current = url.clone();
        let mut visited = HashSet::from([current.clone()]);
        let mut redirects = 0;
        loop {
            self.check(&current).await?;
            let (response, _slot) = self.send(&current, conditional(known)).await?;
            let status = response.status();
            if status == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified);
            }
            if is_redirect(status) {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| current.join(l.trim()).ok())
                    .ok_or_else(|| FetchError::BadRedirect {
                        url: current.clone(),
                    })?;
                redirects += 1;
                if redirects > policy.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        url: url.clone(),
                        max: policy.max_redirects,
                    });
                }
                if !visited.insert(next.clone()) {
                    return Err(FetchError::RedirectLoop { url: next });
                }
                current = next;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: current,
                    status: status.as_u16(),
                });
            }
            let headers = response.headers().clone();
            let bytes = self.read_body(response, &current).await?;
            return Ok(Fetched::Page(page(current, &headers, bytes)));
        }
    }

    /// A hop's scheme, address and, when the policy says so, `robots.txt`.
    async fn check(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::NotHttp { url: url.clone() });
        }
        self.inner
            .policy
            .addresses
            .check_url(url)
            .map_err(|reason| FetchError::Refused {
                url: url.clone(),
                reason,
            })?;
        if !self.inner.policy.respect_robots {
            return Ok(());
        }
        let host = self.host(url);
        let mut robots = host.robots.lock().await;
        let now = Instant::now();
        let rules = match robots.take() {
            Some(rules) if rules.is_fresh(now) => rules,
            _ => self.fetch_robots(url).await?,
        };
        let verdict = rules.check(url);
        *host.crawl_delay.lock().expect("not poisoned") = rules.crawl_delay();
        *robots = Some(rules);
        match verdict {
            Ok(()) => Ok(()),
            Err(Refusal::Disallowed) => Err(FetchError::RobotsDisallowed { url: url.clone() }),
            Err(Refusal::Unreachable(reason)) => Err(FetchError::RobotsUnreachable {
                url: url.clone(),
                reason,
            }),
        }
    }

    /// Fetches the `robots.txt` of `url`'s site (RFC 9309 §2.3): up to five redirects, 2xx
    /// read (its first 512 KiB), 4xx none, 5xx or no answer unreachable. A site whose name
    /// resolves only to refused addresses is refused outright.
    async fn fetch_robots(&self, url: &Url) -> Result<Robots, FetchError> {
        let mut current = robots::robots_url(url);
        // RFC 9309 §2.3.1.2: at least five redirects are followed; more, and there is none.
        for _ in 0..=5 {
            if !matches!(current.scheme(), "http" | "https")
                || self.inner.policy.addresses.check_url(&current).is_err()
            {
                return Ok(Robots::missing(Instant::now()));
            }
            let (response, _slot) = match self.send(&current, HeaderMap::new()).await {
                Ok(sent) => sent,
                Err(err @ FetchError::Refused { .. }) => return Err(err),
                Err(err) => return Ok(Robots::unreachable(err.to_string(), Instant::now())),
            };
            let status = response.status();
            if is_redirect(status) {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| current.join(l.trim()).ok());
                match next {
                    Some(next) => current = next,
                    None => return Ok(Robots::missing(Instant::now())),
                }
                continue;
            }
            if status.is_success() {
                let body = read_capped(response, MAX_ROBOTS_BYTES).await;
                return Ok(Robots::parsed(&self.inner.agent, &body, Instant::now()));
            }
            if status.is_server_error() {
                let reason = format!("HTTP {}", status.as_u16());
                return Ok(Robots::unreachable(reason, Instant::now()));
            }
            return Ok(Robots::missing(Instant::now()));
        }
        Ok(Robots::missing(Instant::now()))
    }

    /// Sends one GET in the host's turn; the slot is held until dropped (after the body).
    async fn send(
        &self,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<(reqwest::Response, OwnedSemaphorePermit), FetchError> {
        let slot = self.wait_turn(url).await;
        let response = self
            .inner
            .client
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|err| self.failure(url, err))?;
        Ok((response, slot))
    }

    /// Waits for a free slot of the host, then for the start time reserved for this request.
    async fn wait_turn(&self, url: &Url) -> OwnedSemaphorePermit {
        let host = self.host(url);
        let permit = Arc::clone(&host.permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let start = {
            let mut next = host.next_start.lock().expect("not poisoned");
            let now = Instant::now();
            let start = next.map_or(now, |n| n.max(now));
            let asked = *host.crawl_delay.lock().expect("not poisoned");
            let delay = asked.map_or(self.inner.policy.per_host_delay, |asked| {
                asked.max(self.inner.policy.per_host_delay)
            });
            *next = Some(start + delay);
            start
        };
        tokio::time::sleep_until(start.into()).await;
        permit
    }

    /// The state of `url`'s `host:port`, made on first use.
    fn host(&self, url: &Url) -> Arc<Host> {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self.inner.hosts.lock().expect("not poisoned");
        if let Some(host) = hosts.get(&key) {
            return Arc::clone(host);
        }
        if hosts.len() >= MAX_HOSTS {
            let now = Instant::now();
            // Forget hosts nothing uses and whose delay has passed.
            hosts.retain(|_, host| {
                Arc::strong_count(host) > 1
                    || host
                        .next_start
                        .lock()
                        .map_or(true, |next| next.is_some_and(|n| n > now))
            });
        }
        let host = Arc::new(Host {
            permits: Arc::new(Semaphore::new(
                self.inner.policy.per_host_concurrency.max(1),
            )),
            next_start: Mutex::new(None),
            robots: tokio::sync::Mutex::new(None),
            crawl_delay: Mutex::new(None),
        });
        hosts.insert(key, Arc::clone(&host));
        host
    }

    /// Reads the body, refusing it past `max_bytes`.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        url: &Url,
    ) -> Result<Bytes, FetchError> {
        let max = self.inner.policy.max_bytes;
        let too_large = || FetchError::TooLarge {
            url: url.clone(),
            max,
        };
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| self.failure(url, err))?
        {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    fn failure(&self, url: &Url, err: reqwest::Error) -> FetchError {
        let url = url.clone();
        if err.is_timeout() {
            return FetchError::TimedOut {
                url,
                timeout: self.inner.policy.timeout,
            };
        }
        let err = err.without_url();
        let mut chain = Vec::new();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(refused) = e.downcast_ref::<AddressRefused>() {
                return FetchError::Refused {
                    url,
                    reason: refused.to_string(),
                };
            }
            chain.push(e.to_string());
            source = e.source();
        }
        FetchError::Connection {
            url,
            reason: chain.join(": "),
        }
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// `If-None-Match` and `If-Modified-Since` from the validators (RFC 9110 §13.1); a stored
/// value that cannot be a header is left out.
fn conditional(known: &Validators) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(etag) = known
        .etag
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(IF_NONE_MATCH, etag);
    }
    if let Some(date) = known
        .last_modified
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(IF_MODIFIED_SINCE, date);
    }
    headers
}

fn page(url: Url, headers: &HeaderMap, bytes: Bytes) -> Page {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    Page {
        url,
        content_type: text(CONTENT_TYPE),
        bytes,
        validators: Validators {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
        },
        cache_control: text(CACHE_CONTROL),
        links: headers
            .get_all(LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect(),
    }
}

/// At most `max` bytes of the body; what follows, or a failure while reading, is dropped.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(max);
    body
}
