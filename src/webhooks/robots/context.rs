//! What a robot's message is made from: the article of a stored event body, and the values
//! the default messages and templates show of it.

use serde_json::{Value, json};

/// What a message is made from: the article of the event, and what the default messages show
/// of it. Templates see all of it (`article` is the article as the API shows it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MessageContext {
    /// `article.published`, `article.updated`, or `webhook.test` for a test message.
    pub event: String,
    pub article: Value,
    pub title: String,
    pub url: String,
    /// The titles of the article's section and its ancestors, the site's top first.
    pub section_titles: Vec<String>,
    /// The title of the article's own section.
    pub section: String,
    /// 来源, or empty.
    pub source: String,
    /// The day of publication, in the article's own offset (`2021-06-01`).
    pub date: String,
    /// The summary, or the start of the body (as feeds show it), or empty.
    pub summary: String,
    /// The first image's URL, if any.
    pub image: Option<String>,
    /// `section · source · date`, the parts that are there.
    pub meta: String,
    /// The title as the default messages show it: marked for an update or a test.
    pub heading: String,
}

impl MessageContext {
    /// The context of a stored message body (Standard Webhooks JSON); `None` for a body that is
    /// not an article event (a `webhook.test` body gets the sample article).
    pub fn from_body(body: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(body).ok()?;
        let event = value.get("type")?.as_str()?.to_owned();
        if event == crate::webhooks::TEST_EVENT_TYPE {
            return Some(Self::sample(&event));
        }
        let data = value.get("data")?;
        let article = data.get("article")?.clone();
        let titles = data
            .get("section_titles")
            .and_then(Value::as_array)
            .map(|titles| {
                titles
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self::new(event, article, titles))
    }

    /// The sample article that test messages show and templates are checked with.
    pub fn sample(event: &str) -> Self {
        let article = json!({
            "id": "tidings-sample",
            "section": "hnyw/ldhd",
            "title": "黄南州召开双拥工作领导小组会议 推动全州双拥工作再上新台阶",
            "url": "https://www.example.gov.cn/hnyw/ldhd/202106/t20210601_1.html",
            "source": "黄南报",
            "editor": null,
            "authors": [],
            "published": "2021-06-01T09:30:00+08:00",
            "updated": null,
            "summary": "5月31日，黄南州召开双拥工作领导小组会议，安排部署下一阶段双拥工作。",
            "images": [{ "url": "https://www.example.gov.cn/hnyw/ldhd/202106/W020210601.png", "caption": null }],
            "tags": ["双拥"],
            "version": 1,
        });
        Self::new(
            event.to_owned(),
            article,
            vec!["黄南要闻".into(), "领导动态".into()],
        )
    }

    fn new(event: String, article: Value, section_titles: Vec<String>) -> Self {
        let text = |field: &str| {
            article
                .get(field)
                .and_then(Value::as_str)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        let (title, url, source) = (text("title"), text("url"), text("source"));
        // As feeds show it: the article's own summary, or the start of its body.
        let summary = crate::render::summary_text(
            article.get("summary").and_then(Value::as_str),
            article
                .get("content_html")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
        .trim()
        .to_owned();
        // The date as the article gives it: its offset is the site's, so that the first ten
        // characters are the local day.
        let date = text("published").chars().take(10).collect::<String>();
        let image = article
            .get("images")
            .and_then(Value::as_array)
            .and_then(|images| images.first())
            .and_then(|image| image.get("url"))
            .and_then(Value::as_str)
            .filter(|url| !url.is_empty())
            .map(str::to_owned);
        let section = section_titles.last().cloned().unwrap_or_default();
        let meta = [section.as_str(), source.as_str(), date.as_str()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        let heading = match event.as_str() {
            "article.updated" => format!("【更新】{title}"),
            crate::webhooks::TEST_EVENT_TYPE => format!("【测试】{title}"),
            _ => title.clone(),
        };
        Self {
            event,
            article,
            title,
            url,
            section_titles,
            section,
            source,
            date,
            summary,
            image,
            meta,
            heading,
        }
    }
}
