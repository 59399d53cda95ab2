//! Who a delivery goes to.

use super::{Endpoint, Subscription};

/// The receiver of a delivery: a webhook endpoint or a WebSub subscription.
#[derive(Debug, Clone)]
pub enum Target {
    Webhook(Endpoint),
    WebSub(Subscription),
}

/// The kind of a target, as stored with each delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Webhook,
    WebSub,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::WebSub => "websub",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "webhook" => Some(TargetKind::Webhook),
            "websub" => Some(TargetKind::WebSub),
            _ => None,
        }
    }
}

impl Target {
    pub fn kind(&self) -> TargetKind {
        match self {
            Target::Webhook(_) => TargetKind::Webhook,
            Target::WebSub(_) => TargetKind::WebSub,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Target::Webhook(e) => &e.id,
            Target::WebSub(s) => &s.id,
        }
    }

    /// Where the delivery is sent.
    pub fn url(&self) -> &super::EndpointUrl {
        match self {
            Target::Webhook(e) => &e.url,
            Target::WebSub(s) => &s.callback,
        }
    }
}
