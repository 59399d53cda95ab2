//! WeCom (企业微信) group robots, as 《群机器人配置说明》 documents them: the key is in the
//! URL (`…/cgi-bin/webhook/send?key=…`), nothing is signed, and the answer is
//! `{"errcode":0,"errmsg":"ok"}` or another code.

use serde_json::{Value, json};

use super::{Answer, MessageContext, link_label, link_target, read_coded_answer, truncate_bytes};

/// "API freq out of limit": more than 20 messages in a minute.
const TOO_FAST: [i64; 1] = [45009];

/// A news card (`news`: the title as the link, the description, the first image) when the
/// article has an image; else `markdown`. Lengths as documented: a news title up to 128
/// bytes, its description up to 512, a markdown content up to 4096.
pub(super) fn message(context: &MessageContext) -> Value {
    if let Some(image) = &context.image {
        let description = [context.meta.as_str(), context.summary.as_str()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        return json!({
            "msgtype": "news",
            "news": { "articles": [{
                "title": truncate_bytes(&context.heading, 128),
                "description": truncate_bytes(&description, 512),
                "url": context.url,
                "picurl": image,
            }]},
        });
    }
    let mut content = format!(
        "**[{}]({})**",
        link_label(&context.heading),
        link_target(&context.url)
    );
    if !context.meta.is_empty() {
        content.push_str(&format!(
            "\n> <font color=\"comment\">{}</font>",
            context.meta
        ));
    }
    if !context.summary.is_empty() {
        content.push_str(&format!("\n{}", context.summary));
    }
    json!({
        "msgtype": "markdown",
        "markdown": { "content": truncate_bytes(&content, 4096) },
    })
}

/// Several articles as one `news` message: a card per article, the first image of each.
pub(super) fn digest(articles: &[MessageContext]) -> Value {
    let cards: Vec<Value> = articles
        .iter()
        .map(|article| {
            let mut card = json!({
                "title": truncate_bytes(&article.heading, 128),
                "description": truncate_bytes(&article.meta, 512),
                "url": article.url,
            });
            if let Some(image) = &article.image {
                card["picurl"] = json!(image);
            }
            card
        })
        .collect();
    json!({ "msgtype": "news", "news": { "articles": cards } })
}

pub(super) fn read_answer(answer: &str) -> Answer {
    read_coded_answer(answer, "errcode", "errmsg", &TOO_FAST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_article_with_an_image_is_a_news_card_and_one_without_is_markdown() {
        let with_image = message(&MessageContext::sample("article.published"));
        assert_eq!(with_image["msgtype"], "news");
        let card = &with_image["news"]["articles"][0];
        assert_eq!(
            card["description"],
            "领导动态 · 黄南报 · 2021-06-01 · 5月31日，黄南州召开双拥工作领导小组会议，安排部署下一阶段双拥工作。"
        );
        assert!(card["picurl"].as_str().unwrap().ends_with(".png"));
        let mut context = MessageContext::sample("article.published");
        context.image = None;
        let markdown = message(&context);
        assert_eq!(markdown["msgtype"], "markdown");
        let content = markdown["markdown"]["content"].as_str().unwrap();
        assert!(
            content.starts_with("**[黄南州召开双拥工作领导小组会议"),
            "{content}"
        );
    }
}
