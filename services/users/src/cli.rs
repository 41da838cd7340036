//! Command line: `users migrate` and `users serve`, configured from the environment
//! (see [`kubestore_common::service`], which runs both); users adds how long it keeps
//! the answers of keyed sign-ups, and sweeps the expired rows of its
//! `idempotency_keys` table while it serves.

use kubestore_common::config::{Echo, IdempotencyKeyTtl};
use kubestore_common::db::DatabaseArgs;
use kubestore_common::idempotency::mysql::{Retention, keep_sweeping};
use kubestore_common::service::{self, App, Mysql, Service};
use sqlx::MySqlPool;
use std::process::ExitCode;

use crate::routes::users::KEYS;
use crate::{AppState, MIGRATOR, SERVICE};

/// The users service, as the shared command line runs it.
pub struct Users;

impl Service for Users {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    type Store = Mysql;
    const STORE: Mysql = Mysql(&MIGRATOR);
    type Args = IdempotencyKeyTtl;

    fn echo(keys: &IdempotencyKeyTtl, _: &DatabaseArgs, echo: &mut Echo) {
        keys.echo(echo);
    }

    fn app(keys: IdempotencyKeyTtl, pool: MySqlPool) -> anyhow::Result<App> {
        let (router, ctx) = crate::service(AppState { pool: pool.clone() });
        let retention = Retention {
            ttl: keys.idempotency_key_ttl,
            lease: KEYS.lease,
        };
        Ok(App::new(router, ctx).with_task(keep_sweeping(pool, retention)))
    }
}

/// Runs the command line (see [`service::main`]).
pub fn main() -> ExitCode {
    service::main::<Users>()
}
