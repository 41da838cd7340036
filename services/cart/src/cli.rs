//! Command line: `cart migrate` and `cart serve`, configured from the environment
//! (see [`kubestore_common::service`], which runs both); the cart brings its Redis
//! ([`RedisStore`]) and its own settings ([`Config`]).

use anyhow::Context;
use kubestore_common::config::Echo;
use kubestore_common::service::{self, App, Service, Store};
use std::process::ExitCode;

use crate::config::{Config, RedisArgs};
use crate::{AppState, Redis, SERVICE};

/// The cart service, as the shared command line runs it.
pub struct Cart;

impl Service for Cart {
    const NAME: &'static str = SERVICE;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = env!("CARGO_PKG_DESCRIPTION");
    type Store = RedisStore;
    const STORE: RedisStore = RedisStore;
    type Args = Config;

    fn echo(config: &Config, redis: &RedisArgs, echo: &mut Echo) {
        config.echo(redis, echo);
    }

    fn app(config: Config, redis: Redis) -> anyhow::Result<App> {
        Ok(crate::service(AppState::new(&config, redis)?).into())
    }
}

/// The carts' Redis: `migrate` checks that it answers, as there is no schema to apply.
pub struct RedisStore;

impl Store for RedisStore {
    const MIGRATE_ABOUT: &'static str =
        "Checks that Redis answers and exits; Redis has no schema to migrate";
    type Args = RedisArgs;
    type Handle = Redis;

    fn echo(&self, _: &str, args: &RedisArgs, echo: &mut Echo) {
        args.echo(echo);
    }

    async fn migrate(&self, service: &'static str, args: RedisArgs) -> anyhow::Result<()> {
        let redis = Redis::open(&args)?;
        // Checking the connection makes a misconfigured REDIS_URL fail the
        // deployment's migrate step.
        crate::store::check(redis.client, redis.timeout)
            .await
            .context("cannot reach Redis at REDIS_URL")?;
        tracing::info!(service, "redis answers; nothing to migrate");
        Ok(())
    }

    fn open(&self, _: &'static str, args: RedisArgs) -> anyhow::Result<Redis> {
        Redis::open(&args)
    }
}

/// Runs the command line (see [`service::main`]).
pub fn main() -> ExitCode {
    service::main::<Cart>()
}
