// placeholder until the renderer lands
use crate::catalog::Catalog;
pub fn render_opml(_catalog: &Catalog, _base: &str) -> String {
    String::new()
}
