//! Fake chat robots of WeCom, DingTalk and Feishu on loopback: each checks what its vendor
//! documents (the credential in the URL; the signature, recomputed from the request's
//! timestamp and the secret; the message's shape, against the vendor's own examples in
//! `tests/fixtures/robots/`) and answers as the vendor does, `200` with a code.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::helpers::repo_path;

/// A vendor whose robot the fake server plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    WeCom,
    DingTalk,
    Feishu,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::WeCom => "wecom",
            Vendor::DingTalk => "dingtalk",
            Vendor::Feishu => "feishu",
        }
    }

    /// The field naming a message's type.
    fn type_field(self) -> &'static str {
        match self {
            Vendor::Feishu => "msg_type",
            _ => "msgtype",
        }
    }
}

/// A fixture: the vendor's documented example, without its leading `//` comment lines.
fn fixture(name: &str) -> Value {
    let path = repo_path(&format!("tests/fixtures/robots/{name}.jsonc"));
    let text = std::fs::read_to_string(&path).expect("the fixture");
    let json: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name} is JSON: {e}"))
}

/// The vendor's documented answer `which` (`ok`, `refused`, `too_fast`).
pub fn answer(vendor: Vendor, which: &str) -> Value {
    fixture(&format!("{}.answers", vendor.name()))[which].clone()
}

/// Whether `got` has the shape of the documented `example`: every field it has is one the
/// example has, with a value of the same JSON type, recursively; an array's items each have
/// the shape of one of the example's items. A field the example has may be left out.
fn shape_problems(example: &Value, got: &Value, at: &str, problems: &mut Vec<String>) {
    match (example, got) {
        (Value::Object(known), Value::Object(fields)) => {
            for (name, value) in fields {
                match known.get(name) {
                    Some(expected) => {
                        shape_problems(expected, value, &format!("{at}.{name}"), problems)
                    }
                    None => problems.push(format!("{at}.{name} is not in the vendor's example")),
                }
            }
        }
        (Value::Array(known), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let fits = known.iter().any(|k| {
                    let mut inner = Vec::new();
                    shape_problems(k, item, at, &mut inner);
                    inner.is_empty()
                });
                if !fits {
                    problems.push(format!("{at}[{i}] fits no item of the vendor's example"));
                }
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Number(_), Value::Number(_)) => {}
        (Value::Null, _) => {}
        _ => problems.push(format!("{at} is {got}, not of the example's type")),
    }
}

/// The documented example of a message type, per vendor.
fn example_of(vendor: Vendor, message_type: &str) -> Option<Value> {
    let name = match (vendor, message_type) {
        (Vendor::WeCom, "news" | "markdown" | "text") => format!("wecom.{message_type}"),
        (Vendor::DingTalk, "actionCard" | "markdown" | "text") => {
            format!("dingtalk.{message_type}")
        }
        (Vendor::Feishu, "interactive" | "text") => format!("feishu.{message_type}"),
        _ => return None,
    };
    Some(fixture(&name))
}

/// One message as the fake robot got it, and what it found wrong with it.
#[derive(Debug, Clone)]
pub struct Got {
    pub uri: Uri,
    /// The message, without Feishu's `timestamp` and `sign`.
    pub message: Value,
    pub raw: String,
    pub at: Instant,
    pub problems: Vec<String>,
}

#[derive(Default)]
struct RobotState {
    got: Mutex<Vec<Got>>,
    /// Answers to give first (the documented ones), in order; then `ok`.
    script: Mutex<VecDeque<Value>>,
    arrived: Notify,
}

/// A fake robot of one vendor on loopback.
#[derive(Clone)]
pub struct FakeRobot {
    pub vendor: Vendor,
    /// The robot's URL as the vendor hands it out, credential included.
    pub url: String,
    /// The credential in it (WeCom's key, DingTalk's access_token, Feishu's hook token).
    pub credential: String,
    pub secret: Option<String>,
    state: Arc<RobotState>,
}

impl FakeRobot {
    pub async fn start(vendor: Vendor, secret: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let credential = format!("{}-cred-{}", vendor.name(), uuid::Uuid::now_v7().simple());
        let url = match vendor {
            Vendor::WeCom => format!("{base}/cgi-bin/webhook/send?key={credential}"),
            Vendor::DingTalk => format!("{base}/robot/send?access_token={credential}"),
            Vendor::Feishu => format!("{base}/open-apis/bot/v2/hook/{credential}"),
        };
        let robot = Self {
            vendor,
            url,
            credential,
            secret: secret.map(str::to_owned),
            state: Arc::default(),
        };
        let app = Router::new().fallback(receive).with_state(robot.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        robot
    }

    /// Answers these documented answers first (`refused`, `too_fast`, …).
    pub fn script(&self, answers: &[&str]) {
        let mut script = self.state.script.lock().unwrap();
        for which in answers {
            script.push_back(answer(self.vendor, which));
        }
    }

    pub fn got(&self) -> Vec<Got> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits until `n` messages have arrived; the timeout only guards against a hang.
    pub async fn wait_for(&self, n: usize) -> Vec<Got> {
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let notified = self.state.arrived.notified();
                if self.got().len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "the robot never got {n} messages: {:?}",
            self.got()
        );
        self.got()
    }

    /// What the vendor checks of a request, as its documentation says.
    fn check(&self, uri: &Uri, message: &mut Value) -> Vec<String> {
        let mut problems = Vec::new();
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let credential = match self.vendor {
            Vendor::WeCom => param("key"),
            Vendor::DingTalk => param("access_token"),
            Vendor::Feishu => uri.path().rsplit('/').next().map(str::to_owned),
        };
        if credential.as_deref() != Some(self.credential.as_str()) {
            problems.push(format!("the credential is wrong: {uri}"));
        }
        match (self.vendor, &self.secret) {
            (Vendor::DingTalk, Some(secret)) => {
                // 《自定义机器人的安全设置》: sign = urlEncode(base64(HmacSHA256(key = secret,
                // timestamp + "\n" + secret))), timestamp in milliseconds within an hour.
                let (Some(timestamp), Some(sign)) = (param("timestamp"), param("sign")) else {
                    problems.push("timestamp or sign is missing from the query".into());
                    return problems;
                };
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(format!("{timestamp}\n{secret}").as_bytes());
                if sign != STANDARD.encode(mac.finalize().into_bytes()) {
                    problems.push(format!("sign {sign} does not match"));
                }
                let ms: i64 = timestamp.parse().unwrap_or_default();
                if (chrono::Utc::now().timestamp_millis() - ms).abs() > 3_600_000 {
                    problems.push(format!("timestamp {timestamp} is not within an hour"));
                }
            }
            (Vendor::Feishu, Some(secret)) => {
                // 《自定义机器人使用指南》: sign = base64(HmacSHA256(key = timestamp + "\n" +
                // secret, message empty)), timestamp in seconds, both in the body.
                let fields = message.as_object_mut().unwrap();
                let timestamp = fields.remove("timestamp");
                let sign = fields.remove("sign");
                let (Some(Value::String(timestamp)), Some(Value::String(sign))) = (timestamp, sign)
                else {
                    problems.push("timestamp or sign is missing from the body".into());
                    return problems;
                };
                let key = format!("{timestamp}\n{secret}");
                let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
                if sign != STANDARD.encode(mac.finalize().into_bytes()) {
                    problems.push(format!("sign {sign} does not match"));
                }
                let secs: i64 = timestamp.parse().unwrap_or_default();
                if (chrono::Utc::now().timestamp() - secs).abs() > 3_600 {
                    problems.push(format!("timestamp {timestamp} is not within an hour"));
                }
            }
            (_, None) => {
                if param("sign").is_some() || message.get("sign").is_some() {
                    problems.push("signed without a secret".into());
                }
            }
            (Vendor::WeCom, Some(_)) => problems.push("WeCom robots have no secret".into()),
        }
        let message_type = message
            .get(self.vendor.type_field())
            .and_then(Value::as_str)
            .unwrap_or("");
        match example_of(self.vendor, message_type) {
            Some(example) => shape_problems(&example, message, "", &mut problems),
            None => problems.push(format!("no documented message type {message_type:?}")),
        }
        problems
    }
}

async fn receive(State(robot): State<FakeRobot>, uri: Uri, body: Bytes) -> Response {
    let raw = String::from_utf8(body.to_vec()).unwrap_or_default();
    let mut message: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let problems = if message.is_object() {
        robot.check(&uri, &mut message)
    } else {
        vec![format!("the body is not a JSON object: {raw}")]
    };
    let scripted = robot.state.script.lock().unwrap().pop_front();
    let reply = if problems.is_empty() {
        scripted.unwrap_or_else(|| answer(robot.vendor, "ok"))
    } else {
        // What the vendor does with a message it cannot take: 200 and an error code.
        answer(robot.vendor, "refused")
    };
    robot.state.got.lock().unwrap().push(Got {
        uri,
        message,
        raw,
        at: Instant::now(),
        problems,
    });
    robot.state.arrived.notify_waiters();
    axum::Json(reply).into_response()
}
