//! The fetcher against real servers on the loopback interface.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;

use super::*;

const ROBOTS: &str = "User-agent: *\nDisallow: /\n\nUser-agent: tidings\nDisallow: /private\n";
const ETAG_VALUE: &str = "\"v1\"";
const LAST_MODIFIED_VALUE: &str = "Wed, 02 Jun 2021 08:00:00 GMT";
const FEED: &str = "<rss version=\"2.0\"><channel><title>黄南要闻</title></channel></rss>";

/// Serves `router` on a fresh loopback port; its base URL.
async fn serve(router: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    Url::parse(&format!("http://{address}/")).expect("a URL")
}

/// The default policy, but for a loopback server, a short delay and a small cap.
fn policy() -> FetchPolicy {
    FetchPolicy {
        max_bytes: 1024,
        per_host_delay: Duration::from_millis(1),
        timeout: Duration::from_secs(10),
        addresses: AddressPolicy {
            allow_private: true,
        },
        ..FetchPolicy::default()
    }
}

/// A site with a `robots.txt` that keeps our agent out of `/private` (and everyone else out
/// of everything), and a page for each behaviour under test.
fn site(intervals: Arc<Mutex<Vec<(Instant, Instant)>>>) -> Router {
    Router::new()
        .route("/robots.txt", get(|| async { ROBOTS }))
        .route("/etag", get(etag))
        .route("/dated", get(dated))
        .route("/chain/1", get(|| async { Redirect::to("2") }))
        .route(
            "/chain/2",
            get(|| async { Redirect::permanent("/chain/3?from=2") }),
        )
        .route("/chain/3", get(|| async { Redirect::temporary("/etag") }))
        .route("/loop/a", get(|| async { Redirect::to("/loop/b") }))
        .route("/loop/b", get(|| async { Redirect::to("/loop/a") }))
        .route(
            "/many/{n}",
            get(|Path(n): Path<u32>| async move { Redirect::to(&format!("/many/{}", n + 1)) }),
        )
        .route(
            "/to-ftp",
            get(|| async { Redirect::to("ftp://files.example/feed.xml") }),
        )
        .route(
            "/to-private",
            get(|| async { Redirect::to("/private/feed") }),
        )
        .route("/private/feed", get(|| async { FEED }))
        .route("/huge-declared", get(|| async { "x".repeat(2048) }))
        .route("/huge-streamed", get(huge_streamed))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                FEED
            }),
        )
        .route(
            "/timed/{n}",
            get(move || {
                let intervals = Arc::clone(&intervals);
                async move {
                    let start = Instant::now();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    intervals
                        .lock()
                        .expect("not poisoned")
                        .push((start, Instant::now()));
                    FEED
                }
            }),
        )
}

async fn etag(headers: HeaderMap) -> Response {
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == ETAG_VALUE)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::ETAG, ETAG_VALUE),
            (header::CONTENT_TYPE, "application/rss+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        // Two `Link` headers: the fetcher keeps each value.
        AppendHeaders([
            (header::LINK, "<https://hub.example/>; rel=\"hub\""),
            (header::LINK, "<https://feeds.example/etag>; rel=\"self\""),
        ]),
        FEED,
    )
        .into_response()
}

async fn dated(headers: HeaderMap) -> Response {
    if headers
        .get(header::IF_MODIFIED_SINCE)
        .is_some_and(|v| v == LAST_MODIFIED_VALUE)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([(header::LAST_MODIFIED, LAST_MODIFIED_VALUE)], FEED).into_response()
}

/// 4 KiB in chunks, without a `Content-Length`.
async fn huge_streamed() -> Body {
    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 64])));
    Body::from_stream(futures::stream::iter(chunks))
}

async fn fetch_site() -> (Fetcher, Url, Arc<Mutex<Vec<(Instant, Instant)>>>) {
    let intervals = Arc::new(Mutex::new(Vec::new()));
    let base = serve(site(Arc::clone(&intervals))).await;
    (Fetcher::new(policy()), base, intervals)
}

fn page_of(fetched: Fetched) -> Page {
    match fetched {
        Fetched::Page(page) => page,
        Fetched::NotModified => panic!("a page, not 304"),
    }
}

#[tokio::test]
async fn an_etag_makes_the_second_get_not_modified() {
    let (fetcher, base, _) = fetch_site().await;
    let url = base.join("etag").unwrap();
    let page = page_of(fetcher.get(&url, &Validators::default()).await.unwrap());
    assert_eq!(page.url, url);
    assert_eq!(&page.bytes[..], FEED.as_bytes());
    assert_eq!(
        page.content_type.as_deref(),
        Some("application/rss+xml; charset=utf-8")
    );
    assert_eq!(page.validators.etag.as_deref(), Some(ETAG_VALUE));
    assert_eq!(page.cache_control.as_deref(), Some("public, max-age=300"));
    assert_eq!(page.links.len(), 2);
    let (hub, topic) = crate::ingest::upstream::hub_links(
        &page.links.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(
        hub.map(String::from).as_deref(),
        Some("https://hub.example/")
    );
    assert_eq!(
        topic.map(String::from).as_deref(),
        Some("https://feeds.example/etag")
    );

    let again = fetcher.get(&url, &page.validators).await.unwrap();
    assert!(matches!(again, Fetched::NotModified), "{again:?}");
}

#[tokio::test]
async fn a_last_modified_date_makes_the_second_get_not_modified() {
    let (fetcher, base, _) = fetch_site().await;
    let url = base.join("dated").unwrap();
    let page = page_of(fetcher.get(&url, &Validators::default()).await.unwrap());
    assert_eq!(
        page.validators,
        Validators {
            etag: None,
            last_modified: Some(LAST_MODIFIED_VALUE.to_owned())
        }
    );
    let again = fetcher.get(&url, &page.validators).await.unwrap();
    assert!(matches!(again, Fetched::NotModified), "{again:?}");
}

#[tokio::test]
async fn a_redirect_chain_is_followed_to_the_final_url() {
    let (fetcher, base, _) = fetch_site().await;
    let page = page_of(
        fetcher
            .get(&base.join("chain/1").unwrap(), &Validators::default())
            .await
            .unwrap(),
    );
    assert_eq!(page.url, base.join("etag").unwrap());
    assert_eq!(&page.bytes[..], FEED.as_bytes());
}

#[tokio::test]
async fn a_redirect_loop_and_too_many_redirects_are_refused() {
    let (fetcher, base, _) = fetch_site().await;
    let err = fetcher
        .get(&base.join("loop/a").unwrap(), &Validators::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::RedirectLoop { url } if url.path() == "/loop/a"),
        "{err}"
    );
    assert!(err.to_string().contains("redirect loop"));

    let start = base.join("many/1").unwrap();
    let err = fetcher
        .get(&start, &Validators::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::TooManyRedirects { url, max: 5 } if *url == start),
        "{err}"
    );
    assert!(err.to_string().starts_with(start.as_str()), "{err}");

    let err = fetcher
        .get(&base.join("to-ftp").unwrap(), &Validators::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::NotHttp { url } if url.scheme() == "ftp"),
        "{err}"
    );
}

#[tokio::test]
async fn a_body_larger_than_the_cap_is_refused_declared_or_streamed() {
    let (fetcher, base, _) = fetch_site().await;
    for path in ["huge-declared", "huge-streamed"] {
        let err = fetcher
            .get(&base.join(path).unwrap(), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::TooLarge { max: 1024, .. }),
            "{path}: {err}"
        );
        assert!(err.to_string().contains("larger than 1024 bytes"), "{err}");
    }
}

#[tokio::test]
async fn robots_txt_refuses_a_path_even_behind_a_redirect() {
    let (fetcher, base, _) = fetch_site().await;
    for path in ["private/feed", "to-private"] {
        let err = fetcher
            .get(&base.join(path).unwrap(), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::RobotsDisallowed { url } if url.path() == "/private/feed"),
            "{path}: {err}"
        );
        assert!(err.to_string().ends_with("refused by robots.txt"), "{err}");
    }
    // Our group, not `*`'s, applies: the rest of the site is open to us.
    assert!(
        fetcher
            .get(&base.join("dated").unwrap(), &Validators::default())
            .await
            .is_ok()
    );

    let ignoring = Fetcher::new(FetchPolicy {
        respect_robots: false,
        ..policy()
    });
    let page = page_of(
        ignoring
            .get(&base.join("private/feed").unwrap(), &Validators::default())
            .await
            .unwrap(),
    );
    assert_eq!(&page.bytes[..], FEED.as_bytes());
}

#[tokio::test]
async fn a_missing_robots_txt_allows_everything_and_an_unreachable_one_nothing() {
    let open = serve(Router::new().route("/feed", get(|| async { FEED }))).await;
    let fetcher = Fetcher::new(policy());
    let page = page_of(
        fetcher
            .get(&open.join("feed").unwrap(), &Validators::default())
            .await
            .unwrap(),
    );
    assert_eq!(&page.bytes[..], FEED.as_bytes());

    let broken = serve(
        Router::new()
            .route(
                "/robots.txt",
                get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
            )
            .route("/feed", get(|| async { FEED })),
    )
    .await;
    let err = fetcher
        .get(&broken.join("feed").unwrap(), &Validators::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::RobotsUnreachable { reason, .. } if reason == "HTTP 503"),
        "{err}"
    );
}

#[tokio::test]
async fn a_404_is_an_http_status_error() {
    let (fetcher, base, _) = fetch_site().await;
    let err = fetcher
        .get(&base.join("nothing-here").unwrap(), &Validators::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().ends_with("HTTP status 404"), "{err}");
}

#[tokio::test]
async fn a_slow_page_times_out() {
    let intervals = Arc::new(Mutex::new(Vec::new()));
    let base = serve(site(intervals)).await;
    let fetcher = Fetcher::new(FetchPolicy {
        timeout: Duration::from_millis(300),
        ..policy()
    });
    let err = fetcher
        .get(&base.join("slow").unwrap(), &Validators::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TimedOut { .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn requests_to_one_host_do_not_overlap() {
    let (fetcher, base, intervals) = fetch_site().await;
    let (a, b) = (base.join("timed/1").unwrap(), base.join("timed/2").unwrap());
    let none = Validators::default();
    let (first, second) = tokio::join!(fetcher.get(&a, &none), fetcher.get(&b, &none));
    first.unwrap();
    second.unwrap();
    let mut seen = intervals.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].1 <= seen[1].0,
        "the second request started before the first ended: {seen:?}"
    );
}

#[tokio::test]
async fn only_http_and_public_addresses_are_fetched() {
    let fetcher = Fetcher::new(FetchPolicy::default());
    let none = Validators::default();
    let err = fetcher
        .get(&Url::parse("ftp://files.example/feed.xml").unwrap(), &none)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::NotHttp { .. }), "{err}");
    for private in [
        "http://127.0.0.1:9/feed",
        "http://169.254.169.254/latest",
        "http://localhost/feed",
    ] {
        let err = fetcher
            .get(&Url::parse(private).unwrap(), &none)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Refused { .. }),
            "{private}: {err}"
        );
    }

    // A name that resolves to a private address is refused when it is resolved.
    let to_loopback: Arc<crate::delivery::client::LookupTable> =
        Arc::new(|_: &str| vec![std::net::IpAddr::from([127, 0, 0, 1])]);
    let fetcher = Fetcher::new(FetchPolicy {
        lookup: Lookup::Table(to_loopback),
        ..FetchPolicy::default()
    });
    let err = fetcher
        .get(&Url::parse("http://feeds.example/feed").unwrap(), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Refused { reason, .. } if reason.contains("non-public")),
        "{err}"
    );
}
