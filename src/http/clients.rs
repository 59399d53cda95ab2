//! Per-client limits of the public doors (the hub, feed misses, public event streams, the
//! console's login): who the client is, how often it may knock, and how much it may hold open. A client is its IP
//! address: the connection's peer, or, behind a reverse proxy, the address that proxy writes
//! into the header named by `http.client_ip_header`. An IPv6 client is its /64 network: one
//! host is commonly given a whole /64, and could otherwise change address at every request.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;

/// Checks between two clean-ups of the clients not seen for a while.
const CLEAN_EVERY: u64 = 4096;

/// The public doors' per-client rates.
#[derive(Debug)]
pub struct PublicLimits {
    /// Subscription requests to the hub.
    pub hub: PerClient,
    /// Feed requests that render a document.
    pub misses: PerClient,
    /// Failed logins to the console.
    pub logins: Failures,
    /// Public event streams open.
    pub streams: OpenPerClient,
}

/// The client of a request (see [`client_ip`] and [`client_key`]), as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub Option<IpAddr>);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client(
            client_ip(parts, &state.service.config.http.client_ip_header).map(client_key),
        ))
    }
}

/// What one client's limits are counted against: an IPv4 address (an IPv4-mapped IPv6 address
/// is its IPv4 address), or an IPv6 address's /64 network.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1))),
        },
    }
}

/// The client of a request: the address from `header` when one is named and it holds one
/// (its last entry: the one the nearest proxy added), or else the connection's peer.
pub fn client_ip(parts: &Parts, header: &str) -> Option<IpAddr> {
    from_header(&parts.headers, header).or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    })
}

fn from_header(headers: &HeaderMap, header: &str) -> Option<IpAddr> {
    if header.is_empty() {
        return None;
    }
    let value = headers.get_all(header).iter().next_back()?.to_str().ok()?;
    let last = value.rsplit(',').next()?.trim();
    // `X-Forwarded-For` may carry a port (`1.2.3.4:5678`, `[::1]:5678`).
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// A rate per client: at most `per_minute` in any minute, all of them at once if they come
/// together.
#[derive(Debug)]
pub struct PerClient {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

impl PerClient {
    pub fn per_minute(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request of `client`; past its rate, how long until the next one passes. A
    /// request whose client is unknown is not limited.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let Some(client) = client else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEAN_EVERY == CLEAN_EVERY - 1 {
            // Forget the clients whose budget is full again: memory stays bounded by the
            // clients of the last minute.
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Failures per client, such as wrong passwords: at most `per_minute` in any minute. A client
/// past it is held back, whatever it tries, until it is within its rate again: a right guess
/// made meanwhile is refused like a wrong one.
#[derive(Debug)]
pub struct Failures {
    rate: PerClient,
    /// The clients held back, and until when.
    held: Mutex<HashMap<IpAddr, Instant>>,
}

impl Failures {
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            rate: PerClient::per_minute(per_minute),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// How long `client` must wait before it may try again, when it is held back now.
    pub fn held_back(&self, client: Option<IpAddr>) -> Option<Duration> {
        let client = client?;
        let until = *self.held.lock().expect("never poisoned").get(&client)?;
        until.checked_duration_since(Instant::now())
    }

    /// Counts a failure of `client`; past its rate, holds it back and says for how long.
    pub fn failed(&self, client: Option<IpAddr>) -> Option<Duration> {
        let wait = self.rate.check(client).err()?;
        let now = Instant::now();
        let mut held = self.held.lock().expect("never poisoned");
        // Only the clients held back now are kept.
        held.retain(|_, until| *until > now);
        held.insert(client?, now + wait);
        Some(wait)
    }
}

/// Things one client holds open at once (public event streams): at most `max` each.
#[derive(Debug)]
pub struct OpenPerClient {
    /// Only clients holding something are here, so it is never larger than what is open.
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max: usize,
}

/// The client holds as many as it may.
#[derive(Debug)]
pub struct AllHeld;

/// One thing held open by a client, counted until it is dropped.
#[derive(Debug)]
pub struct Held {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    client: IpAddr,
}

impl OpenPerClient {
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max,
        }
    }

    /// Counts one more for `client`; an error when it holds `max` already. A client that is
    /// unknown is not limited (`Ok(None)`).
    pub fn hold(&self, client: Option<IpAddr>) -> Result<Option<Held>, AllHeld> {
        let Some(client) = client else {
            return Ok(None);
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= self.max {
            return Err(AllHeld);
        }
        *count += 1;
        Ok(Some(Held {
            open: self.open.clone(),
            client,
        }))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)], peer: Option<&str>) -> Parts {
        let mut request = axum::http::Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        if let Some(peer) = peer {
            parts
                .extensions
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        }
        parts
    }

    #[test]
    fn the_peer_unless_a_proxy_header_is_named_and_holds_an_address() {
        let peer = Some("10.0.0.9:4000");
        let forwarded = [("x-forwarded-for", "203.0.113.7, 198.51.100.2")];
        assert_eq!(
            client_ip(&parts(&forwarded, peer), ""),
            Some("10.0.0.9".parse().unwrap()),
            "no header named: the peer, whatever the client wrote"
        );
        assert_eq!(
            client_ip(&parts(&forwarded, peer), "x-forwarded-for"),
            Some("198.51.100.2".parse().unwrap()),
            "the address the nearest proxy added"
        );
        assert_eq!(
            client_ip(
                &parts(&[("x-real-ip", "[2001:db8::1]:80")], peer),
                "x-real-ip"
            ),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            client_ip(
                &parts(&[("x-forwarded-for", "nonsense")], peer),
                "x-forwarded-for"
            ),
            Some("10.0.0.9".parse().unwrap()),
            "an unreadable header: the peer"
        );
        assert_eq!(client_ip(&parts(&[], None), ""), None);
    }

    #[test]
    fn an_ipv6_client_is_its_64_network() {
        let key = |ip: &str| client_key(ip.parse().unwrap()).to_string();
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
        assert_eq!(key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }

    #[test]
    fn each_client_has_its_own_budget() {
        let limits = PerClient::per_minute(3);
        let (a, b) = (
            Some("192.0.2.1".parse().unwrap()),
            Some("192.0.2.2".parse().unwrap()),
        );
        for _ in 0..3 {
            assert!(limits.check(a).is_ok());
        }
        let wait = limits.check(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limits.check(b).is_ok(), "another client is not held back");
        assert!(limits.check(None).is_ok());
    }

    #[test]
    fn a_client_past_its_failures_is_held_back_whatever_it_tries() {
        let failures = Failures::per_minute(2);
        let (a, b) = (
            Some("192.0.2.1".parse().unwrap()),
            Some("192.0.2.2".parse().unwrap()),
        );
        assert_eq!(failures.held_back(a), None);
        assert_eq!(failures.failed(a), None);
        assert_eq!(failures.failed(a), None);
        assert_eq!(
            failures.held_back(a),
            None,
            "two failures are within the rate"
        );
        let wait = failures.failed(a).expect("a third is past it");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(failures.held_back(a).is_some());
        assert_eq!(
            failures.held_back(b),
            None,
            "another client is not held back"
        );
        assert_eq!(failures.failed(None), None);
    }

    #[test]
    fn a_client_holds_a_few_streams_and_gets_each_back() {
        let open = OpenPerClient::new(2);
        let a = Some("192.0.2.1".parse().unwrap());
        let first = open.hold(a).unwrap();
        let _second = open.hold(a).unwrap();
        assert!(open.hold(a).is_err(), "two at most");
        assert!(open.hold(Some("192.0.2.2".parse().unwrap())).is_ok());
        assert!(
            open.hold(None).unwrap().is_none(),
            "an unknown client is not counted"
        );
        drop(first);
        assert!(open.hold(a).is_ok(), "one given back is free again");
    }
}
