//! The shop end to end in a real headless Chromium: browse the catalogue, open
//! a product, add it to the cart, check out as a new customer and read the
//! order page; a checkout form submitted twice shows one order; and the
//! catalogue's message and 503 while products is down.

mod support;

use std::time::Duration;

use fantoccini::{Client, Locator};
use kubestore_testkit::proxy::Relay;
use serde_json::Value;
use support::*;
use tokio::net::TcpListener;

/// The whole store, every service on its own ephemeral port.
async fn start_store() -> StoreUrls {
    let users = serve_fresh(users_router().await).await;
    let products = serve_fresh(products_router().await).await;
    let orders = serve_fresh(orders_router(&users, &products).await).await;
    let cart = serve_fresh(cart_router(&products, &orders)).await;
    let frontend = serve_fresh(frontend_router(&products, &cart, &orders, &users)).await;
    StoreUrls {
        users,
        products,
        orders,
        cart,
        frontend,
    }
}

/// Text of the element `css`.
async fn text(browser: &Browser, css: &str) -> String {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits until the element `css` reads `expected`: after a form posts back to
/// the page it came from, the old page can still be there for a moment.
async fn wait_for_text(browser: &Browser, css: &str, expected: &str) {
    let started = std::time::Instant::now();
    loop {
        let seen = match browser.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        if seen.as_deref() == Some(expected) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{css} reads {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the browser is at a URL whose path starts with `prefix`.
async fn wait_for_path(browser: &Browser, prefix: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let url = browser.client.current_url().await.unwrap();
        if url.path().starts_with(prefix) {
            return url.path().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still at {url}, expected {prefix}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_buys_a_product_in_the_browser() {
    let store = start_store().await;
    let mug = create_product(&store.products, "MUG-1", "Blue Mug", 1250, 10).await;
    let teapot = create_product(&store.products, "TEA-1", "Red <Teapot>", 3499, 5).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    // The catalogue lists both products, names escaped and prices formatted.
    c.goto(&store.frontend).await.unwrap();
    assert_eq!(text(&browser, "h1").await, "Catalogue");
    let table = text(&browser, "#products").await;
    assert!(
        table.contains("Blue Mug") && table.contains("$12.50"),
        "{table}"
    );
    assert!(
        table.contains("Red <Teapot>") && table.contains("$34.99"),
        "{table}"
    );

    // Open the teapot's page and add two.
    click(c, Locator::LinkText("Red <Teapot>")).await;
    assert_eq!(
        wait_for_path(&browser, "/products/").await,
        format!("/products/{teapot}")
    );
    assert_eq!(text(&browser, "h1").await, "Red <Teapot>");
    assert_eq!(text(&browser, "#price").await, "$34.99");
    let quantity = c
        .find(Locator::Css("#add-to-cart input[name=quantity]"))
        .await
        .unwrap();
    quantity.clear().await.unwrap();
    quantity.send_keys("2").await.unwrap();
    click(c, Locator::Css("#add-to-cart button")).await;
    wait_for_path(&browser, "/cart").await;
    wait_for_text(&browser, "#cart-total", "$69.98").await;

    // The cart id lives in an HttpOnly, SameSite=Lax cookie.
    let cookie = c.get_named_cookie("cart_id").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site().map(|s| s.to_string()).as_deref(),
        Some("Lax")
    );

    // Add a mug from the catalogue, then change our mind with the line's form.
    c.goto(&store.frontend).await.unwrap();
    c.find(Locator::Css(&format!(
        "form[action='/cart/items'] input[name=product_id][value='{mug}'] ~ button"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_for_path(&browser, "/cart").await;
    wait_for_text(&browser, "#cart-total", "$82.48").await;
    c.find(Locator::Css(&format!(
        "tr[data-product-id='{mug}'] form[action$='/remove'] button"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_for_text(&browser, "#cart-total", "$69.98").await;

    // Check out as a new customer.
    click(c, Locator::Id("checkout-link")).await;
    wait_for_path(&browser, "/checkout").await;
    wait_for_text(&browser, "#checkout-total", "$69.98").await;
    type_into(c, Locator::Css("input[name=email]"), "shopper@example.com").await;
    type_into(c, Locator::Css("input[name=name]"), "Ada Shopper").await;
    click(c, Locator::Id("place-order")).await;
    let path = wait_for_path(&browser, "/orders/").await;
    wait_for_text(&browser, "#order-total", "$69.98").await;
    assert_eq!(text(&browser, "#order-status").await, "confirmed");
    assert!(
        text(&browser, "#order-lines")
            .await
            .contains("Red <Teapot>")
    );

    // The order really exists with that total, and took the stock.
    let order_id = path.trim_start_matches("/orders/");
    let order: Value = get_json(format!("{}/v1/orders/{order_id}", store.orders)).await;
    assert_eq!(order["total_cents"], 6998);
    let product: Value = get_json(format!("{}/v1/products/{teapot}", store.products)).await;
    assert_eq!(product["stock"], 3);

    // The cart is empty now.
    click(c, Locator::Id("cart-link")).await;
    wait_for_text(&browser, "#empty-cart", "Your cart is empty.").await;

    browser.close().await;
}

/// The address of a base URL `http://127.0.0.1:<port>`.
fn addr_of(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// A new customer clicks "Place order", and again after the first has made the
/// account and the order but before its answer reached the browser (a slow
/// network): the browser sends both, and shows the one order they made, without
/// an error (without the form's key the second would find the email taken and
/// the cart empty). Reloading the order page keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_submitted_checkout_shows_one_order() {
    let users = serve_fresh(users_router().await).await;
    let products = serve_fresh(products_router().await).await;
    let orders = serve_fresh(orders_router(&users, &products).await).await;
    let cart = serve_fresh(cart_router(&products, &orders)).await;
    let frontend = serve_fresh(frontend_router(&products, &cart, &orders, &users)).await;
    // The browser's answers come late, and the relay counts what it really sent.
    let shop = Relay::start(
        addr_of(&frontend),
        Duration::ZERO,
        Duration::from_millis(1500),
    )
    .await;
    let mug = create_product(&products, "MUG-2", "Green Mug", 900, 10).await;

    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/products/{mug}", shop.url))
        .await
        .unwrap();
    click(c, Locator::Css("#add-to-cart button")).await;
    wait_for_path(&browser, "/cart").await;
    click(c, Locator::Id("checkout-link")).await;
    wait_for_path(&browser, "/checkout").await;
    // A new customer: the form also creates the account, which must not be
    // refused as taken the second time.
    type_into(c, Locator::Css("input[name=email]"), "twice@example.com").await;
    type_into(c, Locator::Css("input[name=name]"), "Two Clicks").await;

    // Two submissions of the same form, 700 ms apart, in the page itself (a
    // WebDriver click would wait for the first navigation to finish). The
    // first order is made in far less time; its answer is still on the way.
    c.execute(
        "const form = document.getElementById('checkout');
         form.requestSubmit();
         setTimeout(() => form.requestSubmit(), 700);",
        vec![],
    )
    .await
    .unwrap();
    let path = wait_for_path(&browser, "/orders/").await;
    wait_for_text(&browser, "#order-status", "confirmed").await;
    assert!(browser.client.find(Locator::Id("message")).await.is_err());
    assert_eq!(
        shop.requests_starting("POST /checkout "),
        2,
        "the browser sent both submissions"
    );
    // One account was made for both.
    let accounts: Value = get_json(format!("{users}/v1/users")).await;
    let accounts = accounts["items"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let user_id = accounts[0]["id"].as_i64().unwrap();

    let orders_of_user: Value = get_json(format!("{orders}/v1/orders?user_id={user_id}")).await;
    let list = orders_of_user["items"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{orders_of_user}");
    assert_eq!(format!("/orders/{}", list[0]["id"]), path);
    let product: Value = get_json(format!("{products}/v1/products/{mug}")).await;
    assert_eq!(product["stock"], 9);

    // Reloading shows the same order and orders nothing.
    c.refresh().await.unwrap();
    wait_for_text(&browser, "#order-status", "confirmed").await;
    assert_eq!(c.current_url().await.unwrap().path(), path);
    assert_eq!(shop.requests_starting("POST /checkout "), 2);

    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_says_so_while_products_is_down() {
    let users = serve_fresh(users_router().await).await;
    let products_addr = closed_port().await;
    let products = format!("http://{products_addr}");
    let orders = serve_fresh(orders_router(&users, &products).await).await;
    let cart = serve_fresh(cart_router(&products, &orders)).await;
    let frontend = serve_fresh(frontend_router(&products, &cart, &orders, &users)).await;

    // What a browser shows...
    let browser = Browser::start().await;
    browser.client.goto(&frontend).await.unwrap();
    let message = text(&browser, "#message").await;
    assert!(message.contains("temporarily unavailable"), "{message}");
    assert_eq!(text(&browser, "h1").await, "Catalogue");
    // ...and the status it got.
    let response = http().get(&frontend).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("temporarily unavailable")
    );

    // products comes back: the same page works again.
    serve(
        TcpListener::bind(products_addr).await.unwrap(),
        products_router().await,
    );
    create_product(&products, "BACK-1", "Back Again", 500, 1).await;
    browser.client.refresh().await.unwrap();
    wait_for_text(&browser, ".product-link", "Back Again").await;
    assert!(browser.client.find(Locator::Id("message")).await.is_err());
    let response = http().get(&frontend).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    browser.close().await;
}

/// Clicks the element `locator` finds.
async fn click(c: &Client, locator: Locator<'_>) {
    c.find(locator).await.unwrap().click().await.unwrap();
}

/// Types `text` into the element `locator` finds.
async fn type_into(c: &Client, locator: Locator<'_>, text: &str) {
    c.find(locator)
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}
