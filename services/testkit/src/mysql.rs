//! A service under test on its own fresh MariaDB database (see
//! [`kubestore_common::db::testing`]), so tests run in parallel and start empty.

use kubestore_common::db::testing::{drop_database, fresh_database};
use sqlx::MySqlPool;
use sqlx::migrate::Migrator;

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
