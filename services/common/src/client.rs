//! The outgoing HTTP client for calls between services.
//!
//! Every attempt has the `UPSTREAM_TIMEOUT` timeout. Connect errors, timeouts and
//! 5xx answers become [`AppError::DependencyUnavailable`] (a fast 503 for our own
//! caller) after at most `UPSTREAM_RETRIES` extra attempts with exponential backoff
//! and jitter, and only for requests marked idempotent: retrying a non-idempotent
//! call could do its work twice.
//!
//! Every service reads answers the same way, in one [`Outcome`]: the answer it asked
//! for, a [`Refusal`] (a 4xx: the dependency understood and said no, which the caller
//! shows, passes on, or calls [`Refusal::unexpected`]), or `Err` with the 503
//! [`AppError::DependencyUnavailable`] (down, too slow, 5xx after the retries, or an
//! answer that is neither). Each service's `upstream` module keeps its dependencies'
//! clients in one `Upstreams` value built on these.

use crate::AppError;
use crate::config::UpstreamArgs;
use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};
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
    /// Limit of one attempt, connecting included.
    timeout: Duration,
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
}

/// What a call to a dependency ends in; see the module docs.
pub type Outcome<T> = Result<Result<T, Refusal>, AppError>;

/// A 4xx answer of a dependency, read from its `{"error": {...}}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// Dependency name.
    pub dependency: &'static str,
    /// The call, `POST /v1/orders`, for [`Refusal::unexpected`].
    pub request: String,
    /// Its status.
    pub status: StatusCode,
    /// Its error code (`insufficient_stock`, `email_taken`, ...); `rejected` when
    /// the body is not in the error format.
    pub code: String,
    /// Its human sentence.
    pub message: String,
    /// The other members of its error object (`product_id`, `field`, ...).
    pub details: Map<String, Value>,
}

impl Refusal {
    fn read(request: String, response: &UpstreamResponse) -> Self {
        let parsed = serde_json::from_slice::<Value>(&response.body).ok();
        let error = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_object);
        let text = |key: &str| error.and_then(|e| e.get(key)).and_then(Value::as_str);
        Self {
            dependency: response.dependency,
            request,
            status: response.status,
            code: text("code").unwrap_or("rejected").to_owned(),
            message: text("message").map_or_else(
                || format!("{} answered {}", response.dependency, response.status),
                str::to_owned,
            ),
            details: error
                .map(|e| {
                    e.iter()
                        .filter(|(k, _)| *k != "code" && *k != "message")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The refusal passed on to our own caller as it came: status, code, message and
    /// the other members.
    pub fn into_error(self) -> AppError {
        self.details.into_iter().fold(
            AppError::coded(self.status, self.code, self.message),
            |e, (k, v)| e.with_detail(&k, v),
        )
    }

    /// A 503: the dependency refused a call it should have accepted, so it (or our
    /// use of it) is broken.
    pub fn unexpected(self) -> AppError {
        AppError::unavailable(
            self.dependency,
            format!("{} answered {}", self.request, self.status),
        )
    }
}

impl Upstream {
    /// Sends `req` and sorts the answer: `expected` is the answer, any other 4xx a
    /// [`Refusal`], anything else the dependency being unavailable.
    pub async fn call(
        &self,
        req: UpstreamRequest,
        expected: StatusCode,
    ) -> Outcome<UpstreamResponse> {
        let request = format!("{} {}", req.method, req.path);
        let response = self.send(req).await?;
        if response.status == expected {
            Ok(Ok(response))
        } else if response.status.is_client_error() {
            Ok(Err(Refusal::read(request, &response)))
        } else {
            tracing::warn!(dependency = self.name, status = %response.status, %request, "unexpected answer");
            Err(AppError::unavailable(
                self.name,
                format!("{request} answered {}", response.status),
            ))
        }
    }

    /// [`Upstream::call`], decoding the JSON body of the expected answer.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        req: UpstreamRequest,
        expected: StatusCode,
    ) -> Outcome<T> {
        match self.call(req, expected).await? {
            Ok(response) => response.json().map(Ok),
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    /// [`Upstream::call_json`] where no refusal is expected either: one is a 503.
    pub async fn fetch_json<T: DeserializeOwned>(
        &self,
        req: UpstreamRequest,
        expected: StatusCode,
    ) -> Result<T, AppError> {
        self.call_json(req, expected)
            .await?
            .map_err(Refusal::unexpected)
    }

    /// Reads one resource: 200 is `Some`, 404 `None`, any other refusal a 503.
    pub async fn find_json<T: DeserializeOwned>(
        &self,
        path: String,
    ) -> Result<Option<T>, AppError> {
        let request = UpstreamRequest::new(Method::GET, path);
        match self.call_json(request, StatusCode::OK).await? {
            Ok(found) => Ok(Some(found)),
            Err(refusal) if refusal.status == StatusCode::NOT_FOUND => Ok(None),
            Err(refusal) => Err(refusal.unexpected()),
        }
    }

    /// Whether one resource exists, as [`Upstream::find_json`] without its body.
    pub async fn exists(&self, path: String) -> Result<bool, AppError> {
        Ok(self.find_json::<IgnoredAny>(path).await?.is_some())
    }

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
        // The time limit is set per request, so that `with_timeout` can share the pool.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Self {
            name,
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            timeout: args.upstream_timeout,
            retries: args.upstream_retries,
        })
    }

    /// The same dependency over the same connections, with another limit per attempt:
    /// for the one call that takes longer than the rest (a checkout).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
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
            .request(req.method.clone(), format!("{}{}", self.base, req.path))
            .timeout(self.timeout);
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

    /// A server that answers every request 200 after `delay`.
    async fn slow_server(delay: Duration) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                        .await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_longer_limit_lets_a_slow_call_through_on_the_same_client() {
        let url = slow_server(Duration::from_millis(300)).await;
        let args = UpstreamArgs {
            upstream_timeout: Duration::from_millis(100),
            ..UpstreamArgs::default()
        };
        let quick = Upstream::new("orders", &url, &args).unwrap();
        let err = quick
            .send(UpstreamRequest::new(Method::GET, "/slow"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        let patient = quick.with_timeout(Duration::from_secs(5));
        let answer = patient
            .send(UpstreamRequest::new(Method::GET, "/slow"))
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        // The shorter limit still holds for the original.
        assert!(
            quick
                .send(UpstreamRequest::new(Method::GET, "/slow"))
                .await
                .is_err()
        );
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
        let refusal = Refusal::read("POST /v1/reservations".into(), &resp);
        assert_eq!(refusal.code, "insufficient_stock");
        let body = refusal.clone().into_error().body();
        assert_eq!(body["error"]["code"], "insufficient_stock");
        assert_eq!(body["error"]["product_id"], 4);
        assert_eq!(
            refusal.unexpected().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn a_body_not_in_the_error_format_is_a_plain_refusal() {
        let resp = UpstreamResponse {
            dependency: "cart",
            status: StatusCode::BAD_REQUEST,
            body: Bytes::from_static(b"nope"),
        };
        let refusal = Refusal::read("GET /x".into(), &resp);
        assert_eq!(refusal.code, "rejected");
        assert_eq!(refusal.message, "cart answered 400 Bad Request");
    }
}
