//! Bad input to orders never yields a 500, and every answer is JSON.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn hostile_requests_are_json_4xx() {
    let s = common::stack().await;
    let user = s.user("h@example.com").await;
    let a = s.product("A", 100, 5).await;
    let pad = |len: usize| {
        let head =
            format!(r#"{{"user_id":{user},"items":[{{"product_id":{a},"quantity":1}}],"pad":""#);
        format!("{head}{}\"}}", "x".repeat(len - head.len() - 2)).into_bytes()
    };
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[{\"user_id\":1}]".to_vec(),
        b"{\"user_id\":\"\\udfff\"}".to_vec(),
        format!("{{\"items\":{}{}}}", "[".repeat(3000), "]".repeat(3000)).into_bytes(),
        br#"{"user_id":9223372036854775808,"items":[{"product_id":1,"quantity":1}]}"#.to_vec(),
        br#"{"user_id":-1,"items":[{"product_id":1,"quantity":1}]}"#.to_vec(),
        br#"{"user_id":1,"items":[{"product_id":1,"quantity":-9999999999999999999999}]}"#.to_vec(),
        br#"{"user_id":1,"items":{"product_id":1}}"#.to_vec(),
        br#"{"user_id":true,"items":[]}"#.to_vec(),
        pad(65_537),
    ];
    for body in &bodies {
        for ct in [Some("application/json"), Some("text/plain"), None] {
            let mut req = Request::post("/v1/orders").header("idempotency-key", "hostile");
            if let Some(ct) = ct {
                req = req.header("content-type", ct);
            }
            let (status, answer) = s.raw(req.body(Body::from(body.clone())).unwrap()).await;
            assert!(status.is_client_error(), "{status}: {answer}");
            assert!(answer["error"]["code"].is_string());
        }
    }
    let (status, body) = s
        .raw(
            Request::post("/v1/orders")
                .header("content-type", "application/json")
                .body(Body::from(pad(65_536)))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (method, path, want) in [
        ("GET", "/v1/orders/abc", StatusCode::NOT_FOUND),
        ("GET", "/v1/orders/0", StatusCode::NOT_FOUND),
        ("POST", "/v1/orders/abc/cancel", StatusCode::NOT_FOUND),
        ("GET", "/v1/orders/1/cancel", StatusCode::METHOD_NOT_ALLOWED),
        ("DELETE", "/v1/orders", StatusCode::METHOD_NOT_ALLOWED),
        (
            "GET",
            "/v1/orders?user_id=99999999999999999999",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "GET",
            "/v1/orders?user_id=1&user_id=2",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, body) = s
            .raw(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, want, "{method} {path}: {body}");
    }
    s.cleanup().await;
}
