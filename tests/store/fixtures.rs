//! Domain values for the cases, built through their public constructors.

use chrono::{DateTime, Duration, FixedOffset, SubsecRound, Utc};
use tidings::domain::{
    Article, ArticleId, CallbackUrl, EndpointKind, EndpointUrl, FeedFormat, Scope, Secret,
    SectionPath, StoredArticle, Subscription,
};
use tidings::store::{
    Attempt, AttemptOutcome, Claimed, DeliveryView, Enqueued, NewDelivery, NewEndpoint, NewMessage,
    Store, TargetKind, Upserted,
};
use tokio_util::sync::CancellationToken;

pub fn id(raw: &str) -> ArticleId {
    ArticleId::parse(raw).expect("a valid article id")
}

pub fn section(raw: &str) -> SectionPath {
    SectionPath::parse(raw).expect("a valid section path")
}

/// `all`, a section path, or `tags/` and a tag.
pub fn scope(raw: &str) -> Scope {
    Scope::parse_name(raw).expect("a valid scope name")
}

/// A time given in RFC 3339.
pub fn at(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// A time in the site's zone (+08:00), as publishers send them.
pub fn local(raw: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(raw).expect("an RFC 3339 time")
}

/// The present, to the microsecond (what both backends keep), for cases where the store's
/// own clock matters too (subscriptions' leases).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// An article of `section`, published at `published` (+08:00).
pub fn article(article_id: &str, section_path: &str, published: &str) -> Article {
    Article {
        id: id(article_id),
        section: section(section_path),
        title: format!("标题 {article_id}"),
        url: url::Url::parse(&format!("https://www.huangnan.gov.cn/a/{article_id}.html"))
            .expect("a valid URL"),
        source: Some("黄南州融媒体中心".into()),
        editor: None,
        authors: vec!["记者".into()],
        published: local(published),
        updated: None,
        summary: None,
        content_html: format!("<p>正文 {article_id}</p>"),
        images: Vec::new(),
        tags: vec!["要闻".into()],
        language: Some("zh-CN".into()),
    }
}

/// The content hash of an article: the store only compares it.
pub fn hash(article: &Article) -> String {
    serde_json::to_string(article).expect("an article serialises")
}

pub async fn upsert(store: &Store, article: &Article, now: &str) -> Upserted {
    store
        .upsert_article(article, &hash(article), local(now))
        .await
        .expect("the upsert succeeds")
}

/// Upserts several articles in one transaction.
pub async fn upsert_all(store: &Store, articles: &[Article], now: &str) -> Vec<Upserted> {
    let items = articles.iter().map(|a| (a.clone(), hash(a))).collect();
    store
        .upsert_articles(items, local(now), CancellationToken::new())
        .await
        .expect("the batch succeeds")
}

pub fn ids(articles: &[StoredArticle]) -> Vec<&str> {
    articles.iter().map(|a| a.article.id.as_str()).collect()
}

pub fn new_endpoint(path: &str) -> NewEndpoint {
    NewEndpoint {
        url: EndpointUrl::new(
            url::Url::parse(&format!("https://hooks.example/{path}?token=t0k3n")).unwrap(),
        ),
        description: format!("receiver {path}"),
        event_types: Vec::new(),
        sections: Vec::new(),
        secret: Secret::generate(),
        rate_limit: None,
        kind: EndpointKind::Standard,
        template: None,
        robot_secret: None,
    }
}

pub async fn endpoint(store: &Store, path: &str, now: DateTime<Utc>) -> String {
    store
        .create_endpoint(new_endpoint(path), now)
        .await
        .expect("the endpoint is created")
        .id
}

pub fn callback(path: &str) -> CallbackUrl {
    EndpointUrl::new(url::Url::parse(&format!("https://reader.example/{path}")).unwrap())
}

/// A subscription to a section's Atom feed, leased for `lease` seconds from `now`.
pub async fn subscribe(
    store: &Store,
    scope_name: &str,
    path: &str,
    lease: i64,
    now: DateTime<Utc>,
) -> Subscription {
    store
        .upsert_subscription(
            &format!("https://feeds.example/feeds/{scope_name}.atom"),
            &scope(scope_name),
            FeedFormat::Atom,
            &callback(path),
            Some("hub-secret"),
            lease,
            now,
        )
        .await
        .expect("the subscription is stored")
}

/// A message to webhook endpoints, each delivery keyed by `order_key`.
pub fn webhook_message(message_id: &str, order_key: &str, endpoints: &[&str]) -> NewMessage {
    NewMessage {
        id: message_id.into(),
        kind: "article.published".into(),
        event_seq: None,
        body: format!("{{\"message\":\"{message_id}\"}}"),
        content_type: "application/json".into(),
        link: None,
        deliveries: endpoints
            .iter()
            .map(|e| NewDelivery {
                target: TargetKind::Webhook,
                target_id: (*e).to_owned(),
                order_key: order_key.into(),
                expires_at: None,
            })
            .collect(),
    }
}

/// Queues messages without moving a cursor; the delivery ids.
pub async fn enqueue(store: &Store, messages: Vec<NewMessage>, now: DateTime<Utc>) -> Vec<String> {
    match store.enqueue(None, messages, now).await.expect("enqueue") {
        Enqueued::Queued(ids) => ids,
        Enqueued::Raced => panic!("an enqueue without a cursor cannot race"),
    }
}

pub fn attempt(when: DateTime<Utc>, status: Option<u16>, body: &str) -> Attempt {
    Attempt {
        attempted_at: when,
        status_code: status,
        duration_ms: 12,
        error_class: status.is_none().then(|| "timeout".to_owned()),
        error: status.is_none().then(|| "no answer in time".to_owned()),
        response_body: body.into(),
    }
}

/// Records that a claimed delivery was answered 200 `ok` at `when`.
pub async fn deliver(store: &Store, claim: &Claimed, when: DateTime<Utc>) {
    store
        .record_attempt(
            claim,
            &attempt(when, Some(200), "ok"),
            AttemptOutcome::Delivered,
        )
        .await
        .expect("the attempt is recorded");
}

pub async fn view(store: &Store, delivery_id: &str) -> DeliveryView {
    store
        .delivery(delivery_id)
        .await
        .expect("a delivery read")
        .expect("the delivery exists")
}
