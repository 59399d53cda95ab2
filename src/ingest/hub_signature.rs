//! WebSub §8: the signature a hub puts on the content it distributes to a subscriber that gave
//! a `hub.secret`.

use hmac::{Hmac, Mac};

/// Whether `header`, an `X-Hub-Signature` value `method=signature`, is the HMAC of `body` under
/// `secret` (WebSub §8: the method is `sha1`, `sha256`, `sha384` or `sha512`, the signature its
/// hexadecimal digest).
///
/// The comparison takes the same time wherever the digests differ. An unknown method, a
/// signature that is not hexadecimal or of the wrong length, or a missing `=` verify as false:
/// §8 has the subscriber ignore such a notification (and still answer 2xx).
pub fn verify_hub_signature(header: &str, secret: &[u8], body: &[u8]) -> bool {
    let Some((method, signature)) = header.trim().split_once('=') else {
        return false;
    };
    let Ok(signature) = hex::decode(signature.trim()) else {
        return false;
    };
    match method.trim().to_ascii_lowercase().as_str() {
        "sha1" => verify::<Hmac<sha1::Sha1>>(secret, body, &signature),
        "sha256" => verify::<Hmac<sha2::Sha256>>(secret, body, &signature),
        "sha384" => verify::<Hmac<sha2::Sha384>>(secret, body, &signature),
        "sha512" => verify::<Hmac<sha2::Sha512>>(secret, body, &signature),
        _ => false,
    }
}

fn verify<M: Mac + hmac::digest::KeyInit>(secret: &[u8], body: &[u8], signature: &[u8]) -> bool {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    // `verify_slice` compares in constant time, and refuses a signature of another length.
    mac.verify_slice(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SignatureAlgorithm;

    const SECRET: &str = "a secret of the subscriber";
    const BODY: &[u8] = "<feed>黄南要闻</feed>".as_bytes();

    #[test]
    fn signatures_made_by_the_hub_verify_with_every_method() {
        for algorithm in [
            SignatureAlgorithm::Sha1,
            SignatureAlgorithm::Sha256,
            SignatureAlgorithm::Sha384,
            SignatureAlgorithm::Sha512,
        ] {
            let header = algorithm.signature_header(SECRET, BODY);
            assert!(
                verify_hub_signature(&header, SECRET.as_bytes(), BODY),
                "{header}"
            );
            assert!(
                verify_hub_signature(&header.to_ascii_uppercase(), SECRET.as_bytes(), BODY),
                "method and digits in capitals: {header}"
            );
            assert!(!verify_hub_signature(&header, b"another secret", BODY));
            assert!(!verify_hub_signature(
                &header,
                SECRET.as_bytes(),
                b"<feed/>"
            ));
        }
    }

    #[test]
    fn malformed_or_unknown_signatures_are_refused() {
        let good = SignatureAlgorithm::Sha256.signature_header(SECRET, BODY);
        let digits = good.split_once('=').unwrap().1;
        for bad in [
            String::new(),
            digits.to_owned(),
            format!("md5={digits}"),
            format!("sha256={}", &digits[..digits.len() - 2]),
            format!("sha256={digits}00"),
            format!("sha256={}zz", &digits[..digits.len() - 2]),
            format!("sha1={digits}"),
        ] {
            assert!(
                !verify_hub_signature(&bad, SECRET.as_bytes(), BODY),
                "{bad}"
            );
        }
    }
}
