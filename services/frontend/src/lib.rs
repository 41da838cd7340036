//! The KubeStore frontend: the shop's server-rendered HTML pages over the
//! products, cart, orders and users services.
//!
//! # Layout
//! - [`cli`]: the `migrate` and `serve` subcommands.
//! - [`config`]: the environment it reads.
//! - [`upstream`]: typed calls to the four backends.
//! - [`cookies`]: the cart id and customer number cookies.
//! - [`views`]: the embedded minijinja templates.
//! - [`pages`]: the page and form handlers.
//!
//! It keeps no state of its own, so it is ready whenever it is not draining.

pub mod cli;
pub mod config;
pub mod cookies;
pub mod pages;
pub mod upstream;
pub mod views;

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use kubestore_common::{Health, Metrics, ServiceContext, server};

use crate::config::Config;
use crate::upstream::Upstreams;
use crate::views::Views;

/// The service name: the `service` label of its metrics.
pub const SERVICE: &str = "frontend";

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The backends.
    pub upstream: Upstreams,
    /// The templates.
    pub views: Arc<Views>,
    /// Whether cookies are marked `Secure`.
    pub cookie_secure: bool,
}

impl AppState {
    /// The state for `config`.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            upstream: Upstreams::new(&config.deps, &config.upstream)?,
            views: Arc::new(Views::new().context("a template does not compile")?),
            cookie_secure: config.cookie_secure,
        })
    }
}

/// The page routes with `state` applied (without health and metrics).
pub fn app(state: AppState) -> Router {
    pages::routes().with_state(state)
}

/// The whole service as served: pages, `/healthz`, `/readyz`, `/metrics`.
pub fn service(state: AppState) -> (Router, ServiceContext) {
    let ctx = ServiceContext::new(
        SERVICE,
        // No database or Redis of its own; the backends are deliberately not
        // checked, so one of them failing cannot make the frontend unready.
        Health::new(Vec::new()),
        Metrics::new(SERVICE, env!("CARGO_PKG_VERSION")),
    );
    let router = server::finish(app(state), &ctx);
    (router, ctx)
}
