//! DingTalk (钉钉) custom robots, as 《自定义机器人发送群消息》 and 《自定义机器人的安全设置》
//! document them: the URL carries `access_token`; with a secret (加签), each request adds
//! `timestamp` (milliseconds) and `sign` to the URL's query, `sign` being the URL-encoded
//! base64 of HMAC-SHA256 keyed with the secret over `timestamp + "\n" + secret`. The answer
//! is `{"errcode":0,"errmsg":"ok"}` or another code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use super::{Answer, MessageContext, link_label, link_target, read_coded_answer};

/// "send too fast": more than 20 messages in a minute.
const TOO_FAST: [i64; 1] = [130101];

/// An `actionCard` (the first image, the title, section · source · date, the summary, and a
/// button to the article) when the article has an image; else `markdown`.
pub(super) fn message(context: &MessageContext) -> Value {
    let mut text = String::new();
    if let Some(image) = &context.image {
        text.push_str(&format!("![]({})\n\n", link_target(image)));
        text.push_str(&format!("### {}\n\n", link_label(&context.heading)));
    } else {
        text.push_str(&format!(
            "### [{}]({})\n\n",
            link_label(&context.heading),
            link_target(&context.url)
        ));
    }
    if !context.meta.is_empty() {
        text.push_str(&format!("> {}\n\n", context.meta));
    }
    if !context.summary.is_empty() {
        text.push_str(&format!("{}\n", context.summary));
    }
    let text = text.trim_end().to_owned();
    if context.image.is_some() {
        json!({
            "msgtype": "actionCard",
            "actionCard": {
                "title": context.heading,
                "text": text,
                "btnOrientation": "0",
                "singleTitle": "阅读全文",
                "singleURL": context.url,
            },
        })
    } else {
        json!({
            "msgtype": "markdown",
            "markdown": { "title": context.heading, "text": text },
        })
    }
}

/// Several articles as one `markdown` message: each title as a link, with its section ·
/// source · date.
pub(super) fn digest(heading: &str, articles: &[MessageContext]) -> Value {
    let mut text = format!("### {heading}\n\n");
    for article in articles {
        text.push_str(&format!(
            "- [{}]({})\n",
            link_label(&article.heading),
            link_target(&article.url)
        ));
        if !article.meta.is_empty() {
            text.push_str(&format!("\n  {}\n", article.meta));
        }
        text.push('\n');
    }
    json!({
        "msgtype": "markdown",
        "markdown": { "title": heading, "text": text.trim_end() },
    })
}

/// `sign` for a request at `timestamp_ms`, before URL encoding.
pub(super) fn sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The robot's URL with `timestamp` and `sign` for `now` (DingTalk refuses a timestamp more
/// than an hour from its clock).
pub(super) fn signed_url(url: &Url, secret: &str, now: DateTime<Utc>) -> Url {
    let timestamp = now.timestamp_millis();
    let mut signed = url.clone();
    // `append_pair` form-encodes: `+`, `/` and `=` of the base64 are percent-encoded, as the
    // documentation's `URLEncoder.encode(sign, "UTF-8")` does.
    signed
        .query_pairs_mut()
        .append_pair("timestamp", &timestamp.to_string())
        .append_pair("sign", &sign(secret, timestamp));
    signed
}

pub(super) fn read_answer(answer: &str) -> Answer {
    read_coded_answer(answer, "errcode", "errmsg", &TOO_FAST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_goes_url_encoded_into_the_query() {
        let url = Url::parse("https://oapi.example/robot/send?access_token=t0k").unwrap();
        let now = DateTime::from_timestamp_millis(1_577_262_236_757).unwrap();
        let signed = signed_url(&url, "SECsecret", now);
        let pairs: Vec<(String, String)> = signed
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(pairs[0], ("access_token".into(), "t0k".into()));
        assert_eq!(pairs[1], ("timestamp".into(), "1577262236757".into()));
        assert_eq!(pairs[2].1, sign("SECsecret", 1_577_262_236_757));
        assert!(!signed.query().unwrap().contains('+'));
        // HMAC-SHA256("SECsecret", "1577262236757\nSECsecret"), computed apart from this code.
        assert_eq!(
            sign("SECsecret", 1_577_262_236_757),
            "+sbmT+Em/vshfR0s7SWXoTbqWhyO6IJ2pav5rmM1BDA="
        );
    }

    #[test]
    fn an_article_with_an_image_is_an_action_card() {
        let card = message(&MessageContext::sample("article.published"));
        assert_eq!(card["msgtype"], "actionCard");
        assert!(
            card["actionCard"]["text"]
                .as_str()
                .unwrap()
                .starts_with("![](")
        );
        assert_eq!(card["actionCard"]["singleTitle"], "阅读全文");
        let mut context = MessageContext::sample("article.published");
        context.image = None;
        assert_eq!(message(&context)["msgtype"], "markdown");
    }
}
