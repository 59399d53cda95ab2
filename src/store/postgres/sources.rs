//! Sources' state on PostgreSQL (see `store::sources`).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;

use super::{PgStore, db_time};
use crate::domain::{SourceHub, SourcePage, SourceRecord, SourceRow};
use crate::store::StoreError;
use crate::store::sources::sql;

impl PgStore {
    pub async fn ensure_sources(
        &self,
        names: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for name in names {
            sqlx::query(sql::ENSURE)
                .bind(name)
                .bind(db_time(now))
                .bind(Json(SourceRecord::default()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn claim_source(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
        force: bool,
    ) -> Result<Option<SourceRow>, StoreError> {
        let row = sqlx::query(sql::CLAIM)
            .bind(name)
            .bind(holder)
            .bind(db_time(hold_until))
            .bind(db_time(now))
            .bind(force)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(source_row).transpose()
    }

    pub async fn finish_source(
        &self,
        name: &str,
        holder: &str,
        record: &SourceRecord,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::FINISH)
            .bind(name)
            .bind(holder)
            .bind(Json(record))
            .bind(db_time(due_at))
            .bind(db_time(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn release_source(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query(sql::RELEASE)
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn source_due(&self, name: &str, due_at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(sql::DUE)
            .bind(name)
            .bind(db_time(due_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_source_hub(
        &self,
        name: &str,
        hub: Option<&SourceHub>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::HUB)
            .bind(name)
            .bind(hub.map(Json))
            .bind(db_time(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn sources(&self) -> Result<Vec<SourceRow>, StoreError> {
        let rows = sqlx::query(sql::ALL).fetch_all(&self.pool).await?;
        rows.iter().map(source_row).collect()
    }

    pub async fn source(&self, name: &str) -> Result<Option<SourceRow>, StoreError> {
        let row = sqlx::query(sql::ONE)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(source_row).transpose()
    }

    pub async fn source_page(&self, key: &str) -> Result<Option<SourcePage>, StoreError> {
        let row = sqlx::query(sql::PAGE)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(SourcePage {
                url: row.try_get("url")?,
                etag: row.try_get("etag")?,
                last_modified: row.try_get("last_modified")?,
                article_id: row.try_get("article_id")?,
                outcome: row.try_get("outcome")?,
                fetched_at: row.try_get("fetched_at")?,
            })
        })
        .transpose()
    }

    pub async fn record_source_page(
        &self,
        source: &str,
        page: &SourcePage,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::PUT_PAGE)
            .bind(crate::store::sources::page_key(source, &page.url))
            .bind(source)
            .bind(&page.url)
            .bind(&page.etag)
            .bind(&page.last_modified)
            .bind(&page.article_id)
            .bind(&page.outcome)
            .bind(db_time(page.fetched_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn source_row(row: &PgRow) -> Result<SourceRow, StoreError> {
    Ok(SourceRow {
        name: row.try_get("name")?,
        record: row.try_get::<Json<SourceRecord>, _>("record")?.0,
        hub: row
            .try_get::<Option<Json<SourceHub>>, _>("hub")?
            .map(|h| h.0),
        due_at: row.try_get("due_at")?,
        held_until: row.try_get("held_until")?,
    })
}
