//! Any body, as a subscription request to the public hub: parsing never panics, and an
//! accepted request names a feed on the hub's host and an absolute callback, whose verification URL
//! keeps the callback's own query and carries the topic exactly as sent.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tidings::catalog::{Catalog, load_catalog};
use tidings::websub::hub::{parse_request, verification_url};

const BASE: &str = "https://feeds.example";

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        load_catalog(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../feeds"))
            .expect("the shipped catalogue loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = parse_request(data, BASE, catalog()) else {
        return;
    };
    // The topic is kept as sent; as a URL it is on the hub's host.
    let topic = url::Url::parse(&request.topic).expect("an accepted topic is a URL");
    assert_eq!(topic.host_str(), Some("feeds.example"), "{}", request.topic);
    let callback = request.callback.as_str();
    assert!(
        callback.starts_with("http://") || callback.starts_with("https://"),
        "{callback}"
    );
    let url = verification_url(&request, "challenge", Some(3600));
    let own: Vec<(String, String)> = request
        .callback
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let sent: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        &sent[..own.len()],
        &own[..],
        "the callback's own query comes first"
    );
    assert!(
        sent.iter()
            .any(|(k, v)| k == "hub.topic" && *v == request.topic),
        "the topic as sent"
    );
});
