//! Turning a service's API router into the served application, and serving it with
//! the contract's graceful shutdown.
//!
//! [`finish`] adds `/healthz`, `/readyz`, `/metrics`, JSON 404 and 405 answers, the
//! body limit and request metrics. [`serve`] runs it until SIGTERM or ctrl-c, then
//! flips readiness to 503 at once, keeps accepting and serving for the drain period
//! (the endpoints controller needs that long to stop sending traffic), stops
//! accepting, lets in-flight requests finish and returns `Ok(())` so `main` exits 0.

use crate::extract::BODY_LIMIT;
use crate::{AppError, Health, Metrics};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::serve::ListenerExt;
use kubestore_core::runtime::{HEALTHZ_PATH, METRICS_PATH, READYZ_PATH};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What [`finish`] and [`serve`] need to know about a service.
#[derive(Clone)]
pub struct ServiceContext {
    /// Service name, the `service` label of every metric.
    pub service: &'static str,
    /// Readiness, flipped by [`serve`] on SIGTERM.
    pub health: Health,
    /// The service's metrics.
    pub metrics: Arc<Metrics>,
}

impl ServiceContext {
    /// Bundles the parts; `metrics` usually comes from [`Metrics::new`].
    pub fn new(service: &'static str, health: Health, metrics: Metrics) -> Self {
        Self {
            service,
            health,
            metrics: Arc::new(metrics),
        }
    }
}

/// Wraps the API routes of a service (state already applied) with the endpoints and
/// behaviour every service shares.
pub fn finish(api: Router, ctx: &ServiceContext) -> Router {
    let health = ctx.health.clone();
    let metrics = ctx.metrics.clone();
    api.route(HEALTHZ_PATH, get(crate::health::healthz))
        .route(
            READYZ_PATH,
            get(move || crate::health::readyz(health.clone())),
        )
        .route(
            METRICS_PATH,
            get(move || crate::metrics::render(metrics.clone())),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            ctx.metrics.clone(),
            crate::metrics::track,
        ))
}

async fn not_found() -> AppError {
    AppError::not_found("route")
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// Binds `addr`, failing with a message that names it.
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves `app` until SIGTERM or ctrl-c, then drains for `drain` (see the module
/// docs) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    ctx: &ServiceContext,
    drain: Duration,
) -> std::io::Result<()> {
    serve_until(listener, app, ctx, drain, shutdown_signal()).await
}

/// Binds the address `args` name (all interfaces on `default_port` unless
/// `LISTEN_ADDR` says otherwise) and [`serve`]s `app` there with its drain time: what
/// every service's `serve` ends with.
pub async fn serve_with(
    args: &crate::config::ServeArgs,
    default_port: u16,
    app: Router,
    ctx: &ServiceContext,
) -> std::io::Result<()> {
    let listener = bind(args.listen_addr(default_port)).await?;
    serve(listener, app, ctx, args.drain_seconds).await
}

/// [`serve`] with the shutdown trigger supplied by the caller (tests).
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    ctx: &ServiceContext,
    drain: Duration,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let health = ctx.health.clone();
    let service = ctx.service;
    let addr = listener.local_addr()?;
    tracing::info!(service, %addr, "listening");
    let shutdown = async move {
        signal.await;
        health.start_draining();
        tracing::info!(
            service,
            drain_seconds = drain.as_secs_f64(),
            "shutdown requested; readiness is now 503, still serving while draining"
        );
        tokio::time::sleep(drain).await;
        tracing::info!(
            service,
            "drain over; no longer accepting, finishing in-flight requests"
        );
    };
    // Small JSON answers: Nagle's algorithm would only add latency.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!(service, "stopped");
    Ok(())
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
