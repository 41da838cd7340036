//! A client for the Prometheus HTTP query API, as Prometheus, Thanos, Mimir, Cortex and
//! VictoriaMetrics serve it.
//!
//! Built on reqwest rather than `prometheus-http-query`, because the verdict depends on
//! what that crate drops: the envelope's `warnings` and `infos`, VictoriaMetrics'
//! `isPartial`, the HTTP status (to tell a refused token from a bad query) and
//! `Retry-After`. Every query of an evaluation passes the same `time`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::span::words;

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL, with a path prefix if the server has one.
    pub url: String,
    /// Extra headers (`X-Scope-OrgID`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A bearer token, read from this file before every evaluation.
    pub bearer_token_file: Option<PathBuf>,
    /// Basic auth user and password.
    pub basic_auth: Option<(String, String)>,
    /// PEM bundle of extra trusted CAs.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
    /// Time-out of one HTTP request.
    pub query_timeout: Duration,
    /// The run's deadline (`--timeout`), for saying which limit passed.
    pub run_timeout: Duration,
    /// Retries after the first try.
    pub retries: u32,
    /// Queries in flight at once.
    pub concurrency: usize,
    /// Accept answers the server marks as partial.
    pub allow_partial: bool,
}

/// Why a query got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    /// No connection, or it broke.
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// Where.
        url: String,
        /// What the transport said.
        message: String,
    },
    /// No answer within `--query-timeout`.
    #[error("no answer within {} (--query-timeout)", words(*.0))]
    Timeout(Duration),
    /// 401 or 403.
    #[error("{url} refused the credentials (HTTP {status}): {body}")]
    Auth {
        /// Where.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// The server answered with an API error.
    #[error("query failed (HTTP {status}, {error_type}): {error}")]
    Api {
        /// HTTP status.
        status: u16,
        /// `bad_data`, `execution`, `timeout`, ...
        error_type: String,
        /// The server's message.
        error: String,
    },
    /// An HTTP error without a Prometheus error body (a proxy's 502).
    #[error("HTTP {status} from {url}: {body}")]
    Status {
        /// Where.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// Something that is not a Prometheus API answer.
    #[error("not a Prometheus API answer from {url}: {message}")]
    BadResponse {
        /// Where.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The run's deadline passed.
    #[error("no answer before the run's deadline (--timeout {}) passed", words(*.0))]
    Deadline(Duration),
    /// The bearer token could not be read.
    #[error("cannot read the bearer token file {file}: {message}")]
    Token {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
}

impl QueryError {
    /// Whether trying again may succeed: transport errors, time-outs, 429, 5xx and the
    /// server's own `timeout`/`unavailable`; never a bad query.
    fn transient(&self) -> bool {
        match self {
            QueryError::Unreachable { .. } | QueryError::Timeout(_) => true,
            QueryError::Status { status, .. } => *status == 429 || *status >= 500,
            QueryError::Api {
                status, error_type, ..
            } => {
                *status == 429
                    || (*status >= 500 && !matches!(error_type.as_str(), "bad_data" | "execution"))
                    || matches!(error_type.as_str(), "timeout" | "unavailable")
            }
            _ => false,
        }
    }
}

/// One series of an instant vector.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A successful answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The series (a scalar answer is one series without labels).
    pub samples: Vec<Sample>,
    /// The server's warnings.
    pub warnings: Vec<String>,
    /// The server's infos.
    pub infos: Vec<String>,
    /// Whether the server said the answer may miss data.
    pub partial: bool,
}

impl Answer {
    /// The sum of all series, `None` when there is none.
    pub fn sum(&self) -> Option<f64> {
        (!self.samples.is_empty()).then(|| self.samples.iter().map(|s| s.value).sum())
    }
}

/// A range answer: per series, `(unix seconds, value)` points.
#[derive(Debug, Clone, Default)]
pub struct RangeAnswer {
    /// Points of the series, summed if there are several.
    pub points: Vec<(f64, f64)>,
    /// The server's warnings.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: String,
    data: Option<Data>,
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
    #[serde(default)]
    is_partial: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Option<(f64, String)>,
    values: Option<Vec<(f64, String)>>,
}

/// The credentials of one evaluation.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer ...`, read from the token file.
    Bearer(HeaderValue),
    /// Basic auth.
    Basic(String, String),
}

/// The query client of one run.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// `base` without user and password, for reports and errors.
    shown: String,
    config: Arc<Config>,
    limit: Arc<Semaphore>,
    deadline: Instant,
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The CA file.
    #[error("--ca-file {file}: {message}")]
    CaFile {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// The URL.
    #[error("--prometheus `{0}` is not an http(s) URL")]
    Url(String),
    /// The HTTP client.
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}

impl Client {
    /// A client whose retries stop at `deadline`.
    pub fn new(config: Config, deadline: Instant) -> Result<Self, SetupError> {
        let url = config.url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || reqwest::Url::parse(&url).is_err()
        {
            return Err(SetupError::Url(config.url.clone()));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let mut value = value.clone();
            value.set_sensitive(true);
            headers.append(name.clone(), value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.query_timeout)
            .connect_timeout(config.query_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("slo-check/", env!("CARGO_PKG_VERSION")));
        if let Some(file) = &config.ca_file {
            let ca_err = |message: String| SetupError::CaFile {
                file: file.display().to_string(),
                message,
            };
            let pem = std::fs::read(file).map_err(|e| ca_err(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no PEM certificate in it".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| SetupError::Http(e.to_string()))?;
        let shown = match reqwest::Url::parse(&url) {
            Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.as_str().trim_end_matches('/').to_owned()
            }
            _ => url.clone(),
        };
        Ok(Self {
            http,
            shown,
            base: url,
            limit: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config: Arc::new(config),
            deadline,
        })
    }

    /// The server's base URL as given, without credentials.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// The `Authorization` header for this evaluation: the bearer token is read from its
    /// file now, so a rotated token is picked up.
    pub fn authorization(&self) -> Result<Option<Auth>, QueryError> {
        if let Some(file) = &self.config.bearer_token_file {
            let token = std::fs::read_to_string(file).map_err(|e| QueryError::Token {
                file: file.display().to_string(),
                message: e.to_string(),
            })?;
            let token = token.trim();
            if token.is_empty() {
                return Err(QueryError::Token {
                    file: file.display().to_string(),
                    message: "it is empty".into(),
                });
            }
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                QueryError::Token {
                    file: file.display().to_string(),
                    message: "the token holds characters a header cannot carry".into(),
                }
            })?;
            value.set_sensitive(true);
            return Ok(Some(Auth::Bearer(value)));
        }
        if let Some((user, password)) = &self.config.basic_auth {
            return Ok(Some(Auth::Basic(user.clone(), password.clone())));
        }
        Ok(None)
    }

    /// An instant query at `time` (unix seconds).
    pub async fn query(
        &self,
        auth: Option<&Auth>,
        expr: &str,
        time: i64,
    ) -> Result<Answer, QueryError> {
        let form = vec![("query", expr.to_owned()), ("time", time.to_string())];
        let env = self.call(auth, "query", form).await?;
        let data = env.data.ok_or_else(|| self.bad("`data` missing"))?;
        let samples = match data.result_type.as_str() {
            "vector" => {
                let items: Vec<VectorItem> = serde_json::from_value(data.result)
                    .map_err(|e| self.bad(&format!("vector result: {e}")))?;
                items
                    .into_iter()
                    .map(|i| {
                        let (_, v) = i
                            .value
                            .ok_or_else(|| self.bad("a sample without `value`"))?;
                        Ok(Sample {
                            labels: i.metric,
                            value: self.number(&v)?,
                        })
                    })
                    .collect::<Result<Vec<_>, QueryError>>()?
            }
            "scalar" => {
                let (_, v): (f64, String) = serde_json::from_value(data.result)
                    .map_err(|e| self.bad(&format!("scalar result: {e}")))?;
                vec![Sample {
                    labels: BTreeMap::new(),
                    value: self.number(&v)?,
                }]
            }
            other => return Err(self.bad(&format!("unexpected result type `{other}`"))),
        };
        Ok(Answer {
            samples,
            warnings: env.warnings,
            infos: env.infos,
            partial: env.is_partial,
        })
    }

    /// A range query from `start` to `end` every `step` seconds, series summed per point.
    pub async fn query_range(
        &self,
        auth: Option<&Auth>,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<RangeAnswer, QueryError> {
        let form = vec![
            ("query", expr.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.max(1).to_string()),
        ];
        let env = self.call(auth, "query_range", form).await?;
        let data = env.data.ok_or_else(|| self.bad("`data` missing"))?;
        if data.result_type != "matrix" {
            return Err(self.bad(&format!("unexpected result type `{}`", data.result_type)));
        }
        let items: Vec<VectorItem> = serde_json::from_value(data.result)
            .map_err(|e| self.bad(&format!("matrix result: {e}")))?;
        let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
        for item in items {
            for (t, v) in item.values.unwrap_or_default() {
                *sums.entry((t * 1000.0) as i64).or_default() += self.number(&v)?;
            }
        }
        Ok(RangeAnswer {
            points: sums
                .into_iter()
                .map(|(t, v)| (t as f64 / 1000.0, v))
                .collect(),
            warnings: env.warnings,
        })
    }

    fn bad(&self, message: &str) -> QueryError {
        QueryError::BadResponse {
            url: self.shown.clone(),
            message: message.to_owned(),
        }
    }

    fn number(&self, text: &str) -> Result<f64, QueryError> {
        text.parse::<f64>()
            .map_err(|_| self.bad(&format!("`{text}` is not a number")))
    }

    /// One API call with retries, inside the concurrency cap.
    async fn call(
        &self,
        auth: Option<&Auth>,
        endpoint: &str,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<Envelope, QueryError> {
        // Below the client's time-out, so the server gives up first and says so.
        let server_timeout = self
            .config
            .query_timeout
            .saturating_sub(Duration::from_millis(500));
        if !server_timeout.is_zero() {
            form.push(("timeout", format!("{}ms", server_timeout.as_millis())));
        }
        if !self.config.allow_partial {
            // Thanos and Cortex-style servers then fail instead of answering with part of
            // the data; the others ignore the parameter.
            form.push(("partial_response", "false".into()));
        }
        let url = format!("{}/api/v1/{endpoint}", self.base);
        let mut attempt = 0;
        loop {
            let result = {
                let _permit = self
                    .limit
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                self.once(auth, &url, &form).await
            };
            let (error, retry_after) = match result {
                Ok(env) => return Ok(env),
                Err(e) => e,
            };
            if !error.transient() || attempt >= self.config.retries {
                return Err(error);
            }
            // Exponential back-off with full jitter, or what the server asked for.
            let cap = Duration::from_millis(250u64 << attempt.min(6));
            let wait = retry_after
                .map(|r| r.min(Duration::from_secs(30)))
                .unwrap_or_else(|| cap.mul_f64(0.5 + fastrand::f64() * 0.5));
            if Instant::now() + wait >= self.deadline {
                return Err(error);
            }
            tracing::warn!(%error, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "retrying a query");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn once(
        &self,
        auth: Option<&Auth>,
        url: &str,
        form: &[(&'static str, String)],
    ) -> Result<Envelope, (QueryError, Option<Duration>)> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err((QueryError::Deadline(self.config.run_timeout), None));
        }
        let mut request = self
            .http
            .post(url)
            .form(form)
            .timeout(self.config.query_timeout.min(remaining));
        match auth {
            Some(Auth::Bearer(value)) => request = request.header(AUTHORIZATION, value.clone()),
            Some(Auth::Basic(user, password)) => request = request.basic_auth(user, Some(password)),
            None => {}
        }
        // When the run's deadline is nearer than --query-timeout, it is the limit that
        // passes, and the error must name it.
        let deadline_first = remaining < self.config.query_timeout;
        let response = request
            .send()
            .await
            .map_err(|e| (self.transport(e, deadline_first), None))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .bytes()
            .await
            .map_err(|e| (self.transport(e, deadline_first), retry_after))?;
        let snippet = || {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            let cut: String = text.chars().take(200).collect();
            if cut.len() < text.len() {
                format!("{cut}...")
            } else {
                cut
            }
        };
        if status == 401 || status == 403 {
            return Err((
                QueryError::Auth {
                    url: self.shown.clone(),
                    status,
                    body: snippet(),
                },
                None,
            ));
        }
        match serde_json::from_slice::<Envelope>(&body) {
            Ok(env) if env.status == "success" && (200..300).contains(&status) => Ok(env),
            Ok(env) if env.status == "error" => Err((
                QueryError::Api {
                    status,
                    error_type: env.error_type.unwrap_or_default(),
                    error: env.error.unwrap_or_default(),
                },
                retry_after,
            )),
            _ if !(200..300).contains(&status) => Err((
                QueryError::Status {
                    url: self.shown.clone(),
                    status,
                    body: snippet(),
                },
                retry_after,
            )),
            Ok(env) => Err((self.bad(&format!("status `{}`", env.status)), None)),
            Err(e) => Err((self.bad(&format!("{e}: {}", snippet())), None)),
        }
    }

    fn transport(&self, e: reqwest::Error, deadline_first: bool) -> QueryError {
        // reqwest's message names the URL, which may carry credentials.
        let e = e.without_url();
        if e.is_timeout() {
            return if deadline_first {
                QueryError::Deadline(self.config.run_timeout)
            } else {
                QueryError::Timeout(self.config.query_timeout)
            };
        }
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        QueryError::Unreachable {
            url: self.shown.clone(),
            message,
        }
    }
}

impl Client {
    /// Whether answers marked partial are accepted.
    pub fn allows_partial(&self) -> bool {
        self.config.allow_partial
    }
}
