//! `/readyz` checks the service's own database and schema; `/healthz` never does.

mod common;

use axum::http::{Method, StatusCode};
use kubestore_products::{AppState, service};

async fn status_of(router: &axum::Router, path: &str) -> (StatusCode, serde_json::Value) {
    kubestore_testkit::router::send(router, Method::GET, path, &[], None).await
}

#[tokio::test]
async fn ready_when_migrated() {
    let app = common::setup().await;
    let (status, body) = status_of(&app.router, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.cleanup().await;
}

#[tokio::test]
async fn unready_naming_the_database_when_it_is_unreachable_or_unmigrated() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for url in [
        format!("mysql://root@{closed}/products"),
        format!("{}/mysql", kubestore_testkit::mysql::server_url()),
    ] {
        let pool = kubestore_common::db::pool(&url, 2).unwrap();
        let router = service(AppState { pool }).0;
        let (status, body) = status_of(&router, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{url}");
        assert_eq!(body["error"]["dependency"], "database");
        let (status, _) = status_of(&router, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        // API calls answer a fast 503, not a 500, while the database is away.
        let (status, body) = status_of(&router, "/v1/products/1").await;
        assert!(
            status == StatusCode::SERVICE_UNAVAILABLE || url.ends_with("/mysql"),
            "{status} {body}"
        );
    }
}
