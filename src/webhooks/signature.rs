//! Standard Webhooks signatures: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`.

pub use crate::domain::Secret;

/// The `webhook-signature` header: one signature per secret, space-separated, so that a
/// receiver still holding the old secret during a rotation verifies as well as one with the new.
pub fn signature_header(secrets: &[&Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The published test vector of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn reproduces_the_published_test_vector() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(MSG_ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn a_changed_byte_changes_the_signature() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_ne!(
            secret.sign(MSG_ID, TIMESTAMP, br#"{"test": 2432232315}"#),
            SIGNATURE
        );
        assert_ne!(secret.sign(MSG_ID, TIMESTAMP + 1, BODY), SIGNATURE);
    }

    #[test]
    fn rotation_sends_both_signatures() {
        let old = Secret::parse(SECRET).unwrap();
        let new = Secret::generate();
        let header = signature_header(&[&new, &old], MSG_ID, TIMESTAMP, BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], SIGNATURE);
    }

    #[test]
    fn secrets_are_checked() {
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(Secret::parse("whsec_!!").is_err());
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
        let fresh = Secret::generate();
        assert_eq!(Secret::parse(fresh.as_str()).unwrap(), fresh);
    }
}
