//! Hostile input: each case gets a precise 422 or yields feeds that stay valid.

use serde_json::{Value, json};

use crate::helpers::{TestApp, article, spawn_app};

enum Expect {
    /// 422 naming this field.
    Rejected(&'static str),
    /// Accepted; the stored article satisfies the check, and every feed stays valid.
    Accepted(fn(&Value) -> bool),
}

fn case(id: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut doc = article(id, "hnyw/xxdt", "县区动态");
    change(&mut doc);
    doc
}

/// Parses every format of the section's feeds strictly; returns the Atom and JSON texts.
async fn assert_feeds_valid(app: &TestApp, label: &str) -> (String, Value) {
    let rss = app.get_text("/feeds/hnyw/xxdt.rss").await;
    roxmltree::Document::parse(&rss)
        .unwrap_or_else(|e| panic!("{label}: RSS is not well-formed XML: {e}"));
    let atom = app.get_text("/feeds/hnyw/xxdt.atom").await;
    roxmltree::Document::parse(&atom)
        .unwrap_or_else(|e| panic!("{label}: Atom is not well-formed XML: {e}"));
    let json: Value = serde_json::from_str(&app.get_text("/feeds/hnyw/xxdt.json").await)
        .unwrap_or_else(|e| panic!("{label}: JSON Feed is not JSON: {e}"));
    for text in [&rss, &atom] {
        feed_rs::parser::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{label}: {e}"));
    }
    // RSS descriptions are HTML: a plain-text summary must arrive escaped, never as markup.
    let doc = roxmltree::Document::parse(&rss).unwrap();
    for description in doc.descendants().filter(|n| n.has_tag_name("description")) {
        let html = description.text().unwrap_or("");
        assert!(
            !html.contains("<img"),
            "{label}: markup leaked into an RSS description: {html}"
        );
    }
    (atom, json)
}

#[tokio::test]
async fn hostile_inputs_get_a_precise_422_or_a_valid_feed() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Value, Expect)> = vec![
        (
            "C0 control characters",
            case("h-c0", |d| {
                d["title"] = json!("标\u{0}题\u{1}\u{8}\u{b}\u{c}\u{1f}");
                d["content_html"] = json!("<p>a\u{0}b\u{1b}c</p>");
                d["source"] = json!("来\u{7}源");
            }),
            Expect::Accepted(|a| {
                a["title"] == "标题" && a["content_html"] == "<p>abc</p>" && a["source"] == "来源"
            }),
        ),
        (
            "CDATA terminator",
            case("h-cdata", |d| {
                d["title"] = json!("a ]]> b <![CDATA[ c");
                d["content_html"] = json!("<p>]]></p><![CDATA[ x ]]>");
            }),
            Expect::Accepted(|a| a["title"] == "a ]]> b <![CDATA[ c"),
        ),
        (
            "named entities",
            case("h-nbsp", |d| {
                d["title"] = json!("甲&nbsp;乙 &ldquo;丙&rdquo; &amp; 丁")
            }),
            Expect::Accepted(|a| a["title"] == "甲\u{a0}乙 “丙” & 丁"),
        ),
        (
            "script",
            case("h-script", |d| {
                d["content_html"] = json!("<p>x</p><script>alert(1)</script><style>p{}</style>")
            }),
            Expect::Accepted(|a| a["content_html"] == "<p>x</p>"),
        ),
        (
            "event handlers",
            case("h-onclick", |d| {
                d["content_html"] = json!(
                    "<p onclick=\"alert(1)\" onmouseover=\"x\">x</p><img src=\"a.png\" onerror=\"alert(1)\">"
                )
            }),
            Expect::Accepted(|a| {
                let html = a["content_html"].as_str().unwrap();
                !html.contains("onclick")
                    && !html.contains("onerror")
                    && !html.contains("onmouseover")
            }),
        ),
        (
            "javascript links and iframes",
            case("h-js", |d| {
                d["content_html"] = json!(
                    "<a href=\"javascript:alert(1)\">x</a><a href=\"JaVaScRiPt:alert(1)\">y</a><iframe src=\"https://evil.example/\"></iframe>"
                )
            }),
            Expect::Accepted(|a| {
                let html = a["content_html"].as_str().unwrap().to_ascii_lowercase();
                !html.contains("javascript") && !html.contains("iframe")
            }),
        ),
        (
            "relative URLs",
            case("h-rel", |d| {
                d["url"] = json!("https://www.huangnan.gov.cn/hnyw/xxdt/202403/t1.html");
                d["content_html"] =
                    json!("<p><a href=\"../index.html\">i</a><img src=\"./p.png\"></p>");
                d["images"] = json!([{"url": "p.png", "caption": "图"}]);
            }),
            Expect::Accepted(|a| {
                let html = a["content_html"].as_str().unwrap();
                html.contains("href=\"https://www.huangnan.gov.cn/hnyw/xxdt/index.html\"")
                    && html.contains("src=\"https://www.huangnan.gov.cn/hnyw/xxdt/202403/p.png\"")
                    && a["images"][0]["url"] == "https://www.huangnan.gov.cn/hnyw/xxdt/202403/p.png"
            }),
        ),
        (
            "a 10,000-character title",
            case("h-long", |d| d["title"] = json!("长".repeat(10_000))),
            Expect::Rejected("title"),
        ),
        (
            "emoji",
            case("h-emoji", |d| d["title"] = json!("🎉 庆祝 👍🏽 🇨🇳")),
            Expect::Accepted(|a| a["title"] == "🎉 庆祝 👍🏽 🇨🇳"),
        ),
        (
            "right-to-left text",
            case("h-rtl", |d| d["title"] = json!("مرحبا بالعالم עברית")),
            Expect::Accepted(|a| a["title"] == "مرحبا بالعالم עברית"),
        ),
        (
            "an empty body",
            case("h-empty", |d| d["content_html"] = json!("")),
            Expect::Accepted(|a| a["content_html"] == ""),
        ),
        (
            "a missing title",
            case("h-missing", |d| {
                d.as_object_mut().unwrap().remove("title");
            }),
            Expect::Rejected("title"),
        ),
        (
            "a mistyped date",
            case("h-type", |d| d["published"] = json!(20240301)),
            Expect::Rejected("published"),
        ),
        (
            "an unknown section",
            case("h-sec", |d| d["section"] = json!("hnyw/nope")),
            Expect::Rejected("section"),
        ),
        (
            "a date in 2099",
            case("h-2099", |d| {
                d["published"] = json!("2099-01-01T00:00:00+08:00")
            }),
            Expect::Rejected("published"),
        ),
        (
            "a date without a zone",
            case("h-nozone", |d| {
                d["published"] = json!("2024-03-01 09:30:00")
            }),
            Expect::Accepted(|a| a["published"] == "2024-03-01T09:30:00+08:00"),
        ),
        (
            "a non-http URL",
            case("h-url", |d| d["url"] = json!("javascript:alert(1)")),
            Expect::Rejected("url"),
        ),
        (
            "whitespace title",
            case("h-blank", |d| d["title"] = json!(" \u{3000}\t ")),
            Expect::Rejected("title"),
        ),
        (
            "a year before 1000",
            case("h-y0", |d| d["published"] = json!("-0001-01-01")),
            Expect::Rejected("published"),
        ),
        (
            "a five-digit year",
            case("h-y5", |d| d["published"] = json!("+12345-01-01T00:00:00Z")),
            Expect::Rejected("published"),
        ),
        (
            "a local time before the zone's standard time",
            case("h-lmt", |d| d["published"] = json!("1900-01-01")),
            Expect::Rejected("published"),
        ),
        (
            "a huge summary",
            case("h-sum", |d| d["summary"] = json!("长".repeat(6000))),
            Expect::Rejected("summary"),
        ),
        (
            "too many images",
            case("h-img", |d| d["images"] = json!(vec!["a.png"; 201])),
            Expect::Rejected("images"),
        ),
        (
            "markup in a plain-text summary",
            case("h-sumhtml", |d| {
                d["summary"] = json!("a < b &lt;img src=x onerror=alert(1)&gt;")
            }),
            Expect::Accepted(|a| a["summary"] == "a < b <img src=x onerror=alert(1)>"),
        ),
    ];
    for (label, doc, expect) in cases {
        let response = app.post_article(&doc).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        match expect {
            Expect::Rejected(field) => {
                assert_eq!(status, 422, "{label}: {body}");
                let fields: Vec<&str> = body["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["field"].as_str().unwrap())
                    .collect();
                assert_eq!(fields, [field], "{label}");
            }
            Expect::Accepted(check) => {
                assert!(status.is_success(), "{label}: {status} {body}");
                assert!(
                    check(&body["article"]),
                    "{label}: stored as {}",
                    body["article"]
                );
                let (atom, json) = assert_feeds_valid(&app, label).await;
                let title = body["article"]["title"].as_str().unwrap();
                let item = json["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["url"] == body["article"]["url"]);
                assert_eq!(
                    item.map(|i| &i["title"]),
                    Some(&json!(title)),
                    "{label}: JSON title"
                );
                let doc = roxmltree::Document::parse(&atom).unwrap();
                let titles: Vec<&str> = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("title"))
                    .filter_map(|n| n.text())
                    .collect();
                assert!(titles.contains(&title), "{label}: Atom title round-trips");
            }
        }
    }
}
