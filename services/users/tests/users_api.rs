//! Contract tests for `/v1/users` against a real MariaDB database.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

#[tokio::test]
async fn create_get_and_list() {
    let app = common::setup().await;
    let (status, created) = app
        .post(
            "/v1/users",
            json!({"email": "Ada.Lovelace@Example.COM", "name": "Ada"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["email"], "ada.lovelace@example.com");
    for key in ["id", "email", "name", "created_at"] {
        assert!(created.get(key).is_some(), "missing {key}");
    }
    let id = created["id"].as_i64().unwrap();
    let (status, got) = app.get(&format!("/v1/users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);

    for n in 0..4 {
        app.user(&format!("u{n}@example.com")).await;
    }
    let (_, page) = app.get("/v1/users?limit=3").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let next = page["next"].as_i64().unwrap();
    let (_, rest) = app.get(&format!("/v1/users?after={next}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    assert!(rest["next"].is_null());

    let (status, body) = app.get("/v1/users/777777").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app.get("/v1/users?limit=1000").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "limit");
    app.cleanup().await;
}

#[tokio::test]
async fn email_uniqueness_ignores_case() {
    let app = common::setup().await;
    app.user("grace@example.com").await;
    for email in [
        "grace@example.com",
        "GRACE@EXAMPLE.COM",
        "Grace@Example.com",
    ] {
        let (status, body) = app
            .post("/v1/users", json!({"email": email, "name": "G"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{email}");
        assert_eq!(body["error"]["code"], "email_taken");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn validation_names_the_field() {
    let app = common::setup().await;
    let (status, _) = app
        .post(
            "/v1/users",
            json!({"email": "emoji@example.com", "name": "🦀".repeat(100)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let cases = [
        (
            json!({"email": "e1@example.com", "name": "🦀".repeat(101)}),
            "name",
        ),
        (json!({"email": "e2@example.com", "name": ""}), "name"),
        (json!({"email": "e3@example.com", "name": 5}), "name"),
        (json!({"email": "e4@example.com", "name": null}), "name"),
        (json!({"email": "e5@example.com"}), "name"),
        (json!({"email": "not-an-email", "name": "x"}), "email"),
        (json!({"email": "a@b", "name": "x"}), "email"),
        (json!({"email": "a b@c.de", "name": "x"}), "email"),
        (
            json!({"email": format!("{}@example.com", "a".repeat(250)), "name": "x"}),
            "email",
        ),
        (json!({"email": ["a@b.co"], "name": "x"}), "email"),
        (json!({"name": "x"}), "email"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/v1/users", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed");
        assert_eq!(answer["error"]["field"], field, "{body}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn bad_input_never_causes_a_500() {
    let app = common::setup().await;
    let pad = |len: usize| {
        let head = r#"{"email":"pad@example.com","name":"n","pad":""#;
        format!("{head}{}\"}}", "x".repeat(len - head.len() - 2)).into_bytes()
    };
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"{\"email\":\"\\ud800@x.io\",\"name\":\"n\"}".to_vec(),
        format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        br#"{"email":"x@y.z","name":"'); DROP TABLE users; --"}"#.to_vec(),
        br#"{"email":"x@y.z","name":1e999}"#.to_vec(),
        pad(65_537),
    ];
    for body in bodies {
        for ct in ["application/json", "text/html"] {
            let (status, answer) = app
                .raw(
                    Request::post("/v1/users")
                        .header("content-type", ct)
                        .body(Body::from(body.clone()))
                        .unwrap(),
                )
                .await;
            assert!(
                status.is_client_error() || status.is_success(),
                "{status} {answer}"
            );
        }
    }
    let (status, _) = app
        .raw(
            Request::post("/v1/users")
                .header("content-type", "application/json")
                .body(Body::from(pad(65_536)))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .raw(
            Request::post("/v1/users")
                .header("content-type", "application/json")
                .body(Body::from(pad(65_537)))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for path in [
        "/v1/users/abc",
        "/v1/users/0",
        "/v1/users/-3",
        "/v1/users/18446744073709551616",
    ] {
        let (status, _) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, body) = app
        .raw(Request::delete("/v1/users").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    app.cleanup().await;
}

#[tokio::test]
async fn concurrent_signups_with_one_email_create_one_user() {
    let app = common::setup().await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let client = app.client.clone();
        let email = if n % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        tasks.push(tokio::spawn(async move {
            client
                .post("/v1/users", json!({"email": email, "name": "R"}))
                .await
                .0
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn readyz_and_metrics() {
    let app = common::setup().await;
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    app.get("/v1/users/1").await;
    let text = app.text("/metrics").await;
    assert!(text.contains(r#"http_requests_total{service="users",method="GET",route="/v1/users/{id}",status="404"} 1"#), "{text}");
    app.cleanup().await;
}
