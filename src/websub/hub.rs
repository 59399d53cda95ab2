//! The hub's protocol: subscription requests (§5.1), verification of intent (§5.3) and the
//! content of notifications (§7).

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use reqwest::Method;
use reqwest::header::HeaderMap;
use url::Url;

use super::{feed_of_topic, link_header};
use crate::catalog::{Catalog, Scope};
use crate::domain::{CallbackUrl, FeedFormat, StoredArticle, Tombstone};
use crate::metrics::OutcomeLabel;
use crate::render::{FeedContext, render_feed};
use crate::service::Service;
use crate::store::Notification;

/// §5.1: hub.secret MUST be less than 200 bytes.
const MAX_SECRET_BYTES: usize = 200;

/// What the subscriber asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Subscribe,
    Unsubscribe,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Subscribe => "subscribe",
            Mode::Unsubscribe => "unsubscribe",
        }
    }
}

/// A valid subscription request, waiting for its verification of intent.
#[derive(Debug, Clone)]
pub struct Request {
    pub mode: Mode,
    /// Exactly as received: it is echoed in the verification and keys the subscription.
    pub topic: String,
    pub scope: Scope,
    pub format: FeedFormat,
    pub callback: CallbackUrl,
    pub secret: Option<String>,
    pub lease_seconds: Option<i64>,
    pub verify_token: Option<String>,
}

/// A refused request: a 4xx with a plain-text reason (§5.1.2 leaves the form to the hub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

fn refuse(reason: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        reason: reason.into(),
    }
}

/// Parses a form-encoded subscription request (§5.1). Unknown parameters are ignored (§5.1:
/// hubs MUST ignore parameters they do not understand) and, for a repeated one, the first
/// value counts.
pub async fn parse_request(service: &Service, body: &[u8]) -> Result<Request, Refusal> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    let mode = match param("hub.mode") {
        Some("subscribe") => Mode::Subscribe,
        Some("unsubscribe") => Mode::Unsubscribe,
        Some(other) => {
            return Err(refuse(format!(
                "hub.mode must be subscribe or unsubscribe, not {other:?}"
            )));
        }
        None => return Err(refuse("hub.mode is required")),
    };
    let topic = param("hub.topic")
        .ok_or_else(|| refuse("hub.topic is required"))?
        .to_owned();
    let (scope, format) =
        feed_of_topic(&topic, service.config.public_base(), &service.catalog).map_err(refuse)?;
    let raw_callback = param("hub.callback").ok_or_else(|| refuse("hub.callback is required"))?;
    let callback = CallbackUrl::new(
        Url::parse(raw_callback).map_err(|_| refuse("hub.callback is not an absolute URL"))?,
    );
    service
        .delivery
        .policy()
        .check_destination(&callback)
        .await
        .map_err(|reason| refuse(format!("hub.callback {reason}")))?;
    let secret = match param("hub.secret") {
        Some(s) if s.len() >= MAX_SECRET_BYTES => {
            return Err(refuse(format!(
                "hub.secret must be less than {MAX_SECRET_BYTES} bytes"
            )));
        }
        Some("") | None => None,
        Some(s) => Some(s.to_owned()),
    };
    let lease_seconds = match param("hub.lease_seconds") {
        None | Some("") => None,
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(refuse(format!(
                    "hub.lease_seconds must be a positive whole number, not {raw:?}"
                )));
            }
        },
    };
    Ok(Request {
        mode,
        topic,
        scope,
        format,
        callback,
        secret,
        lease_seconds,
        verify_token: param("hub.verify_token").map(str::to_owned),
    })
}

/// The verification GET's URL: the callback with our parameters appended to its own query
/// string. §5.3: the hub MUST send hub.mode, hub.topic, hub.challenge and, for subscriptions,
/// hub.lease_seconds; if the callback has a query string, the hub MUST preserve its
/// parameters and append its own to the end of the list.
pub fn verification_url(request: &Request, challenge: &str, lease: Option<i64>) -> Url {
    let mut url = Url::clone(&request.callback);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("hub.mode", request.mode.as_str());
        query.append_pair("hub.topic", &request.topic);
        query.append_pair("hub.challenge", challenge);
        if let Some(lease) = lease {
            query.append_pair("hub.lease_seconds", &lease.to_string());
        }
        if let Some(token) = &request.verify_token {
            query.append_pair("hub.verify_token", token);
        }
    }
    url
}

/// How a verification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Verified,
    Failed,
}

/// Verifies the subscriber's intent (§5.3) and, once verified, applies the request. A failed
/// verification changes nothing: an existing subscription stays as it was.
#[tracing::instrument(skip_all, fields(mode = request.mode.as_str(), topic = %request.topic, callback = %request.callback))]
pub async fn verify_and_apply(service: Service, request: Request) -> Verification {
    let lease = match request.mode {
        Mode::Subscribe => Some(service.config.websub.grant_lease(request.lease_seconds)),
        Mode::Unsubscribe => None,
    };
    let metrics = service.delivery.metrics();
    let retries = &service.config.websub.verification_retry_secs;
    let mut attempt = 0;
    let verified = loop {
        // §5.3: hub.challenge is a hub-generated random string, fresh for each verification.
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let challenge = URL_SAFE_NO_PAD.encode(bytes);
        let url = verification_url(&request, &challenge, lease);
        let exchange = service
            .delivery
            .outbound()
            .send(Method::GET, &url, HeaderMap::new(), None)
            .await;
        // §5.3.1: the subscriber MUST answer 2xx with a body equal to hub.challenge; anything
        // else (a 404, a wrong body, a redirect, which is never followed) is not a confirmation.
        if exchange.is_success() && exchange.body == challenge {
            break true;
        }
        // Retry only what may pass later: server errors and network failures.
        let transient = match exchange.status {
            Some(status) => status.is_server_error(),
            None => !matches!(
                exchange.error,
                Some((crate::delivery::client::ErrorClass::Refused, _))
            ),
        };
        let Some(wait) = retries.get(attempt).filter(|_| transient) else {
            tracing::info!(status = ?exchange.status, error = ?exchange.error, "verification of intent failed");
            break false;
        };
        metrics
            .websub_verifications
            .get_or_create(&OutcomeLabel { outcome: "retried" })
            .inc();
        attempt += 1;
        tokio::time::sleep(Duration::from_secs_f64(*wait)).await;
    };
    if !verified {
        metrics
            .websub_verifications
            .get_or_create(&OutcomeLabel { outcome: "failed" })
            .inc();
        return Verification::Failed;
    }
    metrics
        .websub_verifications
        .get_or_create(&OutcomeLabel {
            outcome: "verified",
        })
        .inc();
    // §5.1: the subscription is (topic, callback); a verified re-subscription replaces its
    // lease and secret, and the lease granted is the one the verification announced.
    let applied = match (request.mode, lease) {
        (Mode::Subscribe, Some(lease)) => service
            .store
            .upsert_subscription(
                &request.topic,
                &request.scope,
                request.format,
                &request.callback,
                request.secret.as_deref(),
                lease,
                Utc::now(),
            )
            .await
            .map(|s| tracing::info!(subscription = %s.id, lease, "subscribed")),
        _ => service
            .store
            .remove_subscription(&request.topic, request.callback.as_str())
            .await
            .map(|removed| tracing::info!(removed, "unsubscribed")),
    };
    if let Err(err) = applied {
        tracing::error!(error = %err, "cannot store a verified subscription request");
        return Verification::Failed;
    }
    Verification::Verified
}

/// Renders the notification for one topic: the topic's own feed document, with its feed-level
/// metadata, holding the entries that changed (and, in Atom, tombstones for deletions). `None`
/// when the format cannot say anything about these changes (a deletion in RSS or JSON Feed).
#[allow(clippy::too_many_arguments)]
pub fn render_notification(
    catalog: &Catalog,
    public_base: &str,
    hub_url: &str,
    generator: &str,
    scope: &Scope,
    format: FeedFormat,
    entries: &[StoredArticle],
    tombstones: &[Tombstone],
) -> Option<Notification> {
    let tombstones: &[Tombstone] = if format == FeedFormat::Atom {
        tombstones
    } else {
        &[]
    };
    if entries.is_empty() && tombstones.is_empty() {
        return None;
    }
    let updated: DateTime<Utc> = entries
        .iter()
        .map(|e| e.modified_at)
        .chain(tombstones.iter().map(|t| t.deleted_at))
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH);
    let self_url = format!(
        "{public_base}/feeds/{}.{}",
        scope.as_str(),
        format.extension()
    );
    let ctx = FeedContext {
        catalog,
        scope,
        self_url: &self_url,
        hub_url: Some(hub_url),
        updated,
        generator,
    };
    let body = render_feed(format, &ctx, entries, tombstones);
    Some(Notification {
        // Feeds are UTF-8 by construction.
        body: String::from_utf8(body).ok()?,
        content_type: format.content_type(),
        link: link_header(hub_url, &self_url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(callback: &str) -> Request {
        Request {
            mode: Mode::Subscribe,
            topic: "http://127.0.0.1:8080/feeds/hnyw.atom?limit=5&x=1".into(),
            scope: Scope::All,
            format: FeedFormat::Atom,
            callback: CallbackUrl::new(Url::parse(callback).unwrap()),
            secret: None,
            lease_seconds: None,
            verify_token: Some("tok en".into()),
        }
    }

    #[test]
    fn the_callbacks_own_query_is_kept_and_ours_appended() {
        let url = verification_url(
            &request("https://sub.example/cb?token=x&b=%2F"),
            "abc",
            Some(3600),
        );
        assert_eq!(
            url.as_str(),
            "https://sub.example/cb?token=x&b=%2F&hub.mode=subscribe\
             &hub.topic=http%3A%2F%2F127.0.0.1%3A8080%2Ffeeds%2Fhnyw.atom%3Flimit%3D5%26x%3D1\
             &hub.challenge=abc&hub.lease_seconds=3600&hub.verify_token=tok+en"
        );
        let bare = verification_url(&request("https://sub.example/cb"), "abc", None);
        assert!(
            bare.as_str()
                .starts_with("https://sub.example/cb?hub.mode=subscribe&")
        );
        assert!(!bare.as_str().contains("lease"));
    }
}
