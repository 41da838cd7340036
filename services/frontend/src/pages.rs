//! The shop's pages and form handlers.
//!
//! Forms post and redirect (303) to a page, so everything works without
//! JavaScript and a reload never posts twice. When a backend is down the page
//! still renders, with a message saying what is unavailable, and answers 503.

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts, RawPathParams, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kubestore_common::extract::parse_id;
use kubestore_common::idempotency;
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Deserialize;

use crate::AppState;
use crate::backend::{Down, Product, Refusal};
use crate::cookies;

/// Products per catalogue page.
pub const PAGE_SIZE: u32 = 20;
/// Largest quantity of one cart line (the cart's own limit).
const MAX_QUANTITY: i64 = 1000;

/// The page routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(catalogue))
        .route("/products/{id}", get(product_page))
        .route("/cart", get(cart_page))
        .route("/cart/items", post(add_to_cart))
        .route("/cart/items/{product_id}", post(update_line))
        .route("/cart/items/{product_id}/remove", post(remove_line))
        .route("/checkout", get(checkout_page).post(checkout))
        .route("/orders/{id}", get(order_page))
        // A real route rather than a fallback, so shoppers get an HTML page
        // (the shared fallback answers JSON, for the APIs) and the metrics
        // label stays the bounded template `/{*path}`.
        .route("/{*path}", get(not_found_page))
        .layer(axum::middleware::map_response(page_headers))
}

/// Headers of every page: the pages hold carts and orders, so no cache keeps
/// them; nothing is loaded from elsewhere, so the policy can say so; and no
/// other site may frame the forms.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `GET` of any other path.
async fn not_found_page(State(state): State<AppState>) -> Response {
    Page::error(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no such page.",
    )
    .render(&state)
}

/// The path's id parameter as written, not decoded: ids are plain digits,
/// so anything else, bytes that are not UTF-8 included, is simply no id (a
/// 404 page) rather than axum's plain-text 400.
struct RawId(String);

impl<S: Send + Sync> FromRequestParts<S> for RawId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().last().map(|(_, v)| v.to_owned()))
            .unwrap_or_default();
        Ok(Self(raw))
    }
}

/// A page to render: template, status, title, an optional error message and
/// notice, and the template's own data.
struct Page {
    status: StatusCode,
    template: &'static str,
    title: String,
    message: Option<String>,
    data: Value,
}

impl Page {
    fn new(template: &'static str, title: impl Into<String>, data: Value) -> Self {
        Self {
            status: StatusCode::OK,
            template,
            title: title.into(),
            message: None,
            data,
        }
    }

    /// A page that only says `message`, with `status`.
    fn error(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new("error.html", title, context! {}).failed(status, message)
    }

    fn failed(mut self, status: StatusCode, message: impl Into<String>) -> Self {
        self.status = status;
        self.message = Some(message.into());
        self
    }

    fn render(self, state: &AppState) -> Response {
        let ctx = context! {
            title => self.title,
            message => self.message,
            notice => None::<String>,
            ..self.data
        };
        state.views.page(self.status, self.template, ctx)
    }
}

/// The sentence shown when `down` is unavailable.
fn down_message(Down(dependency): Down, what: &str) -> String {
    format!(
        "{what} is temporarily unavailable ({dependency} is not answering). Please try again in a moment."
    )
}

/// `GET /?after=<id>`: a page of the catalogue.
async fn catalogue(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    // A malformed `after` is a stale or hand-made link: show the first page.
    let after = query_param(query.as_deref(), "after").and_then(|v| parse_id(&v));
    let page = match state.backends.products(after, PAGE_SIZE).await {
        Ok(page) => Page::new(
            "catalogue.html",
            "Catalogue",
            context! {
                products => Value::from(Serde(&page.items)),
                next => page.next,
                paged => after.is_some(),
            },
        ),
        Err(down) => Page::new(
            "catalogue.html",
            "Catalogue",
            context! {
                products => Value::from(Vec::<Value>::new()),
                next => None::<i64>,
                paged => after.is_some(),
            },
        )
        .failed(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "The catalogue"),
        ),
    };
    page.render(&state)
}

/// One query parameter, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let params: HashMap<String, String> =
        kubestore_common::extract::parse_query(query.unwrap_or_default()).ok()?;
    params.get(name).cloned()
}

/// `GET /products/{id}`.
async fn product_page(State(state): State<AppState>, RawId(id): RawId) -> Response {
    let Some(id) = parse_id(&id) else {
        return Page::error(
            StatusCode::NOT_FOUND,
            "Product not found",
            "There is no such product.",
        )
        .render(&state);
    };
    match state.backends.product(id).await {
        Ok(Some(product)) => Page::new(
            "product.html",
            product.name.clone(),
            context! { product => Value::from(Serde(&product)) },
        )
        .render(&state),
        Ok(None) => Page::error(
            StatusCode::NOT_FOUND,
            "Product not found",
            "There is no such product.",
        )
        .render(&state),
        Err(down) => Page::new(
            "product.html",
            "Product",
            context! { product => Value::from(()) },
        )
        .failed(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "Product information"),
        )
        .render(&state),
    }
}

/// One line of the cart page, with what products told us about it.
#[derive(serde::Serialize)]
struct LineView {
    product_id: i64,
    quantity: i64,
    name: String,
    price_cents: Option<i64>,
    total_cents: Option<i64>,
}

/// A cart as the pages show it: lines with names and prices, and the total
/// when every price is known.
struct CartView {
    lines: Vec<LineView>,
    total_cents: Option<i64>,
    /// Set when products did not answer for some line.
    products_down: Option<Down>,
}

/// Reads a cart and names its lines; `Err` when the cart service is down.
async fn cart_view(state: &AppState, cart_id: &str) -> Result<CartView, Down> {
    let cart = state.backends.cart(cart_id).await?;
    let ids: Vec<i64> = cart.items.iter().map(|l| l.product_id).collect();
    let (products, products_down) = products_by_id(state, &ids).await;
    let lines: Vec<LineView> = cart
        .items
        .iter()
        .map(|line| {
            let product = products.get(&line.product_id);
            LineView {
                product_id: line.product_id,
                quantity: line.quantity,
                name: product.map_or_else(
                    || format!("Product #{}", line.product_id),
                    |p| p.name.clone(),
                ),
                price_cents: product.map(|p| p.price_cents),
                total_cents: product.map(|p| p.price_cents.saturating_mul(line.quantity)),
            }
        })
        .collect();
    let total_cents = if lines.iter().all(|l| l.total_cents.is_some()) {
        Some(lines.iter().filter_map(|l| l.total_cents).sum::<i64>())
    } else {
        None
    };
    Ok(CartView {
        lines,
        total_cents,
        products_down,
    })
}

/// `GET /cart`.
async fn cart_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(cart_id) = cookies::cart_id(&headers) else {
        return empty_cart_page().render(&state);
    };
    let view = match cart_view(&state, cart_id).await {
        Ok(view) => view,
        Err(down) => {
            return empty_cart_page()
                .failed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    down_message(down, "Your cart"),
                )
                .render(&state);
        }
    };
    let page = Page::new(
        "cart.html",
        "Your cart",
        context! { lines => Value::from(Serde(&view.lines)), total_cents => view.total_cents },
    );
    match view.products_down {
        None => page.render(&state),
        Some(down) => page
            .failed(
                StatusCode::SERVICE_UNAVAILABLE,
                down_message(down, "Product information"),
            )
            .render(&state),
    }
}

/// The products `ids` (at most 50: a cart's or an order's lines), looked up
/// concurrently so a page costs one round trip; unknown ones are absent. The
/// second value says whether products failed to answer for some of them.
async fn products_by_id(state: &AppState, ids: &[i64]) -> (HashMap<i64, Product>, Option<Down>) {
    let mut lookups = tokio::task::JoinSet::new();
    for &id in ids {
        let backends = state.backends.clone();
        lookups.spawn(async move { (id, backends.product(id).await) });
    }
    let mut products = HashMap::new();
    let mut down = None;
    while let Some(joined) = lookups.join_next().await {
        match joined {
            Ok((id, Ok(Some(product)))) => {
                products.insert(id, product);
            }
            Ok((_, Ok(None))) => {}
            Ok((_, Err(err))) => down = Some(err),
            Err(err) => {
                tracing::error!(error = %err, "product lookup task failed");
                down = Some(Down("products"));
            }
        }
    }
    (products, down)
}

fn empty_cart_page() -> Page {
    Page::new(
        "cart.html",
        "Your cart",
        context! { lines => Value::from(Vec::<Value>::new()), total_cents => None::<i64> },
    )
}

/// A cart page that only shows `message`.
fn cart_error(status: StatusCode, message: impl Into<String>) -> Page {
    empty_cart_page().failed(status, message)
}

/// A refusal of a backend, shown to the shopper with its own status.
fn refused(refusal: Refusal) -> Page {
    let status = match refusal.status {
        StatusCode::CONFLICT => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    cart_error(status, shopper_message(&refusal))
}

/// A backend's refusal in words for the shopper: validation messages lose
/// their `field: ` prefix, which names an API field, not a form field.
fn shopper_message(refusal: &Refusal) -> String {
    if refusal.code == "unknown_product" {
        return "That product is not sold here.".to_owned();
    }
    let message = refusal
        .message
        .split_once(": ")
        .filter(|(field, _)| {
            !field.is_empty()
                && field
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map_or(refusal.message.as_str(), |(_, rest)| rest);
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => {
            let sentence = format!("{}{}", first.to_uppercase(), chars.as_str());
            if sentence.ends_with('.') {
                sentence
            } else {
                format!("{sentence}.")
            }
        }
        None => "The request was refused.".to_owned(),
    }
}

/// Redirect (303) to `location`, so a reload does not post again.
fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// Form of "Add to cart".
#[derive(Debug, Deserialize)]
struct AddForm {
    product_id: Option<String>,
    quantity: Option<String>,
}

/// A whole number in `min..=max` typed into a form field.
fn form_number(raw: Option<&str>, min: i64, max: i64) -> Option<i64> {
    let raw = raw?.trim();
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|n| (min..=max).contains(n))
}

/// `POST /cart/items`: adds `quantity` of a product to the cart, creating the
/// cart (and its cookie) on first use.
async fn add_to_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<AddForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return cart_error(StatusCode::BAD_REQUEST, "The form could not be read.").render(&state);
    };
    let product_id = form.product_id.as_deref().and_then(parse_id);
    let quantity = form_number(form.quantity.as_deref().or(Some("1")), 1, MAX_QUANTITY);
    let (Some(product_id), Some(quantity)) = (product_id, quantity) else {
        return cart_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Choose a product and a quantity from 1 to {MAX_QUANTITY}."),
        )
        .render(&state);
    };
    let (cart_id, new_cart) = match cookies::cart_id(&headers) {
        Some(id) => (id.to_owned(), false),
        None => (cookies::new_cart_id(), true),
    };
    // Adding to a line adds to its quantity, as shoppers expect, within the
    // cart's limit.
    let have = if new_cart {
        0
    } else {
        match state.backends.cart(&cart_id).await {
            Ok(cart) => cart
                .items
                .iter()
                .find(|l| l.product_id == product_id)
                .map_or(0, |l| l.quantity),
            Err(down) => {
                return cart_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    down_message(down, "Your cart"),
                )
                .render(&state);
            }
        }
    };
    let wanted = (have + quantity).min(MAX_QUANTITY);
    match state.backends.set_line(&cart_id, product_id, wanted).await {
        Ok(Ok(_)) => {
            let mut response = see_other("/cart");
            if new_cart {
                set_cookie(
                    &mut response,
                    cookies::set(cookies::CART_COOKIE, &cart_id, state.cookie_secure),
                );
            }
            response
        }
        Ok(Err(refusal)) => refused(refusal).render(&state),
        Err(down) => cart_error(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "Your cart"),
        )
        .render(&state),
    }
}

fn set_cookie(response: &mut Response, value: HeaderValue) {
    response.headers_mut().append(header::SET_COOKIE, value);
}

/// Form of a cart line's "Update".
#[derive(Debug, Deserialize)]
struct UpdateForm {
    quantity: Option<String>,
}

/// `POST /cart/items/{product_id}`: sets a line's quantity; 0 removes it.
async fn update_line(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawId(product_id): RawId,
    form: Result<Form<UpdateForm>, FormRejection>,
) -> Response {
    let quantity = form
        .ok()
        .and_then(|Form(f)| form_number(f.quantity.as_deref(), 0, MAX_QUANTITY));
    let Some(quantity) = quantity else {
        return cart_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Enter a quantity from 0 to {MAX_QUANTITY}."),
        )
        .render(&state);
    };
    change_line(&state, &headers, &product_id, quantity).await
}

/// `POST /cart/items/{product_id}/remove`.
async fn remove_line(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawId(product_id): RawId,
) -> Response {
    change_line(&state, &headers, &product_id, 0).await
}

async fn change_line(
    state: &AppState,
    headers: &HeaderMap,
    product_id: &str,
    quantity: i64,
) -> Response {
    let (Some(cart_id), Some(product_id)) = (cookies::cart_id(headers), parse_id(product_id))
    else {
        // No cart or no such line: nothing to change, show the cart.
        return see_other("/cart");
    };
    match state.backends.set_line(cart_id, product_id, quantity).await {
        Ok(Ok(_)) => see_other("/cart"),
        Ok(Err(refusal)) => refused(refusal).render(state),
        Err(down) => cart_error(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "Your cart"),
        )
        .render(state),
    }
}

/// What the checkout form holds.
#[derive(Debug, Default, Deserialize)]
struct CheckoutForm {
    user_id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    /// The form's `Idempotency-Key`: one per rendered form, kept when the form
    /// comes back with an error, so that submitting it twice, or again after
    /// an answer that never arrived, shows the one order it made.
    checkout_key: Option<String>,
}

impl CheckoutForm {
    /// The form's key, or a fresh one when it has none (or a malformed one).
    fn key(&self) -> String {
        self.checkout_key
            .as_deref()
            .filter(|k| idempotency::is_valid(k))
            .map_or_else(new_checkout_key, str::to_owned)
    }
}

/// A fresh checkout form key.
fn new_checkout_key() -> String {
    format!("checkout-{}", cookies::unguessable_id())
}

/// The checkout form, filled with what the shopper typed; `summary` is the
/// cart to show above it, when it was read.
fn checkout_form(form: &CheckoutForm, user_id: Option<&str>, summary: Option<&CartView>) -> Page {
    Page::new(
        "checkout.html",
        "Checkout",
        context! {
            checkout_key => form.key(),
            user_id => user_id.or(form.user_id.as_deref()),
            email => form.email.as_deref(),
            name => form.name.as_deref(),
            summary => summary.is_some(),
            lines => Value::from(Serde(summary.map_or(&[][..], |v| &v.lines[..]))),
            total_cents => summary.and_then(|v| v.total_cents),
        },
    )
}

/// `GET /checkout`: the form, with the customer number of the last checkout.
async fn checkout_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let remembered =
        cookies::get(&headers, cookies::CUSTOMER_COOKIE).filter(|v| parse_id(v).is_some());
    let form = CheckoutForm::default();
    // Show what is being bought; a cart that cannot be read still leaves the
    // form, since the checkout itself will say what went wrong.
    let Some(cart_id) = cookies::cart_id(&headers) else {
        let empty = CartView {
            lines: Vec::new(),
            total_cents: None,
            products_down: None,
        };
        return checkout_form(&form, remembered, Some(&empty)).render(&state);
    };
    match cart_view(&state, cart_id).await {
        Ok(view) => {
            let page = checkout_form(&form, remembered, Some(&view));
            match view.products_down {
                None => page.render(&state),
                Some(down) => page
                    .failed(
                        StatusCode::SERVICE_UNAVAILABLE,
                        down_message(down, "Product information"),
                    )
                    .render(&state),
            }
        }
        Err(down) => checkout_form(&form, remembered, None)
            .failed(
                StatusCode::SERVICE_UNAVAILABLE,
                down_message(down, "Your cart"),
            )
            .render(&state),
    }
}

/// `POST /checkout`: a returning customer gives their number; a new one gives
/// an email and a name, and gets an account first. Then the cart is checked
/// out and the shopper lands on the order page.
async fn checkout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CheckoutForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return checkout_form(&CheckoutForm::default(), None, None)
            .failed(StatusCode::BAD_REQUEST, "The form could not be read.")
            .render(&state);
    };
    let Some(cart_id) = cookies::cart_id(&headers) else {
        return cart_error(StatusCode::UNPROCESSABLE_ENTITY, "Your cart is empty.").render(&state);
    };
    let typed = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (user_id, email, name) = (typed(&form.user_id), typed(&form.email), typed(&form.name));
    // One key for the account and the order of this form (each service keeps
    // its own keys).
    let key = form.key();
    let user_id = match (user_id, email, name) {
        (Some(raw), _, _) => match parse_id(&raw) {
            Some(id) => id,
            None => {
                return checkout_form(&form, None, None)
                    .failed(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "A customer number is a positive whole number.",
                    )
                    .render(&state);
            }
        },
        (None, Some(email), Some(name)) => {
            match state.backends.create_user(&email, &name, &key).await {
                Ok(Ok(user)) => user.id,
                Ok(Err(refusal)) if refusal.code == "email_taken" => {
                    return checkout_form(&form, None, None)
                    .failed(
                        StatusCode::CONFLICT,
                        "An account with this email already exists. Enter your customer number instead (it is shown on your earlier orders).",
                    )
                    .render(&state);
                }
                Ok(Err(refusal)) if refusal.code == "idempotency_key_reused" => {
                    // This form already made an account, with other details; a fresh
                    // form key lets the shopper go on with a new one.
                    let form = CheckoutForm {
                        checkout_key: None,
                        ..form
                    };
                    return checkout_form(&form, None, None)
                    .failed(
                        StatusCode::CONFLICT,
                        "This form already created an account with other details. Enter that customer number, or submit again to create another account.",
                    )
                    .render(&state);
                }
                Ok(Err(refusal)) => {
                    return checkout_form(&form, None, None)
                        .failed(StatusCode::UNPROCESSABLE_ENTITY, shopper_message(&refusal))
                        .render(&state);
                }
                Err(down) => {
                    return checkout_form(&form, None, None)
                        .failed(
                            StatusCode::SERVICE_UNAVAILABLE,
                            down_message(down, "Creating an account"),
                        )
                        .render(&state);
                }
            }
        }
        _ => {
            return checkout_form(&form, None, None)
                .failed(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Enter your customer number, or your email and name to create an account.",
                )
                .render(&state);
        }
    };
    let user_id_text = user_id.to_string();
    let mut response = match state.backends.checkout(cart_id, user_id, &key).await {
        Ok(Ok(order)) => see_other(&format!("/orders/{}", order.id)),
        Ok(Err(refusal)) => {
            let message = match refusal.code.as_str() {
                "empty_cart" => "Your cart is empty.".to_owned(),
                "unknown_user" => format!("There is no customer with number {user_id}."),
                "request_in_progress" => {
                    "Your order is still being placed. Wait a moment and place it again: it will not be ordered twice.".to_owned()
                }
                "idempotency_key_reused" => {
                    "This form was already used for an earlier order, and your cart has changed since. Check your cart and place the order again.".to_owned()
                }
                _ => shopper_message(&refusal),
            };
            // A form whose key is spent on another purchase gets a new one.
            let form = if refusal.code == "idempotency_key_reused" {
                CheckoutForm {
                    checkout_key: None,
                    ..form
                }
            } else {
                CheckoutForm {
                    checkout_key: Some(key),
                    ..form
                }
            };
            let status = if refusal.status == StatusCode::CONFLICT {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            checkout_form(&form, Some(&user_id_text), None)
                .failed(status, message)
                .render(&state)
        }
        Err(down) => checkout_form(
            &CheckoutForm {
                checkout_key: Some(key),
                ..form
            },
            Some(&user_id_text),
            None,
        )
        .failed(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} Place the order again when you are ready: it is never ordered twice.",
                down_message(down, "Checkout")
            ),
        )
        .render(&state),
    };
    // Remember the customer number (a new account's included) for next time.
    set_cookie(
        &mut response,
        cookies::set(cookies::CUSTOMER_COOKIE, &user_id_text, state.cookie_secure),
    );
    response
}

/// `GET /orders/{id}`.
async fn order_page(State(state): State<AppState>, RawId(id): RawId) -> Response {
    let Some(id) = parse_id(&id) else {
        return Page::error(
            StatusCode::NOT_FOUND,
            "Order not found",
            "There is no such order.",
        )
        .render(&state);
    };
    match state.backends.order(id).await {
        Ok(Some(order)) => {
            let ids: Vec<i64> = order.items.iter().map(|i| i.product_id).collect();
            let (products, products_down) = products_by_id(&state, &ids).await;
            let names: HashMap<String, String> = products
                .into_iter()
                .map(|(id, p)| (id.to_string(), p.name))
                .collect();
            let page = Page::new(
                "order.html",
                format!("Order #{}", order.id),
                context! { order => Value::from(Serde(&order)), names => names },
            );
            match products_down {
                None => page.render(&state),
                Some(down) => page
                    .failed(
                        StatusCode::SERVICE_UNAVAILABLE,
                        down_message(down, "Product information"),
                    )
                    .render(&state),
            }
        }
        Ok(None) => Page::error(
            StatusCode::NOT_FOUND,
            "Order not found",
            "There is no such order.",
        )
        .render(&state),
        Err(down) => Page::new(
            "order.html",
            "Order",
            context! { order => Value::from(()), names => Value::from(()) },
        )
        .failed(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "Your order"),
        )
        .render(&state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_numbers() {
        assert_eq!(form_number(Some(" 3 "), 1, 1000), Some(3));
        assert_eq!(form_number(Some("0"), 0, 1000), Some(0));
        for bad in ["0", "1001", "-1", "1.5", "", "abc", "99999999999999999999"] {
            assert_eq!(form_number(Some(bad), 1, 1000), None, "{bad}");
        }
        assert_eq!(form_number(None, 1, 1000), None);
    }

    #[test]
    fn refusals_read_as_sentences() {
        let refusal = |code: &str, message: &str| Refusal {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: code.to_owned(),
            message: message.to_owned(),
        };
        assert_eq!(
            shopper_message(&refusal(
                "validation_failed",
                "product_id: a cart holds at most 50 different products"
            )),
            "A cart holds at most 50 different products."
        );
        assert_eq!(
            shopper_message(&refusal("insufficient_stock", "Product 3 has only 2 left.")),
            "Product 3 has only 2 left."
        );
        assert_eq!(
            shopper_message(&refusal("unknown_product", "product 9 does not exist")),
            "That product is not sold here."
        );
        assert_eq!(
            shopper_message(&refusal("x", "Note: keep this")),
            "Note: keep this."
        );
    }

    #[test]
    fn query_params() {
        assert_eq!(
            query_param(Some("after=5&x=1"), "after").as_deref(),
            Some("5")
        );
        assert_eq!(query_param(None, "after"), None);
    }
}
