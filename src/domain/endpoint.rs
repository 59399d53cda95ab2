//! Webhook endpoints: who receives which article events.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{EndpointUrl, Event, EventType, RobotSecret, Secret, SectionPath};

/// What an endpoint receives: Standard Webhooks JSON, or a chat robot's own message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// Standard Webhooks: the event as JSON, signed with the endpoint's `whsec_` secret.
    #[default]
    Standard,
    /// A WeCom (企业微信) group robot: its key is in the URL; nothing is signed.
    WeCom,
    /// A DingTalk (钉钉) custom robot: signed in the URL's query when it has a secret (加签).
    DingTalk,
    /// A Feishu (飞书) custom bot: signed in the body when it has a secret (签名校验).
    Feishu,
}

impl EndpointKind {
    pub const ALL: [EndpointKind; 4] = [
        EndpointKind::Standard,
        EndpointKind::WeCom,
        EndpointKind::DingTalk,
        EndpointKind::Feishu,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Standard => "standard",
            EndpointKind::WeCom => "wecom",
            EndpointKind::DingTalk => "dingtalk",
            EndpointKind::Feishu => "feishu",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Whether this is a chat robot: a vendor's message format, the vendor's signing.
    pub fn is_robot(self) -> bool {
        self != EndpointKind::Standard
    }

    /// The rate limit of an endpoint of this kind that sets none, in deliveries per second:
    /// the vendors take about 20 messages a minute to one robot.
    pub fn default_rate(self) -> Option<f64> {
        self.is_robot().then_some(20.0 / 60.0)
    }

    /// The URL as answers show it: a robot's credential (WeCom's `key`, DingTalk's
    /// `access_token`, the token that ends a Feishu hook's path) replaced by `***`. Standard
    /// endpoints' URLs are shown as registered.
    pub fn shown_url(self, url: &url::Url) -> String {
        let masked_query = |name: &str| {
            let query: Vec<String> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == name {
                        "***".into()
                    } else {
                        encode_component(&v)
                    };
                    format!("{}={v}", encode_component(&k))
                })
                .collect();
            let mut shown = url.clone();
            shown.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());
            shown.set_fragment(None);
            shown.to_string()
        };
        match self {
            EndpointKind::Standard => url.to_string(),
            EndpointKind::WeCom => masked_query("key"),
            EndpointKind::DingTalk => masked_query("access_token"),
            EndpointKind::Feishu => {
                let mut shown = url.clone();
                shown.set_query(None);
                shown.set_fragment(None);
                if let Ok(mut segments) = shown.path_segments_mut() {
                    segments.pop().push("***");
                }
                shown.to_string()
            }
        }
    }
}

/// A query component, percent-encoded as a form would be.
fn encode_component(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// A registered receiver.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub url: EndpointUrl,
    pub description: String,
    /// What it receives: Standard Webhooks JSON, or a chat robot's messages.
    pub kind: EndpointKind,
    /// A robot's message template (MiniJinja, rendering the vendor's JSON); `None`: the
    /// kind's default message.
    pub template: Option<String>,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
    /// Empty: every section. A section matches its descendants.
    pub sections: Vec<SectionPath>,
    #[serde(skip)]
    pub secret: Secret,
    /// The secret being rotated out, and until when it still signs.
    #[serde(skip)]
    pub previous_secret: Option<(Secret, DateTime<Utc>)>,
    /// A robot's signing secret, as its vendor gave it (DingTalk's and Feishu's 加签); `None`:
    /// unsigned. (A robot's `secret` above is generated, never shown and never used.)
    #[serde(skip)]
    pub robot_secret: Option<RobotSecret>,
    /// Deliveries per second; `None`: unlimited.
    pub rate_limit: Option<f64>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Start of the current run of failures, if failing.
    pub failing_since: Option<DateTime<Utc>>,
    /// The endpoint receives events after this cursor (those after its creation).
    #[serde(skip)]
    pub after_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What decides which events an endpoint receives, without the rest of it (its secrets,
/// its address): all the dispatcher reads of each endpoint for each batch of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRoute {
    pub id: String,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
    /// Empty: every section. A section matches its descendants.
    pub sections: Vec<SectionPath>,
    /// The endpoint receives events after this cursor (those after its creation).
    pub after_seq: i64,
}

impl EndpointRoute {
    /// Whether `event` is for this endpoint: its type and section pass the filters.
    pub fn matches(&self, event: &Event) -> bool {
        let type_ok = self.event_types.is_empty() || self.event_types.contains(&event.kind);
        let section_ok = self.sections.is_empty()
            || self.sections.iter().any(|filter| {
                event.section.is_within(filter)
                    || event
                        .moved_from
                        .as_ref()
                        .is_some_and(|m| m.is_within(filter))
            });
        event.seq > self.after_seq && type_ok && section_ok
    }
}

impl Endpoint {
    /// The secrets that sign a message sent at `now`: the current one, and the previous one
    /// during its grace period.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&Secret> {
        let mut secrets = vec![&self.secret];
        if let Some((old, until)) = &self.previous_secret
            && *until > now
        {
            secrets.push(old);
        }
        secrets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robots_credentials_are_masked_in_shown_urls() {
        let shown = |kind: EndpointKind, raw: &str| kind.shown_url(&url::Url::parse(raw).unwrap());
        assert_eq!(
            shown(
                EndpointKind::WeCom,
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx&debug=1"
            ),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***&debug=1"
        );
        assert_eq!(
            shown(
                EndpointKind::DingTalk,
                "https://oapi.dingtalk.com/robot/send?access_token=abc%2Bdef"
            ),
            "https://oapi.dingtalk.com/robot/send?access_token=***"
        );
        assert_eq!(
            shown(
                EndpointKind::Feishu,
                "https://open.feishu.cn/open-apis/bot/v2/hook/2d3c8b1a-xxxx?x=1"
            ),
            "https://open.feishu.cn/open-apis/bot/v2/hook/***"
        );
        let standard = "https://hooks.example/in?token=t";
        assert_eq!(shown(EndpointKind::Standard, standard), standard);
    }

    #[test]
    fn kinds_parse_from_their_names() {
        for kind in EndpointKind::ALL {
            assert_eq!(EndpointKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EndpointKind::parse("slack"), None);
        assert!(!EndpointKind::Standard.is_robot() && EndpointKind::Feishu.is_robot());
    }
}
