//! Copying a whole store into another, of either engine: `tidings copy --from … --to …`.
//!
//! The tables are described once, here ([`TABLES`]): in the order their references need
//! (a delivery's message before the delivery, a delivery before its attempts), each with the
//! column it is read in order of (its key) and every column with a [`ColumnType`]. Each
//! backend builds its SQL from this description only (no name ever comes from input), and
//! reads and writes rows as [`Value`]s, which are neither engine's:
//!
//! * a time is a UTC instant to the microsecond: a fixed-width RFC 3339 text key in SQLite,
//!   a `timestamptz` in PostgreSQL;
//! * JSON is a JSON document's text: as stored in SQLite, `jsonb` in PostgreSQL (read back as
//!   compact text; the application parses it, so key order and spacing do not matter);
//! * a boolean is an integer 0/1 in SQLite, a `boolean` in PostgreSQL;
//! * integers are `i64` (PostgreSQL's `integer` columns are read as `bigint`).
//! * text is text, except that PostgreSQL's cannot hold NUL: copied into PostgreSQL, NUL
//!   characters are dropped, as the PostgreSQL backend drops them from whatever it stores.
//!
//! Rows are read in key order, a chunk at a time after the last key read, and written a chunk
//! per transaction with "insert unless the key (or another unique value) is there already", so
//! that copying again adds nothing and changes nothing. Identifiers keep their values (event
//! cursors, queue positions, attempt ids), and PostgreSQL's identity sequences are moved past
//! the copied ones at the end, so that the rows written afterwards follow them.
//!
//! The source should not be written to while it is copied (stop the instances first): the
//! copy reads table after table, not one snapshot.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError};

/// Rows read and written at a time (one transaction on the target each).
const CHUNK: u32 = 500;

/// How a column's values are stored by each engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Text,
    Integer,
    Real,
    Boolean,
    /// SQLite: RFC 3339 UTC text to the microsecond; PostgreSQL: `timestamptz`.
    Time,
    /// SQLite: JSON text; PostgreSQL: `jsonb`.
    Json,
}

#[derive(Debug)]
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: ColumnType,
}

/// One table as the copy sees it.
#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    /// What the summary calls its rows: singular, plural.
    pub label: (&'static str, &'static str),
    /// The column rows are read in order of: unique and never NULL. Always the first column.
    pub key: &'static str,
    /// The key is an identity column in PostgreSQL (and an AUTOINCREMENT rowid in SQLite),
    /// whose sequence must move past the copied values.
    pub identity: bool,
    pub columns: &'static [Column],
}

const fn col(name: &'static str, kind: ColumnType) -> Column {
    Column { name, kind }
}

use ColumnType::{Boolean, Integer, Json, Real, Text, Time};

/// Every table of the schema, in the order rows must be copied.
pub(crate) static TABLES: &[Table] = &[
    Table {
        name: "articles",
        label: ("article", "articles"),
        key: "id",
        identity: false,
        columns: &[
            col("id", Text),
            col("section", Text),
            col("body", Json),
            col("content_hash", Text),
            col("published_utc", Time),
            col("version", Integer),
            col("created_at", Time),
            col("modified_at", Time),
            col("deleted_at", Time),
        ],
    },
    Table {
        name: "events",
        label: ("event", "events"),
        key: "seq",
        identity: true,
        columns: &[
            col("seq", Integer),
            col("id", Text),
            col("type", Text),
            col("article_id", Text),
            col("section", Text),
            col("moved_from", Text),
            col("version", Integer),
            col("occurred_at", Time),
            col("payload", Json),
            col("tags", Json),
        ],
    },
    Table {
        name: "webhook_endpoints",
        label: ("endpoint", "endpoints"),
        key: "id",
        identity: false,
        columns: &[
            col("id", Text),
            col("url", Text),
            col("description", Text),
            col("event_types", Json),
            col("sections", Json),
            col("secret", Text),
            col("previous_secret", Text),
            col("previous_expires_at", Time),
            col("rate_limit", Real),
            col("enabled", Boolean),
            col("disabled_reason", Text),
            col("failing_since", Time),
            col("after_seq", Integer),
            col("created_at", Time),
            col("updated_at", Time),
            col("kind", Text),
            col("template", Text),
            col("robot_secret", Text),
        ],
    },
    Table {
        name: "websub_subscriptions",
        label: ("subscription", "subscriptions"),
        key: "id",
        identity: false,
        columns: &[
            col("id", Text),
            col("topic", Text),
            col("scope", Text),
            col("format", Text),
            col("callback", Text),
            col("secret", Text),
            col("lease_seconds", Integer),
            col("expires_at", Time),
            col("created_at", Time),
            col("updated_at", Time),
        ],
    },
    Table {
        name: "websub_verifications",
        label: ("pending verification", "pending verifications"),
        key: "id",
        identity: false,
        columns: &[
            col("id", Text),
            col("mode", Text),
            col("topic", Text),
            col("callback", Text),
            col("secret", Text),
            col("lease_seconds", Integer),
            col("verify_token", Text),
            col("attempts", Integer),
            col("lease_until", Time),
            col("created_at", Time),
        ],
    },
    Table {
        name: "sources",
        label: ("source", "sources"),
        key: "name",
        identity: false,
        columns: &[
            col("name", Text),
            col("record", Json),
            col("hub", Json),
            col("due_at", Time),
            col("held_by", Text),
            col("held_until", Time),
            col("updated_at", Time),
        ],
    },
    Table {
        name: "source_pages",
        label: ("source page", "source pages"),
        key: "id",
        identity: false,
        columns: &[
            col("id", Text),
            col("source", Text),
            col("url", Text),
            col("etag", Text),
            col("last_modified", Text),
            col("article_id", Text),
            col("outcome", Text),
            col("fetched_at", Time),
        ],
    },
    Table {
        name: "messages",
        label: ("message", "messages"),
        key: "id",
        identity: false,
        columns: &[
            col("id", Text),
            col("type", Text),
            col("event_seq", Integer),
            // The exact bytes sent and signed: text on both engines, never re-serialised.
            col("body", Text),
            col("content_type", Text),
            col("link", Text),
            col("created_at", Time),
        ],
    },
    Table {
        name: "deliveries",
        label: ("delivery", "deliveries"),
        key: "seq",
        identity: true,
        columns: &[
            col("seq", Integer),
            col("id", Text),
            col("message_id", Text),
            col("target_kind", Text),
            col("target_id", Text),
            col("order_key", Text),
            col("expires_at", Time),
            col("status", Text),
            col("attempts", Integer),
            col("next_attempt_at", Time),
            col("lease_until", Time),
            col("last_status", Integer),
            col("last_error", Text),
            col("created_at", Time),
            col("finished_at", Time),
        ],
    },
    Table {
        name: "delivery_attempts",
        label: ("attempt", "attempts"),
        key: "id",
        identity: true,
        columns: &[
            col("id", Integer),
            col("delivery_seq", Integer),
            col("attempted_at", Time),
            col("status_code", Integer),
            col("duration_ms", Integer),
            col("error_class", Text),
            col("error", Text),
            col("response_body", Text),
        ],
    },
    Table {
        name: "cursors",
        label: ("cursor", "cursors"),
        key: "name",
        identity: false,
        columns: &[col("name", Text), col("seq", Integer)],
    },
];

/// One value of a row, whichever engine it comes from or goes to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Text(String),
    Integer(i64),
    Real(f64),
    Boolean(bool),
    /// To the microsecond.
    Time(DateTime<Utc>),
    /// A JSON document's text.
    Json(String),
}

/// One row: a value per column, in the order of [`Table::columns`].
pub(crate) type Row = Vec<Value>;

impl Value {
    /// The value as `Option<T>` of the column's type, for binding; a value of another kind
    /// than the column's is a bug in a backend's reading.
    pub(crate) fn text(&self) -> Result<Option<&str>, StoreError> {
        match self {
            Value::Null => Ok(None),
            Value::Text(s) | Value::Json(s) => Ok(Some(s)),
            other => Err(mismatch("text", other)),
        }
    }

    pub(crate) fn integer(&self) -> Result<Option<i64>, StoreError> {
        match self {
            Value::Null => Ok(None),
            Value::Integer(n) => Ok(Some(*n)),
            other => Err(mismatch("integer", other)),
        }
    }

    pub(crate) fn real(&self) -> Result<Option<f64>, StoreError> {
        match self {
            Value::Null => Ok(None),
            Value::Real(x) => Ok(Some(*x)),
            Value::Integer(n) => Ok(Some(*n as f64)),
            other => Err(mismatch("real", other)),
        }
    }

    pub(crate) fn boolean(&self) -> Result<Option<bool>, StoreError> {
        match self {
            Value::Null => Ok(None),
            Value::Boolean(b) => Ok(Some(*b)),
            other => Err(mismatch("boolean", other)),
        }
    }

    pub(crate) fn time(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self {
            Value::Null => Ok(None),
            Value::Time(t) => Ok(Some(*t)),
            other => Err(mismatch("time", other)),
        }
    }
}

fn mismatch(expected: &str, got: &Value) -> StoreError {
    StoreError::Corrupt(format!("copy: a {expected} column got {got:?}"))
}

impl Table {
    /// Checks that a row has a value per column.
    pub(crate) fn check_width(&self, row: &Row) -> Result<(), StoreError> {
        if row.len() == self.columns.len() {
            return Ok(());
        }
        Err(StoreError::Corrupt(format!(
            "copy: a row of {} has {} values for {} columns",
            self.name,
            row.len(),
            self.columns.len()
        )))
    }

    /// Checks the columns a database has for this table against the description: a column
    /// the copy does not know would be lost, one it expects and is missing would fail.
    pub(crate) fn check_columns(
        &self,
        mut found: Vec<String>,
        engine: &str,
    ) -> Result<(), StoreError> {
        let mut expected: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        expected.sort_unstable();
        found.sort_unstable();
        if found == expected {
            return Ok(());
        }
        Err(StoreError::Corrupt(format!(
            "the {engine} table {} has the columns {found:?}, the copy knows {expected:?}",
            self.name
        )))
    }
}

/// Where a copy is, for a progress display: called when a table starts (`done` 0) and after
/// each chunk.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress {
    /// What the rows are called (`articles`, `deliveries`, …).
    pub table: &'static str,
    /// Rows in the source table when it started.
    pub total: u64,
    /// Rows of it read so far.
    pub done: u64,
}

/// What a copy did to one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    /// What the rows are called: singular, plural.
    pub label: (&'static str, &'static str),
    /// Rows read from the source.
    pub read: u64,
    /// Rows new in the target; the others were there already (and were left as they were).
    pub copied: u64,
}

impl TableCopy {
    /// Rows that were in the target already.
    pub fn existing(&self) -> u64 {
        self.read - self.copied
    }
}

/// What a copy did, table by table in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<TableCopy>,
}

impl CopyReport {
    /// The counts of one table by its name.
    pub fn table(&self, name: &str) -> Option<&TableCopy> {
        self.tables.iter().find(|t| t.table == name)
    }

    /// Rows new in the target, all tables.
    pub fn copied(&self) -> u64 {
        self.tables.iter().map(|t| t.copied).sum()
    }

    /// Rows that were in the target already, all tables.
    pub fn existing(&self) -> u64 {
        self.tables.iter().map(TableCopy::existing).sum()
    }

    /// `3 articles, 3 events, 0 endpoints, …`: the rows new in the target, every table.
    pub fn copied_list(&self) -> String {
        self.tables
            .iter()
            .map(|t| count(t.copied, t.label))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The rows that were in the target already, of the tables that had some; `None` when
    /// there were none.
    pub fn existing_list(&self) -> Option<String> {
        let existing: Vec<String> = self
            .tables
            .iter()
            .filter(|t| t.existing() > 0)
            .map(|t| count(t.existing(), t.label))
            .collect();
        (!existing.is_empty()).then(|| existing.join(", "))
    }
}

/// `1 article`, `2 articles`.
fn count(n: u64, (one, many): (&str, &str)) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Store {
    /// Copies every row of this store into `target` (whose schema [`Store::connect`] made):
    /// articles and tombstones, events, webhook endpoints with their secrets, subscriptions,
    /// messages, deliveries in every state with their attempts, and the dispatch cursors, with
    /// their identifiers and times as they are. Rows whose key (or other unique value) the
    /// target has already are left as they are there, so that copying again changes nothing.
    /// `progress` hears of each table's start and of each chunk.
    pub async fn copy_to(
        &self,
        target: &Store,
        mut progress: impl FnMut(CopyProgress),
    ) -> Result<CopyReport, StoreError> {
        // Before writing anything: both schemas must be the one described.
        for table in TABLES {
            on_backend!(&self.backend, s => s.check_copy_columns(table).await)?;
            on_backend!(&target.backend, s => s.check_copy_columns(table).await)?;
        }
        let mut report = CopyReport::default();
        for table in TABLES {
            let total = on_backend!(&self.backend, s => s.count_rows(table).await)?;
            let mut counts = TableCopy {
                table: table.name,
                label: table.label,
                read: 0,
                copied: 0,
            };
            progress(CopyProgress {
                table: table.label.1,
                total,
                done: 0,
            });
            let mut after: Option<Value> = None;
            loop {
                let rows = on_backend!(
                    &self.backend,
                    s => s.export_rows(table, after.as_ref(), CHUNK).await
                )?;
                let Some(last) = rows.last() else { break };
                after = Some(last[0].clone());
                let read = rows.len() as u64;
                let copied = target
                    .detached(move |b| async move {
                        on_backend!(b, s => s.import_rows(table, &rows).await)
                    })
                    .await?;
                counts.read += read;
                counts.copied += copied;
                progress(CopyProgress {
                    table: table.label.1,
                    total,
                    done: counts.read,
                });
                if read < u64::from(CHUNK) {
                    break;
                }
            }
            report.tables.push(counts);
        }
        target
            .detached(|b| async move { on_backend!(b, s => s.finish_import(TABLES).await) })
            .await?;
        Ok(report)
    }
}

/// Whether a URL names a database of a known engine (`sqlite:`, `postgres:`, `postgresql:`).
pub fn is_database_url(url: &str) -> bool {
    ["sqlite:", "postgres:", "postgresql:"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
}

/// Whether two database URLs name the same database: the same SQLite file, or the same
/// PostgreSQL server (host and port) and database, whoever connects.
pub fn same_database(a: &str, b: &str) -> bool {
    if let (Some(a), Some(b)) = (sqlite_file(a), sqlite_file(b)) {
        let canonical = |p: std::path::PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
        return canonical(a) == canonical(b);
    }
    let pg = |url: &str| {
        let options = sqlx::postgres::PgConnectOptions::from_str(url).ok()?;
        Some((
            options.get_host().to_owned(),
            options.get_port(),
            options.get_database().map(str::to_owned),
        ))
    };
    match (pg(a), pg(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// The file of a `sqlite:` URL; `None` for another scheme, or a URL that does not parse.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_owned())
}
