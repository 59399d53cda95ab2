//! Searching live articles (see [`crate::store::Store::search_articles`]).

use super::articles::{ARTICLE_COLUMNS, stored_from_row};
use super::{PgStore, db_time};
use crate::domain::{SearchQuery, StoredArticle};
use crate::store::StoreError;
use crate::store::search::{Needles, after_key};

impl PgStore {
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
            .bind(i64::from(limit));
        if let Some(after) = after {
            let (published, id) = after_key(after);
            statement = statement.bind(db_time(published)).bind(id);
        }
        statement
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(stored_from_row)
            .collect()
    }
}

/// `$1` in the lower-cased title or summary, or `$2` in the lower-cased body; at most `$3`;
/// with `read_on`, only after the key (`$4`, `$5`). Under the "C" collation `lower()` changes
/// ASCII letters only, as SQLite's does, whatever the database's own collation; `strpos`
/// takes no wildcards, so the query needs no escaping.
fn search_sql(read_on: bool) -> String {
    let after = if read_on {
        "AND (published_utc, id) < ($4, $5)"
    } else {
        ""
    };
    format!(
        "SELECT {ARTICLE_COLUMNS} FROM articles
         WHERE deleted_at IS NULL {after}
           AND (strpos(lower((body ->> 'title') COLLATE \"C\"), $1) > 0
             OR strpos(lower((body ->> 'summary') COLLATE \"C\"), $1) > 0
             OR strpos(lower((body ->> 'content_html') COLLATE \"C\"), $2) > 0)
         ORDER BY published_utc DESC, id DESC LIMIT $3"
    )
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::plans::{PlanDb, assert_bounded, plan};
    use super::*;

    /// A search reads the live articles in the feeds' order from their index and sorts
    /// nothing, so that it stops at its limit.
    #[tokio::test]
    async fn a_search_walks_the_live_index_in_order_and_sorts_nothing() {
        let Some(db) = PlanDb::open().await else {
            return;
        };
        for read_on in [false, true] {
            let sql = format!("EXPLAIN {}", search_sql(read_on));
            let mut query = sqlx::query(&sql).bind("x").bind("x").bind(50_i64);
            if read_on {
                query = query.bind(db_time(Utc::now())).bind("id");
            }
            let plan = plan(&db.store.pool, query).await;
            assert_bounded("search", &plan);
            assert!(
                plan.iter().any(|line| line.contains("articles_live")),
                "{plan:?}"
            );
        }
        db.close().await;
    }
}
