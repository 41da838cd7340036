//! Contract tests for `/v1/reservations`, including the concurrency invariant:
//! stock never negative and stock + reserved constant.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn reserve_is_all_or_nothing_and_idempotent() {
    let app = common::setup().await;
    let a = app.product("A", 100, 10).await;
    let b = app.product("B", 250, 2).await;

    // B lacks stock: nothing is taken from A either.
    let (status, body) = app
        .post("/v1/reservations", json!({"order_ref": "o-1", "items": [{"product_id": a, "quantity": 5}, {"product_id": b, "quantity": 3}]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "insufficient_stock");
    assert_eq!(body["error"]["product_id"], b);
    assert_eq!(app.stock(a).await, 10);
    assert_eq!(app.stock(b).await, 2);

    // The failed attempt did not consume the ref.
    let request = json!({"order_ref": "o-1", "items": [{"product_id": a, "quantity": 5}, {"product_id": b, "quantity": 2}]});
    let (status, first) = app.post("/v1/reservations", request.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["total_cents"], 5 * 100 + 2 * 250);
    assert_eq!(first["items"][1]["unit_price_cents"], 250);
    assert_eq!(app.stock(a).await, 5);
    assert_eq!(app.stock(b).await, 0);

    // Repeating it returns the same body and takes nothing more, even after a price change.
    app.call(
        Method::PATCH,
        &format!("/v1/products/{a}"),
        Some(json!({"price_cents": 999})),
    )
    .await;
    let (status, again) = app.post("/v1/reservations", request).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, first);
    assert_eq!(app.stock(a).await, 5);

    // Same ref, different items.
    let (status, body) = app
        .post(
            "/v1/reservations",
            json!({"order_ref": "o-1", "items": [{"product_id": a, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "order_ref_reused");
    assert_eq!(app.stock(a).await, 5);

    // Release gives the stock back, once.
    for _ in 0..2 {
        let (status, body) = app.call(Method::DELETE, "/v1/reservations/o-1", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(body.is_null());
        assert_eq!(app.stock(a).await, 10);
        assert_eq!(app.stock(b).await, 2);
    }
    let (status, body) = app
        .post("/v1/reservations", json!({"order_ref": "o-1", "items": [{"product_id": a, "quantity": 5}, {"product_id": b, "quantity": 2}]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "reservation_released");
    app.cleanup().await;
}

#[tokio::test]
async fn releasing_an_unknown_ref_blocks_a_late_reservation() {
    let app = common::setup().await;
    let a = app.product("A", 100, 10).await;
    let (status, _) = app
        .call(Method::DELETE, "/v1/reservations/late-1", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .post(
            "/v1/reservations",
            json!({"order_ref": "late-1", "items": [{"product_id": a, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "reservation_released");
    assert_eq!(app.stock(a).await, 10);
    // A ref that cannot be valid is simply 204.
    let (status, _) = app
        .call(Method::DELETE, "/v1/reservations/bad%20ref", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.cleanup().await;
}

#[tokio::test]
async fn duplicate_lines_are_summed_and_unknown_products_are_422() {
    let app = common::setup().await;
    let a = app.product("A", 100, 5).await;
    let (status, body) = app
        .post("/v1/reservations", json!({"order_ref": "d-1", "items": [{"product_id": a, "quantity": 3}, {"product_id": a, "quantity": 3}]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "insufficient_stock");
    let (status, body) = app
        .post("/v1/reservations", json!({"order_ref": "d-2", "items": [{"product_id": a, "quantity": 2}, {"product_id": a, "quantity": 3}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.stock(a).await, 0);

    let (status, body) = app
        .post(
            "/v1/reservations",
            json!({"order_ref": "d-3", "items": [{"product_id": 987654, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "unknown_product");
    assert_eq!(body["error"]["product_id"], 987654);
    app.cleanup().await;
}

#[tokio::test]
async fn reservation_validation() {
    let app = common::setup().await;
    let a = app.product("A", 100, 5).await;
    let line = json!({"product_id": a, "quantity": 1});
    let many: Vec<_> = (0..51).map(|_| line.clone()).collect();
    let cases = [
        (json!({"order_ref": "", "items": [line]}), "order_ref"),
        (json!({"order_ref": "a b", "items": [line]}), "order_ref"),
        (
            json!({"order_ref": "x".repeat(65), "items": [line]}),
            "order_ref",
        ),
        (json!({"order_ref": "ok", "items": []}), "items"),
        (json!({"order_ref": "ok", "items": many}), "items"),
        (
            json!({"order_ref": "ok", "items": [{"product_id": a, "quantity": 0}]}),
            "items[0].quantity",
        ),
        (
            json!({"order_ref": "ok", "items": [{"product_id": a, "quantity": 1001}]}),
            "items[0].quantity",
        ),
        (
            json!({"order_ref": "ok", "items": [line, {"product_id": -1, "quantity": 1}]}),
            "items[1].product_id",
        ),
        (
            json!({"order_ref": "ok", "items": [{"product_id": a}]}),
            "items[0].quantity",
        ),
        (json!({"order_ref": "ok", "items": "nope"}), "items"),
        (json!({"order_ref": 5, "items": [line]}), "order_ref"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/v1/reservations", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}");
    }
    assert_eq!(app.stock(a).await, 5);
    app.cleanup().await;
}

#[tokio::test]
async fn concurrent_reservations_never_oversell() {
    let app = common::setup().await;
    let a = app.product("A", 100, 25).await;
    let b = app.product("B", 100, 40).await;
    let initial = [(a, 25), (b, 40)];
    let mut tasks = Vec::new();
    for n in 0..120 {
        let t = app.client.clone();
        let (first, second) = if n % 2 == 0 { (a, b) } else { (b, a) };
        tasks.push(tokio::spawn(async move {
            let order_ref = format!("c-{n}");
            let (status, body) = t
                .post("/v1/reservations", json!({"order_ref": order_ref, "items": [{"product_id": first, "quantity": 1 + n % 3}, {"product_id": second, "quantity": 1}]}))
                .await;
            assert!(
                status == StatusCode::CREATED || (status == StatusCode::CONFLICT && body["error"]["code"] == "insufficient_stock"),
                "{status}: {body}"
            );
            // Release every third one while others still reserve.
            if n % 3 == 0 {
                let (status, _) = t.call(Method::DELETE, &format!("/v1/reservations/{order_ref}"), None).await;
                assert_eq!(status, StatusCode::NO_CONTENT);
            }
            status
        }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::CREATED {
            created += 1;
        }
    }
    assert!(created > 0);
    for (id, stock0) in initial {
        let stock = app.stock(id).await;
        let reserved = app.reserved(id).await;
        assert!(stock >= 0, "stock went negative: {stock}");
        assert_eq!(
            stock + reserved,
            stock0,
            "product {id}: stock {stock} + reserved {reserved}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn concurrent_twins_of_one_order_ref_reserve_once() {
    let app = common::setup().await;
    let a = app.product("A", 100, 100).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let t = app.client.clone();
        tasks.push(tokio::spawn(async move {
            t.post(
                "/v1/reservations",
                json!({"order_ref": "twin", "items": [{"product_id": a, "quantity": 7}]}),
            )
            .await
        }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(app.stock(a).await, 93);
    app.cleanup().await;
}
