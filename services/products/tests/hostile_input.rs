//! Bad input never yields a 500: malformed JSON, wrong types, missing fields,
//! oversize bodies (65,536 vs 65,537 bytes), huge and negative numbers, hostile
//! strings, wrong content types and methods. Every answer is JSON.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

fn raw(method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(Body::from(body)).unwrap()
}

/// A valid product body padded through `description`... to exactly `len` bytes; the
/// description may then be too long (422), but never a 413 below the limit.
fn product_body_of_len(len: usize) -> Vec<u8> {
    let head = r#"{"sku":"big","name":"n","price_cents":1,"stock":1,"pad":""#;
    let tail = r#""}"#;
    format!("{head}{}{tail}", "x".repeat(len - head.len() - tail.len())).into_bytes()
}

#[tokio::test]
async fn body_limit_is_exactly_64_kib() {
    let app = common::setup().await;
    let (status, body) = app
        .raw(raw(
            "POST",
            "/v1/products",
            Some("application/json"),
            product_body_of_len(65_536),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .raw(raw(
            "POST",
            "/v1/products",
            Some("application/json"),
            product_body_of_len(65_537),
        ))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
    app.cleanup().await;
}

#[tokio::test]
async fn hostile_bodies_never_cause_a_500() {
    let app = common::setup().await;
    let id = app.product("P", 100, 5).await;
    let deep_array = format!("{{\"sku\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    let hostile_strings = [
        "'; DROP TABLE products; --".to_owned(),
        "\u{0}".to_owned(),
        "\u{202e}evil".to_owned(),
        "%s%n%x".to_owned(),
        "😀".repeat(64),
        "\u{fffd}".repeat(300),
        "a\r\nSet-Cookie: x=y".to_owned(),
    ];
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"}".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"42".to_vec(),
        b"\"str\"".to_vec(),
        b"{\"sku\": \"\\ud800\", \"name\": \"n\", \"price_cents\": 1, \"stock\": 1}".to_vec(),
        b"{\"sku\": \"\\udc00\\ud800\"}".to_vec(),
        vec![0xff, 0xfe, 0x00],
        b"{\"sku\":\"\xc3\x28\"}".to_vec(),
        deep_array.into_bytes(),
        deep_object.into_bytes(),
        br#"{"sku":"a","name":"n","price_cents":1e999,"stock":1}"#.to_vec(),
        br#"{"sku":"a","name":"n","price_cents":-9223372036854775809,"stock":1}"#.to_vec(),
        br#"{"sku":"a","name":"n","price_cents":9223372036854775807,"stock":1}"#.to_vec(),
        br#"{"sku":"a","name":"n","price_cents":1,"stock":-0.0}"#.to_vec(),
        br#"{"sku":"a","sku":"b","name":"n","price_cents":1,"stock":1}"#.to_vec(),
        br#"{"order_ref":"r","items":[{"product_id":18446744073709551615,"quantity":1}]}"#.to_vec(),
        br#"{"order_ref":"r","items":[{"product_id":1,"quantity":-2147483649}]}"#.to_vec(),
        br#"{"order_ref":"r","items":[null]}"#.to_vec(),
        br#"{"order_ref":"r","items":[[1,2]]}"#.to_vec(),
        br#"{"description":{"nested":true}}"#.to_vec(),
    ];
    for s in &hostile_strings {
        bodies.push(
            json!({"sku": s, "name": s, "description": s, "price_cents": 1, "stock": 1})
                .to_string()
                .into_bytes(),
        );
        bodies.push(
            json!({"order_ref": s, "items": [{"product_id": id, "quantity": 1}]})
                .to_string()
                .into_bytes(),
        );
    }
    let targets = [
        ("POST", "/v1/products".to_owned()),
        ("PATCH", format!("/v1/products/{id}")),
        ("POST", "/v1/reservations".to_owned()),
    ];
    for (method, path) in &targets {
        for body in &bodies {
            for ct in [Some("application/json"), Some("text/plain"), None] {
                let (status, answer) = app.raw(raw(method, path, ct, body.clone())).await;
                assert!(
                    status.is_success() || status.is_client_error(),
                    "{method} {path} {ct:?} {}: {status} {answer}",
                    String::from_utf8_lossy(&body[..body.len().min(80)])
                );
                if !status.is_success() {
                    assert!(answer["error"]["code"].is_string(), "{answer}");
                }
            }
        }
    }
    // Hostile strings that are valid are stored and read back unchanged.
    let (status, created) = app
        .post("/v1/products", json!({"sku": "inj", "name": hostile_strings[0], "description": "\u{0}\u{202e}", "price_cents": 1, "stock": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, read) = app.get(&format!("/v1/products/{}", created["id"])).await;
    assert_eq!(read["name"], hostile_strings[0]);
    assert_eq!(read["description"], "\u{0}\u{202e}");
    app.cleanup().await;
}

#[tokio::test]
async fn hostile_paths_and_methods_are_json_4xx() {
    let app = common::setup().await;
    for (method, path, want) in [
        ("GET", "/v1/products/abc", StatusCode::NOT_FOUND),
        ("GET", "/v1/products/0", StatusCode::NOT_FOUND),
        ("GET", "/v1/products/-1", StatusCode::NOT_FOUND),
        (
            "GET",
            "/v1/products/99999999999999999999999",
            StatusCode::NOT_FOUND,
        ),
        ("GET", "/v1/products/%27%20OR%201=1", StatusCode::NOT_FOUND),
        ("GET", "/nope", StatusCode::NOT_FOUND),
        ("DELETE", "/v1/products", StatusCode::METHOD_NOT_ALLOWED),
        ("PUT", "/v1/products/1", StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "/v1/reservations", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let (status, body) = app.raw(raw(method, path, None, Vec::new())).await;
        assert_eq!(status, want, "{method} {path}");
        assert!(body["error"]["code"].is_string());
    }
    app.cleanup().await;
}

#[tokio::test]
async fn metrics_label_routes_by_template() {
    let app = common::setup().await;
    let id = app.product("M", 1, 1).await;
    app.get(&format!("/v1/products/{id}")).await;
    app.get("/v1/products/123456").await;
    app.get("/some/random/path").await;
    let text = app.text("/metrics").await;
    assert!(text.contains(r#"http_requests_total{service="products",method="GET",route="/v1/products/{id}",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"http_requests_total{service="products",method="GET",route="/v1/products/{id}",status="404"} 1"#));
    assert!(text.contains(r#"http_requests_total{service="products",method="POST",route="/v1/products",status="201"} 1"#));
    assert!(text.contains(r#"route="unmatched""#));
    assert!(!text.contains("/some/random"));
    assert!(!text.contains(&format!("/v1/products/{id}\"")));
    assert!(text.contains(r#"http_request_duration_seconds_bucket{le="0.005",service="products",method="GET",route="/v1/products/{id}"}"#));
    assert!(text.contains(r#"build_info{service="products",version="#));
    assert!(text.contains(r#"http_requests_in_flight{service="products"}"#));
    app.cleanup().await;
}
