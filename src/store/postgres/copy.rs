//! The copy's reading and writing of whole tables (see `store::copy`): SQL built from the
//! table description only.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::types::Json;

use super::{PgStore, db_time, no_nul, notify};
use crate::store::StoreError;
use crate::store::copy::{ColumnType, Row as CopyRow, Table, Value};

/// Rows per `INSERT` statement: far below PostgreSQL's limit of bound parameters (65535) for
/// the widest table.
const ROWS_PER_INSERT: usize = 100;

impl PgStore {
    /// Checks that the table's columns are those the copy knows.
    pub async fn check_copy_columns(&self, table: &Table) -> Result<(), StoreError> {
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(table.name)
        .fetch_all(&self.pool)
        .await?;
        table.check_columns(found, "PostgreSQL")
    }

    /// How many rows the table has.
    pub async fn count_rows(&self, table: &Table) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\"", table.name))
            .fetch_one(&self.pool)
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
        // Integers are read as bigint whatever their width, so that one Rust type reads all.
        let columns = table
            .columns
            .iter()
            .map(|c| match c.kind {
                ColumnType::Integer => format!("\"{0}\"::bigint AS \"{0}\"", c.name),
                ColumnType::Real => format!("\"{0}\"::double precision AS \"{0}\"", c.name),
                _ => format!("\"{}\"", c.name),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let key = table.key;
        let sql = match after {
            None => format!(
                "SELECT {columns} FROM \"{}\" ORDER BY \"{key}\" LIMIT $1",
                table.name
            ),
            Some(_) => format!(
                "SELECT {columns} FROM \"{}\" WHERE \"{key}\" > $2 ORDER BY \"{key}\" LIMIT $1",
                table.name
            ),
        };
        let mut query = sqlx::query(&sql).bind(i64::from(limit));
        if let Some(after) = after {
            query = bind(query, table.columns[0].kind, after)?;
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| read_row(table, row))
            .collect()
    }

    /// Writes rows in one transaction, each unless a row with its key (or another of its
    /// unique values) is there; returns how many were new.
    pub async fn import_rows(&self, table: &Table, rows: &[CopyRow]) -> Result<u64, StoreError> {
        let names = table
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let width = table.columns.len();
            let tuples = (0..chunk.len())
                .map(|r| {
                    let params = table
                        .columns
                        .iter()
                        .enumerate()
                        .map(|(c, column)| placeholder(r * width + c + 1, column.kind))
                        .collect::<Vec<_>>();
                    format!("({})", params.join(", "))
                })
                .collect::<Vec<_>>();
            let sql = format!(
                "INSERT INTO \"{}\" ({names}) VALUES {} ON CONFLICT DO NOTHING",
                table.name,
                tuples.join(", ")
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
        if inserted > 0 {
            notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Counts the articles into `sections`, indexes their tags into `article_tags` and
    /// `tags`, and moves the sequence of each identity key past the largest key in its table
    /// (never back), so that the rows written next get keys after the copied ones.
    pub async fn finish_import(&self, tables: &[Table]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for statement in [
            "DELETE FROM sections",
            "INSERT INTO sections (section, live, modified_at)
             SELECT section, count(*) FILTER (WHERE deleted_at IS NULL), max(modified_at)
             FROM articles GROUP BY section",
            "DELETE FROM article_tags",
            "INSERT INTO article_tags (article_id, tag, published_utc, live)
             SELECT DISTINCT a.id, t.tag, a.published_utc, a.deleted_at IS NULL
               FROM articles a CROSS JOIN LATERAL jsonb_array_elements_text(
                      CASE WHEN jsonb_typeof(a.body -> 'tags') = 'array' THEN a.body -> 'tags' END)
                    AS t (tag)",
            "DELETE FROM tags",
            "INSERT INTO tags (tag, modified_at)
             SELECT t.tag, max(a.modified_at)
               FROM article_tags t JOIN articles a ON a.id = t.article_id GROUP BY t.tag",
        ] {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        for table in tables.iter().filter(|t| t.identity) {
            sqlx::query(&format!(
                "SELECT setval(s.seq, m.top)
                 FROM (SELECT pg_get_serial_sequence($1, $2)::regclass AS seq) AS s,
                      (SELECT max(\"{}\") AS top FROM \"{}\") AS m
                 WHERE m.top > coalesce(pg_sequence_last_value(s.seq), 0)",
                table.key, table.name
            ))
            .bind(table.name)
            .bind(table.key)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}

/// `$n`, cast where the parameter's type is not the column's.
fn placeholder(n: usize, kind: ColumnType) -> String {
    match kind {
        ColumnType::Json => format!("${n}::jsonb"),
        _ => format!("${n}"),
    }
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Binds a value as its column stores it.
fn bind<'q>(query: Query<'q>, kind: ColumnType, value: &Value) -> Result<Query<'q>, StoreError> {
    Ok(match kind {
        // Text cannot hold NUL (see `no_nul`); JSON text escapes it.
        ColumnType::Text => query.bind(value.text()?.map(|s| no_nul(s).into_owned())),
        ColumnType::Json => query.bind(value.text()?.map(str::to_owned)),
        ColumnType::Integer => query.bind(value.integer()?),
        ColumnType::Real => query.bind(value.real()?),
        ColumnType::Boolean => query.bind(value.boolean()?),
        ColumnType::Time => query.bind(value.time()?.map(db_time)),
    })
}

fn read_row(table: &Table, row: &PgRow) -> Result<CopyRow, StoreError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            Ok(match column.kind {
                ColumnType::Text => row
                    .try_get::<Option<String>, _>(i)?
                    .map_or(Value::Null, Value::Text),
                ColumnType::Json => match row.try_get::<Option<Json<serde_json::Value>>, _>(i)? {
                    Some(Json(json)) => Value::Json(json.to_string()),
                    None => Value::Null,
                },
                ColumnType::Integer => row
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(Value::Null, Value::Integer),
                ColumnType::Real => row
                    .try_get::<Option<f64>, _>(i)?
                    .map_or(Value::Null, Value::Real),
                ColumnType::Boolean => row
                    .try_get::<Option<bool>, _>(i)?
                    .map_or(Value::Null, Value::Boolean),
                ColumnType::Time => row
                    .try_get::<Option<DateTime<Utc>>, _>(i)?
                    .map_or(Value::Null, Value::Time),
            })
        })
        .collect()
}
