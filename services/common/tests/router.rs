//! The shared router behaviour, exercised through `oneshot`: JSON 404/405, body
//! limits, content types, metrics labels and buckets, readiness while draining.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use kubestore_common::server::{self, ServiceContext};
use kubestore_common::{AppError, BODY_LIMIT, Health, Json, Metrics, PathId, ReadinessCheck};
use kubestore_core::model::Duration;
use kubestore_core::model::slo::{APP_BUCKETS_MS, SliSource};
use kubestore_core::sli;
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

#[derive(Deserialize)]
struct Echo {
    text: String,
}

async fn echo(Json(body): Json<Echo>) -> String {
    body.text.len().to_string()
}

async fn thing(PathId(id): PathId) -> Result<String, AppError> {
    if id == 1 {
        Ok("one".into())
    } else {
        Err(AppError::not_found(format!("thing {id}")))
    }
}

fn app(health: Health) -> (Router, ServiceContext) {
    let ctx = ServiceContext::new("test", health, Metrics::new("test", "0.0.1"));
    let api = Router::new()
        .route("/v1/echo", post(echo))
        .route("/v1/things/{id}", get(thing));
    (server::finish(api, &ctx), ctx)
}

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, Value, String) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    )
}

fn post_json(body: Vec<u8>, content_type: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/v1/echo");
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(Body::from(body)).unwrap()
}

/// `{"text":"xxx…"}` of exactly `len` bytes.
fn body_of_len(len: usize) -> Vec<u8> {
    let overhead = br#"{"text":""}"#.len();
    format!(r#"{{"text":"{}"}}"#, "x".repeat(len - overhead)).into_bytes()
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let (router, _) = app(Health::new(vec![]));
    let (status, body, _) = call(&router, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body, _) = call(
        &router,
        Request::delete("/v1/echo").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let (status, _, _) = call(
        &router,
        Request::get("/v1/things/abc").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn body_limit_is_exact() {
    let (router, _) = app(Health::new(vec![]));
    let (status, _, text) = call(
        &router,
        post_json(body_of_len(BODY_LIMIT), Some("application/json")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, body, _) = call(
        &router,
        post_json(body_of_len(BODY_LIMIT + 1), Some("application/json")),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

/// Sends a raw chunked request to a real server and returns the status line.
async fn raw_chunked(addr: std::net::SocketAddr, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for chunk in body.chunks(1000) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer 413 and close before reading everything: ignore write errors.
    let _ = stream.write_all(&req).await;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn chunked_bodies_have_the_same_limit() {
    let (router, ctx) = app(Health::new(vec![]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        server::serve_until(listener, router, &ctx, std::time::Duration::ZERO, async {
            let _ = rx.await;
        })
        .await
    });
    assert!(
        raw_chunked(addr, &body_of_len(BODY_LIMIT))
            .await
            .contains(" 200 ")
    );
    assert!(
        raw_chunked(addr, &body_of_len(BODY_LIMIT + 1))
            .await
            .contains(" 413 ")
    );
    let _ = tx.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn content_types() {
    let (router, _) = app(Health::new(vec![]));
    let ok = br#"{"text":"hi"}"#.to_vec();
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "Application/JSON",
    ] {
        let (status, _, _) = call(&router, post_json(ok.clone(), Some(ct))).await;
        assert_eq!(status, StatusCode::OK, "{ct}");
    }
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let (status, body, _) = call(&router, post_json(ok.clone(), ct)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{ct:?}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    let (status, body, _) = call(
        &router,
        post_json(br#"{"text":5}"#.to_vec(), Some("application/json")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "text");
}

#[tokio::test]
async fn metrics_use_route_templates_and_slo_buckets() {
    let (router, _) = app(Health::new(vec![]));
    for path in ["/v1/things/1", "/v1/things/2", "/random/abc", "/random/def"] {
        call(&router, Request::get(path).body(Body::empty()).unwrap()).await;
    }
    let (status, _, text) = call(
        &router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(r#"http_requests_total{service="test",method="GET",route="/v1/things/{id}",status="200"} 1"#), "{text}");
    assert!(text.contains(
        r#"http_requests_total{service="test",method="GET",route="/v1/things/{id}",status="404"} 1"#
    ));
    assert!(text.contains(
        r#"http_requests_total{service="test",method="GET",route="unmatched",status="404"} 2"#
    ));
    assert!(!text.contains("/random"));
    for le in [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf",
    ] {
        let needle = format!(
            r#"http_request_duration_seconds_bucket{{le="{le}",service="test",method="GET",route="/v1/things/{{id}}"}}"#
        );
        assert!(text.contains(&needle), "missing bucket {le}: {text}");
    }
    // The SLO rules select buckets by the `le` the SLO model spells for each threshold.
    for &ms in APP_BUCKETS_MS {
        let le = sli::le(SliSource::App, Duration::from_millis(ms));
        assert!(
            text.contains(&format!(r#"le="{le}""#)),
            "rules expect le={le}: {text}"
        );
    }
    assert!(text.contains(r#"http_requests_in_flight{service="test"} 1"#));
    assert!(text.contains(r#"build_info{service="test",version="0.0.1"} 1"#));
}

#[tokio::test]
async fn readiness_names_the_failing_dependency_and_drains() {
    let (router, ctx) = app(Health::new(vec![ReadinessCheck::new(
        "database",
        || async { Err::<(), _>("down".to_owned()) },
    )]));
    let (status, body, _) = call(
        &router,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["dependency"], "database");
    let (status, _, _) = call(
        &router,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (router, ctx2) = app(Health::new(vec![]));
    let (status, _, _) = call(
        &router,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    ctx2.health.start_draining();
    let (status, _, _) = call(
        &router,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    drop(ctx);
}

#[tokio::test]
async fn json_answers_end_with_a_newline() {
    // Scripts that run curls in parallel rely on one body per line.
    let (router, _) = app(Health::new(vec![]));
    for path in ["/nope", "/healthz", "/readyz", "/v1/things/2"] {
        let (_, body, text) = call(&router, Request::get(path).body(Body::empty()).unwrap()).await;
        assert!(body.is_object(), "{path}");
        assert!(text.ends_with("}\n"), "{path}: {text:?}");
    }
}
