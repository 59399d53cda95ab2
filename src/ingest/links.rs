//! The article links of a list page: the `href`s of the elements a CSS selector picks,
//! resolved against the page, on the page's own site, each once, in page order.

use scraper::{Html, Selector};
use url::Url;

/// Checks a links selector as configured (`tidings check`).
pub fn check_selector(selector: &str) -> Result<(), String> {
    Selector::parse(selector)
        .map(|_| ())
        .map_err(|e| format!("{selector:?} is not a CSS selector: {e}"))
}

/// The links `selector` picks in `html` (an `<a>` itself, or the first `<a href>` inside what
/// it picks), absolute, without their fragment, on `page`'s host, each once.
pub fn article_links(html: &str, page: &Url, selector: &str) -> Result<Vec<Url>, String> {
    let selector = Selector::parse(selector)
        .map_err(|e| format!("{selector:?} is not a CSS selector: {e}"))?;
    let anchor = Selector::parse("a[href]").expect("a constant selector");
    let document = Html::parse_document(html);
    // A `<base href>` changes what relative links resolve against.
    let base = Selector::parse("base[href]")
        .ok()
        .and_then(|s| document.select(&s).next())
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| page.join(href.trim()).ok())
        .unwrap_or_else(|| page.clone());
    let mut links: Vec<Url> = Vec::new();
    for picked in document.select(&selector) {
        let href = match picked.value().attr("href") {
            Some(href) => Some(href),
            None => picked
                .select(&anchor)
                .next()
                .and_then(|a| a.value().attr("href")),
        };
        let Some(mut url) = href.and_then(|h| base.join(h.trim()).ok()) else {
            continue;
        };
        url.set_fragment(None);
        let same_site = matches!(url.scheme(), "http" | "https")
            && url.host_str() == page.host_str()
            && url.port_or_known_default() == page.port_or_known_default();
        if same_site && url != *page && !links.contains(&url) {
            links.push(url);
        }
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_absolute_on_the_same_site_and_each_once() {
        let html = r#"<html><body><ul class="list">
            <li><a href="./202106/t20210601_1.html">一</a></li>
            <li><a href="/hnyw/ldhd/202106/t20210602_2.html#top">二</a></li>
            <li><a href="202106/t20210601_1.html">一 again</a></li>
            <li><a href="https://elsewhere.example/x.html">elsewhere</a></li>
            <li><a href="javascript:void(0)">js</a></li>
            <li><span>no link</span></li>
        </ul><a class="more" href="index_1.html">下一页</a></body></html>"#;
        let page = Url::parse("https://www.huangnan.gov.cn/hnyw/ldhd/").unwrap();
        let links = article_links(html, &page, ".list li").unwrap();
        let links: Vec<&str> = links.iter().map(Url::as_str).collect();
        assert_eq!(
            links,
            [
                "https://www.huangnan.gov.cn/hnyw/ldhd/202106/t20210601_1.html",
                "https://www.huangnan.gov.cn/hnyw/ldhd/202106/t20210602_2.html",
            ]
        );
    }

    #[test]
    fn a_bad_selector_is_named() {
        let page = Url::parse("https://www.huangnan.gov.cn/").unwrap();
        let err = article_links("<p>", &page, "ul >> li").unwrap_err();
        assert!(err.contains("ul >> li"), "{err}");
        assert!(check_selector("ul li a").is_ok());
    }
}
