//! Extractors whose rejections are [`ApiError`]s: the bearer caller and the request body.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AppState;
use super::console::SessionKey;
use super::error::ApiError;
use crate::config::{Config, Scope};

/// The configured tokens, kept as digests so that comparing them leaks nothing useful.
#[derive(Debug, Default)]
pub struct Tokens(Vec<Token>);

/// One configured token.
#[derive(Debug)]
struct Token {
    digest: [u8; 32],
    name: String,
    scopes: Vec<Scope>,
    /// For a token with the `admin` scope: the key of the console sessions it opens.
    session_key: Option<SessionKey>,
}

impl Token {
    fn new(token: &str, name: &str, scopes: Vec<Scope>) -> Self {
        Self {
            digest: digest(token),
            name: name.to_owned(),
            session_key: scopes
                .contains(&Scope::Admin)
                .then(|| SessionKey::derive(token)),
            scopes,
        }
    }
}

/// What a token presented to log in to the console is.
#[derive(Debug)]
pub enum Login<'a> {
    /// An admin token: its name and the key of its sessions.
    Admin {
        name: &'a str,
        key: &'a SessionKey,
    },
    /// A token without the `admin` scope.
    NotAdmin,
    Unknown,
}

impl Tokens {
    pub fn from_config(config: &Config) -> Self {
        let mut tokens = Vec::new();
        if !config.api_token.is_empty() {
            tokens.push(Token::new(
                &config.api_token,
                "api_token",
                vec![Scope::Publish, Scope::Read, Scope::Admin],
            ));
        }
        for t in &config.tokens {
            tokens.push(Token::new(&t.token, &t.name, t.scopes.clone()));
        }
        Self(tokens)
    }

    fn find(&self, presented: &str) -> Option<&Token> {
        let presented = digest(presented);
        self.0.iter().find(|t| t.digest == presented)
    }

    /// What `presented` is, to log in with.
    pub fn login(&self, presented: &str) -> Login<'_> {
        match self.find(presented) {
            Some(Token {
                name,
                session_key: Some(key),
                ..
            }) => Login::Admin { name, key },
            Some(_) => Login::NotAdmin,
            None => Login::Unknown,
        }
    }

    /// The session keys of the admin tokens named `name`.
    pub fn session_keys(&self, name: &str) -> Vec<&SessionKey> {
        self.0
            .iter()
            .filter(|t| t.name == name)
            .filter_map(|t| t.session_key.as_ref())
            .collect()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Who is calling, from `Authorization: Bearer …` (RFC 6750).
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    scopes: Vec<Scope>,
}

impl Caller {
    /// 403 unless the token has `scope`; `action` completes "the token may not …".
    pub fn require(&self, scope: Scope, action: &'static str) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(action))
        }
    }

    /// 403 unless the token has one of `scopes`.
    pub fn require_any(&self, scopes: &[Scope], action: &'static str) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.scopes.contains(s)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(action))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        state
            .tokens
            .find(presented)
            .map(|token| Caller {
                name: token.name.clone(),
                scopes: token.scopes.clone(),
            })
            .ok_or(ApiError::Unauthorized)
    }
}

/// How a request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` (or any `+json` type).
    Json,
    /// `application/x-ndjson`: one JSON document per line.
    Ndjson,
}

/// A JSON or NDJSON request body, size-capped by the router's body limit.
#[derive(Debug)]
pub struct Payload {
    pub kind: BodyKind,
    pub bytes: Bytes,
}

impl Payload {
    /// The body as one JSON document.
    pub fn json(&self) -> Result<Value, ApiError> {
        parse_json(&self.bytes)
    }
}

/// Parses a JSON document, naming the position of a syntax error.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_field(
            "",
            format!(
                "the body is not valid JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

impl FromRequest<AppState> for Payload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let media_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let kind = match media_type.as_str() {
            "application/json" => BodyKind::Json,
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/jsonlines" => BodyKind::Ndjson,
            t if t.starts_with("application/") && t.ends_with("+json") => BodyKind::Json,
            _ => {
                return Err(ApiError::UnsupportedMediaType {
                    expected: "Content-Type: application/json (or application/x-ndjson for batches)",
                });
            }
        };
        let limit = state.service.config.http.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::bad_field("", rejection.body_text())
            }
        })?;
        Ok(Payload { kind, bytes })
    }
}

/// The first value of a query-string parameter.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn cursor_param(query: Option<&str>) -> Result<i64, ApiError> {
    match query_param(query, "after") {
        None => Ok(0),
        Some(raw) if raw.is_empty() => Ok(0),
        Some(raw) => cursor_value(&raw, "after"),
    }
}

/// A cursor of the event log (an event's `cursor`, a page's `next`), sent as `field`.
pub fn cursor_value(raw: &str, field: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        ApiError::bad_field(
            field,
            format!("must be a cursor from an earlier page, not {raw:?}"),
        )
    })
}

pub fn limit_param(query: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match query_param(query, "limit") {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "limit",
                    format!("must be a whole number from 1 to {max}, not {raw:?}"),
                )
            }),
    }
}
