//! Checkout with the caller's `Idempotency-Key`: a repeat after success gets the
//! same 201 and the same order although the cart is empty by then, a lost answer
//! retried as the mesh retries makes one order, concurrent repeats make one
//! order, a failed checkout frees its key, and the key cannot be reused for
//! another cart, user or contents. Orders, stock and users are the real
//! services on MariaDB where what is counted is orders and stock; the
//! controllable stand-in where a test needs orders to be slow.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use kubestore_cart::store::KeySettings;
use kubestore_testkit::proxy::LosingProxy;
use serde_json::{Value, json};
use support::real::*;
use support::*;

async fn real_cart(b: &Backends) -> Cart {
    start_cart(CartOptions {
        products_url: b.products.clone(),
        orders_url: b.orders.clone(),
        ..CartOptions::new("http://unused")
    })
    .await
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn code_of(text: &str) -> String {
    code(&json_of(text)).to_owned()
}

#[tokio::test]
async fn a_repeat_after_success_gets_the_same_order_not_empty_cart() {
    let b = start_backends().await;
    let user = create_user(&b, "again@example.com").await;
    let mug = create_product(&b, "MUG", 1250, 10).await;
    let cart = real_cart(&b).await;
    cart.put("again", &mug.to_string(), json!(3)).await;

    let (status, first) = cart.checkout_keyed("again", json!(user), "form-1").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(cart.items("again").await.is_empty());

    // The very same request again: the same 201, byte for byte, and no new order.
    let (status, second) = cart.checkout_keyed("again", json!(user), "form-1").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second, first);
    assert_eq!(orders_of(&b, user).await.len(), 1);
    assert_eq!(stock(&b, mug).await, 7);

    // Without a key a repeat cannot know it is one: the cart is empty.
    let (status, body) = cart.checkout("again", json!(user)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "empty_cart")
    );
}

#[tokio::test]
async fn a_key_belongs_to_one_cart_user_and_contents() {
    let b = start_backends().await;
    let user = create_user(&b, "owner@example.com").await;
    let other_user = create_user(&b, "other@example.com").await;
    let mug = create_product(&b, "MUG", 1250, 10).await;
    let pot = create_product(&b, "POT", 3000, 10).await;
    let cart = real_cart(&b).await;
    cart.put("mine", &mug.to_string(), json!(1)).await;
    cart.put("theirs", &mug.to_string(), json!(1)).await;

    let (status, first) = cart.checkout_keyed("mine", json!(user), "k-1").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    // Another cart, or another buyer, with the same key.
    let (status, body) = cart.checkout_keyed("theirs", json!(user), "k-1").await;
    assert_eq!(
        (status, code_of(&body)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused".into()
        )
    );
    assert_eq!(json_of(&body)["error"]["field"], "Idempotency-Key");
    let (status, body) = cart.checkout_keyed("mine", json!(other_user), "k-1").await;
    assert_eq!(
        (status, code_of(&body)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused".into()
        )
    );
    assert_eq!(cart.items("theirs").await, vec![(mug as u64, 1)]);

    // The same cart filled again is another purchase: the old key is refused,
    // the purchase is made under a new one.
    cart.put("mine", &pot.to_string(), json!(2)).await;
    let (status, body) = cart.checkout_keyed("mine", json!(user), "k-1").await;
    assert_eq!(
        (status, code_of(&body)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused".into()
        )
    );
    assert_eq!(cart.items("mine").await, vec![(pot as u64, 2)]);
    let (status, second) = cart.checkout_keyed("mine", json!(user), "k-2").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(json_of(&second)["id"], json_of(&first)["id"]);
    assert_eq!(orders_of(&b, user).await.len(), 2);
    assert_eq!(orders_of(&b, other_user).await.len(), 0);
    assert_eq!((stock(&b, mug).await, stock(&b, pot).await), (9, 8));
}

#[tokio::test]
async fn a_failed_checkout_frees_its_key_for_the_retry() {
    let b = start_backends().await;
    let user = create_user(&b, "retry-key@example.com").await;
    let pot = create_product(&b, "POT", 3000, 2).await;
    let cart = real_cart(&b).await;
    cart.put("short", &pot.to_string(), json!(3)).await;

    let (status, body) = cart.checkout_keyed("short", json!(user), "k-fail").await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::CONFLICT, "insufficient_stock".into())
    );
    assert_eq!(cart.items("short").await, vec![(pot as u64, 3)]);
    assert_eq!(cart.store.key_ttl("k-fail").await.unwrap(), None);

    // The shopper takes one fewer and submits the same form again: it runs.
    cart.put("short", &pot.to_string(), json!(2)).await;
    let (status, order) = cart.checkout_keyed("short", json!(user), "k-fail").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(json_of(&order)["items"][0]["quantity"], 2);
    assert_eq!(stock(&b, pot).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_make_one_order() {
    let b = start_backends().await;
    let user = create_user(&b, "twins@example.com").await;
    let mug = create_product(&b, "MUG", 1250, 10).await;
    let cart = real_cart(&b).await;
    cart.put("twins", &mug.to_string(), json!(2)).await;

    // Twins on separate tasks, so they really run at once on the test runtime.
    let cart = std::sync::Arc::new(cart);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let cart = cart.clone();
        tasks.spawn(async move {
            cart.checkout_keyed("twins", json!(user), "double-click")
                .await
        });
    }
    let answers: Vec<(StatusCode, String)> = tasks.join_all().await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
        assert_eq!(body, &answers[0].1);
    }
    let orders = orders_of(&b, user).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["id"], json_of(&answers[0].1)["id"]);
    assert_eq!(stock(&b, mug).await, 8);
}

/// The mesh's case: the cart made the order and answered, the connection broke
/// before the answer reached the caller, and the mesh sends the request again.
#[tokio::test]
async fn a_checkout_whose_answer_was_cut_off_is_answered_by_the_retry() {
    let b = start_backends().await;
    let user = create_user(&b, "cut@example.com").await;
    let mug = create_product(&b, "MUG", 1250, 10).await;
    let cart = real_cart(&b).await;
    cart.put("cut", &mug.to_string(), json!(4)).await;
    let addr: SocketAddr = cart.url.trim_start_matches("http://").parse().unwrap();
    let proxy = LosingProxy::start(addr).await;

    let lost = cart
        .http
        .post(format!("{}/v1/carts/cut/checkout", proxy.url))
        .header("idempotency-key", "mesh-1")
        .json(&json!({ "user_id": user }))
        .send()
        .await;
    assert!(
        lost.is_err(),
        "the caller must not see the answer: {lost:?}"
    );
    assert_eq!(proxy.answers_lost(), 1);
    // The cart did its work: one order, stock taken, cart emptied.
    assert_eq!(orders_of(&b, user).await.len(), 1);
    assert!(cart.items("cut").await.is_empty());

    // The retry, straight to the cart as the next try would go.
    let (status, body) = cart.checkout_keyed("cut", json!(user), "mesh-1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let orders = orders_of(&b, user).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["id"], json_of(&body)["id"]);
    assert_eq!(json_of(&body)["total_cents"], 4 * 1250);
    assert_eq!(stock(&b, mug).await, 6);
}

#[tokio::test]
async fn a_repeat_while_the_first_is_running_waits_for_its_answer() {
    let fake = FakeUpstream::with_products([1]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    cart.put("slow", "1", json!(1)).await;
    fake.set(|b| b.order_delay = Some(Duration::from_millis(800)));

    let first = cart.checkout_keyed("slow", json!(5), "slow-key");
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Still running: the record holds for the lease, not for the key TTL.
        let ttl = cart.store.key_ttl("slow-key").await.unwrap().unwrap();
        assert!(ttl <= Duration::from_secs(30), "{ttl:?}");
        cart.checkout_keyed("slow", json!(5), "slow-key").await
    };
    let ((s1, b1), (s2, b2)) = tokio::join!(first, second);
    assert_eq!(
        (s1, s2),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{b1} {b2}"
    );
    assert_eq!(b1, b2);
    // The repeat never reached orders.
    assert_eq!(fake.get(|b| b.order_requests.len()), 1);
    assert_eq!(fake.orders_made(), 1);
    // Done: the answer is kept for the key TTL.
    let ttl = cart.store.key_ttl("slow-key").await.unwrap().unwrap();
    assert!(ttl > Duration::from_secs(3500), "{ttl:?}");
}

#[tokio::test]
async fn a_repeat_that_waits_too_long_is_409_and_can_come_back() {
    let fake = FakeUpstream::with_products([1]);
    let mut options = CartOptions::new(&fake.start().await);
    options.keys = KeySettings {
        wait: Duration::from_millis(200),
        ..options.keys
    };
    let cart = start_cart(options).await;
    cart.put("wait", "1", json!(1)).await;
    fake.set(|b| b.order_delay = Some(Duration::from_millis(1200)));

    let first = cart.checkout_keyed("wait", json!(5), "wait-key");
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cart.checkout_keyed("wait", json!(5), "wait-key").await
    };
    let ((s1, b1), (s2, b2)) = tokio::join!(first, second);
    assert_eq!(s1, StatusCode::CREATED, "{b1}");
    assert_eq!(
        (s2, code_of(&b2)),
        (StatusCode::CONFLICT, "request_in_progress".into())
    );
    let (s3, b3) = cart.checkout_keyed("wait", json!(5), "wait-key").await;
    assert_eq!(s3, StatusCode::CREATED);
    assert_eq!(b3, b1);
    assert_eq!(fake.orders_made(), 1);
}

#[tokio::test]
async fn malformed_keys_are_422_and_make_nothing() {
    let fake = FakeUpstream::with_products([1]);
    let cart = start_cart(CartOptions::new(&fake.start().await)).await;
    cart.put("bad", "1", json!(1)).await;
    let long = "k".repeat(256);
    for bad in ["", "two words", long.as_str(), "caf\u{e9}"] {
        let response = cart
            .http
            .post(format!("{}/v1/carts/bad/checkout", cart.url))
            .header("idempotency-key", bad.as_bytes())
            .json(&json!({ "user_id": 1 }))
            .send()
            .await
            .unwrap();
        let (status, body) = into_parts(response).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {body}");
        assert_eq!(code(&body), "validation_failed");
        assert_eq!(body["error"]["field"], "Idempotency-Key");
    }
    // The longest allowed key works.
    let longest = "k".repeat(255);
    let (status, body) = cart.checkout_keyed("bad", json!(1), &longest).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(fake.orders_made(), 1);
}
