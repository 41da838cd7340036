//! The frontend over HTTP without a browser: statuses, messages and cookies of
//! every page and form, with backends up, refusing, or down.

mod support;

use reqwest::StatusCode;
use support::*;

/// A whole store; `down` names backends to leave unreachable.
async fn store_with(down: &[&str]) -> StoreUrls {
    let dead = format!("http://{}", closed_port().await);
    let pick = |name: &str, url: String| {
        if down.contains(&name) {
            dead.clone()
        } else {
            url
        }
    };
    let users = pick("users", serve_fresh(users_router().await).await);
    let products = serve_fresh(products_router().await).await;
    let orders = serve_fresh(orders_router(&users, &products).await).await;
    let orders = pick("orders", orders);
    let cart = pick("cart", serve_fresh(cart_router(&products, &orders)).await);
    let products = pick("products", products);
    let frontend = serve_fresh(frontend_router(&products, &cart, &orders, &users)).await;
    StoreUrls {
        users,
        products,
        orders,
        cart,
        frontend,
    }
}

/// The pages the mesh retries (the GETs of the generator's catalogue) give the
/// same page to a repeat of a request that succeeded.
#[tokio::test]
async fn the_retried_pages_answer_a_repeat_alike() {
    let store = store_with(&[]).await;
    let product = create_product(&store.products, "P-1", "Plate", 800, 5).await;
    let f = &store.frontend;
    let cookie = cart_with(&store, product).await;
    let (_, body, _) = page(
        http()
            .get(format!("{f}/checkout"))
            .header("cookie", &cookie),
    )
    .await;
    let key = checkout_key(&body);
    let (status, _, _) = page(form(
        format!("{f}/checkout"),
        &[
            ("email", "pages@example.com"),
            ("name", "Pages"),
            ("checkout_key", &key),
        ],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cart_with(&store, product).await;
    for path in [
        "/".to_owned(),
        format!("/products/{product}"),
        "/cart".to_owned(),
        "/orders/1".to_owned(),
    ] {
        let get = || page(http().get(format!("{f}{path}")).header("cookie", &cookie));
        let (status, first, _) = get().await;
        assert_eq!(status, StatusCode::OK, "{path}: {first}");
        let (repeat_status, repeat, _) = get().await;
        assert_eq!((repeat_status, repeat), (status, first), "{path}");
    }
}

/// The form posts the mesh retries (`Always` in the generator's catalogue) set a
/// line rather than add to it, so a repeat after success is the same redirect to
/// the same cart; the checkout form changes nothing, and differs between two
/// renderings only in its fresh form key. Adding to the cart is not retried: a
/// repeat adds again (below).
#[tokio::test]
async fn the_retried_forms_answer_a_repeat_alike() {
    let store = store_with(&[]).await;
    let product = create_product(&store.products, "P-1", "Plate", 800, 5).await;
    let f = &store.frontend;
    let cookie = cart_with(&store, product).await;
    let cart = || page(http().get(format!("{f}/cart")).header("cookie", &cookie));
    let twice = |path: String, fields: Vec<(&'static str, &'static str)>| {
        let cookie = cookie.clone();
        async move {
            let send = || page(form(format!("{f}{path}"), &fields, Some(&cookie)));
            let first = send().await;
            assert_eq!(first.0, StatusCode::SEE_OTHER, "{path}: {}", first.1);
            assert_eq!(send().await, first, "{path}");
        }
    };

    twice(format!("/cart/items/{product}"), vec![("quantity", "3")]).await;
    let (_, after_set, _) = cart().await;
    assert!(
        after_set.contains(r#"id="cart-total">$24.00"#),
        "{after_set}"
    );

    let (status, first, _) = page(
        http()
            .get(format!("{f}/checkout"))
            .header("cookie", &cookie),
    )
    .await;
    let (_, repeat, _) = page(
        http()
            .get(format!("{f}/checkout"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        first.replace(&checkout_key(&first), "KEY"),
        repeat.replace(&checkout_key(&repeat), "KEY")
    );

    twice(format!("/cart/items/{product}/remove"), Vec::new()).await;
    let (_, emptied, _) = cart().await;
    assert!(emptied.contains(r#"id="empty-cart""#), "{emptied}");

    // Any other path is the HTML 404 page, alike every time.
    let missing = || page(http().get(format!("{f}/no/such/page")));
    let (status, first, _) = missing().await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing().await.1, first);

    // Adding is not safe to repeat: the same form twice is twice the quantity.
    let add = [
        ("product_id", product.to_string()),
        ("quantity", "1".to_owned()),
    ];
    let add: Vec<(&str, &str)> = add.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for _ in 0..2 {
        let (status, _, _) = page(form(format!("{f}/cart/items"), &add, Some(&cookie))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (_, added, _) = cart().await;
    assert!(added.contains(r#"id="cart-total">$16.00"#), "{added}");
}

/// The checkout form's key in a page.
fn checkout_key(body: &str) -> String {
    let marker = "name=\"checkout_key\" value=\"";
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no checkout key in {body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

/// A checkout form sent again (a refresh of the page it answered, a second
/// click, a retry after an answer that never came) shows the same order.
#[tokio::test]
async fn a_checkout_form_sent_twice_shows_its_one_order() {
    let store = store_with(&[]).await;
    let product = create_product(&store.products, "P-1", "Plate", 800, 5).await;
    let f = &store.frontend;
    let user = create_user(&store.users, "twice@example.com", "Twice")
        .await
        .to_string();
    let cookie = cart_with(&store, product).await;

    // Every rendering of the form has its own key.
    let checkout_page = || {
        page(
            http()
                .get(format!("{f}/checkout"))
                .header("cookie", &cookie),
        )
    };
    let (_, first_page, _) = checkout_page().await;
    let (_, second_page, _) = checkout_page().await;
    let key = checkout_key(&first_page);
    assert!(key.starts_with("checkout-") && key.len() > 20, "{key}");
    assert_ne!(key, checkout_key(&second_page));

    let fields = [("user_id", user.as_str()), ("checkout_key", key.as_str())];
    let mut locations = Vec::new();
    for _ in 0..2 {
        let response = form(format!("{f}/checkout"), &fields, Some(&cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        locations.push(response.headers()["location"].to_str().unwrap().to_owned());
    }
    assert!(locations[0].starts_with("/orders/"), "{locations:?}");
    assert_eq!(locations[0], locations[1]);
    let orders: serde_json::Value =
        get_json(format!("{}/v1/orders?user_id={user}", store.orders)).await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "{orders}");
    let stock: serde_json::Value =
        get_json(format!("{}/v1/products/{product}", store.products)).await;
    assert_eq!(stock["stock"], 3);
}

/// Status, body and `Set-Cookie` values of a page.
async fn page(request: reqwest::RequestBuilder) -> (StatusCode, String, Vec<String>) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    if status != StatusCode::SEE_OTHER && status != StatusCode::NO_CONTENT {
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "{status}: {content_type}"
        );
    }
    (status, response.text().await.unwrap(), cookies)
}

/// Posts a form.
fn form(url: String, fields: &[(&str, &str)], cookie: Option<&str>) -> reqwest::RequestBuilder {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('@', "%40").replace(' ', "+")))
        .collect::<Vec<_>>()
        .join("&");
    let mut request = http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request
}

/// Adds a product to a new cart and returns the `cart_id=...` cookie.
async fn cart_with(store: &StoreUrls, product: i64) -> String {
    let (status, _, cookies) = page(form(
        format!("{}/cart/items", store.frontend),
        &[("product_id", &product.to_string()), ("quantity", "2")],
        None,
    ))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("cart_id="))
        .expect("a cart cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn bad_input_gives_4xx_pages_never_500() {
    let store = store_with(&[]).await;
    let product = create_product(&store.products, "P-1", "Plate", 800, 5).await;
    let cookie = cart_with(&store, product).await;
    let f = &store.frontend;
    for (fields, expected) in [
        (vec![("product_id", "abc"), ("quantity", "1")], 422),
        (vec![("product_id", "0"), ("quantity", "1")], 422),
        (vec![("product_id", "1"), ("quantity", "0")], 422),
        (vec![("product_id", "1"), ("quantity", "1001")], 422),
        (vec![("product_id", "1"), ("quantity", "-1")], 422),
        (vec![("quantity", "1")], 422),
        (vec![("product_id", "99999"), ("quantity", "1")], 422),
    ] {
        let (status, body, _) = page(form(format!("{f}/cart/items"), &fields, Some(&cookie))).await;
        assert_eq!(status.as_u16(), expected, "{fields:?}: {body}");
        assert!(body.contains("id=\"message\""), "{fields:?}");
    }
    let (status, _, _) = page(
        http()
            .post(format!("{f}/cart/items"))
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = page(form(
        format!("{f}/cart/items/1"),
        &[("quantity", "x")],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = page(form(
        format!("{f}/cart/items/abc/remove"),
        &[],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A tampered cookie is ignored, not forwarded.
    let (status, body, _) = page(
        http()
            .get(format!("{f}/cart"))
            .header("cookie", "cart_id=../x"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Your cart is empty"));

    for (path, expected) in [
        ("/products/abc", 404),
        ("/products/0", 404),
        ("/products/99999", 404),
        ("/orders/abc", 404),
        ("/orders/99999", 404),
        ("/?after=abc", 200),
        ("/?after=99999999999999999999", 200),
        ("/no/such/page", 404),
        ("/products/%FF", 404),
        ("/orders/%C3%A9", 404),
    ] {
        let (status, _, _) = page(http().get(format!("{f}{path}"))).await;
        assert_eq!(status.as_u16(), expected, "{path}");
    }

    // Checkout needs a cart and either a customer number or an email and name.
    let checkout = format!("{f}/checkout");
    let (status, _, _) = page(form(checkout.clone(), &[("user_id", "1")], None)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for fields in [
        vec![],
        vec![("user_id", "-1")],
        vec![("user_id", "abc")],
        vec![("email", "a@b.example")],
        vec![("email", "not-an-email"), ("name", "X")],
    ] {
        let (status, body, _) = page(form(checkout.clone(), &fields, Some(&cookie))).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}: {body}"
        );
    }
    let (status, body, _) = page(form(
        checkout.clone(),
        &[("user_id", "424242")],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("There is no customer with number 424242"),
        "{body}"
    );
}

#[tokio::test]
async fn checkout_as_new_and_returning_customer() {
    let store = store_with(&[]).await;
    let product = create_product(&store.products, "P-1", "Plate", 800, 5).await;
    let f = &store.frontend;

    let cookie = cart_with(&store, product).await;
    let (status, body, cookies) = page(form(
        format!("{f}/checkout"),
        &[("email", "new@example.com"), ("name", "New Customer")],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let customer = cookies
        .iter()
        .find(|c| c.starts_with("customer_id="))
        .expect("the customer number is remembered");
    let customer = customer.split(';').next().unwrap().to_owned();

    // With an empty cart the checkout page says so and offers no form.
    let (status, body, _) = page(
        http()
            .get(format!("{f}/checkout"))
            .header("cookie", &customer),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Your cart is empty") && !body.contains("id=\"checkout\""),
        "{body}"
    );

    // With a cart it shows what is bought, and the customer number is prefilled;
    // the same email again asks for the number.
    let cookie = cart_with(&store, product).await;
    let (status, body, _) = page(
        http()
            .get(format!("{f}/checkout"))
            .header("cookie", format!("{customer}; {cookie}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"checkout-total\">$16.00"), "{body}");
    let number = customer.trim_start_matches("customer_id=");
    assert!(body.contains(&format!("value=\"{number}\"")), "{body}");
    let (status, body, _) = page(form(
        format!("{f}/checkout"),
        &[("email", "NEW@example.com"), ("name", "Again")],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("customer number"), "{body}");
    let (status, _, _) = page(form(
        format!("{f}/checkout"),
        &[("user_id", number)],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Not enough stock: the refusal is shown and the cart kept.
    let cookie = cart_with(&store, product).await;
    let (status, body, _) = page(form(
        format!("{f}/checkout"),
        &[("user_id", number)],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, body, _) = page(http().get(format!("{f}/cart")).header("cookie", &cookie)).await;
    assert!(body.contains("Plate"), "{body}");
}

#[tokio::test]
async fn a_backend_down_gives_the_page_a_message_and_503() {
    // cart down.
    let store = store_with(&["cart"]).await;
    let product = create_product(&store.products, "P-1", "Plate", 800, 5).await;
    let f = &store.frontend;
    let (status, body, _) = page(
        http()
            .get(format!("{f}/cart"))
            .header("cookie", "cart_id=abc"),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("Your cart is temporarily unavailable"),
        "{body}"
    );
    let (status, body, _) = page(form(
        format!("{f}/cart/items"),
        &[("product_id", &product.to_string()), ("quantity", "1")],
        None,
    ))
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("id=\"message\""));
    // The catalogue does not need the cart.
    let (status, _, _) = page(http().get(f.clone())).await;
    assert_eq!(status, StatusCode::OK);

    // orders down: the order page says so, and a checkout keeps the cart.
    let store = store_with(&["orders"]).await;
    let product = create_product(&store.products, "P-1", "Plate", 800, 5).await;
    let f = &store.frontend;
    let (status, body, _) = page(http().get(format!("{f}/orders/1"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("temporarily unavailable"));
    let user = create_user(&store.users, "u@example.com", "U").await;
    let cookie = cart_with(&store, product).await;
    let (status, body, _) = page(form(
        format!("{f}/checkout"),
        &[("user_id", &user.to_string())],
        Some(&cookie),
    ))
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("never ordered twice"), "{body}");
    let (status, body, _) = page(http().get(format!("{f}/cart")).header("cookie", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Plate"));
}

#[tokio::test]
async fn the_catalogue_is_paginated() {
    let store = store_with(&[]).await;
    for i in 1..=21 {
        create_product(
            &store.products,
            &format!("SKU-{i:02}"),
            &format!("Item {i:02}"),
            100,
            1,
        )
        .await;
    }
    let f = &store.frontend;
    let (status, body, _) = page(http().get(f.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.matches("class=\"product-link\"").count(), 20);
    assert!(body.contains("Item 01") && body.contains("Item 20") && !body.contains("Item 21"));
    assert!(!body.contains("id=\"first-page\""));
    let next = body
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next-page link")
        .to_owned();
    let (status, body, _) = page(http().get(format!("{f}{next}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Item 21") && !body.contains("Item 20"),
        "{body}"
    );
    assert!(body.contains("id=\"first-page\""));
}

#[tokio::test]
async fn pages_are_not_cached_framed_or_sniffed() {
    let store = store_with(&[]).await;
    for path in ["/", "/cart", "/checkout", "/orders/1", "/nowhere"] {
        let response = http()
            .get(format!("{}{path}", store.frontend))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let store = store_with(&["products", "cart", "orders", "users"]).await;
    let f = &store.frontend;
    // Ready although every backend is down: readiness never cascades.
    for path in ["/healthz", "/readyz"] {
        let response = http().get(format!("{f}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    http().get(format!("{f}/products/7")).send().await.unwrap();
    let metrics = http()
        .get(format!("{f}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"route="/products/{id}""#), "{metrics}");
    assert!(metrics.contains(r#"service="frontend""#));
}

#[test]
fn migrate_is_a_no_op() {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_frontend"))
        .arg("migrate")
        .status()
        .unwrap();
    assert!(status.success());
}
