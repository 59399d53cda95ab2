//! Our subscriptions to upstream feeds' WebSub hubs (WebSub §5): we ask with a secret of our
//! own and a callback that names the source and a token; we answer the hub's verification
//! for our own requests only (anything else is a 404), take a notification only when it is
//! signed with our secret, and renew before the lease ends.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use url::Url;

use super::Sources;
use crate::catalog::{SourceKind, SourceSpec};
use crate::domain::{HubState, RunCounts, SourceHub};
use crate::ingest::hub_signature::verify_hub_signature;

/// The lease we ask for.
const LEASE_SECS: i64 = 7 * 24 * 3600;
/// A request the hub has not verified after this long is retried (by the next poll).
const UNVERIFIED_RETRY_SECS: i64 = 10 * 60;
/// A refused or failed subscription is asked for again after this long.
const FAILED_RETRY_SECS: i64 = 3600;

/// The answer to a hub's verification of intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubAnswer {
    /// 200 with the challenge as the body.
    Challenge(String),
    /// 200, nothing to say (the hub told us it denied the subscription).
    Noted,
    /// 404: not a request of ours.
    Unknown,
}

/// What became of a notification.
#[derive(Debug, Clone)]
pub enum Notified {
    Taken(RunCounts),
    /// Not a callback of ours: 404.
    Unknown,
    /// Not signed with our secret: acknowledged and ignored (WebSub §8).
    BadSignature,
    /// Not a feed (or its articles could not be stored): the reason.
    Refused(String),
}

/// `bytes` random bytes in hex.
fn random_hex(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.r#gen::<u8>()))
        .collect()
}

/// When `hub`'s lease is renewed: a fifth of the lease it was granted (at most a day) before
/// its end; `None` without a lease.
pub(super) fn renewal_time(hub: &SourceHub) -> Option<DateTime<Utc>> {
    let lease_until = hub.lease_until?;
    let granted = (lease_until - hub.requested_at).num_seconds().max(0);
    Some(lease_until - chrono::Duration::seconds((granted / 5).min(24 * 3600)))
}

impl Sources {
    /// Subscribes to `hub_url` for `topic` unless a subscription is active (and not due for
    /// renewal) or was asked for lately; returns the subscription as it now stands.
    pub(super) async fn keep_subscribed(
        &self,
        spec: &SourceSpec,
        current: Option<SourceHub>,
        hub_url: &Url,
        topic: &Url,
    ) -> SourceHub {
        let now = Utc::now();
        let current = current.filter(|c| c.hub == *hub_url && c.topic == *topic);
        if let Some(current) = &current {
            let asked_lately = (now - current.requested_at).num_seconds() < UNVERIFIED_RETRY_SECS;
            let keep = match current.state {
                // Renewed a fifth before its end; a renewal asked for waits for its verification.
                HubState::Active => renewal_time(current).is_some_and(|t| t > now) || asked_lately,
                HubState::Requested => asked_lately,
                HubState::Failed => (now - current.requested_at).num_seconds() < FAILED_RETRY_SECS,
            };
            if keep {
                return current.clone();
            }
        }
        // The same hub and topic keep their secret and callback, so that the hub renews the
        // subscription it has rather than adding one; an active one stays active meanwhile.
        let mut subscription = match current {
            Some(current) => SourceHub {
                requested_at: now,
                state: match current.state {
                    HubState::Active => HubState::Active,
                    _ => HubState::Requested,
                },
                error: None,
                ..current
            },
            None => SourceHub {
                hub: hub_url.clone(),
                topic: topic.clone(),
                secret: random_hex(32),
                callback_token: random_hex(12),
                state: HubState::Requested,
                requested_at: now,
                lease_until: None,
                last_notification_at: None,
                notifications: 0,
                error: None,
            },
        };
        let callback = format!(
            "{}/websub/callback/{}/{}",
            self.inner.service.config.public_base(),
            spec.name,
            subscription.callback_token
        );
        // Stored before asking: the hub may verify before its answer reaches us.
        if let Err(err) = self
            .inner
            .store
            .set_source_hub(&spec.name, Some(&subscription), now)
            .await
        {
            subscription.state = HubState::Failed;
            subscription.error = Some(format!("cannot store the subscription: {err}"));
            return subscription;
        }
        let form = [
            ("hub.mode", "subscribe"),
            ("hub.topic", topic.as_str()),
            ("hub.callback", callback.as_str()),
            ("hub.secret", subscription.secret.as_str()),
            ("hub.lease_seconds", &LEASE_SECS.to_string()),
        ];
        let asked = self
            .inner
            .client
            .post(hub_url.clone())
            .form(&form)
            .send()
            .await;
        let failure = match asked {
            Ok(answer) if answer.status().is_success() => None,
            Ok(answer) => {
                let status = answer.status();
                let text = answer.text().await.unwrap_or_default();
                let excerpt: String = text.chars().take(200).collect();
                Some(format!("the hub {hub_url} answered {status}: {excerpt}"))
            }
            Err(err) => Some(format!("cannot reach the hub {hub_url}: {err}")),
        };
        if let Some(reason) = failure {
            tracing::warn!(source = %spec.name, reason = %reason, "cannot subscribe at the upstream hub; polling goes on");
            // Unless the hub verified it meanwhile (it answered late), the request failed.
            let stored = self.inner.store.source(&spec.name).await.ok().flatten();
            let verified = stored.and_then(|row| row.hub).filter(|h| {
                h.callback_token == subscription.callback_token && h.state == HubState::Active
            });
            if let Some(verified) = verified {
                return verified;
            }
            subscription.state = HubState::Failed;
            subscription.error = Some(reason);
            let _ = self
                .inner
                .store
                .set_source_hub(&spec.name, Some(&subscription), Utc::now())
                .await;
            return subscription;
        }
        tracing::info!(source = %spec.name, hub = %hub_url, topic = %topic, "subscription requested at the upstream hub");
        // The verification may have come already.
        match self.inner.store.source(&spec.name).await {
            Ok(Some(row)) => row.hub.unwrap_or(subscription),
            _ => subscription,
        }
    }

    /// The hub verifies our intent (WebSub §5.3): `GET callback?hub.mode=…`.
    pub async fn hub_verification(
        &self,
        source: &str,
        token: &str,
        query: &HashMap<String, String>,
    ) -> HubAnswer {
        let Some(mut hub) = self.our_hub(source, token).await else {
            return HubAnswer::Unknown;
        };
        let mode = query.get("hub.mode").map(String::as_str);
        let topic = query.get("hub.topic").map(String::as_str);
        if topic != Some(hub.topic.as_str()) {
            return HubAnswer::Unknown;
        }
        let now = Utc::now();
        match mode {
            Some("subscribe") => {
                let Some(challenge) = query.get("hub.challenge").filter(|c| !c.is_empty()) else {
                    return HubAnswer::Unknown;
                };
                let lease = query
                    .get("hub.lease_seconds")
                    .and_then(|l| l.parse::<i64>().ok())
                    .unwrap_or(LEASE_SECS)
                    .clamp(1, 366 * 24 * 3600);
                hub.state = HubState::Active;
                hub.lease_until = Some(now + chrono::Duration::seconds(lease));
                hub.error = None;
                if let Err(err) = self
                    .inner
                    .store
                    .set_source_hub(source, Some(&hub), now)
                    .await
                {
                    tracing::warn!(source, error = %err, "cannot record a verified subscription");
                    return HubAnswer::Unknown;
                }
                tracing::info!(source, hub = %hub.hub, lease_secs = lease, "the upstream hub verified our subscription");
                HubAnswer::Challenge(challenge.clone())
            }
            Some("denied") => {
                hub.state = HubState::Failed;
                hub.error = Some(format!(
                    "the hub denied the subscription: {}",
                    query
                        .get("hub.reason")
                        .map_or("no reason given", String::as_str)
                ));
                let _ = self
                    .inner
                    .store
                    .set_source_hub(source, Some(&hub), now)
                    .await;
                let _ = self.inner.store.source_due(source, now).await;
                HubAnswer::Noted
            }
            // We never ask to unsubscribe: such a request is not ours.
            _ => HubAnswer::Unknown,
        }
    }

    /// The hub pushes the feed (WebSub §7): taken when signed with our secret.
    pub async fn hub_notification(
        &self,
        source: &str,
        token: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Notified {
        let Some(spec) = self.spec(source).cloned() else {
            return Notified::Unknown;
        };
        let Some(mut hub) = self.our_hub(source, token).await else {
            return Notified::Unknown;
        };
        let signed =
            signature.is_some_and(|s| verify_hub_signature(s, hub.secret.as_bytes(), body));
        if !signed {
            tracing::warn!(
                source,
                "a notification not signed with our secret was ignored"
            );
            self.inner
                .service
                .metrics
                .count_source(false, source, "rejected");
            return Notified::BadSignature;
        }
        let feed = match self.read_upstream(&spec, body, &hub.topic) {
            Ok(feed) => feed,
            Err(reason) => {
                tracing::warn!(source, reason = %reason, "a notification was not a feed");
                return Notified::Refused(reason);
            }
        };
        let mut counts = RunCounts::default();
        if let Err(reason) = self.apply_feed(&spec, &feed, &mut counts).await {
            return Notified::Refused(reason);
        }
        let now = Utc::now();
        hub.last_notification_at = Some(now);
        hub.notifications += 1;
        if let Err(err) = self
            .inner
            .store
            .set_source_hub(source, Some(&hub), now)
            .await
        {
            tracing::warn!(source, error = %err, "cannot record a notification");
        }
        tracing::info!(
            source,
            created = counts.created,
            updated = counts.updated,
            deleted = counts.deleted,
            "notification taken from the upstream hub"
        );
        Notified::Taken(counts)
    }

    /// The subscription `token` names, if `source` is a feed of ours with that subscription.
    async fn our_hub(&self, source: &str, token: &str) -> Option<SourceHub> {
        let spec = self.spec(source)?;
        if !matches!(spec.kind, SourceKind::Feed { hub: true, .. }) {
            return None;
        }
        let row = self.inner.store.source(source).await.ok()??;
        let hub = row.hub?;
        // Tokens are random and short; comparing them in constant time costs nothing.
        let same = hub.callback_token.len() == token.len()
            && hub
                .callback_token
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then_some(hub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(requested_at: &str, lease_until: Option<&str>) -> SourceHub {
        SourceHub {
            hub: "https://hub.example/".parse().unwrap(),
            topic: "https://feed.example/all.atom".parse().unwrap(),
            secret: "s".into(),
            callback_token: "t".into(),
            state: HubState::Active,
            requested_at: requested_at.parse().unwrap(),
            lease_until: lease_until.map(|t| t.parse().unwrap()),
            last_notification_at: None,
            notifications: 0,
            error: None,
        }
    }

    #[test]
    fn a_lease_is_renewed_a_fifth_before_its_end_and_at_most_a_day() {
        let short = hub("2024-06-01T00:00:00Z", Some("2024-06-01T01:00:00Z"));
        assert_eq!(
            renewal_time(&short).unwrap().to_rfc3339(),
            "2024-06-01T00:48:00+00:00"
        );
        let long = hub("2024-06-01T00:00:00Z", Some("2024-06-11T00:00:00Z"));
        assert_eq!(
            renewal_time(&long).unwrap().to_rfc3339(),
            "2024-06-10T00:00:00+00:00"
        );
        assert_eq!(renewal_time(&hub("2024-06-01T00:00:00Z", None)), None);
    }
}
