//! The copy's reading and writing of whole tables (see `store::copy`): SQL built from the
//! table description only.

use sqlx::Row;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};

use super::{SqliteStore, rows_of};
use crate::store::copy::{ColumnType, Row as CopyRow, Table, Value};
use crate::store::{StoreError, parse_time_key, time_key};

/// Rows per `INSERT` statement: far below SQLite's limit of bound parameters (32766) for the
/// widest table.
const ROWS_PER_INSERT: usize = 100;

impl SqliteStore {
    /// Checks that the table's columns are those the copy knows.
    pub async fn check_copy_columns(&self, table: &Table) -> Result<(), StoreError> {
        let found: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
            .bind(table.name)
            .fetch_all(&self.read)
            .await?;
        table.check_columns(found, "SQLite")
    }

    /// How many rows the table has.
    pub async fn count_rows(&self, table: &Table) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\"", table.name))
            .fetch_one(&self.read)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Up to `limit` rows of the table in key order, after the key `after` (from the first
    /// row when `None`).
    pub async fn export_rows(
        &self,
        table: &Table,
        after: Option<&Value>,
        limit: u32,
    ) -> Result<Vec<CopyRow>, StoreError> {
        let columns = column_list(table);
        let key = table.key;
        let sql = match after {
            None => format!(
                "SELECT {columns} FROM \"{}\" ORDER BY \"{key}\" LIMIT ?1",
                table.name
            ),
            Some(_) => format!(
                "SELECT {columns} FROM \"{}\" WHERE \"{key}\" > ?2 ORDER BY \"{key}\" LIMIT ?1",
                table.name
            ),
        };
        let mut query = sqlx::query(&sql).bind(limit);
        if let Some(after) = after {
            query = bind(query, table.columns[0].kind, after)?;
        }
        query
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| read_row(table, row))
            .collect()
    }

    /// Writes rows in one transaction, each unless a row with its key (or another of its
    /// unique values) is there; returns how many were new.
    pub async fn import_rows(&self, table: &Table, rows: &[CopyRow]) -> Result<u64, StoreError> {
        let columns = column_list(table);
        let mut tx = self.begin_write().await?;
        let mut inserted = 0;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO \"{}\" ({columns}) VALUES {} ON CONFLICT DO NOTHING",
                table.name,
                rows_of(table.columns.len(), chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for row in chunk {
                table.check_width(row)?;
                for (column, value) in table.columns.iter().zip(row) {
                    query = bind(query, column.kind, value)?;
                }
            }
            inserted += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Counts the copied articles into `sections`, and indexes their tags into
    /// `article_tags` and `tags` (an AUTOINCREMENT table's counter follows the largest key
    /// inserted by itself).
    pub async fn finish_import(&self, _tables: &[Table]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for statement in [
            "DELETE FROM sections",
            "INSERT INTO sections (section, live, modified_at)
             SELECT section, sum(deleted_at IS NULL), max(modified_at) FROM articles GROUP BY section",
            "DELETE FROM article_tags",
            "INSERT OR IGNORE INTO article_tags (article_id, tag, published_utc, live)
             SELECT a.id, t.value, a.published_utc, a.deleted_at IS NULL
               FROM articles a, json_each(a.body, '$.tags') t
              WHERE json_type(a.body, '$.tags') = 'array' AND t.type = 'text'",
            "DELETE FROM tags",
            "INSERT INTO tags (tag, modified_at)
             SELECT t.tag, max(a.modified_at)
               FROM article_tags t JOIN articles a ON a.id = t.article_id GROUP BY t.tag",
        ] {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The table's columns, quoted, in description order.
fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// Binds a value as its column stores it.
fn bind<'q>(query: Query<'q>, kind: ColumnType, value: &Value) -> Result<Query<'q>, StoreError> {
    Ok(match kind {
        ColumnType::Text | ColumnType::Json => query.bind(value.text()?.map(str::to_owned)),
        ColumnType::Integer => query.bind(value.integer()?),
        ColumnType::Real => query.bind(value.real()?),
        ColumnType::Boolean => query.bind(value.boolean()?),
        ColumnType::Time => query.bind(value.time()?.map(time_key)),
    })
}

fn read_row(table: &Table, row: &SqliteRow) -> Result<CopyRow, StoreError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            Ok(match column.kind {
                ColumnType::Text => text(row, i)?.map_or(Value::Null, Value::Text),
                ColumnType::Json => text(row, i)?.map_or(Value::Null, Value::Json),
                ColumnType::Integer => row
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(Value::Null, Value::Integer),
                ColumnType::Real => row
                    .try_get::<Option<f64>, _>(i)?
                    .map_or(Value::Null, Value::Real),
                ColumnType::Boolean => row
                    .try_get::<Option<bool>, _>(i)?
                    .map_or(Value::Null, Value::Boolean),
                ColumnType::Time => match text(row, i)? {
                    Some(raw) => Value::Time(parse_time_key(&raw)?),
                    None => Value::Null,
                },
            })
        })
        .collect()
}

fn text(row: &SqliteRow, i: usize) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(i)?)
}
