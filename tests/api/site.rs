//! A small portal served on loopback by the test itself: list pages, article pages in UTF-8
//! and GBK, a page that is missing, one that is slow, one `robots.txt` forbids; every request
//! is counted, so that tests can say what tidings fetched and how often.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One page of the site.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
    /// Answers `If-None-Match` with 304 when it matches.
    pub etag: Option<String>,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Page {
    pub fn html(body: impl Into<Bytes>) -> Self {
        Self {
            status: 200,
            content_type: "text/html; charset=utf-8".into(),
            body: body.into(),
            etag: None,
            delay: Duration::ZERO,
        }
    }

    /// A page whose charset is declared only inside it.
    pub fn html_bytes(body: impl Into<Bytes>) -> Self {
        Self {
            content_type: "text/html".into(),
            ..Self::html(body)
        }
    }

    pub fn with_etag(mut self, etag: &str) -> Self {
        self.etag = Some(etag.into());
        self
    }

    pub fn slow(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct Shared {
    pages: HashMap<String, Page>,
    hits: HashMap<String, usize>,
    user_agents: Vec<String>,
}

/// The site; cheap to clone.
#[derive(Clone)]
pub struct TestSite {
    pub base: String,
    shared: Arc<Mutex<Shared>>,
}

impl TestSite {
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn put(&self, path: &str, page: Page) {
        self.shared
            .lock()
            .expect("the site's lock")
            .pages
            .insert(path.to_owned(), page);
    }

    /// How many requests `path` had.
    pub fn hits(&self, path: &str) -> usize {
        let shared = self.shared.lock().expect("the site's lock");
        shared.hits.get(path).copied().unwrap_or(0)
    }

    pub fn user_agents(&self) -> Vec<String> {
        self.shared
            .lock()
            .expect("the site's lock")
            .user_agents
            .clone()
    }
}

async fn serve(State(shared): State<Arc<Mutex<Shared>>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let page = {
        let mut shared = shared.lock().expect("the site's lock");
        *shared.hits.entry(path.clone()).or_default() += 1;
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        shared.user_agents.push(agent);
        shared.pages.get(&path).cloned()
    };
    let Some(page) = page else {
        return (StatusCode::NOT_FOUND, "not here").into_response();
    };
    if !page.delay.is_zero() {
        tokio::time::sleep(page.delay).await;
    }
    let matches = page.etag.as_deref().is_some_and(|etag| {
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            == Some(etag)
    });
    if matches {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut response = (
        StatusCode::from_u16(page.status).expect("a status"),
        [(header::CONTENT_TYPE, page.content_type)],
        page.body,
    )
        .into_response();
    if let Some(etag) = page.etag {
        response
            .headers_mut()
            .insert(header::ETAG, etag.parse().expect("an ETag"));
    }
    response
}
