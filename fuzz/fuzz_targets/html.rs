//! Any text as body HTML: the linear pre-check never panics, and a body within its bounds is
//! sanitised without panicking into text XML 1.0 allows.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings::config::IngestConfig;
use tidings::ingest::sanitize::{is_xml_char, sanitize_html};
use tidings::ingest::shape::shape;

fuzz_target!(|data: &[u8]| {
    let Ok(html) = std::str::from_utf8(data) else {
        return;
    };
    let found = shape(html);
    let limits = IngestConfig::default();
    if found.elements > limits.max_html_elements
        || found.depth > limits.max_html_depth
        || found.attributes > limits.max_html_attributes
    {
        return;
    }
    let base = url::Url::parse("https://www.huangnan.gov.cn/hnyw/ldhd/202106/t1.html").unwrap();
    let clean = sanitize_html(html, &base);
    assert!(clean.chars().all(is_xml_char), "{clean:?}");
    assert!(!clean.to_ascii_lowercase().contains("<script"), "{clean:?}");
});
