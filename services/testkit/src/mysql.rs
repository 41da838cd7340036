//! A service under test on its own freshly migrated MariaDB database, so tests run in
//! parallel against the one real server and start empty; databases left by test
//! processes that died are dropped by the next run.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use kubestore_common::db::{self, database_name};
use sqlx::migrate::Migrator;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, MySqlPool};

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEPT: AtomicBool = AtomicBool::new(false);

/// Server URL for tests (`TEST_DATABASE_URL`, default the local MariaDB).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

async fn connect(url: &str) -> Option<sqlx::MySqlConnection> {
    MySqlConnectOptions::from_str(url)
        .ok()?
        .connect()
        .await
        .ok()
}

/// Drops test databases left behind by test processes that have exited (a test
/// that panics before its cleanup leaves one), once per process. Names end in
/// `_<pid>_<n>_<nanos>`; databases of live processes are left alone.
async fn sweep_stale_databases() {
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(mut conn) = connect(&server_url()).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'kst\\_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    for name in names {
        let pid = name.rsplit('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_none_or(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive && database_name(&format!("mysql://x/{name}")).is_ok() {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS `{name}`"
                )))
                .await;
        }
    }
    let _ = conn.close().await;
}

/// Creates and migrates a uniquely named database (`kst_<prefix>_...`) and returns
/// its URL.
pub async fn fresh_database_url(prefix: &str, migrator: &Migrator) -> String {
    sweep_stale_databases().await;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!("kst_{prefix}_{}_{n}_{nanos}", std::process::id());
    let url = format!("{}/{name}", server_url().trim_end_matches('/'));
    if let Err(e) = db::migrate(&url, migrator, Duration::from_secs(10)).await {
        panic!("cannot create test database {name}: {e:?}");
    }
    url
}

/// [`fresh_database_url`] plus a pool on it.
pub async fn fresh_database(prefix: &str, migrator: &Migrator) -> (MySqlPool, String) {
    let url = fresh_database_url(prefix, migrator).await;
    // Small, as many tests run at once against one server (max_connections).
    let pool = match db::pool(&url, 12) {
        Ok(p) => p,
        Err(e) => panic!("cannot open pool on {url}: {e}"),
    };
    (pool, url)
}

/// Drops a database made by [`fresh_database_url`].
pub async fn drop_database(url: &str) {
    if let Ok(name) = database_name(url)
        && let Ok(server) = db::server_url(url)
        && let Some(mut conn) = connect(&server).await
    {
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{name}`"
            )))
            .await;
    }
}

/// A client of the service (`C`, usually a [`crate::Client`] or a service's
/// wrapper of one) on a fresh database; derefs to the client.
pub struct TestApp<C = crate::Client> {
    /// Calls on the service.
    pub client: C,
    /// The service's database, for looking at rows directly.
    pub pool: MySqlPool,
    /// The database URL, to drop it in [`TestApp::cleanup`].
    pub url: String,
}

impl<C> TestApp<C> {
    /// Creates a database named after `prefix`, applies `migrator` and builds the
    /// client with `client` from the pool.
    pub async fn start(
        prefix: &str,
        migrator: &Migrator,
        client: impl FnOnce(MySqlPool) -> C,
    ) -> Self {
        let (pool, url) = fresh_database(prefix, migrator).await;
        Self {
            client: client(pool.clone()),
            pool,
            url,
        }
    }

    /// Closes the pool and drops the database.
    pub async fn cleanup(self) {
        self.pool.close().await;
        drop_database(&self.url).await;
    }
}

impl<C> std::ops::Deref for TestApp<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.client
    }
}
