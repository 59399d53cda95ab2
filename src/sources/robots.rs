//! What a site's `robots.txt` lets us fetch (RFC 9309), once it has been fetched: the rules
//! for our product token, and how long they hold. Fetching it is the fetcher's job.

use std::time::{Duration, Instant};

use texting_robots::Robot;
use url::Url;

/// How long a fetched (or missing) `robots.txt` holds: RFC 9309 §2.4 asks crawlers not to
/// cache it for more than 24 hours.
pub(super) const ROBOTS_TTL: Duration = Duration::from_secs(3600);

/// How long an unreachable `robots.txt` keeps the site closed before it is asked for again.
pub(super) const UNREACHABLE_RETRY: Duration = Duration::from_secs(300);

/// The longest `Crawl-delay` obeyed: a site that asks for more gets a request this often,
/// so that a run of `max_pages` (50) pages ends well within the source's hold.
pub(super) const MAX_CRAWL_DELAY: Duration = Duration::from_secs(10);

/// The most of a `robots.txt` that is read; RFC 9309 §2.5 asks for at least 500 KiB.
pub(super) const MAX_ROBOTS_BYTES: usize = 512 * 1024;

/// The rules for one site, until they expire.
#[derive(Debug)]
pub(super) struct Robots {
    rules: Rules,
    expires: Instant,
}

#[derive(Debug)]
enum Rules {
    /// No `robots.txt` (a 4xx answer, RFC 9309 §2.3.1.3), or too many redirects to one.
    AllowAll,
    /// The file could not be had (a 5xx answer or no answer, §2.3.1.4): complete disallow.
    Unreachable(String),
    Parsed(Box<Robot>),
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    Disallowed,
    Unreachable(String),
}

impl Robots {
    /// Rules read from a `robots.txt` body for `agent` (a product token, such as `tidings`).
    /// A body the parser cannot read allows everything: RFC 9309 §2.2 has crawlers use what
    /// rules they can parse, and this parser gives up only on garbage.
    pub fn parsed(agent: &str, body: &[u8], now: Instant) -> Self {
        let rules = match Robot::new(agent, body) {
            Ok(robot) => Rules::Parsed(Box::new(robot)),
            Err(err) => {
                tracing::debug!(error = %err, "robots.txt not understood; everything allowed");
                Rules::AllowAll
            }
        };
        Self {
            rules,
            expires: now + ROBOTS_TTL,
        }
    }

    /// No `robots.txt`: everything is allowed.
    pub fn missing(now: Instant) -> Self {
        Self {
            rules: Rules::AllowAll,
            expires: now + ROBOTS_TTL,
        }
    }

    /// `robots.txt` could not be fetched, for `reason`: nothing is allowed for a while.
    pub fn unreachable(reason: String, now: Instant) -> Self {
        Self {
            rules: Rules::Unreachable(reason),
            expires: now + UNREACHABLE_RETRY,
        }
    }

    /// The `Crawl-delay` of our group, if it names one (not in RFC 9309, but widely asked for):
    /// at most [`MAX_CRAWL_DELAY`].
    pub fn crawl_delay(&self) -> Option<Duration> {
        match &self.rules {
            Rules::Parsed(robot) => robot
                .delay
                .filter(|secs| secs.is_finite() && *secs > 0.0)
                // Capped before it becomes a duration: `1e30` is no duration at all.
                .map(|secs| Duration::from_secs_f32(secs.min(MAX_CRAWL_DELAY.as_secs_f32()))),
            _ => None,
        }
    }

    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.expires
    }

    /// Whether `url` (on this site) may be fetched.
    pub fn check(&self, url: &Url) -> Result<(), Refusal> {
        match &self.rules {
            Rules::AllowAll => Ok(()),
            Rules::Unreachable(reason) => Err(Refusal::Unreachable(reason.clone())),
            Rules::Parsed(robot) if robot.allowed(url.as_str()) => Ok(()),
            Rules::Parsed(_) => Err(Refusal::Disallowed),
        }
    }
}

/// The product token of a User-Agent (`tidings` of `tidings/0.1.0 (+https://…)`), which
/// `robots.txt` groups name (RFC 9309 §2.2.1).
pub(super) fn product_token(user_agent: &str) -> &str {
    let token = user_agent
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or("");
    if token.is_empty() { "*" } else { token }
}

/// Where a site's `robots.txt` is: at the root of the URL's scheme, host and port.
pub(super) fn robots_url(url: &Url) -> Url {
    let mut robots = url.clone();
    robots.set_path("/robots.txt");
    robots.set_query(None);
    robots.set_fragment(None);
    robots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn the_product_token_is_the_name_before_the_version() {
        assert_eq!(
            product_token("tidings/0.1.0 (+https://x.example/)"),
            "tidings"
        );
        assert_eq!(product_token("Tidings"), "Tidings");
        assert_eq!(product_token(""), "*");
    }

    #[test]
    fn the_group_for_our_token_decides_and_others_do_not() {
        let txt = b"User-agent: *\nDisallow: /\n\nUser-agent: TIDINGS\nDisallow: /private\nAllow: /private/open\n";
        let robots = Robots::parsed("tidings", txt, Instant::now());
        assert_eq!(robots.check(&url("https://a.example/feed.xml")), Ok(()));
        assert_eq!(
            robots.check(&url("https://a.example/private/feed.xml")),
            Err(Refusal::Disallowed)
        );
        assert_eq!(
            robots.check(&url("https://a.example/private/open/x")),
            Ok(())
        );
        let other = Robots::parsed("otherbot", txt, Instant::now());
        assert_eq!(
            other.check(&url("https://a.example/feed.xml")),
            Err(Refusal::Disallowed)
        );
    }

    #[test]
    fn missing_allows_everything_and_unreachable_nothing_for_a_shorter_while() {
        let now = Instant::now();
        assert_eq!(
            Robots::missing(now).check(&url("https://a.example/x")),
            Ok(())
        );
        let closed = Robots::unreachable("HTTP 503".into(), now);
        assert_eq!(
            closed.check(&url("https://a.example/x")),
            Err(Refusal::Unreachable("HTTP 503".into()))
        );
        assert!(closed.is_fresh(now));
        assert!(!closed.is_fresh(now + UNREACHABLE_RETRY));
        assert!(Robots::missing(now).is_fresh(now + UNREACHABLE_RETRY));
    }

    #[test]
    fn the_crawl_delay_of_our_group_is_kept_within_bounds() {
        let now = Instant::now();
        let txt = b"User-agent: *\nCrawl-delay: 2.5\n\nUser-agent: slowbot\nCrawl-delay: 86400\n\n\
                    User-agent: hugebot\nCrawl-delay: 1e30\n";
        assert_eq!(
            Robots::parsed("tidings", txt, now).crawl_delay(),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            Robots::parsed("slowbot", txt, now).crawl_delay(),
            Some(MAX_CRAWL_DELAY)
        );
        assert_eq!(
            Robots::parsed("hugebot", txt, now).crawl_delay(),
            Some(MAX_CRAWL_DELAY),
            "no overflow"
        );
        let none = b"User-agent: *\nDisallow: /private\n";
        assert_eq!(Robots::parsed("tidings", none, now).crawl_delay(), None);
        assert_eq!(Robots::missing(now).crawl_delay(), None);
    }

    #[test]
    fn robots_txt_sits_at_the_root_of_the_origin() {
        assert_eq!(
            robots_url(&url("https://a.example:8443/feeds/x.rss?y=1#z")),
            url("https://a.example:8443/robots.txt")
        );
    }
}
