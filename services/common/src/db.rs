//! MySQL helpers for users, products and orders (feature `mysql`): configuration,
//! the pool, `migrate` (create the database, apply embedded migrations), the
//! readiness check, and the mapping of database errors to answers.
//!
//! Connection failures and lock contention that outlived the retries are 503
//! `dependency_unavailable`; everything else is an internal error, logged and never
//! shown to the client.

use crate::{AppError, Health, Metrics, ReadinessCheck, ServiceContext};
use kubestore_core::runtime::env;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// MySQL error number of a deadlock victim.
pub const ER_LOCK_DEADLOCK: u16 = 1213;
/// MySQL error number of a lock wait timeout.
pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// MySQL error number of a duplicate key.
pub const ER_DUP_ENTRY: u16 = 1062;

/// How often a transaction is run again after a deadlock or lock wait timeout.
pub const TRANSACTION_ATTEMPTS: u32 = 5;

/// Database settings.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// MySQL URL with the database name (`DATABASE_URL`), e.g.
    /// `mysql://root@127.0.0.1:3306/products`; `<that>/<service>` when unset.
    #[arg(long, env = env::DATABASE_URL)]
    pub database_url: Option<String>,
    /// Largest number of pooled connections (`DATABASE_MAX_CONNECTIONS`).
    #[arg(long, env = env::DATABASE_MAX_CONNECTIONS, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,
}

impl DatabaseArgs {
    /// The URL, defaulting to the local server and a database named after `service`.
    pub fn url(&self, service: &str) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("mysql://root@127.0.0.1:3306/{service}"))
    }

    /// Adds `DATABASE_URL` (password masked) and `DATABASE_MAX_CONNECTIONS` to the
    /// start-up line.
    pub fn echo(&self, service: &str, echo: &mut crate::config::Echo) {
        echo.url(env::DATABASE_URL, &self.url(service))
            .value(env::DATABASE_MAX_CONNECTIONS, self.database_max_connections);
    }
}

/// Errors of the database helpers.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not parse or names no database.
    #[error("DATABASE_URL `{url}` is invalid: {reason}")]
    BadUrl {
        /// The URL, password masked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A database operation failed.
    #[error("{what}")]
    Sql {
        /// What was being done.
        what: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

fn options(url: &str) -> Result<MySqlConnectOptions, DbError> {
    MySqlConnectOptions::from_str(url)
        .map(|o| o.log_statements(tracing::log::LevelFilter::Trace))
        .map_err(|e| DbError::BadUrl {
            url: crate::config::mask_url(url),
            reason: e.to_string(),
        })
}

/// The database name in `url`, checked to be a plain identifier.
pub fn database_name(url: &str) -> Result<String, DbError> {
    let bad = |reason: &str| DbError::BadUrl {
        url: crate::config::mask_url(url),
        reason: reason.to_owned(),
    };
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| bad("no scheme"))?;
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or_default();
    let name = path.split(['?', '#']).next().unwrap_or_default();
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(bad("the path must name a database of [A-Za-z0-9_]"));
    }
    Ok(name.to_owned())
}

/// A lazily connecting pool: the service starts (and `/readyz` reports) even while
/// the database is down. Sessions use READ COMMITTED, which takes no gap locks and so
/// deadlocks less under concurrent reservations.
pub fn pool(url: &str, max_connections: u32) -> Result<MySqlPool, DbError> {
    let opts = options(url)?;
    Ok(MySqlPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(2))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .await?;
                Ok(())
            })
        })
        .connect_lazy_with(opts))
}

/// `url` without its database path, for connecting before the database exists.
pub fn server_url(url: &str) -> Result<String, DbError> {
    let bad = |reason: &str| DbError::BadUrl {
        url: crate::config::mask_url(url),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let query = rest.find('?').map(|i| &rest[i..]).unwrap_or_default();
    Ok(format!("{scheme}://{}{query}", &rest[..authority_end]))
}

/// Creates the database named in `url` if missing, then applies `migrator`. Waits up
/// to `wait` for the server to accept connections (it may be starting alongside).
/// Connects without selecting a database and creates it only when it is absent, so
/// an account limited to its own (pre-created) database can migrate too.
pub async fn migrate(url: &str, migrator: &Migrator, wait: Duration) -> Result<(), DbError> {
    let name = database_name(url)?;
    let server_opts = options(&server_url(url)?)?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut conn = loop {
        match server_opts.connect().await {
            Ok(c) => break c,
            // Only an unreachable server is worth waiting for; a refused login is not.
            Err(e)
                if !matches!(e, sqlx::Error::Database(_))
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %e, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(source) => {
                return Err(DbError::Sql {
                    what: "cannot connect to the database server".into(),
                    source,
                });
            }
        }
    };
    let exists: Option<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(&name)
    .fetch_optional(&mut conn)
    .await
    .map_err(|source| DbError::Sql {
        what: "cannot list databases".into(),
        source,
    })?;
    if exists.is_none() {
        let create = format!(
            "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        );
        conn.execute(sqlx::AssertSqlSafe(create))
            .await
            .map_err(|source| DbError::Sql {
                what: format!("cannot create database {name}"),
                source,
            })?;
        tracing::info!(database = %name, "created database");
    }
    let _ = conn.close().await;
    let mut conn = options(url)?
        .connect()
        .await
        .map_err(|source| DbError::Sql {
            what: format!("cannot connect to database {name}"),
            source,
        })?;
    migrator.run(&mut conn).await.map_err(DbError::Migrate)?;
    let _ = conn.close().await;
    Ok(())
}

/// Readiness check `database`: the server answers and the newest embedded migration
/// has been applied.
pub fn readiness_check(pool: MySqlPool, migrator: &'static Migrator) -> ReadinessCheck {
    ReadinessCheck::new("database", move || {
        let pool = pool.clone();
        async move { schema_ready(&pool, migrator).await }
    })
}

/// Readiness (the service's own database only, never the services it calls, so
/// their failure does not cascade) and metrics of a MySQL-backed service.
pub fn service_context(
    service: &'static str,
    version: &'static str,
    pool: MySqlPool,
    migrator: &'static Migrator,
) -> ServiceContext {
    let health = Health::new(vec![readiness_check(pool, migrator)]);
    ServiceContext::new(service, health, Metrics::new(service, version))
}

/// What the handlers of a service that needs nothing but its database share.
#[derive(Clone)]
pub struct PoolState {
    /// The service's database.
    pub pool: MySqlPool,
}

/// A MySQL-backed service as served: its `api` (state applied) finished with the
/// shared endpoints ([`crate::server::finish`]), readiness on its own database and
/// schema, and its metrics. `version` is the service crate's.
pub fn finish(
    service: &'static str,
    version: &'static str,
    migrator: &'static Migrator,
    pool: MySqlPool,
    api: axum::Router,
) -> (axum::Router, ServiceContext) {
    let ctx = service_context(service, version, pool, migrator);
    (crate::server::finish(api, &ctx), ctx)
}

async fn schema_ready(pool: &MySqlPool, migrator: &Migrator) -> Result<(), String> {
    let want = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let have: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(pool)
            .await
            .map_err(|e| format!("schema check failed: {e}"))?;
    schema_gap(have, want).map_or(Ok(()), Err)
}

/// Why a schema at migration `have` (none applied: `None`) is not ready for one that
/// needs `want`, in words for the log; `None` when it is.
fn schema_gap(have: Option<i64>, want: i64) -> Option<String> {
    let at = match have {
        Some(have) if have >= want => return None,
        Some(have) => format!("migration {have} is the newest applied"),
        None => "no migration is applied".to_owned(),
    };
    Some(format!("schema not migrated: {at}, {want} is needed"))
}

/// The MySQL error number, if `e` came from the server.
pub fn error_number(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|d| d.number())
}

/// Whether `e` is a duplicate-key violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    error_number(e) == Some(ER_DUP_ENTRY)
}

/// Whether running the transaction again may succeed (deadlock, lock wait timeout).
pub fn is_transient(e: &sqlx::Error) -> bool {
    matches!(
        error_number(e),
        Some(ER_LOCK_DEADLOCK | ER_LOCK_WAIT_TIMEOUT)
    )
}

/// Runs `tx` again, up to [`TRANSACTION_ATTEMPTS`] times with a short growing
/// pause, while it fails with a transient database error.
pub async fn retry_transient<T, F, Fut>(mut tx: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match tx().await {
            Err(AppError::Database(e)) if is_transient(&e) && attempt < TRANSACTION_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "transient database error; retrying");
                let pause = 5 * u64::from(attempt) + fastrand::u64(0..10);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}

/// The answer for a database error: see the module docs.
pub(crate) fn classify(e: &sqlx::Error) -> AppError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => AppError::unavailable("database", e.to_string()),
        _ if is_transient(e) => AppError::unavailable("database", format!("busy: {e}")),
        _ => AppError::internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmigrated_schema_is_named_in_words() {
        assert_eq!(schema_gap(Some(4), 4), None);
        assert_eq!(schema_gap(Some(5), 4), None);
        assert_eq!(
            schema_gap(Some(3), 4).as_deref(),
            Some("schema not migrated: migration 3 is the newest applied, 4 is needed")
        );
        assert_eq!(
            schema_gap(None, 4).as_deref(),
            Some("schema not migrated: no migration is applied, 4 is needed")
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            server_url("mysql://u:p@h:3306/db?ssl-mode=disabled").unwrap(),
            "mysql://u:p@h:3306?ssl-mode=disabled"
        );
        assert_eq!(server_url("mysql://h/db").unwrap(), "mysql://h");
        assert_eq!(database_name("mysql://h:1/orders?x=1").unwrap(), "orders");
        assert!(database_name("mysql://h:1/").is_err());
        assert!(database_name("mysql://h:1/a;drop").is_err());
    }
}
