//! Liveness and readiness. `/healthz` answers 200 while the process runs and never
//! touches a dependency; `/readyz` runs the service's own checks (its database or
//! Redis, never the services it calls, so one failure does not cascade) and answers
//! 503 naming the failing dependency, or as soon as draining has begun.

use crate::error::RETRY_AFTER_SECONDS;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A boxed readiness probe result: `Err` carries a reason for the log.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// How long one readiness check may take before it counts as failing.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One named dependency check (`database`, `redis`).
pub struct ReadinessCheck {
    name: &'static str,
    probe: Box<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl ReadinessCheck {
    /// A check named `name` (the dependency reported when it fails).
    pub fn new<F, Fut>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            probe: Box::new(move || Box::pin(probe())),
        }
    }
}

/// Readiness state shared by `/readyz` and the shutdown logic; cheap to clone.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    draining: AtomicBool,
    checks: Vec<ReadinessCheck>,
}

impl Health {
    /// Readiness made of `checks` (none for a stateless service such as frontend).
    pub fn new(checks: Vec<ReadinessCheck>) -> Self {
        Self {
            inner: Arc::new(Inner {
                draining: AtomicBool::new(false),
                checks,
            }),
        }
    }

    /// From now on `/readyz` answers 503.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Whether draining has begun.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Runs every check concurrently: per-check results and the failing names.
    pub async fn check(&self) -> (Map<String, Value>, Vec<&'static str>) {
        let futures: Vec<_> = self
            .inner
            .checks
            .iter()
            .map(|c| {
                (
                    c.name,
                    tokio::spawn(tokio::time::timeout(CHECK_TIMEOUT, (c.probe)())),
                )
            })
            .collect();
        let mut results = Map::new();
        let mut failing = Vec::new();
        for (name, handle) in futures {
            let outcome = match handle.await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(reason))) => Err(reason),
                Ok(Err(_)) => Err("timed out".to_owned()),
                Err(e) => Err(format!("check panicked: {e}")),
            };
            match outcome {
                Ok(()) => {
                    results.insert(name.into(), "ok".into());
                }
                Err(reason) => {
                    tracing::warn!(dependency = name, %reason, "readiness check failed");
                    results.insert(name.into(), "unavailable".into());
                    failing.push(name);
                }
            }
        }
        (results, failing)
    }
}

/// `GET /healthz`.
pub async fn healthz() -> Response {
    crate::extract::json_response(StatusCode::OK, &json!({"status": "ok"}))
}

/// `GET /readyz`.
pub async fn readyz(health: Health) -> Response {
    if health.is_draining() {
        return unready(json!({
            "error": {"code": "shutting_down", "message": "draining after SIGTERM"},
            "checks": {},
        }));
    }
    let (checks, failing) = health.check().await;
    if failing.is_empty() {
        return crate::extract::json_response(
            StatusCode::OK,
            &json!({"status": "ready", "checks": checks}),
        );
    }
    unready(json!({
        "error": {
            "code": "dependency_unavailable",
            "message": format!("not ready: {} unavailable", failing.join(", ")),
            "dependency": failing[0],
        },
        "checks": checks,
    }))
}

fn unready(body: Value) -> Response {
    let mut response = crate::extract::json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    response
}
