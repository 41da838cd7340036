//! Request extractors that reject with the contract's error format instead of
//! axum's plain-text defaults: [`Json`] (content type, size limit, JSON object,
//! field-level 422s), [`Query`] (422 naming the parameter) and [`PathId`] (a
//! positive 64-bit id, else 404).

use crate::AppError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;

/// Largest accepted request body in bytes; one more byte is a 413.
pub const BODY_LIMIT: usize = 65_536;

/// How long reading a request body may take.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Largest id we hand out: ids are MySQL `BIGINT` and JSON-safe as i64.
pub const MAX_ID: i64 = i64::MAX;

/// A JSON object body deserialised into `T` and, as a response, `T` serialised as
/// JSON with a trailing newline (as curl-driven scripts and Flask expect: two bodies
/// printed by concurrent `curl`s never share a line).
///
/// Rejections: wrong or missing content type, malformed JSON, lone surrogates,
/// absurd nesting or a body that is not an object are 400 `bad_request`; a body over
/// [`BODY_LIMIT`] (declared or chunked) is 413; a field of the wrong type, a missing
/// field or a number that does not fit is 422 `validation_failed` naming the field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json_body(req).await?;
        parse_json_object(&bytes).map(Json)
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        json_response(axum::http::StatusCode::OK, &self.0)
    }
}

/// `value` as a JSON response with `status` and a trailing newline.
pub fn json_response(
    status: axum::http::StatusCode,
    value: &impl serde::Serialize,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut buf = Vec::with_capacity(256);
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => {
            buf.push(b'\n');
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/json"),
                )],
                buf,
            )
                .into_response()
        }
        Err(e) => AppError::internal(e).into_response(),
    }
}

/// Whether the headers declare a JSON body (`application/json`, with or without
/// parameters, or `application/*+json`).
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Checks the content type and reads at most [`BODY_LIMIT`] bytes of the body.
pub async fn read_json_body(req: Request) -> Result<Bytes, AppError> {
    if !is_json_content_type(req.headers()) {
        return Err(AppError::BadRequest(
            "Content-Type must be application/json".into(),
        ));
    }
    read_body(req).await
}

/// Reads at most [`BODY_LIMIT`] bytes, counting chunked bodies as they arrive.
pub async fn read_body(req: Request) -> Result<Bytes, AppError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    // A client that stops sending mid-body must not hold a handler (and a graceful
    // shutdown) forever.
    let read = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        axum::body::to_bytes(req.into_body(), BODY_LIMIT),
    );
    let Ok(result) = read.await else {
        return Err(AppError::coded(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        ));
    };
    match result {
        Ok(bytes) => Ok(bytes),
        Err(err) => {
            let inner = err.into_inner();
            if is_length_limit(inner.as_ref()) {
                Err(AppError::PayloadTooLarge)
            } else {
                Err(AppError::BadRequest(
                    "could not read the request body".into(),
                ))
            }
        }
    }
}

fn is_length_limit(mut err: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        match err.source() {
            Some(source) => err = source,
            None => return false,
        }
    }
}

/// Parses `bytes` as a JSON object into `T` with the rejection rules of [`Json`].
pub fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(AppError::BadRequest("request body is empty".into())),
        Some(b'{') => {}
        Some(_) => {
            return Err(AppError::BadRequest(
                "request body must be a JSON object".into(),
            ));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end()
        .map_err(|_| AppError::BadRequest("request body has trailing characters".into()))?;
    Ok(value)
}

fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    use serde_json::error::Category;
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        Category::Data => {
            let message = strip_position(&inner.to_string());
            let field = field_name(&path, &message);
            AppError::validation(field, message)
        }
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::BadRequest("request body is not valid JSON".into())
        }
    }
}

/// serde_json appends " at line L column C", which says nothing useful to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The field a serde data error is about: its path, plus the missing field's name
/// (serde reports a missing field at its parent's path).
fn field_name(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (p, Some(name)) => format!("{p}.{name}"),
        (p, None) => p.to_owned(),
    }
}

/// Query parameters deserialised into `T`; a parameter that does not parse is 422
/// `validation_failed` naming it (axum's own `Query` answers 400 in plain text).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Parses a raw query string with the rejection rules of [`Query`].
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let field = field_name(&path, &message);
        let field = if field == "body" {
            "query".to_owned()
        } else {
            field
        };
        AppError::validation(field, format!("invalid value: {message}"))
    })
}

/// The single `{id}` (or other) path parameter as a positive 64-bit id. Anything
/// else (`abc`, `0`, `-1`, a number beyond i64) cannot name a resource: 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::not_found("resource"))?;
        let raw = params
            .iter()
            .next()
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        parse_id(&raw)
            .map(PathId)
            .ok_or_else(|| AppError::not_found(format!("resource {raw:.40}")))
    }
}

/// A positive id written as plain decimal digits, at most [`MAX_ID`].
pub fn parse_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|id| *id >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        product_id: i64,
        quantity: i64,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    fn field_of(err: AppError) -> String {
        match err {
            AppError::Validation { field, .. } => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let err =
            parse_json_object::<Body>(br#"{"name":"x","items":[{"product_id":1,"quantity":"2"}]}"#)
                .unwrap_err();
        assert_eq!(field_of(err), "items[0].quantity");
    }

    #[test]
    fn missing_field_is_named() {
        let err = parse_json_object::<Body>(br#"{"items":[]}"#).unwrap_err();
        assert_eq!(field_of(err), "name");
    }

    #[test]
    fn huge_and_negative_numbers_are_422() {
        let err = parse_json_object::<Body>(
            br#"{"name":"x","items":[{"product_id":99999999999999999999999,"quantity":1}]}"#,
        )
        .unwrap_err();
        assert_eq!(field_of(err), "items[0].product_id");
    }

    #[test]
    fn syntax_errors_and_non_objects_are_400() {
        for body in [
            &b"{"[..],
            b"[1,2]",
            b"\"x\"",
            b"",
            b"{\"name\":\"\\ud800\",\"items\":[]}",
            b"{\"name\":\"x\",\"items\":[]} trailing",
        ] {
            let err = parse_json_object::<Body>(body).unwrap_err();
            assert!(matches!(err, AppError::BadRequest(_)), "{body:?}: {err:?}");
        }
        let deep = format!("{{\"name\":{}1{}}}", "[".repeat(500), "]".repeat(500));
        assert!(matches!(
            parse_json_object::<Body>(deep.as_bytes()).unwrap_err(),
            AppError::BadRequest(_) | AppError::Validation { .. }
        ));
    }

    #[test]
    fn ids_are_positive_decimal() {
        assert_eq!(parse_id("42"), Some(42));
        for bad in ["0", "-1", "abc", "", "99999999999999999999", "+1", "1.0"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
        assert_eq!(parse_id("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_id("9223372036854775808"), None);
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Params {
        limit: Option<u64>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let err = parse_query::<Params>("limit=abc").unwrap_err();
        assert_eq!(field_of(err), "limit");
        let ok: Params = parse_query("limit=5&other=1").unwrap();
        assert_eq!(ok.limit, Some(5));
    }
}
