// placeholder until the renderer lands
use crate::catalog::{Catalog, Scope};
pub struct IndexEntry {
    pub scope: Scope,
    pub articles: u64,
}
pub fn render_index(_catalog: &Catalog, _base: &str, _e: &[IndexEntry]) -> String {
    String::new()
}
