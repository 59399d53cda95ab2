//! The WebSub hub (W3C Recommendation, 2018-01-23) for every feed tidings serves.
//!
//! Section numbers in comments (§5.1 …) refer to that Recommendation.

mod channel;
pub mod hub;

pub use channel::{Notification, NotificationChannel};
pub use hub::Hub;

use url::Url;

use crate::catalog::{Catalog, Scope};
use crate::domain::{FeedFormat, TAG_SCOPE_PREFIX, Tag};
pub use crate::domain::{SignatureAlgorithm, Subscription};

/// The feed a topic URL names.
///
/// A topic is one of our feed URLs, `{base_url}/feeds/{scope}.{ext}`. A query string (such as
/// `?limit=20`) names the same feed: the topic family shares its notifications, and the
/// subscriber's exact topic string is kept for verification. The path is percent-decoded, as
/// the feed routes decode it: `tags/%E5%8F%8C%E6%8B%A5.atom`, `tags/双拥.atom` (which the URL
/// parser encodes) and `tags/%e5%8f%8c%e6%8b%a5.atom` are one topic.
pub fn feed_of_topic(
    topic: &str,
    public_base: &str,
    catalog: &Catalog,
) -> Result<(Scope, FeedFormat), String> {
    let url = Url::parse(topic).map_err(|_| "hub.topic is not an absolute URL".to_owned())?;
    let base = Url::parse(public_base).map_err(|_| "the hub's base URL is invalid".to_owned())?;
    let foreign = || format!("hub.topic must be a feed of this hub ({public_base}/feeds/…)");
    if url.scheme() != base.scheme()
        || url.host_str() != base.host_str()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return Err(foreign());
    }
    let base_path = base.path().trim_end_matches('/');
    let rest = url
        .path()
        .strip_prefix(base_path)
        .and_then(|p| p.strip_prefix("/feeds/"))
        .ok_or_else(foreign)?;
    let rest = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| "hub.topic's path is not UTF-8 once percent-decoded".to_owned())?;
    let (name, ext) = rest.rsplit_once('.').ok_or_else(foreign)?;
    let format = FeedFormat::from_extension(ext).ok_or_else(foreign)?;
    if let Some(tag) = name.strip_prefix(TAG_SCOPE_PREFIX) {
        return Tag::parse(tag)
            .map(|tag| (Scope::Tag(tag), format))
            .map_err(|err| format!("hub.topic names no feed: {err}"));
    }
    let scope = catalog
        .scope(name)
        .ok_or_else(|| format!("hub.topic names no feed: there is no section {name:?}"))?;
    Ok((scope, format))
}

/// The `Link` header of a topic: `<hub>; rel="hub", <self>; rel="self"` (§4).
pub fn link_header(hub_url: &str, self_url: &str) -> String {
    format!("<{hub_url}>; rel=\"hub\", <{self_url}>; rel=\"self\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_topics_are_percent_decoded_and_checked() {
        let catalog = crate::catalog::builtin_catalog().expect("the built-in catalogue");
        let base = "http://127.0.0.1:8080";
        let feed = |path: &str| feed_of_topic(&format!("{base}/feeds/{path}"), base, &catalog);
        for spelling in [
            "tags/%E5%8F%8C%E6%8B%A5.atom",
            "tags/%e5%8f%8c%e6%8b%a5.atom?limit=5",
            "tags/双拥.atom",
        ] {
            let (scope, format) = feed(spelling).expect(spelling);
            assert_eq!((scope.as_str(), format), ("tags/双拥", FeedFormat::Atom));
        }
        assert_eq!(feed("tags/a%20b.rss").unwrap().0.as_str(), "tags/a b");
        assert_eq!(feed("hnyw%2Fldhd.json").unwrap().0.as_str(), "hnyw/ldhd");
        for bad in [
            "tags/.atom",
            "tags/a%2Fb.atom",
            "tags/%01.atom",
            "tags/%FF.atom",
        ] {
            let err = feed(bad).expect_err(bad);
            assert!(err.starts_with("hub.topic"), "{bad}: {err}");
        }
    }

    #[test]
    fn signatures_match_known_hmacs() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let body = b"what do ya want for nothing?";
        assert_eq!(
            SignatureAlgorithm::Sha256.signature_header("Jefe", body),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            SignatureAlgorithm::Sha1.signature_header("Jefe", body),
            "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert!(SignatureAlgorithm::Sha384.signature_header("Jefe", body).starts_with(
            "sha384=af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        ));
        assert!(
            SignatureAlgorithm::Sha512
                .signature_header("Jefe", body)
                .starts_with("sha512=164b7a7bfcf819e2")
        );
    }
}
