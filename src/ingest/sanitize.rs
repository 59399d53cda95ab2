//! Cleaning of what publishers send: text fields and body HTML.

use std::borrow::Cow;

use url::Url;

/// Whether XML 1.0 (§2.2 `Char`) allows the character. Rust strings hold no surrogates, so what
/// remains forbidden is the C0 controls other than tab, LF and CR, and U+FFFE / U+FFFF.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Removes every character XML 1.0 forbids.
pub fn strip_xml_illegal(s: &str) -> Cow<'_, str> {
    if s.chars().all(is_xml_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|c| is_xml_char(*c)).collect())
    }
}

/// A plain-text field: entities decoded (`&nbsp;` → U+00A0, `&ldquo;` → “), forbidden
/// characters removed, runs of white space folded to one space, trimmed.
pub fn clean_text(raw: &str) -> String {
    let decoded = html_escape::decode_html_entities(&strip_xml_illegal(raw)).into_owned();
    // Decoding can produce forbidden characters (`&#1;`), so strip again; then fold white
    // space as tag feeds fold the tags they are asked for.
    crate::domain::fold_white_space(&strip_xml_illegal(&decoded))
}

/// Attributes that lazy-loading scripts use instead of `src`, most specific first.
pub(crate) const LAZY_SRC_ATTRIBUTES: [&str; 4] = [
    "data-src",
    "data-original",
    "data-lazy-src",
    "data-actualsrc",
];

/// Sanitises body HTML for feeds and readers.
///
/// - lazy-image attributes (`data-src` and kin) become `src`, so the image shows without script;
/// - a maintained sanitiser (ammonia) removes script, style, iframe, event handlers, `style`
///   attributes and `javascript:` URLs, and rewrites relative URLs against `base` (the article's
///   canonical URL);
/// - named entities become characters (the serialiser writes only `&amp; &lt; &gt; &quot;`
///   and `&nbsp;`, and the last is turned into U+00A0 here);
/// - characters XML 1.0 forbids are removed.
pub fn sanitize_html(raw: &str, base: &Url) -> String {
    let raw = strip_xml_illegal(raw);
    let unlazied = promote_lazy_images(&raw);
    let cleaned = ammonia::Builder::default()
        .url_relative(ammonia::UrlRelative::RewriteWithBase(base.clone()))
        .add_tag_attributes("img", &["title", "loading"])
        .add_tag_attributes("td", &["colspan", "rowspan"])
        .add_tag_attributes("th", &["colspan", "rowspan"])
        .clean(&unlazied)
        .to_string();
    // After serialisation a literal `&` is always `&amp;`, so `&nbsp;` can only be the entity.
    let cleaned = cleaned.replace("&nbsp;", "\u{a0}");
    strip_xml_illegal(&cleaned).into_owned()
}

/// The text of an HTML fragment, white space folded: for summaries and length checks.
pub fn html_to_text(html: &str) -> String {
    let text = ammonia::Builder::empty().clean(html).to_string();
    clean_text(&text)
}

fn promote_lazy_images(html: &str) -> Cow<'_, str> {
    if !LAZY_SRC_ATTRIBUTES.iter().any(|a| html.contains(a)) {
        return Cow::Borrowed(html);
    }
    let rewritten = lol_html::rewrite_str(
        html,
        lol_html::RewriteStrSettings {
            element_content_handlers: vec![lol_html::element!("img", |el| {
                let lazy = LAZY_SRC_ATTRIBUTES
                    .iter()
                    .find_map(|name| el.get_attribute(name).filter(|v| !v.trim().is_empty()));
                if let Some(src) = lazy {
                    el.set_attribute("src", src.trim())?;
                }
                for name in LAZY_SRC_ATTRIBUTES {
                    el.remove_attribute(name);
                }
                Ok(())
            })],
            ..lol_html::RewriteStrSettings::new()
        },
    );
    // lol_html only fails on encoding or memory limits; the sanitiser still runs on the input.
    rewritten.map(Cow::Owned).unwrap_or(Cow::Borrowed(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.gov.cn/hnyw/ldhd/202106/t20210601_1.html").unwrap()
    }

    #[test]
    fn text_fields_lose_controls_and_entities() {
        assert_eq!(
            clean_text("a\u{1}b&nbsp;c &ldquo;d&rdquo;  \n e&#65;"),
            "ab\u{a0}c “d” eA"
        );
        assert!(clean_text("x&#1;&#x1F;y").chars().all(is_xml_char));
        assert_eq!(clean_text("  黄南\u{b}州 "), "黄南州");
        assert_eq!(clean_text("x\u{FFFE}y"), "xy");
    }

    #[test]
    fn html_is_sanitised_and_made_absolute() {
        let html = r#"<p onclick="x()" style="color:red">a&nbsp;b<script>alert(1)</script></p><a href="javascript:alert(1)">j</a><a href="../x.html">r</a><img data-src="1.png" src="blank.gif"><iframe src="//evil"></iframe><style>p{}</style>"#;
        let out = sanitize_html(html, &base());
        assert!(!out.contains("script") && !out.contains("onclick") && !out.contains("style"));
        assert!(!out.contains("javascript:") && !out.contains("iframe"));
        assert!(out.contains("a\u{a0}b"), "{out}");
        assert!(
            out.contains(r#"href="https://example.gov.cn/hnyw/ldhd/x.html""#),
            "{out}"
        );
        assert!(
            out.contains(r#"src="https://example.gov.cn/hnyw/ldhd/202106/1.png""#),
            "{out}"
        );
        assert!(
            !out.contains("blank.gif") && !out.contains("data-src"),
            "{out}"
        );
    }

    #[test]
    fn cdata_terminators_and_controls_survive_as_text() {
        let out = sanitize_html("<p>a ]]> b\u{0}\u{8}</p>", &base());
        assert_eq!(out, "<p>a ]]&gt; b</p>");
    }
}
