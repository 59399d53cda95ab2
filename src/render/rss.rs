// placeholder until the renderer lands
use super::FeedContext;
use crate::domain::StoredArticle;
pub fn render_rss(_ctx: &FeedContext<'_>, _entries: &[StoredArticle]) -> Vec<u8> {
    Vec::new()
}
