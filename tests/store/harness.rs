//! Runs one case against one backend: a fresh database for each test, closed and removed
//! afterwards whatever the case does (panics included).

use std::future::Future;
use std::sync::{Arc, Mutex};

use sqlx::Connection;
use tidings::config::DatabaseConfig;
use tidings::store::Store;

/// The server URL of the PostgreSQL half: a server where the suite may create databases.
pub const DATABASE_URL_VAR: &str = "TIDINGS_TEST_DATABASE_URL";

/// Generates, for each case, one test per backend: `<module>::sqlite::<case>` and
/// `<module>::postgres::<case>`.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::harness::Backend::Sqlite.run(super::$case).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::harness::Backend::Postgres.run(super::$case).await
                }
            )*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database, and the stores opened on it (closed by the harness).
pub struct Db {
    pub backend: Backend,
    url: String,
    stores: Mutex<Vec<Store>>,
    _dir: Option<tempfile::TempDir>,
}

pub type Ctx = Arc<Db>;

/// The pool settings of the tests: small, as every test has its own database.
pub fn settings() -> DatabaseConfig {
    DatabaseConfig {
        max_connections: 8,
        acquire_timeout_secs: 10,
        statement_timeout_secs: 30,
    }
}

impl Db {
    /// Opens a store on the database: a new instance, with its own pool.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, &settings())
            .await
            .expect("the test database opens");
        self.stores.lock().unwrap().push(store.clone());
        store
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// The database's URL (PostgreSQL: to look at the server from the side).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Backend {
    /// Runs `case` on a fresh database of this backend, then removes the database.
    pub async fn run<F, Fut>(self, case: F)
    where
        F: FnOnce(Ctx) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (db, server) = match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}", dir.path().join("store.db").display());
                (
                    Db {
                        backend: self,
                        url,
                        stores: Mutex::new(Vec::new()),
                        _dir: Some(dir),
                    },
                    None,
                )
            }
            Backend::Postgres => {
                let Some(server) = postgres_server() else {
                    return;
                };
                let (name, url) = create_database(&server).await;
                (
                    Db {
                        backend: self,
                        url,
                        stores: Mutex::new(Vec::new()),
                        _dir: None,
                    },
                    Some((server, name)),
                )
            }
        };
        let db = Arc::new(db);
        let outcome = tokio::spawn(case(db.clone())).await;
        let stores = std::mem::take(&mut *db.stores.lock().unwrap());
        for store in stores {
            store.close().await;
        }
        if let Some((server, name)) = server {
            drop_database(&server, &name).await;
        }
        if let Err(err) = outcome {
            match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(err) => panic!("the case did not finish: {err}"),
            }
        }
    }
}

/// The PostgreSQL server of the suite, or `None` (the half is skipped) when none is given.
/// On CI a missing server fails the test rather than skipping it unnoticed.
pub fn postgres_server() -> Option<String> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{DATABASE_URL_VAR} is not set, and CI=true: the PostgreSQL half must run");
            }
            println!("SKIPPED: {DATABASE_URL_VAR} is not set");
            None
        }
    }
}

/// Creates `tidings_t_<random>` on the server; its name and URL.
async fn create_database(server: &str) -> (String, String) {
    let name = format!("tidings_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .expect("the test server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("the test database is created");
    conn.close().await.ok();
    let mut url = url::Url::parse(server).expect("the server URL parses");
    url.set_path(&format!("/{name}"));
    (name, url.to_string())
}

async fn drop_database(server: &str, name: &str) {
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .expect("the test server answers");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("the test database is dropped");
    conn.close().await.ok();
}
