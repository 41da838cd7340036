//! The outgoing HTTP client for calls between services.
//!
//! Every attempt has the `UPSTREAM_TIMEOUT` timeout. Connect errors, timeouts and
//! 5xx answers become [`AppError::DependencyUnavailable`] (a fast 503 for our own
//! caller) after at most `UPSTREAM_RETRIES` extra attempts with exponential backoff
//! and jitter, and only for requests marked idempotent: retrying a non-idempotent
//! call could do its work twice.

use crate::AppError;
use crate::config::UpstreamArgs;
use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// First backoff; doubled per attempt, plus up to 50% jitter.
const BASE_BACKOFF: Duration = Duration::from_millis(25);

/// Errors building a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not `http://host[:port][/prefix]`.
    #[error("{name} url `{url}` must start with http:// or https://")]
    BadUrl {
        /// Dependency name.
        name: &'static str,
        /// The rejected URL.
        url: String,
    },
    /// reqwest could not build its client.
    #[error("cannot build the http client")]
    Build(#[source] reqwest::Error),
}

/// A client for one dependency (`users`, `products`, ...).
#[derive(Clone, Debug)]
pub struct Upstream {
    name: &'static str,
    base: String,
    http: reqwest::Client,
    retries: u32,
}

/// One outgoing request; build with [`UpstreamRequest::new`] and the setters.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    method: Method,
    path: String,
    body: Option<Bytes>,
    headers: Vec<(HeaderName, HeaderValue)>,
    idempotent: bool,
}

impl UpstreamRequest {
    /// A request for `path` (starting with `/`); GET, HEAD, PUT, DELETE and OPTIONS
    /// count as idempotent unless told otherwise.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Self {
            method,
            path: path.into(),
            body: None,
            headers: Vec::new(),
            idempotent,
        }
    }

    /// Sets a JSON body.
    pub fn json(mut self, body: &impl Serialize) -> Result<Self, AppError> {
        let bytes = serde_json::to_vec(body).map_err(AppError::internal)?;
        self.body = Some(Bytes::from(bytes));
        Ok(self)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Declares whether repeating the request is harmless (a POST made idempotent by
    /// a key, for instance), which allows retries.
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// An answer below 500 from a dependency.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    /// Dependency name, for error messages.
    pub dependency: &'static str,
    /// Status code.
    pub status: StatusCode,
    /// Raw body.
    pub body: Bytes,
}

impl UpstreamResponse {
    /// Decodes the body; a body that does not decode means the dependency is broken.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AppError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            AppError::unavailable(self.dependency, format!("undecodable response: {e}"))
        })
    }

    /// The dependency's error passed through as it came (status, code, message and
    /// extra members); a body not in the error format becomes `fallback_code`.
    pub fn into_error(self, fallback_code: &'static str) -> AppError {
        let parsed = serde_json::from_slice::<serde_json::Value>(&self.body).ok();
        let err = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(|v| v.as_object());
        match err {
            Some(obj) => {
                let code = obj
                    .get("code")
                    .and_then(|c| c.as_str())
                    .unwrap_or(fallback_code)
                    .to_owned();
                let message = obj
                    .get("message")
                    .and_then(|c| c.as_str())
                    .unwrap_or("rejected by a dependency")
                    .to_owned();
                let mut e = AppError::coded(self.status, code, message);
                for (k, v) in obj {
                    if k != "code" && k != "message" {
                        e = e.with_detail(k, v.clone());
                    }
                }
                e
            }
            None => AppError::coded(
                self.status,
                fallback_code,
                format!("{} answered {}", self.dependency, self.status),
            ),
        }
    }
}

impl Upstream {
    /// A client for `name` at `base_url` (`http://products:8082`).
    pub fn new(
        name: &'static str,
        base_url: &str,
        args: &UpstreamArgs,
    ) -> Result<Self, ClientError> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ClientError::BadUrl {
                name,
                url: base_url.to_owned(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(args.upstream_timeout)
            .connect_timeout(args.upstream_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Self {
            name,
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            retries: args.upstream_retries,
        })
    }

    /// The dependency name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends `req`, retrying as the module docs describe. Any answer below 500 is
    /// returned for the caller to interpret.
    pub async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, AppError> {
        let attempts = if req.idempotent { self.retries + 1 } else { 1 };
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            match self.attempt(&req).await {
                Ok(resp) if resp.status.is_server_error() => {
                    last = format!("answered {}", resp.status);
                }
                Ok(resp) => return Ok(resp),
                Err(e) => last = describe(&e),
            }
            tracing::debug!(dependency = self.name, attempt, reason = %last, "upstream call failed");
        }
        Err(AppError::unavailable(
            self.name,
            format!("{} {}: {last}", req.method, req.path),
        ))
    }

    async fn attempt(&self, req: &UpstreamRequest) -> Result<UpstreamResponse, reqwest::Error> {
        let mut builder = self
            .http
            .request(req.method.clone(), format!("{}{}", self.base, req.path));
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &req.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = builder.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        Ok(UpstreamResponse {
            dependency: self.name,
            status,
            body,
        })
    }
}

fn backoff(attempt: u32) -> Duration {
    let base = BASE_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(8));
    let jitter = fastrand::u64(0..=base.as_millis() as u64 / 2);
    base + Duration::from_millis(jitter)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        crate::error::ErrorChain(e).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_port_is_a_fast_503() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let upstream =
            Upstream::new("users", &format!("http://{addr}"), &UpstreamArgs::default()).unwrap();
        let start = std::time::Instant::now();
        let err = upstream
            .send(UpstreamRequest::new(Method::GET, "/v1/users/1"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(start.elapsed() < Duration::from_millis(1000));
    }

    #[test]
    fn passthrough_keeps_code_and_details() {
        let resp = UpstreamResponse {
            dependency: "products",
            status: StatusCode::CONFLICT,
            body: Bytes::from_static(
                br#"{"error":{"code":"insufficient_stock","message":"no","product_id":4}}"#,
            ),
        };
        let body = resp.into_error("conflict").body();
        assert_eq!(body["error"]["code"], "insufficient_stock");
        assert_eq!(body["error"]["product_id"], 4);
    }
}
