//! An upstream feed (RSS, Atom or JSON Feed): polled conditionally at an interval its
//! `Cache-Control` and `ttl` may stretch, and subscribed to at its WebSub hub when it has one.
//! While the hub pushes, polling slows to a safety net; when the hub fails, polling carries
//! on at the source's interval.

use chrono::{DateTime, Utc};
use url::Url;

use super::fetch::{Fetched, Validators};
use super::{Progress, ProgressFn, RunOutcome, Sources, Taken};
use crate::catalog::{SourceKind, SourceSpec};
use crate::domain::{HubState, RunCounts, SourceHub, SourceRecord};
use crate::ingest::upstream::{SourceMapping, UpstreamFeed, hub_links, poll_interval, read_feed};

/// While a hub pushes, the feed is still polled this many times less often.
const PUSHED_SLOWDOWN: u32 = 6;
/// However short the lease a hub grants, polls for renewal come no closer than this.
const RENEWAL_FLOOR: std::time::Duration = std::time::Duration::from_secs(10);

impl Sources {
    pub(super) async fn poll_feed(
        &self,
        spec: &SourceSpec,
        hub: Option<SourceHub>,
        record: &mut SourceRecord,
        counts: &mut RunCounts,
        progress: Option<&ProgressFn>,
    ) -> Result<RunOutcome, String> {
        let SourceKind::Feed { url, hub: use_hub } = &spec.kind else {
            return Err("not a feed source".into());
        };
        let known = Validators {
            etag: record.etag.clone(),
            last_modified: record.last_modified.clone(),
        };
        let fetched = self.inner.fetcher.get(url, &known).await;
        counts.fetched += 1;
        if let Some(progress) = progress {
            progress(Progress::Fetched {
                source: spec.name.clone(),
                url: url.to_string(),
            });
        }
        let metrics = &self.inner.service.metrics;
        let page = match fetched {
            Ok(Fetched::NotModified) => {
                metrics.count_source(true, &spec.name, "not_modified");
                let next_run = self.next_poll(spec, hub.as_ref(), None, None);
                return Ok(RunOutcome {
                    label: "not_modified",
                    next_run: Some(next_run),
                });
            }
            Ok(Fetched::Page(page)) => page,
            Err(err) => {
                metrics.count_source(true, &spec.name, "failed");
                return Err(err.to_string());
            }
        };
        metrics.count_source(true, &spec.name, "ok");
        let feed = self.read_upstream(spec, &page.bytes, &page.url)?;
        self.apply_feed(spec, &feed, counts).await?;
        record.etag = page.validators.etag;
        record.last_modified = page.validators.last_modified;

        // Discovery (WebSub §4): the `Link` headers first, then the feed's own links.
        let headers: Vec<&str> = page.links.iter().map(String::as_str).collect();
        let (header_hub, header_self) = hub_links(&headers);
        let advertised = header_hub
            .map(|hub| (hub, header_self.unwrap_or_else(|| page.url.clone())))
            .or_else(|| {
                feed.hub.clone().map(|hub| {
                    (
                        hub,
                        feed.self_url.clone().unwrap_or_else(|| page.url.clone()),
                    )
                })
            });
        let mut hub = hub;
        if let (true, Some((hub_url, topic))) = (*use_hub, advertised) {
            hub = Some(self.keep_subscribed(spec, hub, &hub_url, &topic).await);
        }
        let next_run = self.next_poll(spec, hub.as_ref(), page.cache_control.as_deref(), feed.ttl);
        Ok(RunOutcome {
            label: "ok",
            next_run: Some(next_run),
        })
    }

    /// Reads a feed document of `spec`'s upstream.
    pub(super) fn read_upstream(
        &self,
        spec: &SourceSpec,
        bytes: &[u8],
        url: &Url,
    ) -> Result<UpstreamFeed, String> {
        let Some(section) = &spec.section else {
            return Err(format!("source {} names no section", spec.name));
        };
        read_feed(
            bytes,
            url,
            &SourceMapping {
                source: &spec.name,
                section,
                source_title: spec.title.as_deref(),
                time_zone: self.inner.service.catalog.site.time_zone,
            },
        )
        .map_err(|e| format!("{url} {e}"))
    }

    /// Publishes a feed's entries (oldest first, so that their events come in order) and
    /// deletes what it marks deleted.
    pub(super) async fn apply_feed(
        &self,
        spec: &SourceSpec,
        feed: &UpstreamFeed,
        counts: &mut RunCounts,
    ) -> Result<(), String> {
        for document in feed.documents.iter().rev() {
            let document = self.for_source(spec, document.clone());
            if let Taken::Failed(reason) = self.take(&spec.name, document, counts).await {
                return Err(reason);
            }
        }
        for id in &feed.deleted {
            self.take_deletion(&spec.name, id, counts).await?;
        }
        Ok(())
    }

    /// When to poll next: the interval (stretched by `Cache-Control` and `ttl`), slowed while
    /// the hub pushes, and before the hub's lease runs out so that it is renewed in time.
    fn next_poll(
        &self,
        spec: &SourceSpec,
        hub: Option<&SourceHub>,
        cache_control: Option<&str>,
        ttl: Option<std::time::Duration>,
    ) -> DateTime<Utc> {
        let now = Utc::now();
        let mut wait = poll_interval(cache_control, ttl, spec.interval);
        if let Some(hub) = hub.filter(|h| h.state == HubState::Active) {
            wait = wait.max(spec.interval * PUSHED_SLOWDOWN);
            if let Some(renew) = super::hub::renewal_time(hub) {
                let until_renewal = (renew - now).to_std().unwrap_or_default();
                wait = wait.min(until_renewal.max(RENEWAL_FLOOR));
            }
        }
        now + chrono::Duration::from_std(wait).unwrap_or_default()
    }
}
