//! Domain types: parsed once at the edge, trusted everywhere after.

mod article;
mod format;
mod ids;

pub use article::{Article, Image, StoredArticle, Tombstone};
pub use format::FeedFormat;
pub use ids::{ArticleId, InvalidValue, SectionPath};
