//! A real HTTP receiver on loopback that records what it is sent and answers as scripted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::Notify;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    /// Path and query, as sent.
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// A query parameter of the request's URL.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// How to answer a WebSub verification GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// 200 with the challenge: intent confirmed.
    Echo,
    /// This status, with a body that is not the challenge.
    Status(u16),
    /// 200 with the wrong body.
    WrongBody,
    /// No answer for an hour.
    Hang,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    /// Answers to verification GETs, in order; then `Verify::Echo`.
    verifications: Mutex<VecDeque<Verify>>,
    /// Answer once the script is used up (200 unless set).
    fallback: Mutex<Option<Reply>>,
    /// Time taken before answering, to stand for a slow receiver.
    delay: Mutex<Duration>,
    arrived: Notify,
    /// POSTs whose answer has begun, delayed or not.
    begun: Mutex<usize>,
    began: Notify,
    /// While set, POSTs wait (after `begun`) until it is cleared.
    held: Mutex<bool>,
    released: Notify,
}

/// The receiver; dropping it leaves the server running until the test's runtime ends.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1").await
    }

    /// A receiver on another loopback address (`127.0.0.2`…): another host to the service.
    pub async fn start_on(ip: &str) -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(receive).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .expect("a port");
        let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, shared }
    }

    /// Answers these first, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    /// Answers the next verification GETs like this.
    pub fn script_verifications(&self, answers: impl IntoIterator<Item = Verify>) {
        self.shared.verifications.lock().unwrap().extend(answers);
    }

    /// The POSTs received (notifications, webhooks).
    pub fn posts(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == Method::POST)
            .collect()
    }

    /// The GETs received (verifications of intent).
    pub fn gets(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == Method::GET)
            .collect()
    }

    /// Waits until `n` POSTs have arrived; the timeout only guards against a hang.
    pub async fn wait_for_posts(&self, n: usize) -> Vec<Received> {
        self.wait_until(|r| r.iter().filter(|x| x.method == Method::POST).count() >= n)
            .await;
        self.posts()
    }

    /// Waits until `n` GETs have arrived.
    pub async fn wait_for_gets(&self, n: usize) -> Vec<Received> {
        self.wait_until(|r| r.iter().filter(|x| x.method == Method::GET).count() >= n)
            .await;
        self.gets()
    }

    async fn wait_until(&self, done: impl Fn(&[Received]) -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let notified = self.shared.arrived.notified();
                if done(&self.received()) {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "the receiver never got what was expected: {:?}",
            self.received()
        );
    }

    /// Answers this once the script is used up.
    pub fn otherwise(&self, reply: Reply) {
        *self.shared.fallback.lock().unwrap() = Some(reply);
    }

    /// Holds every POST, once begun, until [`Receiver::release_posts`].
    pub fn hold_posts(&self) {
        *self.shared.held.lock().unwrap() = true;
    }

    pub fn release_posts(&self) {
        *self.shared.held.lock().unwrap() = false;
        self.shared.released.notify_waiters();
    }

    /// Answers each request only after this long.
    pub fn slow_down(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// How many POSTs have begun to be answered (before any delay).
    pub fn begun(&self) -> usize {
        *self.shared.begun.lock().unwrap()
    }

    /// Waits until `n` POSTs have begun to be answered (before any delay); the timeout only
    /// guards against a hang.
    pub async fn wait_for_begun(&self, n: usize) {
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let notified = self.shared.began.notified();
                if *self.shared.begun.lock().unwrap() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(waited.is_ok(), "expected {n} POSTs to begin");
    }

    /// Waits until `n` requests have arrived; the timeout only guards against a hang.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let notified = self.shared.arrived.notified();
                if self.received().len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        let received = self.received();
        assert!(
            waited.is_ok(),
            "expected {n} requests, got {}",
            received.len()
        );
        received
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::GET {
        return verify(&shared, uri, headers).await;
    }
    *shared.begun.lock().unwrap() += 1;
    shared.began.notify_waiters();
    loop {
        let released = shared.released.notified();
        if !*shared.held.lock().unwrap() {
            break;
        }
        released.await;
    }
    let delay = *shared.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = shared.script.lock().unwrap().pop_front();
    let reply = reply
        .or_else(|| shared.fallback.lock().unwrap().clone())
        .unwrap_or(Reply::status(200));
    shared.received.lock().unwrap().push(Received {
        method,
        uri,
        headers,
        body,
        at: Instant::now(),
    });
    shared.arrived.notify_waiters();
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), "ok").into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

async fn verify(shared: &Shared, uri: Uri, headers: HeaderMap) -> Response {
    let answer = shared
        .verifications
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Verify::Echo);
    let received = Received {
        method: Method::GET,
        uri,
        headers,
        body: Bytes::new(),
        at: Instant::now(),
    };
    let challenge = received.param("hub.challenge").unwrap_or_default();
    shared.received.lock().unwrap().push(received);
    shared.arrived.notify_waiters();
    match answer {
        Verify::Echo => (StatusCode::OK, challenge).into_response(),
        Verify::WrongBody => (StatusCode::OK, "not the challenge").into_response(),
        Verify::Status(status) => (StatusCode::from_u16(status).unwrap(), "no").into_response(),
        Verify::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            (StatusCode::OK, challenge).into_response()
        }
    }
}
