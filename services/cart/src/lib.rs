//! The KubeStore cart service: carts in Redis, checkout through orders.
//!
//! # Layout
//! - [`cli`]: the `migrate` and `serve` subcommands.
//! - [`config`]: the environment it reads.
//! - [`store`]: the Redis data model and its atomic Lua updates.
//! - [`checkout`]: the checkout flow and the idempotency keys that make a
//!   retried or repeated checkout one order and one answer.
//! - [`upstream`]: calls to products and orders, with timeouts.
//! - [`routes`]: the HTTP handlers.
//!
//! [`app`] builds the API router from an [`AppState`], so tests can serve it on
//! `127.0.0.1:0` against a real Redis; [`cli::main`] is what `main` calls.

// Handlers return the shared `AppError` (128 bytes) by value, as the common
// crate's extractors do; boxing it would only move a cold-path cost around.
#![allow(clippy::result_large_err)]

pub mod checkout;
pub mod cli;
pub mod config;
pub mod routes;
pub mod store;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use kubestore_common::limits::MAX_LINES;
use kubestore_common::{Health, Metrics, ReadinessCheck, ServiceContext, server};

use crate::config::{Config, RedisArgs};
use crate::store::{KeySettings, Store, StoreConfig};
use crate::upstream::Upstreams;

/// The service name: the `service` label of its metrics.
pub const SERVICE: &str = "cart";

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The carts.
    pub store: Arc<Store>,
    /// products and orders.
    pub upstream: Upstreams,
}

/// The carts' Redis as `serve` and `migrate` open it.
#[derive(Debug, Clone)]
pub struct Redis {
    /// The client; it connects on first use.
    pub client: redis::Client,
    /// Time allowed to connect and for one command.
    pub timeout: Duration,
}

impl Redis {
    /// The Redis `args` name; fails only on a malformed URL, never on a Redis that
    /// is down.
    pub fn open(args: &RedisArgs) -> anyhow::Result<Self> {
        let client = redis::Client::open(args.redis_url.as_str())
            .context("REDIS_URL is not a valid Redis URL")?;
        Ok(Self {
            client,
            timeout: args.redis_timeout,
        })
    }
}

impl AppState {
    /// The state for `config` on `redis`; fails only on a dependency URL the
    /// client refuses.
    pub fn new(config: &Config, redis: Redis) -> anyhow::Result<Self> {
        let store = Store::new(
            redis.client,
            StoreConfig {
                key_prefix: "cart:".to_owned(),
                idle_ttl: config.cart_idle_ttl,
                max_lines: MAX_LINES,
                timeout: redis.timeout,
                keys: KeySettings {
                    ttl: config.keys.idempotency_key_ttl,
                    lease: config.idempotency_lease(redis.timeout),
                    wait: config.idempotency_wait,
                },
            },
        );
        let upstream = Upstreams::new(&config.deps, &config.upstream)?;
        Ok(Self {
            store: Arc::new(store),
            upstream,
        })
    }
}

/// The API routes with `state` applied (without health and metrics).
pub fn app(state: AppState) -> Router {
    routes::routes().with_state(state)
}

/// Readiness: Redis answers. Never products or orders, so that one of them
/// failing does not take the cart out of its load balancer in a cascade.
pub fn health(store: Arc<Store>) -> Health {
    Health::new(vec![ReadinessCheck::new("redis", move || {
        let store = store.clone();
        async move {
            store
                .ping()
                .await
                .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
        }
    })])
}

/// The whole service as served: API, `/healthz`, `/readyz`, `/metrics`.
pub fn service(state: AppState) -> (Router, ServiceContext) {
    let ctx = ServiceContext::new(
        SERVICE,
        health(state.store.clone()),
        Metrics::new(SERVICE, env!("CARGO_PKG_VERSION")),
    );
    let router = server::finish(app(state), &ctx);
    (router, ctx)
}
