// placeholder until the renderer lands
use super::FeedContext;
use crate::domain::{StoredArticle, Tombstone};
pub fn render_atom(
    _ctx: &FeedContext<'_>,
    _entries: &[StoredArticle],
    _t: &[Tombstone],
) -> Vec<u8> {
    Vec::new()
}
