//! Every users route the mesh retries answers a repeat of a success with the
//! same success, against a real MariaDB database: the GETs (`Idempotency::Always`
//! in the generator's catalogue) and `POST /v1/users` with an `Idempotency-Key`
//! (`WithHeader`), which makes one user however often it is sent.

mod common;

use axum::http::{Method, StatusCode};
use kubestore_testkit::router::{send, send_twice};
use serde_json::json;

#[tokio::test]
async fn get_users_twice() {
    let app = common::setup().await;
    let first = app.user("one@example.com").await;
    app.user("two@example.com").await;
    let (status, page) = app.twice(Method::GET, "/v1/users?limit=1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["id"], first);
    assert_eq!(page["next"], first);
    app.cleanup().await;
}

#[tokio::test]
async fn get_a_user_twice() {
    let app = common::setup().await;
    let id = app.user("ada@example.com").await;
    let (status, user) = app
        .twice(Method::GET, &format!("/v1/users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["email"], "ada@example.com");
    app.cleanup().await;
}

#[tokio::test]
async fn a_keyed_sign_up_sent_twice_is_one_user() {
    let app = common::setup().await;
    let body = json!({"email": "Twice@Example.com", "name": "Twice"});
    let key = [("idempotency-key", "sign-up-1")];
    let (status, user) = send_twice(
        &app.router,
        Method::POST,
        "/v1/users",
        &key,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["email"], "twice@example.com");
    let (_, list) = app.get("/v1/users").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Without the key the same sign-up is a second account: refused.
    let (status, body_again) = app.post("/v1/users", body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body_again}");
    assert_eq!(body_again["error"]["code"], "email_taken");

    // The key with other details is refused, and creates nothing.
    let (status, reused) = send(
        &app.router,
        Method::POST,
        "/v1/users",
        &key,
        Some(json!({"email": "other@example.com", "name": "Other"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reused}");
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");
    let (_, list) = app.get("/v1/users").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_refused_keyed_sign_up_frees_its_key() {
    let app = common::setup().await;
    app.user("taken@example.com").await;
    let key = [("idempotency-key", "sign-up-2")];
    let (status, body) = send(
        &app.router,
        Method::POST,
        "/v1/users",
        &key,
        Some(json!({"email": "taken@example.com", "name": "Late"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = send(
        &app.router,
        Method::POST,
        "/v1/users",
        &key,
        Some(json!({"email": "free@example.com", "name": "Late"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_keyed_sign_ups_make_one_user() {
    let app = common::setup().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let router = app.router.clone();
        tasks.spawn(async move {
            send(
                &router,
                Method::POST,
                "/v1/users",
                &[("idempotency-key", "double-click")],
                Some(json!({"email": "race@example.com", "name": "Race"})),
            )
            .await
        });
    }
    let answers = tasks.join_all().await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
        assert_eq!(body, &answers[0].1);
    }
    let (_, list) = app.get("/v1/users").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    app.cleanup().await;
}
