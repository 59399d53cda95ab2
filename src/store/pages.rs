//! Feed pages, the same way on every engine: a page is read from its sections' own newest
//! entries (each one bounded walk of an index), merged here, so that its cost follows the page
//! and the number of sections, not the size of the archive.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::{StoredArticle, Tombstone};

/// The ids of the `limit` newest entries among `keys` (publication time and id, as read from
/// each section's index), in feed order: newest publication first, then the greater id.
pub(super) fn newest_ids(mut keys: Vec<(DateTime<Utc>, String)>, limit: u32) -> Vec<String> {
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.truncate(limit as usize);
    keys.into_iter().map(|(_, id)| id).collect()
}

/// `found` (read by id, in no order) in the order of `ids`.
pub(super) fn in_order(mut found: Vec<StoredArticle>, ids: &[String]) -> Vec<StoredArticle> {
    let place: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    found.sort_by_key(|stored| place.get(stored.article.id.as_str()).copied());
    found
}

/// The oldest publication time a tombstone may have to be in the window of a page showing
/// `entries`: none when the page is not full, as every tombstone of the scope is then inside.
pub(super) fn window_start(entries: &[StoredArticle], limit: u32) -> Option<DateTime<Utc>> {
    if (entries.len() as u64) < u64::from(limit) {
        return None;
    }
    entries
        .last()
        .map(|e| e.article.published.with_timezone(&Utc))
}

/// The tombstones of a page from the deleted articles read inside its window (at most `limit`
/// per section, the newest published): the `limit` most recently deleted, most recent first.
pub(super) fn tombstones(deleted: Vec<StoredArticle>, limit: u32) -> Vec<Tombstone> {
    let mut tombstones: Vec<Tombstone> = deleted
        .into_iter()
        .map(|stored| Tombstone {
            deleted_at: stored.deleted_at.unwrap_or(stored.modified_at),
            id: stored.article.id,
            section: stored.article.section,
            url: stored.article.url,
        })
        .collect();
    tombstones
        .sort_unstable_by(|a, b| (b.deleted_at, b.id.as_str()).cmp(&(a.deleted_at, a.id.as_str())));
    tombstones.truncate(limit as usize);
    tombstones
}
