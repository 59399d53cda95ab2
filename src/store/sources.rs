//! The state of the sources (crawled list pages, upstream feeds): what each did last, when it
//! runs next, the instance running it now, its hub subscription, and the pages it fetched.
//!
//! A run is held like a delivery: [`Store::claim_source`] takes a due source that no instance
//! holds (or one whose holder died past its hold), so that with several instances on one
//! database each source runs on one of them at a time.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError};
use crate::domain::{SourceHub, SourcePage, SourceRecord, SourceRow};

/// The statements of both engines: `$1`… are the parameters in the order each engine binds.
pub(super) mod sql {
    /// `$1` the name, `$2` now (due at once).
    pub const ENSURE: &str = "INSERT INTO sources (name, record, due_at, updated_at)
         VALUES ($1, $3, $2, $2) ON CONFLICT (name) DO NOTHING";
    /// `$1` the name, `$2` the holder, `$3` the hold's end, `$4` now; `$5` true to take it
    /// even when it is not due yet (an operator's "run now").
    pub const CLAIM: &str = "UPDATE sources SET held_by = $2, held_until = $3
         WHERE name = $1 AND ($5 OR due_at <= $4) AND (held_until IS NULL OR held_until <= $4)
         RETURNING name, record, hub, due_at, held_until";
    /// `$1` the name, `$2` the holder, `$3` the record, `$4` the next run, `$5` now.
    pub const FINISH: &str = "UPDATE sources
         SET record = $3, due_at = $4, held_by = NULL, held_until = NULL, updated_at = $5
         WHERE name = $1 AND held_by = $2";
    /// `$1` the name, `$2` the holder.
    pub const RELEASE: &str =
        "UPDATE sources SET held_by = NULL, held_until = NULL WHERE name = $1 AND held_by = $2";
    /// `$1` the name, `$2` the next run.
    pub const DUE: &str = "UPDATE sources SET due_at = $2 WHERE name = $1";
    /// `$1` the name, `$2` the hub (or NULL), `$3` now.
    pub const HUB: &str = "UPDATE sources SET hub = $2, updated_at = $3 WHERE name = $1";
    pub const ALL: &str = "SELECT name, record, hub, due_at, held_until FROM sources ORDER BY name";
    /// `$1` the name.
    pub const ONE: &str =
        "SELECT name, record, hub, due_at, held_until FROM sources WHERE name = $1";
    /// `$1` the key (see [`page_key`](super::page_key)).
    pub const PAGE: &str = "SELECT url, etag, last_modified, article_id, outcome, fetched_at
         FROM source_pages WHERE id = $1";
    /// `$1` the key, `$2` the source, `$3`… the page's fields in order.
    pub const PUT_PAGE: &str = "INSERT INTO source_pages
             (id, source, url, etag, last_modified, article_id, outcome, fetched_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET etag = excluded.etag,
             last_modified = excluded.last_modified, article_id = excluded.article_id,
             outcome = excluded.outcome, fetched_at = excluded.fetched_at";
}

/// One row per source and page: a space never appears in a URL.
pub(super) fn page_key(source: &str, url: &str) -> String {
    format!("{source} {url}")
}

impl Store {
    /// Makes sure every configured source has a row (a new one is due at once).
    pub async fn ensure_sources(
        &self,
        names: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.detached(
            move |b| async move { on_backend!(b, s => s.ensure_sources(&names, now).await) },
        )
        .await
    }

    /// Takes `name` for `holder` until `hold_until` if it is due (or `force`) and no instance
    /// holds it; `None` when it is not to be run now.
    pub async fn claim_source(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
        force: bool,
    ) -> Result<Option<SourceRow>, StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.detached(move |b| async move {
            on_backend!(b, s => s.claim_source(&name, &holder, now, hold_until, force).await)
        })
        .await
    }

    /// Records a run's outcome and releases the source until `due_at`. A holder that lost its
    /// hold (it ran past it, and another took over) records nothing.
    pub async fn finish_source(
        &self,
        name: &str,
        holder: &str,
        record: &SourceRecord,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (name, holder, record) = (name.to_owned(), holder.to_owned(), record.clone());
        self.detached(move |b| async move {
            on_backend!(b, s => s.finish_source(&name, &holder, &record, due_at, now).await)
        })
        .await
    }

    /// Lets any instance take `name` again at once (`holder` stopped its run half-way; what it
    /// stored stays, and the next run starts over).
    pub async fn release_source(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.detached(move |b| async move {
            on_backend!(b, s => s.release_source(&name, &holder).await)
        })
        .await
    }

    /// Moves a source's next run (sooner, when its hub stops pushing).
    pub async fn source_due(&self, name: &str, due_at: DateTime<Utc>) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.detached(
            move |b| async move { on_backend!(b, s => s.source_due(&name, due_at).await) },
        )
        .await
    }

    /// Replaces a source's hub subscription.
    pub async fn set_source_hub(
        &self,
        name: &str,
        hub: Option<&SourceHub>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (name, hub) = (name.to_owned(), hub.cloned());
        self.detached(move |b| async move {
            on_backend!(b, s => s.set_source_hub(&name, hub.as_ref(), now).await)
        })
        .await
    }

    /// Every source that has run or is due, by name.
    pub async fn sources(&self) -> Result<Vec<SourceRow>, StoreError> {
        self.detached(|b| async move { on_backend!(b, s => s.sources().await) })
            .await
    }

    pub async fn source(&self, name: &str) -> Result<Option<SourceRow>, StoreError> {
        let name = name.to_owned();
        self.detached(move |b| async move { on_backend!(b, s => s.source(&name).await) })
            .await
    }

    /// What `source` last fetched at `url`, if it ever did.
    pub async fn source_page(
        &self,
        source: &str,
        url: &str,
    ) -> Result<Option<SourcePage>, StoreError> {
        let key = page_key(source, url);
        self.detached(move |b| async move { on_backend!(b, s => s.source_page(&key).await) })
            .await
    }

    /// Records what `source` fetched at `page.url`.
    pub async fn record_source_page(
        &self,
        source: &str,
        page: &SourcePage,
    ) -> Result<(), StoreError> {
        let (source, page) = (source.to_owned(), page.clone());
        self.detached(move |b| async move {
            on_backend!(b, s => s.record_source_page(&source, &page).await)
        })
        .await
    }
}
