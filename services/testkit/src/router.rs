//! Calling a router in-process (`oneshot`, as the axum testing example does) and
//! reading the answer as JSON: every answer of a service must be JSON or empty
//! (`/metrics` aside, read with [`Client::text`]).

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// Sends `req` to `router`; the status and the JSON body (`Null` when empty).
///
/// # Panics
/// When the body is not JSON, naming the status and the text.
pub async fn raw(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "non-JSON answer ({status}): {e}: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, value)
}

/// `method path` with extra `headers` and, when given, a JSON `body`.
pub async fn send(
    router: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = match body {
        Some(v) => {
            builder = builder.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    raw(router, builder.body(body).expect("request")).await
}

/// Sends the identical request twice in a row and asserts that the first
/// succeeded (2xx) and that the repeat got the very same answer, status and
/// body: what a route must do for the mesh to retry it (a retry is a repeat of
/// a request whose answer was lost). Returns that answer.
pub async fn send_twice(
    router: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let first = send(router, method.clone(), path, headers, body.clone()).await;
    assert!(
        first.0.is_success(),
        "{method} {path} did not succeed: {} {}",
        first.0,
        first.1
    );
    let repeat = send(router, method.clone(), path, headers, body).await;
    assert_eq!(
        repeat, first,
        "{method} {path}: the repeat of a success got another answer"
    );
    first
}

/// A router plus the calls the tests make on it; cheap to clone into tasks.
#[derive(Clone)]
pub struct Client {
    /// The router under test.
    pub router: Router,
}

impl Client {
    /// A client of `router`.
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// See [`raw`].
    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, Value) {
        raw(&self.router, req).await
    }

    /// `method path`, with a JSON `body` when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send(&self.router, method, path, &[], body).await
    }

    /// See [`send_twice`].
    pub async fn twice(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send_twice(&self.router, method, path, &[], body).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// `GET path`, the body as text: for `/metrics`, which is not JSON.
    pub async fn text(&self, path: &str) -> String {
        let req = Request::get(path).body(Body::empty()).expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("UTF-8 body")
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
}
