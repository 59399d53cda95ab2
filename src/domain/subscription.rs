//! WebSub subscriptions and the algorithms that sign their notifications.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use super::{CallbackUrl, FeedFormat, Scope};

/// A verified subscription.
#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub id: String,
    /// `hub.topic` exactly as the subscriber sent it (echoed back in verifications).
    pub topic: String,
    #[serde(serialize_with = "scope_name")]
    pub scope: Scope,
    #[serde(serialize_with = "format_name")]
    pub format: FeedFormat,
    pub callback: CallbackUrl,
    #[serde(skip)]
    pub secret: Option<String>,
    pub lease_seconds: i64,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn scope_name<S: serde::Serializer>(scope: &Scope, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(scope.as_str())
}

fn format_name<S: serde::Serializer>(format: &FeedFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(format.extension())
}

/// The algorithms `X-Hub-Signature` may use (§8: sha1, sha256, sha384, sha512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl SignatureAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::Sha1 => "sha1",
            SignatureAlgorithm::Sha256 => "sha256",
            SignatureAlgorithm::Sha384 => "sha384",
            SignatureAlgorithm::Sha512 => "sha512",
        }
    }

    /// `X-Hub-Signature: <algo>=<lowercase hex HMAC of the exact body>` (§8).
    pub fn signature_header(self, secret: &str, body: &[u8]) -> String {
        fn hex_mac<M: Mac + hmac::digest::KeyInit>(secret: &str, body: &[u8]) -> String {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes any key");
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        let hex = match self {
            SignatureAlgorithm::Sha1 => hex_mac::<Hmac<sha1::Sha1>>(secret, body),
            SignatureAlgorithm::Sha256 => hex_mac::<Hmac<sha2::Sha256>>(secret, body),
            SignatureAlgorithm::Sha384 => hex_mac::<Hmac<sha2::Sha384>>(secret, body),
            SignatureAlgorithm::Sha512 => hex_mac::<Hmac<sha2::Sha512>>(secret, body),
        };
        format!("{}={hex}", self.name())
    }
}

/// A subscription with its latest delivery, for the admin view.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    #[serde(flatten)]
    pub subscription: Subscription,
    pub state: &'static str,
    pub has_secret: bool,
    pub last_delivery: Option<LastDelivery>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastDelivery {
    pub id: String,
    pub status: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub created_at: DateTime<Utc>,
}

impl SubscriptionView {
    /// The view of a subscription at `now`.
    pub fn new(
        subscription: Subscription,
        last_delivery: Option<LastDelivery>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            state: if subscription.expires_at > now {
                "active"
            } else {
                "expired"
            },
            has_secret: subscription.secret.is_some(),
            subscription,
            last_delivery,
        }
    }
}
