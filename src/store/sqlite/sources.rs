//! Sources' state on SQLite (see `store::sources`).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;

use super::SqliteStore;
use crate::domain::{SourceHub, SourcePage, SourceRecord, SourceRow};
use crate::store::sources::sql;
use crate::store::{StoreError, parse_time_key, time_key};

impl SqliteStore {
    pub async fn ensure_sources(
        &self,
        names: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        for name in names {
            sqlx::query(sql::ENSURE)
                .bind(name)
                .bind(time_key(now))
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
            .bind(time_key(hold_until))
            .bind(time_key(now))
            .bind(force)
            .fetch_optional(&self.write)
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
            .bind(time_key(due_at))
            .bind(time_key(now))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn release_source(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query(sql::RELEASE)
            .bind(name)
            .bind(holder)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn source_due(&self, name: &str, due_at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(sql::DUE)
            .bind(name)
            .bind(time_key(due_at))
            .execute(&self.write)
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
            .bind(time_key(now))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn sources(&self) -> Result<Vec<SourceRow>, StoreError> {
        let rows = sqlx::query(sql::ALL).fetch_all(&self.read).await?;
        rows.iter().map(source_row).collect()
    }

    pub async fn source(&self, name: &str) -> Result<Option<SourceRow>, StoreError> {
        let row = sqlx::query(sql::ONE)
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(source_row).transpose()
    }

    pub async fn source_page(&self, key: &str) -> Result<Option<SourcePage>, StoreError> {
        let row = sqlx::query(sql::PAGE)
            .bind(key)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| {
            Ok(SourcePage {
                url: row.try_get("url")?,
                etag: row.try_get("etag")?,
                last_modified: row.try_get("last_modified")?,
                article_id: row.try_get("article_id")?,
                outcome: row.try_get("outcome")?,
                fetched_at: parse_time_key(&row.try_get::<String, _>("fetched_at")?)?,
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
            .bind(time_key(page.fetched_at))
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

fn source_row(row: &SqliteRow) -> Result<SourceRow, StoreError> {
    let held_until: Option<String> = row.try_get("held_until")?;
    Ok(SourceRow {
        name: row.try_get("name")?,
        record: row.try_get::<Json<SourceRecord>, _>("record")?.0,
        hub: row
            .try_get::<Option<Json<SourceHub>>, _>("hub")?
            .map(|h| h.0),
        due_at: parse_time_key(&row.try_get::<String, _>("due_at")?)?,
        held_until: held_until.as_deref().map(parse_time_key).transpose()?,
    })
}
