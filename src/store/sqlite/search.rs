//! Searching live articles (see [`crate::store::Store::search_articles`]).

use super::{ARTICLE_COLUMNS, SqliteStore, stored_from_row};
use crate::domain::{SearchQuery, StoredArticle};
use crate::store::search::{Needles, after_key};
use crate::store::{StoreError, time_key};

impl SqliteStore {
    /// Live articles whose title, summary or body contains the query, newest first, after
    /// `after`, at most `limit`: one walk of the live articles' index, in order.
    #[tracing::instrument(skip_all, fields(limit))]
    pub async fn search_articles(
        &self,
        query: &SearchQuery,
        after: Option<&StoredArticle>,
        limit: u32,
    ) -> Result<Vec<StoredArticle>, StoreError> {
        let needles = Needles::of(query);
        let sql = search_sql(after.is_some());
        let mut statement = sqlx::query(&sql)
            .bind(&needles.text)
            .bind(&needles.html)
            .bind(limit);
        if let Some(after) = after {
            let (published, id) = after_key(after);
            statement = statement.bind(time_key(published)).bind(id);
        }
        statement
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(stored_from_row)
            .collect()
    }
}

/// `?1` in the lower-cased title or summary, or `?2` in the lower-cased body; at most `?3`;
/// with `read_on`, only after the key (`?4`, `?5`). SQLite's `lower()` changes ASCII letters
/// only, and `instr` takes no wildcards: the query needs no escaping.
fn search_sql(read_on: bool) -> String {
    let after = if read_on {
        "AND (published_utc, id) < (?4, ?5)"
    } else {
        ""
    };
    format!(
        "SELECT {ARTICLE_COLUMNS} FROM articles
         WHERE deleted_at IS NULL {after}
           AND (instr(lower(json_extract(body, '$.title')), ?1) > 0
             OR instr(lower(coalesce(json_extract(body, '$.summary'), '')), ?1) > 0
             OR instr(lower(json_extract(body, '$.content_html')), ?2) > 0)
         ORDER BY published_utc DESC, id DESC LIMIT ?3"
    )
}

#[cfg(test)]
mod tests {
    use super::super::plans::{assert_bounded, plan, store};
    use super::*;

    /// A search reads the live articles in the feeds' order from their index and sorts
    /// nothing, so that it stops at its limit.
    #[tokio::test]
    async fn a_search_walks_the_live_index_in_order_and_sorts_nothing() {
        let (_dir, store) = store().await;
        for read_on in [false, true] {
            let plan = plan(&store.read, &search_sql(read_on)).await;
            assert_bounded("search", &plan);
            assert!(
                plan.iter().any(|step| step.contains("articles_live")),
                "{plan:?}"
            );
        }
    }
}
