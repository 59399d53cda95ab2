//! What an upstream feed's HTTP response headers say: its WebSub hub and topic (`Link`), and
//! how soon it is worth asking again (`Cache-Control`).

use std::time::Duration;

use url::Url;

/// The longest wait between two polls of a feed, whatever it asks for.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The hub and self URLs among HTTP `Link` header values (RFC 8288 §3), `(hub, self)`.
///
/// WebSub §4 lets a publisher advertise both as `Link: <https://hub>; rel="hub",
/// <https://feed>; rel="self"`. Each value may hold several links, a `rel` several relation
/// types (`rel="hub self"`), and a response several `Link` headers; the first of each wins.
/// Only absolute `http(s)` targets count: relative references are ignored.
pub fn hub_links(link_headers: &[&str]) -> (Option<Url>, Option<Url>) {
    let mut hub = None;
    let mut topic = None;
    for (target, rels) in link_headers.iter().flat_map(|v| links(v)) {
        let Some(url) = Url::parse(target.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        else {
            continue;
        };
        // RFC 8288 §2.1.1: relation types compare case-insensitively.
        for rel in rels.split_ascii_whitespace() {
            if rel.eq_ignore_ascii_case("hub") && hub.is_none() {
                hub = Some(url.clone());
            } else if rel.eq_ignore_ascii_case("self") && topic.is_none() {
                topic = Some(url.clone());
            }
        }
    }
    (hub, topic)
}

/// The `(target, rel)` pairs of one `Link` header value; a link without `rel` has `""`.
fn links(value: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(after) = rest.strip_prefix('<') else {
            if rest.is_empty() {
                return out;
            }
            // Not a link-value: skip to the next one.
            rest = skip_past_comma(rest);
            continue;
        };
        let Some(end) = after.find('>') else {
            return out;
        };
        let target = &after[..end];
        rest = &after[end + 1..];
        let mut rel: Option<String> = None;
        while let Some(params) = rest.trim_start().strip_prefix(';') {
            let params = params.trim_start();
            let name_end = params
                .find(|c: char| c == '=' || c == ';' || c == ',' || c.is_ascii_whitespace())
                .unwrap_or(params.len());
            let name = &params[..name_end];
            rest = params[name_end..].trim_start();
            let mut param_value = String::new();
            if let Some(after_eq) = rest.strip_prefix('=') {
                let (parsed, after_value) = param_value_of(after_eq.trim_start());
                param_value = parsed;
                rest = after_value;
            }
            // RFC 8288 §3.3: a second `rel` parameter is ignored.
            if name.eq_ignore_ascii_case("rel") && rel.is_none() {
                rel = Some(param_value);
            }
        }
        out.push((target, rel.unwrap_or_default()));
        rest = skip_past_comma(rest);
    }
}

/// A parameter's value, a token or a quoted string (RFC 9110 §5.6.4), and what follows it.
fn param_value_of(text: &str) -> (String, &str) {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text
            .find(|c: char| c == ';' || c == ',' || c.is_ascii_whitespace())
            .unwrap_or(text.len());
        return (text[..end].to_owned(), &text[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &quoted[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

/// The text after the next comma that is not inside a quoted string.
fn skip_past_comma(text: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => return &text[i + 1..],
            _ => {}
        }
    }
    ""
}

/// How long to wait before polling a feed again: the longest of the configured interval, the
/// response's `Cache-Control: max-age` and the feed's RSS `<ttl>`, and never more than a day.
pub fn poll_interval(
    cache_control: Option<&str>,
    ttl: Option<Duration>,
    configured: Duration,
) -> Duration {
    let max_age = cache_control.and_then(max_age).map(Duration::from_secs);
    configured
        .max(max_age.unwrap_or_default())
        .max(ttl.unwrap_or_default())
        .min(MAX_POLL_INTERVAL)
}

/// `max-age` of a `Cache-Control` value (RFC 9111 §5.2.2.1), seconds.
fn max_age(value: &str) -> Option<u64> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| seconds.trim().trim_matches('"').parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Option<Url> {
        Some(Url::parse(s).unwrap())
    }

    #[test]
    fn hub_and_self_are_found_in_one_header() {
        let (hub, topic) = hub_links(&[
            r#"<https://hub.example/>; rel="hub", <https://feeds.example/a.atom>; rel="self""#,
        ]);
        assert_eq!(hub, url("https://hub.example/"));
        assert_eq!(topic, url("https://feeds.example/a.atom"));
    }

    #[test]
    fn several_headers_several_rels_and_odd_spelling_are_read() {
        let (hub, topic) = hub_links(&[
            "<https://feeds.example/page>; rel=alternate; type=\"text/html; charset=x, y\"",
            "<https://hub.example/a>;REL=\"HUB\";title=\"a, b\"",
            "<https://hub.example/b>; rel=hub, <https://feeds.example/x.rss>; rel=\"self alternate\"",
        ]);
        assert_eq!(hub, url("https://hub.example/a"));
        assert_eq!(topic, url("https://feeds.example/x.rss"));

        let (hub, topic) = hub_links(&["<https://both.example/>; rel=\"hub self\""]);
        assert_eq!(hub, url("https://both.example/"));
        assert_eq!(topic, url("https://both.example/"));
    }

    #[test]
    fn relative_or_malformed_links_are_ignored() {
        let (hub, topic) = hub_links(&[
            "</hub>; rel=hub",
            "garbage, <ftp://hub.example/>; rel=hub",
            "<https://feeds.example/>; rel=self; rel=hub",
            "<https://unclosed.example/; rel=hub",
        ]);
        assert_eq!(hub, None, "the second rel of a link is ignored");
        assert_eq!(topic, url("https://feeds.example/"));
        assert_eq!(hub_links(&[]), (None, None));
    }

    #[test]
    fn the_poll_interval_is_the_longest_asked_for_and_at_most_a_day() {
        let minute = Duration::from_secs(60);
        assert_eq!(poll_interval(None, None, minute), minute);
        assert_eq!(
            poll_interval(Some("public, max-age=600"), None, minute),
            10 * minute
        );
        assert_eq!(
            poll_interval(Some("max-age=\"30\""), Some(15 * minute), minute),
            15 * minute
        );
        assert_eq!(
            poll_interval(Some("no-cache, MAX-AGE=999999"), None, minute),
            MAX_POLL_INTERVAL
        );
        assert_eq!(
            poll_interval(Some("max-age=soon"), None, 2 * MAX_POLL_INTERVAL),
            MAX_POLL_INTERVAL
        );
    }
}
