//! What WebSub subscribers add to the delivery engine: coalesced notifications, rendered once
//! per topic in the topic's own format (§7), signed per subscriber (§8), and a 410 that ends
//! a subscription.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::link_header;
use crate::catalog::{Catalog, Scope};
use crate::config::WebSubConfig;
use crate::delivery::parts::{Dispatching, InProgress};
use crate::delivery::{AttemptReport, Channel, Prepared};
use crate::domain::{
    ArticleId, Event, FeedFormat, StoredArticle, Subscription, Target, TargetKind, Tombstone,
};
use crate::metrics::{Metrics, OutcomeLabel};
use crate::render::{FeedContext, History, render_feed};
use crate::store::{
    AttemptOutcome, Claimed, CursorMove, NewDelivery, NewMessage, Store, StoreError,
};

/// The event-log consumer name of the WebSub dispatcher.
const CURSOR: &str = "websub";

/// Events read from the log per notification round.
const DISPATCH_BATCH: u32 = 5000;

/// A rendered notification for one topic.
#[derive(Debug, Clone)]
pub struct Notification {
    pub body: String,
    pub content_type: &'static str,
    /// The topic's `Link` header (hub and self).
    pub link: String,
}

/// The WebSub channel; built by the hub.
#[derive(Debug)]
pub struct NotificationChannel {
    store: Store,
    catalog: Arc<Catalog>,
    config: WebSubConfig,
    public_base: String,
    hub_url: String,
    generator: String,
    metrics: Arc<Metrics>,
    /// Notifications being queued in parts, between two calls of `dispatch`.
    in_progress: InProgress,
}

impl NotificationChannel {
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        config: &WebSubConfig,
        public_base: &str,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            catalog,
            hub_url: config.hub_url(public_base),
            config: config.clone(),
            public_base: public_base.to_owned(),
            generator: format!("tidings/{}", env!("CARGO_PKG_VERSION")),
            metrics,
            in_progress: InProgress::default(),
        }
    }

    /// Turns new events into one notification per affected topic with subscribers, rendered
    /// once and queued for each subscriber, and moves the cursor.
    ///
    /// Events are coalesced: nothing is sent until the oldest undispatched event is a window
    /// old, and then every event up to now goes into the same notifications. Reading and
    /// rendering happen with no transaction open; queuing and moving the cursor are one short
    /// transaction, which loses (and queues nothing) if another instance moved the cursor
    /// first: one notification per topic per window, however many instances run.
    async fn notify(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = Utc::now();
        let window =
            chrono::Duration::from_std(Duration::from_millis(self.config.coalesce_window_ms))
                .unwrap_or_default();
        // The oldest waiting event alone decides whether the window is still open: every
        // publish wakes the dispatcher, and the events of an open window are read only once
        // it closes.
        let (_, oldest) = self.store.pending_events(CURSOR, 1).await?;
        match oldest.first() {
            None => return Ok(None),
            Some(oldest) if oldest.occurred_at + window > now => {
                return Ok(Some(oldest.occurred_at + window));
            }
            Some(_) => {}
        }
        let (cursor, events) = self.store.pending_events(CURSOR, DISPATCH_BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(None);
        };

        let mut by_feed: BTreeMap<(Scope, FeedFormat), Vec<Subscription>> = BTreeMap::new();
        for s in self.store.active_subscriptions(now).await? {
            by_feed
                .entry((s.scope.clone(), s.format))
                .or_default()
                .push(s);
        }
        let touched: BTreeMap<&(Scope, FeedFormat), Vec<ArticleId>> = by_feed
            .keys()
            .map(|feed| (feed, touched_articles(&feed.0, &events)))
            .filter(|(_, ids)| !ids.is_empty())
            .collect();
        let mut wanted: Vec<ArticleId> = touched.values().flatten().cloned().collect();
        wanted.sort();
        wanted.dedup();
        let articles: HashMap<ArticleId, StoredArticle> = self
            .store
            .articles(&wanted)
            .await?
            .into_iter()
            .map(|a| (a.article.id.clone(), a))
            .collect();

        let mut messages = Vec::new();
        for ((scope, format), ids) in touched {
            let (entries, tombstones) =
                changes_in(scope, ids.iter().filter_map(|id| articles.get(id)));
            let Some(notification) = self.render(scope, *format, &entries, &tombstones) else {
                continue;
            };
            let order_key = format!("{}.{}", scope.as_str(), format.extension());
            messages.push(NewMessage {
                // The same for every dispatcher of these events: queued in parts, or again
                // after a crash, or by two instances at once, it is one message.
                id: notification_id(&order_key, cursor, last),
                kind: "websub.notification".into(),
                event_seq: Some(last),
                body: notification.body,
                content_type: notification.content_type.into(),
                link: Some(notification.link),
                deliveries: by_feed[&(scope.clone(), *format)]
                    .iter()
                    .map(|s| NewDelivery {
                        target: TargetKind::WebSub,
                        target_id: s.id.clone(),
                        // One topic's notifications reach a subscriber in order.
                        order_key: order_key.clone(),
                        expires_at: Some(s.expires_at),
                    })
                    .collect(),
            });
        }
        let moved = CursorMove {
            consumer: CURSOR,
            from: cursor,
            to: last,
        };
        self.queue(Dispatching::new(moved, events.len(), messages))
            .await
    }

    /// Queues one part; when parts remain, keeps them for the next call and asks to be
    /// called again at once.
    async fn queue(&self, dispatching: Dispatching) -> Result<Option<DateTime<Utc>>, StoreError> {
        let queued = self
            .in_progress
            .queue_next(dispatching, &self.store, Utc::now())
            .await?;
        // Parts remain: ask again at once. Otherwise queued, or raced (another instance
        // notified for these events first): either way nothing waits on purpose any more.
        Ok(queued.is_none().then(Utc::now))
    }

    /// Renders the notification for one topic: the topic's own feed document, with its
    /// feed-level metadata, holding the entries that changed (and, in Atom, tombstones for
    /// deletions). `None` when the format cannot say anything about these changes (a
    /// deletion in RSS or JSON Feed).
    fn render(
        &self,
        scope: &Scope,
        format: FeedFormat,
        entries: &[StoredArticle],
        tombstones: &[Tombstone],
    ) -> Option<Notification> {
        let tombstones: &[Tombstone] = if format == FeedFormat::Atom {
            tombstones
        } else {
            &[]
        };
        if entries.is_empty() && tombstones.is_empty() {
            return None;
        }
        let updated: DateTime<Utc> = entries
            .iter()
            .map(|e| e.modified_at)
            .chain(tombstones.iter().map(|t| t.deleted_at))
            .max()
            .unwrap_or(DateTime::UNIX_EPOCH);
        let self_url = scope.feed_url(&self.public_base, format);
        let ctx = FeedContext {
            catalog: &self.catalog,
            scope,
            self_url: &self_url,
            hub_url: Some(&self.hub_url),
            updated,
            generator: &self.generator,
            public_base: &self.public_base,
            history: History::default(),
        };
        let body = render_feed(format, &ctx, entries, tombstones);
        Some(Notification {
            // Feeds are UTF-8 by construction.
            body: String::from_utf8(body).ok()?,
            content_type: format.content_type(),
            link: link_header(&self.hub_url, &self_url),
        })
    }
}

/// The id of the notification of one topic (`scope.ext`) for the events after `from` up to
/// `to`: `ntf_` and 32 hex digits of a SHA-256 over the three.
fn notification_id(topic: &str, from: i64, to: i64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{topic}\n{from}\n{to}"));
    format!("ntf_{}", hex::encode(&digest[..16]))
}

/// The articles whose events touch a feed, in the order of their first event: those in the
/// feed's scope before or after the change (by section, old and new, or by tag, carried or
/// dropped).
fn touched_articles(scope: &Scope, events: &[Event]) -> Vec<ArticleId> {
    let mut ids: Vec<ArticleId> = Vec::new();
    for e in events {
        let touches = scope.includes(&e.section, &e.tags)
            || e.moved_from
                .as_ref()
                .is_some_and(|m| scope.includes(m, &e.tags));
        if touches && !ids.contains(&e.article_id) {
            ids.push(e.article_id.clone());
        }
    }
    ids
}

/// What a notification of `scope` carries about these articles, each touched by its events
/// (so in the feed before, during or after them), as they are now: live ones in the feed as
/// entries (newest publication first); as tombstones, the deleted ones and the live ones that
/// left the feed (moved to another section, or no longer carrying the tag). RFC 6721
/// tombstones "identify Atom entries that have been removed" from a feed, whatever became of
/// the resource.
fn changes_in<'a>(
    scope: &Scope,
    articles: impl Iterator<Item = &'a StoredArticle>,
) -> (Vec<StoredArticle>, Vec<Tombstone>) {
    let mut entries = Vec::new();
    let mut tombstones = Vec::new();
    for stored in articles {
        if stored.deleted_at.is_none() && scope.includes_article(&stored.article) {
            entries.push(stored.clone());
            continue;
        }
        tombstones.push(Tombstone {
            id: stored.article.id.clone(),
            section: stored.article.section.clone(),
            url: stored.article.url.clone(),
            // A live article left the feed with its latest change.
            deleted_at: stored.deleted_at.unwrap_or(stored.modified_at),
        });
    }
    entries.sort_by(|a, b| {
        b.article
            .published
            .cmp(&a.article.published)
            .then_with(|| b.article.id.cmp(&a.article.id))
    });
    (entries, tombstones)
}

impl Channel for NotificationChannel {
    fn kind(&self) -> TargetKind {
        TargetKind::WebSub
    }

    fn dispatch(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>> {
        async move {
            match self.in_progress.take() {
                Some(rest) => self.queue(rest).await,
                None => self.notify().await,
            }
        }
        .boxed()
    }

    /// §7: the request MUST have the topic's `Content-Type` and a `Link` header with rel=hub
    /// and rel=self (the topic's canonical URL); a `Content-Length` is sent (reqwest does for
    /// a bytes body: never chunked, never compressed). §8: with a hub.secret the hub MUST sign
    /// the body, `X-Hub-Signature: method=hex`.
    fn prepare(&self, claimed: &Claimed, _now: DateTime<Utc>) -> Result<Prepared, Duration> {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&claimed.content_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        if let Some(link) = claimed
            .link
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            headers.insert(reqwest::header::LINK, link);
        }
        if let Target::WebSub(subscription) = &claimed.target
            && let Some(secret) = &subscription.secret
        {
            let signature = self
                .config
                .signature_algorithm
                .signature_header(secret, claimed.body.as_bytes());
            if let Ok(v) = HeaderValue::from_str(&signature) {
                headers.insert(HeaderName::from_static("x-hub-signature"), v);
            }
        }
        Ok(Prepared::with_headers(headers))
    }

    fn after_attempt<'a>(&'a self, report: AttemptReport<'a>) -> BoxFuture<'a, ()> {
        async move {
            let outcome = match report.outcome {
                AttemptOutcome::Delivered => "delivered",
                AttemptOutcome::RetryAt(_) => "retrying",
                AttemptOutcome::GaveUp => "failed",
            };
            self.metrics
                .websub_deliveries
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
            // §7: a callback MAY answer 410 to say the subscription is deleted, and the hub MAY
            // end it; every other non-2xx is a failure (redirects included).
            if report.status == Some(410) {
                let id = report.claimed.target.id();
                tracing::info!(subscription = %id, "callback answered 410 Gone; unsubscribed");
                if let Err(err) = self.store.remove_subscription_by_id(id).await {
                    tracing::error!(error = %err, "cannot remove a subscription");
                }
            }
        }
        .boxed()
    }
}
