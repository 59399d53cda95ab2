//! How a write changes an article: the rules both engines apply, so that their SQL only
//! stores what is decided here.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, Timelike, Utc};

use super::{StoreError, UpsertOutcome, Upserted};
use crate::domain::{Article, EventType, SectionPath, StoredArticle};

/// What storing an article amounts to.
#[derive(Debug, Clone)]
pub(super) enum Upsert {
    /// The same content is stored already: nothing changes, nothing is sent; the answer.
    Unchanged(Upserted),
    Write(Write),
}

/// A new row (`is_new`) or a new version of the row, and its event.
#[derive(Debug, Clone)]
pub(super) struct Write {
    pub is_new: bool,
    pub outcome: UpsertOutcome,
    pub event: EventType,
    pub stored: StoredArticle,
    /// The section the article leaves, when the update moves it.
    pub moved_from: Option<SectionPath>,
    /// The tags of the version this write replaces that this one lacks: the tag feeds the
    /// article leaves (or whose tombstone it takes away).
    pub tags_left: Vec<String>,
    /// The version this write replaces (`None` for a new row): its event may need to keep a
    /// snapshot of it (see [`snapshot`]).
    pub superseded: Option<Box<StoredArticle>>,
}

impl Write {
    /// The answer, once written.
    pub fn into_upserted(self) -> Upserted {
        Upserted {
            outcome: self.outcome,
            article: self.stored,
            previous_section: self.moved_from,
        }
    }
}

/// Decides an upsert of `article` (with `content_hash`) over what is stored, if anything
/// (with its content hash). A changed article without an `updated` time gets `now`; a
/// deleted one comes back as `created`, with the next version.
pub(super) fn upsert(
    before: Option<(StoredArticle, String)>,
    article: &Article,
    content_hash: &str,
    now: DateTime<FixedOffset>,
) -> Upsert {
    // Times to the microsecond, as both engines keep them: the answer, the webhook and a later
    // GET all show the same instant.
    let now = now
        .with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now);
    let now_utc = now.with_timezone(&Utc);
    let Some((before, hash)) = before else {
        return Upsert::Write(Write {
            is_new: true,
            outcome: UpsertOutcome::Created,
            event: EventType::Published,
            stored: StoredArticle {
                article: article.clone(),
                version: 1,
                created_at: now_utc,
                modified_at: now_utc,
                deleted_at: None,
            },
            moved_from: None,
            tags_left: Vec::new(),
            superseded: None,
        });
    };
    let was_deleted = before.deleted_at.is_some();
    if !was_deleted && hash == content_hash {
        return Upsert::Unchanged(Upserted {
            outcome: UpsertOutcome::Unchanged,
            article: before,
            previous_section: None,
        });
    }
    let mut next = article.clone();
    if !was_deleted && next.updated.is_none() {
        next.updated = Some(now);
    }
    let moved_from =
        (before.article.section != article.section).then(|| before.article.section.clone());
    let tags_left = before
        .article
        .tags
        .iter()
        .filter(|t| !article.tags.contains(t))
        .cloned()
        .collect();
    let (outcome, event) = if was_deleted {
        (UpsertOutcome::Created, EventType::Published)
    } else {
        (UpsertOutcome::Updated, EventType::Updated)
    };
    Upsert::Write(Write {
        is_new: false,
        outcome,
        event,
        stored: StoredArticle {
            article: next,
            version: before.version + 1,
            created_at: before.created_at,
            modified_at: now_utc,
            deleted_at: None,
        },
        moved_from,
        tags_left,
        superseded: Some(Box::new(before)),
    })
}

impl Write {
    /// The sections this write changes, each with the change in its count of live articles:
    /// the article's section, and the one it leaves when it moves. Both get the write's time
    /// as their last change.
    pub fn section_changes(&self) -> Vec<(&SectionPath, i64)> {
        let section = &self.stored.article.section;
        let revived_or_new = self.outcome == UpsertOutcome::Created;
        match &self.moved_from {
            // A tombstone that comes back elsewhere leaves no live article behind.
            Some(from) if revived_or_new => vec![(section, 1), (from, 0)],
            Some(from) => vec![(section, 1), (from, -1)],
            None => vec![(section, i64::from(revived_or_new))],
        }
    }

    /// The tags whose feeds this write changes: the article's, and those it dropped.
    pub fn touched_tags(&self) -> Vec<String> {
        touched_tags(&self.stored.article.tags, &self.tags_left)
    }
}

/// `tags` and then `left`, each once: the tags an event names (see the events' `tags`).
pub(super) fn touched_tags(tags: &[String], left: &[String]) -> Vec<String> {
    let mut touched: Vec<String> = Vec::with_capacity(tags.len() + left.len());
    for tag in tags.iter().chain(left) {
        if !touched.contains(tag) {
            touched.push(tag.clone());
        }
    }
    touched
}

/// What a batch of upserts knows as it goes: what each of its articles is stored as (read once
/// for the whole batch, then as written, so that an article sent twice in one batch is
/// decided on its first version), and how the batch changes each section, written once at the
/// end instead of once per article.
#[derive(Debug, Default)]
pub(super) struct Batch {
    stored: HashMap<String, (StoredArticle, String)>,
    sections: BTreeMap<SectionPath, (i64, DateTime<Utc>)>,
    /// The tags whose feeds the batch changed, each with its last change.
    tags: BTreeMap<String, DateTime<Utc>>,
}

impl Batch {
    /// A batch over what is stored of its articles, each with its content hash.
    pub fn new(existing: impl IntoIterator<Item = (StoredArticle, String)>) -> Self {
        Self {
            stored: existing
                .into_iter()
                .map(|(stored, hash)| (stored.article.id.to_string(), (stored, hash)))
                .collect(),
            sections: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }

    /// Decides the upsert of `article` (see [`upsert`]) and, when it writes, remembers the
    /// written version and its sections' changes.
    pub fn upsert(
        &mut self,
        article: &Article,
        content_hash: &str,
        now: DateTime<FixedOffset>,
    ) -> Upsert {
        let before = self.stored.get(article.id.as_str()).cloned();
        let decision = upsert(before, article, content_hash, now);
        if let Upsert::Write(write) = &decision {
            for (section, live) in write.section_changes() {
                let at = write.stored.modified_at;
                let entry = self.sections.entry(section.clone()).or_insert((0, at));
                entry.0 += live;
                entry.1 = entry.1.max(at);
            }
            for tag in write.touched_tags() {
                let at = write.stored.modified_at;
                let last = self.tags.entry(tag).or_insert(at);
                *last = (*last).max(at);
            }
            self.stored.insert(
                article.id.to_string(),
                (write.stored.clone(), content_hash.to_owned()),
            );
        }
        decision
    }

    /// Each section the batch changed: its change in live articles, and its last change.
    pub fn section_changes(&self) -> impl Iterator<Item = (&SectionPath, i64, DateTime<Utc>)> {
        self.sections.iter().map(|(s, (live, at))| (s, *live, *at))
    }

    /// Each tag whose feed the batch changed, with its last change.
    pub fn tag_changes(&self) -> impl Iterator<Item = (&str, DateTime<Utc>)> {
        self.tags.iter().map(|(t, at)| (t.as_str(), *at))
    }
}

/// The tombstone of a live article deleted at `now`, with the next version.
pub(super) fn tombstone(before: StoredArticle, now: DateTime<Utc>) -> StoredArticle {
    let now = super::to_microsecond(now);
    StoredArticle {
        version: before.version + 1,
        modified_at: now,
        deleted_at: Some(now),
        ..before
    }
}

/// What an event's `payload` holds: the article as `GET /api/v1/articles/{id}` shows it at
/// the event's version, or, for a deletion (a tombstone), its id, section and version.
///
/// The events table stores it only for a version the article's row no longer holds: the
/// event of the current version reads it from the row. When a write replaces a version whose
/// event the webhook dispatcher has not read yet ([`super::SNAPSHOT_READER`]), that event
/// keeps this snapshot, in the same transaction; past that reader, nothing needs it.
pub(super) fn snapshot(stored: &StoredArticle) -> Result<serde_json::Value, StoreError> {
    Ok(if stored.deleted_at.is_some() {
        serde_json::json!({
            "id": stored.article.id,
            "section": stored.article.section,
            "version": stored.version,
        })
    } else {
        serde_json::to_value(stored).map_err(|e| StoreError::Corrupt(e.to_string()))?
    })
}

/// An event's payload as read with [`super::EVENTS_SQL`]: its own snapshot if it has one, or
/// else the snapshot of its article's row when that row still holds the event's version.
/// `None` when a later version replaced it after the snapshot's reader had passed the event.
pub(super) fn event_payload(
    own: Option<serde_json::Value>,
    event_version: i64,
    row: Option<StoredArticle>,
) -> Result<Option<serde_json::Value>, StoreError> {
    match (own, row) {
        (Some(own), _) => Ok(Some(own)),
        (None, Some(row)) if row.version == event_version => snapshot(&row).map(Some),
        (None, _) => Ok(None),
    }
}
