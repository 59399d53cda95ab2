//! The one outbound HTTP client: every request goes to a hostile address.
//!
//! Connect timeout, total timeout, no redirects, a capped response body, our User-Agent, and
//! an address policy enforced twice: on IP-literal URLs before sending, and after DNS
//! resolution (the resolver drops refused addresses, and the addresses it returns are the
//! ones connected to, so a name cannot be re-resolved to a private address in between).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use url::Url;

/// Which destinations outbound requests may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow loopback, private, link-local and other non-public addresses (tests, intranets).
    pub allow_private: bool,
}

impl AddressPolicy {
    /// Whether a request may go to `ip`.
    pub fn permits(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks a URL's form and, for an IP literal, its address. Hostnames are checked when
    /// they are resolved.
    pub fn check_url(self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        match url.host() {
            None => Err("must have a host".into()),
            Some(url::Host::Ipv4(ip)) if !self.permits(IpAddr::V4(ip)) => {
                Err(format!("must not point to the non-public address {ip}"))
            }
            Some(url::Host::Ipv6(ip)) if !self.permits(IpAddr::V6(ip)) => {
                Err(format!("must not point to the non-public address {ip}"))
            }
            Some(url::Host::Domain(d)) if !self.allow_private && is_local_name(d) => {
                Err(format!("must not point to the local host name {d}"))
            }
            Some(_) => Ok(()),
        }
    }
}

/// How names are resolved for outbound requests: the system's resolver, or a table given by
/// the program that embeds the service (tests use one to make a name resolve where they want,
/// and change its answer between two lookups).
#[derive(Clone, Default)]
pub enum Lookup {
    #[default]
    System,
    Table(Arc<LookupTable>),
}

/// A name's addresses, as a [`Lookup::Table`] gives them (none: the name is unknown).
pub type LookupTable = dyn Fn(&str) -> Vec<IpAddr> + Send + Sync;

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lookup::System => "Lookup::System",
            Lookup::Table(_) => "Lookup::Table",
        })
    }
}

impl Lookup {
    /// The addresses of `host`, with `port`.
    pub async fn addresses(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        match self {
            Lookup::System => Ok(tokio::net::lookup_host((host, port)).await?.collect()),
            Lookup::Table(table) => {
                let ips = table(host);
                if ips.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{host} is not known"),
                    ));
                }
                Ok(ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect())
            }
        }
    }
}

fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Whether an address is globally routable: not loopback, private, link-local, multicast,
/// unspecified, broadcast, shared (CGNAT), benchmarking, reserved, documentation,
/// unique-local or site-local. IPv6 forms that embed an IPv4 address (mapped, compatible,
/// NAT64's well-known prefix, 6to4) are judged by that address; Teredo, the discard prefix and
/// NAT64's local-use prefix (RFC 8215, whose embedded address can sit anywhere after the
/// prefix, and which only a local translator answers) are refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // NAT64 local use
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)) // discard
        }
    }
}

/// The IPv4 address inside an IPv6 one, for the forms that carry one.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let tail = |hi: u16, lo: u16| {
        std::net::Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4); // ::ffff:a.b.c.d
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail(s[6], s[7])); // ::a.b.c.d (IPv4-compatible, deprecated)
    }
    if s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return Some(tail(s[6], s[7])); // ::ffff:0:a.b.c.d (IPv4-translated)
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(tail(s[6], s[7])); // 64:ff9b::/96 (NAT64, well-known prefix)
    }
    if s[0] == 0x2002 {
        return Some(tail(s[1], s[2])); // 2002:a.b.c.d::/48 (6to4)
    }
    None
}

/// Resolves with the system resolver and drops refused addresses.
#[derive(Debug, Clone)]
struct PolicyResolver {
    policy: AddressPolicy,
    lookup: Lookup,
}

/// A resolver that keeps to `policy`, for clients other than [`Outbound`] (the fetcher of
/// upstream feeds): every outbound request obeys the one address policy.
pub fn policy_resolver(policy: AddressPolicy, lookup: Lookup) -> Arc<impl Resolve + 'static> {
    Arc::new(PolicyResolver { policy, lookup })
}

/// A name whose every address was refused by the policy.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses")]
pub struct AddressRefused(String);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, lookup) = (self.policy, self.lookup.clone());
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = lookup
                .addresses(&host, 0)
                .await
                .map_err(|e| {
                    Box::new(DnsError(e.to_string())) as Box<dyn std::error::Error + Send + Sync>
                })?
                .into_iter()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    Box::new(AddressRefused(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot resolve: {0}")]
struct DnsError(String);

/// Why an attempt failed, for the attempt log and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// The name did not resolve.
    Dns,
    /// The destination is not allowed by the address policy.
    Refused,
    Connect,
    Tls,
    Timeout,
    /// The receiver answered with a status that is not success.
    Http,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Dns => "dns",
            ErrorClass::Refused => "refused",
            ErrorClass::Connect => "connect",
            ErrorClass::Tls => "tls",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Http => "http",
        }
    }
}

/// The outcome of one request.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The status, when the receiver answered.
    pub status: Option<StatusCode>,
    /// `Retry-After` in seconds or as an HTTP date, when sent.
    pub retry_after: Option<Duration>,
    /// The start of the response body, capped.
    pub body: String,
    pub duration: Duration,
    /// Set unless the status is 2xx.
    pub error: Option<(ErrorClass, String)>,
}

impl Exchange {
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| s.is_success())
    }
}

/// Settings of the outbound client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_response_bytes: usize,
    pub policy: AddressPolicy,
    pub lookup: Lookup,
}

/// The longest wait for a destination's name to resolve when it is registered.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The pooled, hardened client shared by every outbound call.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    settings: Arc<ClientSettings>,
}

impl Outbound {
    pub fn new(settings: ClientSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            // A redirect would take the request somewhere the policy never saw; 3xx is a failure.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve names where the policy cannot see
            // them: outbound requests go direct.
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver {
                policy: settings.policy,
                lookup: settings.lookup.clone(),
            }))
            .user_agent(format!("tidings/{}", env!("CARGO_PKG_VERSION")))
            // A receiver's answer is kept as it came (its first bytes, for the attempt log):
            // never asked for compressed, never inflated.
            .no_gzip()
            .no_brotli()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            client,
            settings: Arc::new(settings),
        })
    }

    pub fn policy(&self) -> AddressPolicy {
        self.settings.policy
    }

    /// How this client resolves names (a table in tests).
    pub fn lookup(&self) -> Lookup {
        self.settings.lookup.clone()
    }

    /// Checks a URL, resolving a hostname (for at most [`RESOLVE_TIMEOUT`]): refused if any
    /// address it resolves to is refused. A name that does not resolve now is accepted, as it
    /// may later, with a note saying so (`Ok(Some)`); it is checked again at every send.
    pub async fn check_destination(&self, url: &Url) -> Result<Option<String>, String> {
        let policy = self.settings.policy;
        policy.check_url(url)?;
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(None);
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs =
            match tokio::time::timeout(RESOLVE_TIMEOUT, self.settings.lookup.addresses(host, port))
                .await
            {
                Ok(Ok(addrs)) => addrs,
                Ok(Err(err)) => {
                    return Ok(Some(format!(
                        "{host} does not resolve now ({err}); deliveries fail until it does"
                    )));
                }
                Err(_) => {
                    return Ok(Some(format!(
                        "{host} did not resolve within {} s; deliveries fail until it does",
                        RESOLVE_TIMEOUT.as_secs()
                    )));
                }
            };
        if !policy.allow_private
            && let Some(addr) = addrs.iter().find(|a| !policy.permits(a.ip()))
        {
            return Err(format!(
                "{host} resolves to the non-public address {}",
                addr.ip()
            ));
        }
        Ok(None)
    }

    /// Sends one request and reads at most the configured number of response bytes.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Exchange {
        self.send_within(method, url, headers, body, None).await
    }

    /// [`Outbound::send`], with a total time-out other than the configured one.
    pub async fn send_within(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<Bytes>,
        timeout: Option<Duration>,
    ) -> Exchange {
        let started = Instant::now();
        if let Err(reason) = self.settings.policy.check_url(url) {
            return failed(started, ErrorClass::Refused, reason);
        }
        let mut request = self.client.request(method, url.clone()).headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                let (class, message) = classify(err);
                return failed(started, class, message);
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(parse_retry_after);
        let mut body = Vec::new();
        while body.len() < self.settings.max_response_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(self.settings.max_response_bytes);
        let body = String::from_utf8_lossy(&body).into_owned();
        let error =
            (!status.is_success()).then(|| (ErrorClass::Http, format!("HTTP {}", status.as_u16())));
        Exchange {
            status: Some(status),
            retry_after,
            body,
            duration: started.elapsed(),
            error,
        }
    }
}

fn failed(started: Instant, class: ErrorClass, message: String) -> Exchange {
    Exchange {
        status: None,
        retry_after: None,
        body: String::new(),
        duration: started.elapsed(),
        error: Some((class, message)),
    }
}

/// The class of a failed request and its message, without the URL: a callback's query string
/// can carry a token, and a verification URL the challenge, neither of which belongs in logs.
fn classify(err: reqwest::Error) -> (ErrorClass, String) {
    let err = err.without_url();
    let mut chain = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    let mut class = None;
    while let Some(e) = source {
        if e.is::<AddressRefused>() {
            class = Some(ErrorClass::Refused);
        } else if e.is::<DnsError>() && class.is_none() {
            class = Some(ErrorClass::Dns);
        }
        chain.push(e.to_string());
        source = e.source();
    }
    let message = chain.join(": ");
    let class = class.unwrap_or_else(|| {
        let lower = message.to_ascii_lowercase();
        if err.is_timeout() {
            ErrorClass::Timeout
        } else if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            ErrorClass::Tls
        } else {
            ErrorClass::Connect
        }
    });
    (class, message)
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_refused() {
        let strict = AddressPolicy {
            allow_private: false,
        };
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "fc00::1",
            "224.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "::ffff:127.0.0.1",
            "::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1:7f00:0:100:5db8:d822",
            "64:ff9b:1::5db8:d822",
            "2002:7f00:1::",
            "::ffff:0:7f00:1",
            "fec0::1",
            "100::1",
            "2001::1",
            "192.0.0.8",
            "192.88.99.1",
        ] {
            assert!(!strict.permits(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(strict.permits(good.parse().unwrap()), "{good}");
        }
        assert!(
            AddressPolicy {
                allow_private: true
            }
            .permits("127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn urls_are_checked_for_form_and_literal_addresses() {
        let strict = AddressPolicy {
            allow_private: false,
        };
        let check = |u: &str| strict.check_url(&Url::parse(u).unwrap());
        assert!(check("https://example.com/hook").is_ok());
        assert!(check("ftp://example.com/").is_err());
        assert!(check("https://user:pw@example.com/").is_err());
        assert!(check("http://127.0.0.1:9/").is_err());
        assert!(check("http://[::1]/").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check("http://localhost:8080/").is_err());
    }

    #[tokio::test]
    async fn a_hostname_resolving_to_loopback_is_refused_after_resolution() {
        let strict = AddressPolicy {
            allow_private: false,
        };
        let resolver = PolicyResolver {
            policy: strict,
            lookup: Lookup::System,
        };
        let name: Name = "localhost".parse().unwrap();
        let err = resolver.resolve(name).await.err().expect("refused");
        assert!(err.is::<AddressRefused>(), "{err}");
        let lenient = PolicyResolver {
            policy: AddressPolicy {
                allow_private: true,
            },
            lookup: Lookup::System,
        };
        assert!(lenient.resolve("localhost".parse().unwrap()).await.is_ok());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("120")),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }
}
