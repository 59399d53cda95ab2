//! The PostgreSQL backend: the same units of work as the SQLite backend, for a database that
//! several instances share.
//!
//! What differs from SQLite, and where it is handled:
//! * SQLite has one writer at a time; here transactions run side by side. Where the order of
//!   commits matters (the event log, the delivery queue), a transaction takes a fixed advisory
//!   lock first ([`EVENTS_LOCK`], [`QUEUE_LOCK`]); elsewhere row locks are enough.
//! * Times are `timestamptz` (microseconds), bound through [`db_time`] so that they are cut to
//!   the microsecond exactly as SQLite's text keys are.
//! * Text cannot hold NUL: what comes from outside and is free text (a receiver's answer, an
//!   error) goes through [`no_nul`].
//! * Every write that changes something sends `NOTIFY tidings_changes` at its commit
//!   ([`notify`]); [`listen`] turns those into [`PgStore::changed`].
//!
//! The files: this one connects, closes and holds what the others share; `articles` (articles,
//! their events, feeds), `queue` (enqueue with the cursor's compare-and-set), `deliveries`
//! (claims, attempts, replay), `webhooks`, `websub`, `listen`, `search` (articles by their
//! text), and `copy` (whole tables, for `tidings copy`).

mod articles;
mod copy;
mod deliveries;
mod history;
mod listen;
mod queue;
mod search;
mod sources;
mod tags;
mod webhooks;
mod websub;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgConnection, PgPool};

use super::StoreError;
use crate::config::DatabaseConfig;

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    changes: listen::Changes,
}

/// The advisory lock every transaction that writes events takes before it writes them.
///
/// `events.seq` comes from a sequence: values are handed out when rows are inserted, not when
/// they commit. Two writers running side by side could commit seq 8 before seq 7, and a reader
/// of `seq > 6` at that moment would move its cursor to 8 and never see 7. Holding this lock
/// from before the first read of the transaction until its commit (a `_xact` lock is released
/// after the commit is visible) makes event writers take turns: seqs become visible in commit
/// order, and a reader at cursor N never skips an event. (It also makes two upserts of one
/// article take turns, as SQLite's single writer does: the second sees the first's row.) A
/// writer that waits for it longer than `statement_timeout` gives up: `Unavailable`.
const EVENTS_LOCK: i64 = 0x7469_6469_6e67_0001;

/// The advisory lock every transaction that queues deliveries takes before it inserts them,
/// for the same reason: a delivery must never become visible before an earlier one with the
/// same (target, order key), or a claim would send version 2 of an article while version 1
/// is still being committed.
const QUEUE_LOCK: i64 = 0x7469_6469_6e67_0002;

/// The channel of change notifications.
const CHANNEL: &str = "tidings_changes";

impl PgStore {
    /// Connects to the database at `url` (which must exist) and migrates it.
    #[tracing::instrument(skip_all, fields(url = %crate::config::redacted_database_url(url)))]
    pub async fn connect(url: &str, settings: &DatabaseConfig) -> Result<Self, StoreError> {
        Self::open(url, settings)
            .await
            .map_err(|err| hide_password(err, url))
    }

    async fn open(url: &str, settings: &DatabaseConfig) -> Result<Self, StoreError> {
        let mut options = PgConnectOptions::from_str(url)?;
        if options.get_application_name().is_none() {
            options = options.application_name("tidings");
        }
        // `SET` on every new connection rather than `options=-c …` in the startup packet,
        // which connection poolers such as PgBouncer refuse by default.
        let statement_timeout_ms = settings.statement_timeout_secs.saturating_mul(1000);
        let acquire_timeout = Duration::from_secs(settings.acquire_timeout_secs);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(acquire_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(
                        format!("SET statement_timeout = {statement_timeout_ms}").as_str(),
                    )
                    .await?;
                    Ok(())
                })
            })
            .after_release(|conn, _| Box::pin(async move { Ok(is_idle(conn)) }))
            .connect_with(options.clone())
            .await?;
        // Two instances starting together: sqlx holds an advisory lock while it migrates.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let changes = match listen::Changes::start(options, acquire_timeout).await {
            Ok(changes) => changes,
            Err(err) => {
                close_pool(&pool).await;
                return Err(err);
            }
        };
        Ok(Self { pool, changes })
    }

    /// Resolves at the next change notification after this call (see [`listen`]).
    pub async fn changed(&self) {
        self.changes.changed().await
    }

    /// Whether the database answers.
    /// Whether the store can write: one row written and committed.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO health (id, checked_at) VALUES (1, now())
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stops listening for changes, then closes the pool once every connection is back.
    pub async fn close(&self) {
        self.changes.close().await;
        close_pool(&self.pool).await;
    }
}

/// Closes a pool and every connection of it. `Pool::close` sweeps the idle connections, then
/// waits for those in use; one whose return was already under way when the pool closed can
/// still land among the idle ones after the last sweep, and would stay open until the pool is
/// dropped. Closing again sweeps it (a closed pool hands out no connection, so this ends).
pub(super) async fn close_pool(pool: &PgPool) {
    for _ in 0..10 {
        pool.close().await;
        if pool.size() == 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Whether an error means "the database cannot answer now" rather than "this went wrong":
/// the connection failed or was lost, no connection came free in time, the server is
/// shutting down or out of connections, a statement ran out of time, or a transaction lost a
/// serialisation race. Such errors are worth retrying later (HTTP 503), and hold no URL.
pub(super) fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() else {
                return false;
            };
            let code = pg.code();
            // 08: connection exception; 53: insufficient resources (too many connections);
            // 57014: statement timeout; 57P01-57P05: shutdown, cannot connect now, idle
            // timeout; 40001, 40P01: serialisation failure, deadlock; 55P03: lock timeout;
            // 25006: read-only transaction (a standby, or default_transaction_read_only);
            // 58030: I/O error.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || matches!(
                    code,
                    "57014" | "40001" | "40P01" | "55P03" | "25006" | "58030"
                )
        }
        _ => false,
    }
}

/// An error of [`PgStore::connect`] with the URL's password taken out of its message, should
/// a driver ever quote it: the message may reach a log or an HTTP answer.
fn hide_password(err: StoreError, url: &str) -> StoreError {
    let Some(password) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
        .filter(|p| !p.is_empty())
    else {
        return err;
    };
    let decoded = percent_decoded(&password);
    let message = err.to_string();
    if !message.contains(&password) && !message.contains(decoded.as_ref()) {
        return err;
    }
    let scrubbed = message
        .replace(&password, "***")
        .replace(decoded.as_ref(), "***");
    match err {
        StoreError::Unavailable(_) => StoreError::Unavailable(scrubbed),
        _ => StoreError::Database(sqlx::Error::Configuration(scrubbed.into())),
    }
}

fn percent_decoded(text: &str) -> Cow<'_, str> {
    url::form_urlencoded::parse(format!("p={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| Cow::Owned(v.into_owned()))
        .unwrap_or(Cow::Borrowed(text))
}

/// Whether a connection coming back to the pool is outside any transaction. One that is not
/// (a unit of work was interrupted between `BEGIN` and the creation of its guard, or while it
/// committed) would keep its locks, the advisory ones included, for as long as it lives: the
/// pool closes it instead, and the server rolls the transaction back.
fn is_idle(conn: &mut PgConnection) -> bool {
    use sqlx::TransactionManager;
    let depth = sqlx::postgres::PgTransactionManager::get_transaction_depth(conn);
    if depth > 0 {
        tracing::warn!(
            depth,
            "a connection came back inside a transaction; closing it"
        );
    }
    depth == 0
}

/// Takes a transaction-scoped advisory lock: held until the commit or rollback.
pub(super) async fn advisory_lock(conn: &mut PgConnection, key: i64) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Queues the change notification of the current transaction: PostgreSQL delivers it when the
/// transaction commits (and drops it when it rolls back), and folds the notifications of one
/// transaction into one.
pub(super) async fn notify(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// A read-only transaction whose statements all see one snapshot: a feed page's few reads.
pub(super) async fn read_snapshot(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// A time as stored: cut to the microsecond like SQLite's `time_key` (which drops the
/// nanoseconds rather than rounding), so that both backends keep and compare the same value.
/// (sqlx would truncate towards the year 2000, which rounds times before it up.)
pub(super) fn db_time(t: DateTime<Utc>) -> DateTime<Utc> {
    crate::store::to_microsecond(t)
}

/// Free text from outside without NUL characters, which PostgreSQL text cannot hold.
pub(super) fn no_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', ""))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod plans {
    //! The reads that grow with the archive or the queue are bounded by what they return:
    //! each walks an index, none scans a large table or sorts. The planner prefers to scan
    //! and sort a table it knows to be tiny, so scans and sorts are discouraged here
    //! (`enable_seqscan`, `enable_bitmapscan`, `enable_sort` off): one that remains is one
    //! that no index can spare. Runs against the server of
    //! `TIDINGS_TEST_DATABASE_URL`, in a database of its own.

    use sqlx::Connection;

    use super::*;

    pub(in crate::store) struct PlanDb {
        pub store: PgStore,
        server: String,
        name: String,
    }

    impl PlanDb {
        /// A fresh, migrated database; `None` (having said so) when no server is configured,
        /// which CI does not allow.
        pub async fn open() -> Option<Self> {
            let server = match std::env::var("TIDINGS_TEST_DATABASE_URL") {
                Ok(url) if !url.trim().is_empty() => url,
                _ => {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "TIDINGS_TEST_DATABASE_URL is not set, and CI=true"
                    );
                    println!("SKIPPED: TIDINGS_TEST_DATABASE_URL is not set");
                    return None;
                }
            };
            let name = format!("tidings_plan_{}", uuid::Uuid::new_v4().simple());
            let mut admin = PgConnection::connect(&server).await.expect("the server");
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("a database");
            admin.close().await.ok();
            let mut url = url::Url::parse(&server).expect("a URL");
            url.set_path(&format!("/{name}"));
            let settings = DatabaseConfig {
                max_connections: 1,
                ..DatabaseConfig::default()
            };
            let store = PgStore::connect(url.as_str(), &settings)
                .await
                .expect("a store");
            store
                .pool
                .execute(
                    "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off",
                )
                .await
                .expect("settings");
            Some(Self {
                store,
                server,
                name,
            })
        }

        pub async fn close(self) {
            self.store.pool.close().await;
            let mut admin = PgConnection::connect(&self.server)
                .await
                .expect("the server");
            admin
                .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
                .await
                .expect("the database is dropped");
            admin.close().await.ok();
        }
    }

    /// The plan's lines.
    pub(in crate::store) async fn plan(
        pool: &PgPool,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Vec<String> {
        query
            .fetch_all(pool)
            .await
            .expect("a plan")
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, 0))
            .collect()
    }

    /// Panics when the plan scans a table other than `sections` (one row per section) or
    /// sorts.
    pub(in crate::store) fn assert_bounded(name: &str, plan: &[String]) {
        for line in plan {
            let scan = line.contains("Seq Scan on") && !line.contains("Seq Scan on sections");
            let sort = line
                .trim_start()
                .trim_start_matches("->  ")
                .starts_with("Sort  (");
            assert!(!scan && !sort, "{name}: {line:?} in\n{}", plan.join("\n"));
        }
    }
}
