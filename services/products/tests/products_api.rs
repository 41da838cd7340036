//! Contract tests for `/v1/products` against a real MariaDB database.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn create_get_and_list_with_keyset_pagination() {
    let app = common::setup().await;
    let (status, created) = app
        .post(
            "/v1/products",
            json!({"sku": "SKU-1", "name": "Mug", "description": "blue", "price_cents": 1299, "stock": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_i64().unwrap();
    for key in [
        "id",
        "sku",
        "name",
        "description",
        "price_cents",
        "stock",
        "created_at",
    ] {
        assert!(created.get(key).is_some(), "missing {key}");
    }
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let (status, got) = app.get(&format!("/v1/products/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);

    for n in 2..=5 {
        app.product(&format!("SKU-{n}"), 100, 1).await;
    }
    let (status, page) = app.get("/v1/products?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_i64().unwrap();
    let (_, page2) = app.get(&format!("/v1/products?limit=2&after={next}")).await;
    assert_eq!(page2["items"][0]["id"].as_i64().unwrap(), next + 1);
    let (_, last) = app
        .get(&format!("/v1/products?limit=100&after={next}"))
        .await;
    assert_eq!(last["items"].as_array().unwrap().len(), 3);
    assert!(last["next"].is_null());
    let (_, default) = app.get("/v1/products").await;
    assert_eq!(default["items"].as_array().unwrap().len(), 5);

    let (status, body) = app.get("/v1/products/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    app.cleanup().await;
}

#[tokio::test]
async fn query_parameters_that_do_not_parse_are_422_naming_them() {
    let app = common::setup().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=", "limit"),
        ("after=-5", "after"),
        ("after=99999999999999999999", "after"),
        ("after=9223372036854775808", "after"),
        ("after=x", "after"),
    ] {
        let (status, body) = app.get(&format!("/v1/products?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn validation_limits_count_code_points() {
    let app = common::setup().await;
    let ok = |name: String| json!({"sku": format!("s{}", name.chars().count()), "name": name, "price_cents": 1, "stock": 0});
    let (status, _) = app.post("/v1/products", ok("😀".repeat(200))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app.post("/v1/products", ok("😀".repeat(201))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "name");

    let base = json!({"sku": "x", "name": "n", "price_cents": 1, "stock": 0});
    let cases = [
        ("sku", json!("")),
        ("sku", json!("a".repeat(65))),
        ("name", json!("")),
        ("description", json!("d".repeat(2001))),
        ("price_cents", json!(0)),
        ("price_cents", json!(1_000_000_000_001i64)),
        ("price_cents", json!(-5)),
        ("price_cents", json!(1.5)),
        ("price_cents", json!("12")),
        ("price_cents", json!(1e300)),
        ("stock", json!(-1)),
        ("stock", json!(1_000_000_001)),
        ("stock", json!(18446744073709551616.0)),
        ("stock", json!(null)),
        ("name", json!(["a"])),
        ("sku", json!({"a": 1})),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        body[field] = value.clone();
        let (status, answer) = app.post("/v1/products", body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}: {answer}"
        );
        assert_eq!(answer["error"]["code"], "validation_failed");
        assert_eq!(answer["error"]["field"], field, "{field}={value}");
    }
    for missing in ["sku", "name", "price_cents", "stock"] {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(missing);
        let (status, answer) = app.post("/v1/products", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["error"]["field"], missing);
    }
    // Bounds themselves are accepted; description may be absent, null or 2000 chars.
    let (status, body) = app
        .post(
            "/v1/products",
            json!({"sku": "b".repeat(64), "name": "n", "price_cents": 1_000_000_000_000i64, "stock": 1_000_000_000, "description": "é".repeat(2000)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/v1/products",
            json!({"sku": "nodesc", "name": "n", "price_cents": 1, "stock": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body["description"].is_null());
    app.cleanup().await;
}

#[tokio::test]
async fn sku_is_unique_and_case_sensitive() {
    let app = common::setup().await;
    app.product("ABC", 1, 1).await;
    let (status, body) = app
        .post(
            "/v1/products",
            json!({"sku": "ABC", "name": "again", "price_cents": 1, "stock": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "sku_taken");
    app.product("abc", 1, 1).await;
    app.cleanup().await;
}

#[tokio::test]
async fn patch_rules() {
    let app = common::setup().await;
    let id = app.product("P", 100, 5).await;
    let path = format!("/v1/products/{id}");
    let patch = |body| app.call(Method::PATCH, &path, Some(body));

    let (status, body) = patch(json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = patch(json!({"sku": "other"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "sku");
    let (status, body) = patch(json!({"name": null})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "name");
    let (status, _) = patch(json!({"price_cents": 0})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = patch(json!({"description": "now described", "stock": 9})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["description"], "now described");
    assert_eq!(body["stock"], 9);
    assert_eq!(body["name"], "Product P");
    let (status, body) =
        patch(json!({"description": null, "price_cents": 250, "name": "Renamed"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["description"].is_null());
    assert_eq!(body["price_cents"], 250);
    let (_, read) = app.get(&path).await;
    assert_eq!(read, body);

    let (status, _) = app
        .call(
            Method::PATCH,
            "/v1/products/424242",
            Some(json!({"stock": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.cleanup().await;
}

#[test]
fn serve_reads_what_the_catalogue_says_it_needs() {
    kubestore_testkit::catalogue::assert_matches_catalogue::<kubestore_products::cli::Products>();
}
