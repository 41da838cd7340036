//! Command line: `products migrate` and `products serve`, configured from the
//! environment (see [`kubestore_common::service`], which runs both); products reads
//! nothing of its own.

use kubestore_common::config::Echo;
use kubestore_common::db::DatabaseArgs;
use kubestore_common::service::{self, App, Mysql, NoArgs, Service};
use sqlx::MySqlPool;
use std::process::ExitCode;

use crate::{AppState, MIGRATOR, SERVICE};

/// The products service, as the shared command line runs it.
pub struct Products;

impl Service for Products {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    type Store = Mysql;
    const STORE: Mysql = Mysql(&MIGRATOR);
    type Args = NoArgs;

    fn echo(_: &NoArgs, _: &DatabaseArgs, _: &mut Echo) {}

    fn app(_: NoArgs, pool: MySqlPool) -> anyhow::Result<App> {
        Ok(crate::service(AppState { pool }).into())
    }
}

/// Runs the command line (see [`service::main`]).
pub fn main() -> ExitCode {
    service::main::<Products>()
}
