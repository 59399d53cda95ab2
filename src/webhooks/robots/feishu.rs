//! Feishu (飞书) custom bots, as 《自定义机器人使用指南》 documents them: the URL ends with the
//! bot's token; with a secret (签名校验), the JSON body carries `timestamp` (seconds, as a
//! string) and `sign`, the base64 of HMAC-SHA256 keyed with `timestamp + "\n" + secret` over
//! nothing. The answer is `{"code":0,"msg":"success"}` (older bots: `StatusCode`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Answer, MessageContext, link_label, link_target, read_coded_answer, truncate_chars};

/// "Too Many Request", and the frequency limit of the bot's platform.
const TOO_FAST: [i64; 2] = [9499, 11232];

/// An `interactive` card: the title as its header, section · source · date, the summary, and
/// a button to the article. Text only: an image in a card needs an `image_key` uploaded with
/// an app's credentials, which a custom bot does not have.
pub(super) fn message(context: &MessageContext) -> Value {
    let mut elements = Vec::new();
    if !context.meta.is_empty() {
        elements.push(json!({
            "tag": "div",
            "text": { "tag": "plain_text", "content": context.meta },
        }));
    }
    if !context.summary.is_empty() {
        elements.push(json!({
            "tag": "div",
            "text": { "tag": "plain_text", "content": truncate_chars(&context.summary, 500) },
        }));
    }
    elements.push(json!({
        "tag": "action",
        "actions": [{
            "tag": "button",
            "text": { "tag": "plain_text", "content": "阅读全文" },
            "url": context.url,
            "type": "primary",
        }],
    }));
    json!({
        "msg_type": "interactive",
        "card": {
            "header": { "title": { "tag": "plain_text", "content": context.heading } },
            "elements": elements,
        },
    })
}

/// Several articles as one `interactive` card: each title as a link, with its section ·
/// source · date.
pub(super) fn digest(heading: &str, articles: &[MessageContext]) -> Value {
    let elements: Vec<Value> = articles
        .iter()
        .map(|article| {
            let mut content = format!(
                "**[{}]({})**",
                link_label(&article.heading),
                link_target(&article.url)
            );
            if !article.meta.is_empty() {
                content.push_str(&format!("\n{}", article.meta));
            }
            json!({ "tag": "div", "text": { "tag": "lark_md", "content": content } })
        })
        .collect();
    json!({
        "msg_type": "interactive",
        "card": {
            "header": { "title": { "tag": "plain_text", "content": heading } },
            "elements": elements,
        },
    })
}

/// `sign` for a request at `timestamp` (seconds).
pub(super) fn signature(secret: &str, timestamp: i64) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Adds `timestamp` and `sign` for `now` to the message (Feishu refuses a timestamp more than
/// an hour from its clock).
pub(super) fn sign(message: &mut Value, secret: &str, now: DateTime<Utc>) {
    let timestamp = now.timestamp();
    if let Some(fields) = message.as_object_mut() {
        fields.insert("timestamp".into(), json!(timestamp.to_string()));
        fields.insert("sign".into(), json!(signature(secret, timestamp)));
    }
}

pub(super) fn read_answer(answer: &str) -> Answer {
    // Newer bots answer `code`/`msg`, older ones `StatusCode`/`StatusMessage`.
    if answer.contains("\"StatusCode\"") && !answer.contains("\"code\"") {
        return read_coded_answer(answer, "StatusCode", "StatusMessage", &TOO_FAST);
    }
    read_coded_answer(answer, "code", "msg", &TOO_FAST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_goes_into_the_body() {
        let mut message = json!({"msg_type": "text", "content": {"text": "request example"}});
        let now = DateTime::from_timestamp(1_599_360_473, 0).unwrap();
        sign(&mut message, "demo", now);
        assert_eq!(message["timestamp"], "1599360473");
        // HMAC-SHA256 keyed with "1599360473\ndemo" over nothing, computed apart from this code.
        assert_eq!(
            message["sign"],
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
    }

    #[test]
    fn the_card_has_a_header_the_facts_and_a_button() {
        let card = message(&MessageContext::sample("article.published"));
        assert_eq!(card["msg_type"], "interactive");
        let elements = card["card"]["elements"].as_array().unwrap();
        assert_eq!(elements.len(), 3);
        assert_eq!(elements[2]["actions"][0]["url"], card_url());
    }

    fn card_url() -> String {
        MessageContext::sample("article.published").url
    }
}
