//! Test helpers shared by the users test files: the users router on a fresh
//! database (see [`kubestore_testkit`]) and the calls only users tests make.

#![allow(dead_code)]

use axum::http::StatusCode;
use kubestore_users::{AppState, MIGRATOR, service};

/// The users router on a fresh database.
pub type TestApp = kubestore_testkit::TestApp<Client>;

/// A users router plus the calls the tests make on it; cheap to clone into tasks.
#[derive(Clone)]
pub struct Client(kubestore_testkit::Client);

impl std::ops::Deref for Client {
    type Target = kubestore_testkit::Client;
    fn deref(&self) -> &kubestore_testkit::Client {
        &self.0
    }
}

pub async fn setup() -> TestApp {
    TestApp::start("users", &MIGRATOR, |pool| {
        Client(kubestore_testkit::Client::new(service(AppState { pool }).0))
    })
    .await
}

impl Client {
    pub async fn user(&self, email: &str) -> i64 {
        let (status, body) = self
            .post(
                "/v1/users",
                serde_json::json!({"email": email, "name": "Test User"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().expect("id")
    }
}
