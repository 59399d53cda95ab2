//! URLs that strangers choose: webhook endpoints and WebSub callbacks.

use std::fmt;
use std::ops::Deref;

use serde::{Serialize, Serializer};
use url::Url;

/// An outbound destination: a webhook endpoint's URL or a WebSub subscriber's callback.
///
/// Such URLs often carry a credential in their path or query (Slack, WeCom and DingTalk robot
/// URLs do), so `Display` and `Debug` show only scheme, host and port: a log line can never
/// leak the token. The whole URL is reached through `Deref` (to send to it, to store it) and
/// is what serialises (the owner of an endpoint sees the URL they registered).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EndpointUrl(Url);

/// A WebSub subscriber's callback: the same kind of URL as a webhook endpoint's.
pub type CallbackUrl = EndpointUrl;

impl EndpointUrl {
    pub fn new(url: Url) -> Self {
        Self(url)
    }

    pub fn into_inner(self) -> Url {
        self.0
    }
}

impl From<Url> for EndpointUrl {
    fn from(url: Url) -> Self {
        Self(url)
    }
}

impl Deref for EndpointUrl {
    type Target = Url;

    fn deref(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}",
            self.0.scheme(),
            self.0.host_str().unwrap_or("")
        )?;
        if let Some(port) = self.0.port() {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointUrl({self})")
    }
}

impl Serialize for EndpointUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_host_and_port_are_shown() {
        let url = EndpointUrl::new(
            Url::parse("https://user:pw@hooks.example:8443/services/T0/B0/SECRET?key=k#f").unwrap(),
        );
        assert_eq!(url.to_string(), "https://hooks.example:8443");
        assert_eq!(
            format!("{url:?}"),
            "EndpointUrl(https://hooks.example:8443)"
        );
        assert!(url.as_str().ends_with("SECRET?key=k#f"));
        let robot = EndpointUrl::new(
            Url::parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc").unwrap(),
        );
        assert_eq!(robot.to_string(), "https://qyapi.weixin.qq.com");
    }
}
