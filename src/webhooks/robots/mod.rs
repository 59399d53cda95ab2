//! Chat robots as webhook endpoints: WeCom (企业微信) group robots, DingTalk (钉钉) custom
//! robots and Feishu (飞书) custom bots.
//!
//! The stored message is the Standard Webhooks body of the event, shared by every endpoint of
//! the event. At each attempt, a robot endpoint's message is made from it: the kind's default
//! message, or the endpoint's own template, then signed as the vendor says (DingTalk in the
//! URL's query, Feishu in the body; WeCom signs nothing, its key is in the URL). The vendors
//! answer `200` whatever happened, with an error code in the body: [`judge`] reads it.
//!
//! Robots receive no deletions (see the README, "Chat robots"): a chat message cannot be taken
//! back, and a deletion carries no title to say which article went.

mod context;
mod dingtalk;
mod feishu;
mod template;
mod wecom;

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use url::Url;

use crate::delivery::{Prepared, Refusal};
use crate::domain::{Endpoint, EndpointKind, EventType};
use crate::store::Claimed;

pub use context::MessageContext;
pub use template::check_template;

/// The most articles in one digest: a WeCom news message takes up to 8.
pub const DIGEST_MAX: usize = 8;

/// Answers are at most this long in the attempt log's reason.
const MAX_REASON_CHARS: usize = 300;

/// The vendor's message for `context`: the endpoint's template when it has one (falling back
/// to the default message, with a warning, when the template fails for this article), else
/// the kind's default. Unsigned.
pub fn message(kind: EndpointKind, template: Option<&str>, context: &MessageContext) -> Value {
    if let Some(template) = template {
        match template::render(kind, template, context) {
            Ok(message) => return message,
            Err(reason) => {
                tracing::warn!(
                    reason,
                    "the endpoint's template failed for this article; the default message is sent"
                );
            }
        }
    }
    default_message(kind, context)
}

/// The kind's own message (see each vendor's module).
pub fn default_message(kind: EndpointKind, context: &MessageContext) -> Value {
    match kind {
        EndpointKind::WeCom => wecom::message(context),
        EndpointKind::DingTalk => dingtalk::message(context),
        EndpointKind::Feishu => feishu::message(context),
        // Never asked: a standard endpoint gets the stored body.
        EndpointKind::Standard => Value::Null,
    }
}

/// What `POST /api/v1/webhooks/{id}/test` sends to a robot: the sample article in the
/// endpoint's message, unsigned.
pub fn preview(endpoint: &Endpoint) -> Value {
    let context = MessageContext::sample(crate::webhooks::TEST_EVENT_TYPE);
    message(endpoint.kind, endpoint.template.as_deref(), &context)
}

/// What a robot of `kind` with `template` is sent when an article is published: the sample
/// article in its message, unsigned (the console's preview, before the endpoint exists).
pub fn published_preview(kind: EndpointKind, template: Option<&str>) -> Value {
    let context = MessageContext::sample(EventType::Published.as_str());
    message(kind, template, &context)
}

/// Checks that a robot's URL carries what its vendor needs, given in full (answers show the
/// credential masked, and a masked URL sent back must not replace the real one).
pub fn check_url(kind: EndpointKind, url: &Url) -> Result<(), String> {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let needs = |name: &str, example: &str| match param(name) {
        Some(value) if value == "***" => Err(format!(
            "carries the masked {name}; give the robot's whole URL"
        )),
        Some(value) if !value.is_empty() => Ok(()),
        _ => Err(format!("must carry the robot's {name}: {example}")),
    };
    match kind {
        EndpointKind::Standard => Ok(()),
        EndpointKind::WeCom => needs("key", "…/cgi-bin/webhook/send?key=…"),
        EndpointKind::DingTalk => needs("access_token", "…/robot/send?access_token=…"),
        EndpointKind::Feishu => match url.path_segments().and_then(|mut s| s.next_back()) {
            Some("***") => Err("carries the masked token; give the robot's whole URL".into()),
            Some(token) if !token.is_empty() => Ok(()),
            _ => Err("must end with the bot's token: …/open-apis/bot/v2/hook/…".into()),
        },
    }
}

/// The attempt for a robot endpoint: its message for the stored event, signed for `now`.
pub fn prepare(endpoint: &Endpoint, claimed: &Claimed, now: DateTime<Utc>) -> Prepared {
    let context = MessageContext::from_body(&claimed.body).unwrap_or_else(|| {
        tracing::warn!(message = %claimed.message_id, "a robot's message is not an article event; the sample is sent");
        MessageContext::sample(crate::webhooks::TEST_EVENT_TYPE)
    });
    signed(
        endpoint,
        message(endpoint.kind, endpoint.template.as_deref(), &context),
        now,
    )
}

/// The attempt for several of a robot's article messages at once (the rate limit held them
/// back): one digest listing them, oldest first, signed for `now`.
pub fn prepare_digest(endpoint: &Endpoint, claims: &[Claimed], now: DateTime<Utc>) -> Prepared {
    let contexts: Vec<MessageContext> = claims
        .iter()
        .filter_map(|claimed| MessageContext::from_body(&claimed.body))
        .collect();
    signed(endpoint, digest_message(endpoint.kind, &contexts), now)
}

/// The kind's digest of several articles (see each vendor's module).
pub fn digest_message(kind: EndpointKind, articles: &[MessageContext]) -> Value {
    let heading = if articles.iter().all(|a| a.event == "article.published") {
        format!("{} 篇新文章", articles.len())
    } else {
        format!("{} 篇文章", articles.len())
    };
    match kind {
        EndpointKind::WeCom => wecom::digest(articles),
        EndpointKind::DingTalk => dingtalk::digest(&heading, articles),
        EndpointKind::Feishu => feishu::digest(&heading, articles),
        EndpointKind::Standard => Value::Null,
    }
}

/// A robot's message as sent: JSON, signed as its vendor says when it has a secret.
fn signed(endpoint: &Endpoint, mut message: Value, now: DateTime<Utc>) -> Prepared {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    let secret = endpoint.robot_secret.as_ref().map(|s| s.as_str());
    let mut url = None;
    match (endpoint.kind, secret) {
        (EndpointKind::DingTalk, Some(secret)) => {
            url = Some(dingtalk::signed_url(&endpoint.url, secret, now));
        }
        (EndpointKind::Feishu, Some(secret)) => feishu::sign(&mut message, secret, now),
        _ => {}
    }
    Prepared {
        headers,
        url,
        body: Some(message.to_string()),
    }
}

/// Reads a robot's `2xx` answer: an error code is a failed attempt with the vendor's message;
/// "too fast" waits at least `busy_wait` before the next attempt.
pub fn judge(kind: EndpointKind, answer: &str, busy_wait: Duration) -> Option<Refusal> {
    let verdict = match kind {
        EndpointKind::Standard => return None,
        EndpointKind::WeCom => wecom::read_answer(answer),
        EndpointKind::DingTalk => dingtalk::read_answer(answer),
        EndpointKind::Feishu => feishu::read_answer(answer),
    };
    match verdict {
        Answer::Ok => None,
        Answer::Error { reason, too_fast } => Some(Refusal {
            reason: reason.chars().take(MAX_REASON_CHARS).collect(),
            retry_after: too_fast.then_some(busy_wait),
        }),
    }
}

/// What a vendor's answer says.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    Error { reason: String, too_fast: bool },
}

/// Reads `{"<code>": 0, "<message>": "…"}` answers (WeCom's and DingTalk's `errcode`/`errmsg`),
/// with the codes that mean "too fast".
fn read_coded_answer(answer: &str, code: &str, message: &str, too_fast: &[i64]) -> Answer {
    let Ok(value) = serde_json::from_str::<Value>(answer) else {
        return Answer::Error {
            reason: format!(
                "the answer is not the robot's JSON: {}",
                first_chars(answer)
            ),
            too_fast: false,
        };
    };
    match value.get(code).and_then(Value::as_i64) {
        Some(0) => Answer::Ok,
        Some(number) => Answer::Error {
            reason: format!(
                "{code} {number}: {}",
                value.get(message).and_then(Value::as_str).unwrap_or("")
            ),
            too_fast: too_fast.contains(&number),
        },
        None => Answer::Error {
            reason: format!("the answer has no {code}: {}", first_chars(answer)),
            too_fast: false,
        },
    }
}

fn first_chars(text: &str) -> String {
    text.chars().take(100).collect()
}

/// `text` cut to at most `max` bytes of UTF-8 on a character boundary, with `…` when cut
/// (vendors count their limits in bytes).
fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `text` cut to at most `max` characters, with `…` when cut.
fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Text for a Markdown link's label: brackets would end it early, so they become their
/// full-width forms; line breaks become spaces.
fn link_label(text: &str) -> String {
    text.replace('[', "［")
        .replace(']', "］")
        .replace(['\r', '\n'], " ")
}

/// A URL for a Markdown link: a parenthesis or a space would end it early.
fn link_target(url: &str) -> String {
    url.replace('(', "%28")
        .replace(')', "%29")
        .replace(' ', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_context_comes_from_the_stored_event_body() {
        let body = json!({
            "type": "article.updated", "timestamp": "2026-11-29T08:00:00.000Z",
            "data": {
                "article": {"id": "a1", "title": "标题", "url": "https://x.example/a1.html",
                            "source": "黄南报", "published": "2021-06-01T00:00:00+08:00",
                            "summary": null, "images": []},
                "sections": ["hnyw/ldhd", "hnyw"], "section_titles": ["黄南要闻", "领导动态"],
                "version": 2,
            }
        });
        let context = MessageContext::from_body(&body.to_string()).unwrap();
        assert_eq!(context.heading, "【更新】标题");
        assert_eq!(context.meta, "领导动态 · 黄南报 · 2021-06-01");
        assert_eq!(context.image, None);
        assert_eq!(context.summary, "");
        let test = MessageContext::from_body(&crate::webhooks::test_body("ep_1", Utc::now()));
        assert!(test.unwrap().heading.starts_with("【测试】"));
    }

    #[test]
    fn vendors_error_codes_are_failures_and_too_fast_waits() {
        let busy = Duration::from_secs(60);
        assert_eq!(
            judge(EndpointKind::WeCom, r#"{"errcode":0,"errmsg":"ok"}"#, busy),
            None
        );
        let refused = judge(
            EndpointKind::WeCom,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
            busy,
        )
        .unwrap();
        assert_eq!(refused.reason, "errcode 93000: invalid webhook url");
        assert_eq!(refused.retry_after, None);
        let too_fast = judge(
            EndpointKind::DingTalk,
            r#"{"errcode":130101,"errmsg":"send too fast"}"#,
            busy,
        )
        .unwrap();
        assert_eq!(too_fast.retry_after, Some(busy));
        assert!(judge(EndpointKind::Feishu, r#"{"code":0,"msg":"success"}"#, busy).is_none());
        assert!(
            judge(
                EndpointKind::Feishu,
                r#"{"Extra":null,"StatusCode":0,"StatusMessage":"success"}"#,
                busy
            )
            .is_none()
        );
        let feishu = judge(
            EndpointKind::Feishu,
            r#"{"code":19021,"msg":"sign match fail"}"#,
            busy,
        )
        .unwrap();
        assert_eq!(feishu.reason, "code 19021: sign match fail");
        assert_eq!(
            judge(
                EndpointKind::Feishu,
                r#"{"code":9499,"msg":"Too Many Request"}"#,
                busy
            )
            .unwrap()
            .retry_after,
            Some(busy)
        );
        assert!(judge(EndpointKind::WeCom, "<html>proxy</html>", busy).is_some());
    }

    #[test]
    fn a_digest_lists_every_article_in_each_vendors_format() {
        let mut first = MessageContext::sample("article.published");
        first.title = "第一篇".into();
        first.heading = "第一篇".into();
        let mut second = MessageContext::sample("article.updated");
        second.heading = "【更新】第二篇".into();
        second.image = None;
        let articles = [first, second];
        let wecom = digest_message(EndpointKind::WeCom, &articles);
        let cards = wecom["news"]["articles"].as_array().unwrap();
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0]["title"], "第一篇");
        assert!(cards[0].get("picurl").is_some() && cards[1].get("picurl").is_none());
        let dingtalk = digest_message(EndpointKind::DingTalk, &articles);
        assert_eq!(dingtalk["markdown"]["title"], "2 篇文章");
        let text = dingtalk["markdown"]["text"].as_str().unwrap();
        assert!(
            text.contains("- [第一篇](") && text.contains("- [【更新】第二篇]("),
            "{text}"
        );
        let feishu = digest_message(EndpointKind::Feishu, &articles);
        assert_eq!(feishu["card"]["elements"].as_array().unwrap().len(), 2);
        let published = [MessageContext::sample("article.published")];
        assert_eq!(
            digest_message(EndpointKind::Feishu, &published)["card"]["header"]["title"]["content"],
            "1 篇新文章"
        );
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate_bytes("黄南州", 9), "黄南州");
        assert_eq!(truncate_bytes("黄南州", 8), "黄…");
        assert_eq!(truncate_chars("黄南州人民政府", 3), "黄南…");
        assert_eq!(link_label("[通知]第一期"), "［通知］第一期");
    }

    #[test]
    fn robots_urls_must_carry_their_credential_unmasked() {
        let url = |u: &str| Url::parse(u).unwrap();
        let wecom = EndpointKind::WeCom;
        assert!(check_url(wecom, &url("https://q.example/cgi-bin/webhook/send?key=k1")).is_ok());
        assert!(check_url(wecom, &url("https://q.example/cgi-bin/webhook/send")).is_err());
        assert!(check_url(wecom, &url("https://q.example/send?key=***")).is_err());
        let ding = EndpointKind::DingTalk;
        assert!(check_url(ding, &url("https://o.example/robot/send?access_token=t")).is_ok());
        assert!(check_url(ding, &url("https://o.example/robot/send?key=t")).is_err());
        let feishu = EndpointKind::Feishu;
        assert!(check_url(feishu, &url("https://f.example/open-apis/bot/v2/hook/abc")).is_ok());
        assert!(check_url(feishu, &url("https://f.example/open-apis/bot/v2/hook/***")).is_err());
    }
}
