// placeholder until the renderer lands
use super::FeedContext;
use crate::domain::StoredArticle;
pub fn render_json_feed(_ctx: &FeedContext<'_>, _entries: &[StoredArticle]) -> Vec<u8> {
    Vec::new()
}
