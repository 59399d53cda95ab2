//! A crawled section: its list page, fetched conditionally, and the article pages it links
//! to on the same site, each fetched once (a page that failed to fetch is tried again at the
//! next run; one that was read, imported or refused is not).

use chrono::Utc;
use serde_json::Value;
use url::Url;

use super::fetch::{Fetched, Validators};
use super::{Progress, ProgressFn, RunOutcome, Sources, Taken};
use crate::catalog::{SourceKind, SourceSpec};
use crate::domain::{RunCounts, SourcePage, SourceRecord};
use crate::ingest::links::article_links;
use crate::ingest::page::{PageInput, read_page};

/// Outcomes of a page that is to be fetched again at the next run.
const RETRY_PREFIX: &str = "failed";
/// When a list has more new pages than a run takes, the next run comes this soon.
const MORE_AFTER_SECS: i64 = 60;

impl Sources {
    pub(super) async fn crawl(
        &self,
        spec: &SourceSpec,
        record: &mut SourceRecord,
        counts: &mut RunCounts,
        progress: Option<&ProgressFn>,
    ) -> Result<RunOutcome, String> {
        let SourceKind::Pages {
            list,
            links,
            max_pages,
            rules,
        } = &spec.kind
        else {
            return Err("not a crawled source".into());
        };
        let known = Validators {
            etag: record.etag.clone(),
            last_modified: record.last_modified.clone(),
        };
        let fetched = self.inner.fetcher.get(list, &known).await;
        counts.fetched += 1;
        let metrics = &self.inner.service.metrics;
        let page = match fetched {
            Ok(Fetched::NotModified) => {
                metrics.count_source(true, &spec.name, "not_modified");
                return Ok(RunOutcome {
                    label: "not_modified",
                    next_run: None,
                });
            }
            Ok(Fetched::Page(page)) => page,
            Err(err) => {
                metrics.count_source(true, &spec.name, "failed");
                return Err(err.to_string());
            }
        };
        metrics.count_source(true, &spec.name, "ok");
        let html = crate::ingest::page::decode(&page.bytes, page.content_type.as_deref())
            .map_err(|e| format!("{list}: {e}"))?;
        let found = article_links(&html, &page.url, links).map_err(|e| format!("{list}: {e}"))?;
        let mut new: Vec<Url> = Vec::new();
        for url in found {
            let seen = self
                .inner
                .store
                .source_page(&spec.name, url.as_str())
                .await
                .map_err(|e| e.to_string())?;
            if seen.is_none_or(|p| p.outcome.starts_with(RETRY_PREFIX)) {
                new.push(url);
            }
        }
        // The rest wait for the next run, which comes soon and reads the list in full again.
        let more = new.len() > *max_pages;
        new.truncate(*max_pages);
        if let Some(progress) = progress {
            progress(Progress::Pages {
                source: spec.name.clone(),
                pages: new.len() as u64,
            });
        }
        let rules = super::import::page_rules(rules);
        for url in new {
            let fetched = self.inner.fetcher.get(&url, &Validators::default()).await;
            counts.fetched += 1;
            if let Some(progress) = progress {
                progress(Progress::Fetched {
                    source: spec.name.clone(),
                    url: url.to_string(),
                });
            }
            let (outcome, article_id, validators) = match fetched {
                Ok(Fetched::Page(page)) => {
                    metrics.count_source(true, &spec.name, "ok");
                    let read = read_page(
                        &PageInput {
                            bytes: &page.bytes,
                            content_type: page.content_type.as_deref(),
                            url: Some(&page.url),
                        },
                        &rules,
                    );
                    match read {
                        Ok(document) => {
                            let document = self.for_source(spec, document);
                            match self.take(&spec.name, document, counts).await {
                                Taken::Stored { outcome, id } => {
                                    (outcome.to_owned(), Some(id.to_string()), page.validators)
                                }
                                Taken::Rejected(reason) => {
                                    (format!("rejected: {reason}"), None, page.validators)
                                }
                                Taken::Failed(reason) => return Err(reason),
                            }
                        }
                        Err(err) => {
                            counts.rejected += 1;
                            metrics.count_source(false, &spec.name, "rejected");
                            tracing::warn!(source = %spec.name, url = %url, reason = %err, "a page was rejected");
                            (format!("rejected: {err}"), None, page.validators)
                        }
                    }
                }
                // A page gives no validators before it is fetched: never "not modified".
                Ok(Fetched::NotModified) => continue,
                Err(err) => {
                    metrics.count_source(true, &spec.name, "failed");
                    tracing::warn!(source = %spec.name, url = %url, error = %err, "a page could not be fetched; it is tried again at the next run");
                    (
                        format!("{RETRY_PREFIX}: {err}"),
                        None,
                        Validators::default(),
                    )
                }
            };
            let stored = self
                .inner
                .store
                .record_source_page(
                    &spec.name,
                    &SourcePage {
                        url: url.to_string(),
                        etag: validators.etag,
                        last_modified: validators.last_modified,
                        article_id,
                        outcome,
                        fetched_at: Utc::now(),
                    },
                )
                .await;
            stored.map_err(|e| e.to_string())?;
        }
        if more {
            return Ok(RunOutcome {
                label: "ok",
                next_run: Some(Utc::now() + chrono::Duration::seconds(MORE_AFTER_SECS)),
            });
        }
        // Only once every new page has been taken: a run cut short reads the list again.
        record.etag = page.validators.etag;
        record.last_modified = page.validators.last_modified;
        Ok(RunOutcome {
            label: "ok",
            next_run: None,
        })
    }

    /// A document as this source gives it: in the source's section when it names one (else the
    /// page's breadcrumb decides), and with the source's title as 来源 when it has none.
    pub(super) fn for_source(&self, spec: &SourceSpec, mut document: Value) -> Value {
        if let Some(obj) = document.as_object_mut() {
            if let Some(section) = &spec.section {
                obj.remove("section_titles");
                obj.insert("section".into(), Value::String(section.to_string()));
            }
            let has_source = obj
                .get("source")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty());
            if let (false, Some(title)) = (has_source, &spec.title) {
                obj.insert("source".into(), Value::String(title.clone()));
            }
        }
        document
    }
}
