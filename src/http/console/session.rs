//! The console's session cookie and its forms' CSRF tokens, kept nowhere but in the cookie.
//!
//! A session is `EXPIRY.NAME.MAC`: its end (seconds since the epoch), the name of the admin
//! token it was opened with (percent-encoded), and the base64url HMAC-SHA256 of
//! `EXPIRY|NAME` under a key derived from that token. Any instance sharing the configuration
//! checks it without asking anyone, a restart forgets nothing, and changing the token changes
//! the key: every session opened with the old one ends. A form's CSRF token is the HMAC of the
//! whole cookie value under the same key with a label of its own, so that it differs per
//! session and cannot be made without the key. Every comparison is constant-time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The cookie's name.
pub const COOKIE: &str = "tidings_admin";

/// What a token name keeps as is in the cookie: letters, digits, `-` and `_`.
const NAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// What the session MACs and the CSRF tokens are keyed with: derived from one admin token.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(…)")
    }
}

impl SessionKey {
    /// The key of sessions opened with `token`.
    pub fn derive(token: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
        mac.update(b"tidings console session key");
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self, message: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(message);
        mac
    }
}

/// A valid session: who opened it, until when, and the cookie that carries it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The name of the admin token it was opened with (`api_token`, or a `[[tokens]]` name).
    pub token_name: String,
    value: String,
    key: SessionKey,
    /// When it ends, in seconds since the epoch.
    expires_at: i64,
}

impl Session {
    /// A new session for the admin token named `token_name`, whose key is `key`.
    pub fn open(key: &SessionKey, token_name: &str, expires_at: i64) -> Self {
        let tag = key
            .mac(signed(expires_at, token_name).as_bytes())
            .finalize();
        let value = format!(
            "{expires_at}.{}.{}",
            utf8_percent_encode(token_name, NAME),
            URL_SAFE_NO_PAD.encode(tag.into_bytes())
        );
        Self {
            token_name: token_name.to_owned(),
            value,
            key: key.clone(),
            expires_at,
        }
    }

    /// Reads a cookie's value: a session that has not ended at `now` and ends within
    /// `longest` seconds of it (so that a shorter configured lifetime applies to sessions
    /// already open), signed with the key of an admin token of its name (`keys_of`).
    pub fn check<'k>(
        value: &str,
        now: i64,
        longest: i64,
        keys_of: impl FnOnce(&str) -> Vec<&'k SessionKey>,
    ) -> Option<Self> {
        let (expires, rest) = value.split_once('.')?;
        let (name, tag) = rest.rsplit_once('.')?;
        if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let expires_at: i64 = expires.parse().ok()?;
        if expires_at <= now || expires_at > now.saturating_add(longest) {
            return None;
        }
        let name = percent_decode_str(name).decode_utf8().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let message = signed(expires_at, &name);
        let key = keys_of(&name)
            .into_iter()
            .find(|key| key.mac(message.as_bytes()).verify_slice(&tag).is_ok())?;
        Some(Self {
            token_name: name.into_owned(),
            value: value.to_owned(),
            key: key.clone(),
            expires_at,
        })
    }

    /// When the session ends, in seconds since the epoch.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// The cookie's value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The CSRF token every form of this session carries.
    pub fn csrf_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.csrf_mac().finalize().into_bytes())
    }

    /// Whether `presented` is this session's CSRF token (constant-time).
    pub fn is_csrf_token(&self, presented: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(presented)
            .is_ok_and(|tag| self.csrf_mac().verify_slice(&tag).is_ok())
    }

    fn csrf_mac(&self) -> HmacSha256 {
        let mut message = b"csrf|".to_vec();
        message.extend_from_slice(self.value.as_bytes());
        self.key.mac(&message)
    }
}

/// What a session's MAC covers.
fn signed(expires_at: i64, token_name: &str) -> String {
    format!("{expires_at}|{token_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;
    const DAY: i64 = 86_400;

    fn key() -> SessionKey {
        SessionKey::derive("an-admin-token-long-enough")
    }

    fn check(value: &str, keys: &[(&str, &SessionKey)]) -> Option<Session> {
        Session::check(value, NOW, DAY, |name| {
            keys.iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, k)| *k)
                .collect()
        })
    }

    #[test]
    fn a_session_reads_back_with_its_key_and_no_other() {
        let key = key();
        let session = Session::open(&key, "ops team.1", NOW + 3600);
        let value = session.value().to_owned();
        assert!(
            value.starts_with(&format!("{}.ops%20team%2E1.", NOW + 3600)),
            "{value}"
        );
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.%".contains(&b)),
            "a cookie value needs no quoting: {value}"
        );
        let read = check(&value, &[("ops team.1", &key)]).expect("valid");
        assert_eq!(read.token_name, "ops team.1");
        assert_eq!(read.value(), value);

        let rotated = SessionKey::derive("the-token-after-rotation");
        assert!(
            check(&value, &[("ops team.1", &rotated)]).is_none(),
            "a new token ends the sessions of the old one"
        );
        assert!(check(&value, &[("someone else", &key)]).is_none());
        // Either token of that name may have opened it.
        assert!(check(&value, &[("ops team.1", &rotated), ("ops team.1", &key)]).is_some());
    }

    #[test]
    fn a_changed_or_stale_cookie_is_refused() {
        let key = key();
        let keys = [("api_token", &key)];
        let value = Session::open(&key, "api_token", NOW + 60)
            .value()
            .to_owned();
        let (_, rest) = value.split_once('.').unwrap();
        let later = format!("{}.{rest}", NOW + 120);
        assert!(check(&later, &keys).is_none(), "the end is signed");
        let renamed = value.replace("api_token", "api_tokem");
        assert!(check(&renamed, &[("api_tokem", &key)]).is_none());
        let mut flipped = value.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        assert!(check(&flipped, &keys).is_none());

        let ended = Session::open(&key, "api_token", NOW).value().to_owned();
        assert!(check(&ended, &keys).is_none(), "ended at now");
        let too_long = Session::open(&key, "api_token", NOW + DAY + 1)
            .value()
            .to_owned();
        assert!(
            check(&too_long, &keys).is_none(),
            "longer than sessions last now"
        );
        for junk in [
            "",
            ".",
            "..",
            "1.a.b",
            "x.api_token.AAAA",
            "-5.api_token.AAAA",
        ] {
            assert!(check(junk, &keys).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let key = key();
        let one = Session::open(&key, "api_token", NOW + 60);
        let two = Session::open(&key, "api_token", NOW + 61);
        let token = one.csrf_token();
        assert!(one.is_csrf_token(&token));
        assert!(!two.is_csrf_token(&token));
        assert!(!one.is_csrf_token(""));
        assert!(!one.is_csrf_token("not base64 !"));
        assert_ne!(
            token,
            one.value().rsplit('.').next().unwrap(),
            "not the session's own MAC"
        );
    }
}
