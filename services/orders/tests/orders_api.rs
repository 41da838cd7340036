//! Contract tests for `/v1/orders` with real users and products servers.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn place_read_list_and_cancel() {
    let s = common::stack().await;
    let user = s.user("buyer@example.com").await;
    let a = s.product("A", 250, 10).await;
    let b = s.product("B", 100, 5).await;

    let (status, order) = s
        .order(None, json!({"user_id": user, "items": [{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 1}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["user_id"], user);
    assert_eq!(order["total_cents"], 2 * 250 + 100);
    assert_eq!(
        order["items"][0],
        json!({"product_id": a, "quantity": 2, "unit_price_cents": 250})
    );
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s.stock(a).await, 8);
    assert_eq!(s.stock(b).await, 4);
    let id = order["id"].as_i64().unwrap();

    let (status, read) = s.get(&format!("/v1/orders/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, order);
    let (status, list) = s.get(&format!("/v1/orders?user_id={user}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0], order);
    assert!(list["next"].is_null());
    let (_, empty) = s.get("/v1/orders?user_id=424242").await;
    assert_eq!(empty["items"].as_array().unwrap().len(), 0);
    for (q, field) in [
        ("user_id=abc", "user_id"),
        ("user_id=0", "user_id"),
        ("user_id=-1", "user_id"),
        ("limit=0", "limit"),
        ("after=z", "after"),
    ] {
        let (status, body) = s.get(&format!("/v1/orders?{q}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(body["error"]["field"], field);
    }

    let (status, cancelled) = s
        .call(Method::POST, &format!("/v1/orders/{id}/cancel"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(s.stock(a).await, 10);
    assert_eq!(s.stock(b).await, 5);
    let (status, body) = s
        .call(Method::POST, &format!("/v1/orders/{id}/cancel"), None, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "already_cancelled");
    assert_eq!(s.stock(a).await, 10);
    let (status, _) = s
        .call(Method::POST, "/v1/orders/999999/cancel", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.get("/v1/orders/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.cleanup().await;
}

#[tokio::test]
async fn rejections_take_no_stock() {
    let s = common::stack().await;
    let user = s.user("r@example.com").await;
    let a = s.product("A", 100, 3).await;

    let (status, body) = s
        .order(
            None,
            json!({"user_id": 987654, "items": [{"product_id": a, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "unknown_user");

    let (status, body) = s
        .order(
            None,
            json!({"user_id": user, "items": [{"product_id": a, "quantity": 4}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "insufficient_stock");
    assert_eq!(body["error"]["product_id"], a);

    let (status, body) = s
        .order(
            None,
            json!({"user_id": user, "items": [{"product_id": 555555, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "unknown_product");

    let line = json!({"product_id": a, "quantity": 1});
    let many: Vec<_> = (0..51).map(|_| line.clone()).collect();
    for (body, field) in [
        (json!({"user_id": user, "items": []}), "items"),
        (json!({"user_id": user, "items": many}), "items"),
        (json!({"user_id": 0, "items": [line]}), "user_id"),
        (json!({"user_id": "1", "items": [line]}), "user_id"),
        (json!({"items": [line]}), "user_id"),
        (
            json!({"user_id": user, "items": [{"product_id": a, "quantity": 1001}]}),
            "items[0].quantity",
        ),
        (
            json!({"user_id": user, "items": [{"product_id": a, "quantity": 1e30}]}),
            "items[0].quantity",
        ),
    ] {
        let (status, answer) = s.order(None, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}");
    }
    let (status, _) = s
        .order(
            Some("bad key with spaces"),
            json!({"user_id": user, "items": [line]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.stock(a).await, 3);
    assert_eq!(s.active_reservations().await, 0);
    assert_eq!(s.order_count("confirmed").await, 0);
    s.cleanup().await;
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer() {
    let s = common::stack().await;
    let user = s.user("idem@example.com").await;
    let a = s.product("A", 100, 10).await;
    let body = json!({"user_id": user, "items": [{"product_id": a, "quantity": 2}]});

    let (status, first) = s.order(Some("key-1"), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = s.order(Some("key-1"), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, first);
    assert_eq!(s.stock(a).await, 8);
    assert_eq!(s.order_count("confirmed").await, 1);

    // The replay is the first answer even after the order changed.
    let id = first["id"].as_i64().unwrap();
    s.call(Method::POST, &format!("/v1/orders/{id}/cancel"), None, None)
        .await;
    let (status, replay) = s.order(Some("key-1"), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(replay["status"], "confirmed");
    assert_eq!(replay["id"], first["id"]);

    let (status, reused) = s
        .order(
            Some("key-1"),
            json!({"user_id": user, "items": [{"product_id": a, "quantity": 3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");

    // A failure is not stored: the same key runs again once stock is there.
    let big = json!({"user_id": user, "items": [{"product_id": a, "quantity": 50}]});
    let (status, body) = s.order(Some("key-2"), big.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    s.set_stock(a, 100).await;
    let (status, body) = s.order(Some("key-2"), big.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(s.stock(a).await, 50);
    s.cleanup().await;
}

#[tokio::test]
async fn concurrent_retries_of_one_key_create_one_order() {
    let s = common::stack().await;
    let user = s.user("retry@example.com").await;
    let a = s.product("A", 100, 1000).await;
    let body = json!({"user_id": user, "items": [{"product_id": a, "quantity": 3}]});
    let mut tasks = Vec::new();
    for _ in 0..25 {
        let (client, body) = (s.client.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            client.order(Some("same-key"), body).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        match status {
            StatusCode::CREATED => {
                ids.insert(answer["id"].as_i64().unwrap());
            }
            StatusCode::CONFLICT => assert_eq!(answer["error"]["code"], "request_in_progress"),
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(s.order_count("confirmed").await, 1);
    assert_eq!(s.stock(a).await, 997);
    assert_eq!(s.active_reservations().await, 1);
    s.cleanup().await;
}

#[tokio::test]
async fn concurrent_orders_on_scarce_stock_never_oversell_or_leak() {
    let s = common::stack().await;
    let user = s.user("rush@example.com").await;
    let scarce = s.product("SCARCE", 100, 7).await;
    let plenty = s.product("PLENTY", 100, 1000).await;
    let mut tasks = Vec::new();
    for n in 0..40 {
        let client = s.client.clone();
        let body = json!({"user_id": user, "items": [{"product_id": plenty, "quantity": 1}, {"product_id": scarce, "quantity": 1}]});
        let key = format!("rush-{n}");
        tasks.push(tokio::spawn(
            async move { client.order(Some(&key), body).await },
        ));
    }
    let mut created = 0;
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(answer["error"]["code"], "insufficient_stock", "{answer}")
            }
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!(created, 7);
    assert_eq!(s.stock(scarce).await, 0);
    assert_eq!(s.stock(scarce).await + s.reserved(scarce).await, 7);
    assert_eq!(s.stock(plenty).await + s.reserved(plenty).await, 1000);
    assert_eq!(
        s.stock(plenty).await,
        1000 - 7,
        "a failed order leaked stock"
    );
    assert_eq!(s.order_count("confirmed").await, 7);
    assert_eq!(s.active_reservations().await, 7, "a reservation leaked");
    s.cleanup().await;
}
