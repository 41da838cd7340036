//! [`AppError`], the error every handler returns, rendered as the contract's
//! `{"error": {"code", "message", ...}}` body with the matching status.
//!
//! Internal errors are logged here and answered with a fixed sentence, so neither SQL
//! text nor a backtrace can reach a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Seconds a client should wait before retrying a 503, sent as `Retry-After`.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// An error answered to the client; see each variant for its status and code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 `bad_request`: malformed JSON, wrong content type, unreadable body.
    #[error("{0}")]
    BadRequest(String),
    /// 422 `validation_failed`; `field` names the offending field or parameter.
    #[error("{field}: {message}")]
    Validation {
        /// The field (`name`, `items[2].quantity`) or query parameter (`limit`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// 404 `not_found`; the text names what was not found (`product 7`).
    #[error("{0} not found")]
    NotFound(String),
    /// Any other error with a specific code: the 409 conflicts (`email_taken`,
    /// `insufficient_stock`, ...), 422s with their own code (`unknown_user`), or an
    /// upstream error passed through as it came. Boxed to keep `Result`s small.
    #[error("{}", .0.message)]
    Coded(Box<Coded>),
    /// 503 `dependency_unavailable` with `Retry-After`: a database, Redis or another
    /// service is down, too slow or answered 5xx.
    #[error("{dependency} is unavailable: {reason}")]
    DependencyUnavailable {
        /// `database`, `redis`, `users`, `products`, ...
        dependency: Cow<'static, str>,
        /// Logged, not sent: may contain addresses.
        reason: String,
    },
    /// 413 `payload_too_large`: the body exceeds [`crate::BODY_LIMIT`].
    #[error("request body exceeds {} bytes", crate::BODY_LIMIT)]
    PayloadTooLarge,
    /// 405 `method_not_allowed`.
    #[error("method not allowed for this path")]
    MethodNotAllowed,
    /// A database error not yet classified; rendered by [`AppError::from_database`].
    #[cfg(feature = "mysql")]
    #[error("database error")]
    Database(#[source] Box<sqlx::Error>),
    /// 500 `internal_error`; the source is logged and never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The parts of an [`AppError::Coded`] error.
#[derive(Debug)]
pub struct Coded {
    /// HTTP status.
    pub status: StatusCode,
    /// snake_case machine-readable code.
    pub code: Cow<'static, str>,
    /// Human sentence.
    pub message: String,
    /// Extra members of the error object, such as `product_id` or `field`.
    pub details: Map<String, Value>,
}

#[cfg(feature = "mysql")]
impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(Box::new(e))
    }
}

impl AppError {
    /// 422 `validation_failed` naming `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// 404 `not_found`; `what` reads like `product 7`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// An error with a specific code and status, such as 409 `sku_taken`.
    pub fn coded(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::Coded(Box::new(Coded {
            status,
            code: code.into(),
            message: message.into(),
            details: Map::new(),
        }))
    }

    /// 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(StatusCode::CONFLICT, code, message)
    }

    /// 422 with a code other than `validation_failed` (`unknown_user`).
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 503 `dependency_unavailable` for `dependency`.
    pub fn unavailable(
        dependency: impl Into<Cow<'static, str>>,
        reason: impl Into<String>,
    ) -> Self {
        Self::DependencyUnavailable {
            dependency: dependency.into(),
            reason: reason.into(),
        }
    }

    /// 500 `internal_error` wrapping `source`, which is logged only.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(source.into())
    }

    /// Adds a member to the error object of a [`AppError::Coded`] error; other
    /// variants are returned unchanged.
    #[must_use]
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Self::Coded(coded) = &mut self {
            coded.details.insert(key.to_owned(), value.into());
        }
        self
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Coded(coded) => coded.status,
            Self::DependencyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            #[cfg(feature = "mysql")]
            Self::Database(e) => crate::db::classify(e).status(),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The snake_case code of the error object.
    pub fn code(&self) -> Cow<'static, str> {
        match self {
            Self::BadRequest(_) => "bad_request".into(),
            Self::Validation { .. } => "validation_failed".into(),
            Self::NotFound(_) => "not_found".into(),
            Self::Coded(coded) => coded.code.clone(),
            Self::DependencyUnavailable { .. } => "dependency_unavailable".into(),
            Self::PayloadTooLarge => "payload_too_large".into(),
            Self::MethodNotAllowed => "method_not_allowed".into(),
            #[cfg(feature = "mysql")]
            Self::Database(e) => crate::db::classify(e).code(),
            Self::Internal(_) => "internal_error".into(),
        }
    }

    /// The JSON body `{"error": {...}}` for this error (also logs internal errors).
    pub fn body(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("code".into(), Value::String(self.code().into_owned()));
        let message = match self {
            Self::Validation { field, message } => {
                obj.insert("field".into(), Value::String(field.clone()));
                format!("{field}: {message}")
            }
            Self::Coded(coded) => {
                for (k, v) in &coded.details {
                    if k != "code" && k != "message" {
                        obj.insert(k.clone(), v.clone());
                    }
                }
                coded.message.clone()
            }
            Self::DependencyUnavailable { dependency, .. } => {
                obj.insert("dependency".into(), Value::String(dependency.to_string()));
                format!("{dependency} is unavailable; retry later")
            }
            #[cfg(feature = "mysql")]
            Self::Database(e) => {
                let classified = crate::db::classify(e);
                return classified.body();
            }
            Self::Internal(_) => "an unexpected error occurred".to_owned(),
            other => other.to_string(),
        };
        obj.insert("message".into(), Value::String(message));
        json!({ "error": obj })
    }

    fn log(&self) {
        match self {
            Self::Internal(source) => {
                tracing::error!(error = %ErrorChain(source.as_ref()), "internal error");
            }
            Self::DependencyUnavailable { dependency, reason } => {
                tracing::warn!(%dependency, %reason, "dependency unavailable");
            }
            #[cfg(feature = "mysql")]
            Self::Database(e) => crate::db::classify(e).log(),
            _ => {}
        }
    }
}

/// Displays an error with its `source()` chain, for logs.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let mut response = crate::extract::json_response(status, &self.body());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let body = AppError::validation("name", "must be 1 to 100 characters").body();
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["field"], "name");
        assert!(body["error"]["message"].as_str().unwrap().contains("name"));
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let err = AppError::internal("SELECT secret FROM t");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.body().to_string().contains("secret"));
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<AppError>() <= 64);
    }

    #[test]
    fn details_are_merged() {
        let body = AppError::conflict("insufficient_stock", "product 3 has insufficient stock")
            .with_detail("product_id", 3)
            .body();
        assert_eq!(body["error"]["product_id"], 3);
        assert_eq!(body["error"]["code"], "insufficient_stock");
    }
}
