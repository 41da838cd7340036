//! Every users route the mesh retries (`Idempotency::Always` in the generator's
//! catalogue) answers a repeat of a success with the same success, against a
//! real MariaDB database.

mod common;

use axum::http::{Method, StatusCode};

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
