//! The cart page and its forms: adding a product, changing or removing a line.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kubestore_common::AppError;
use kubestore_common::extract::parse_id;
use kubestore_common::limits::MAX_QUANTITY;
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Page, RawId, down_message, products_by_id, see_other, set_cookie, shopper_message};
use crate::AppState;
use crate::cookies;
use crate::upstream::Refusal;

/// One line of the cart page, with what products told us about it.
#[derive(serde::Serialize)]
pub(super) struct LineView {
    product_id: i64,
    quantity: i64,
    name: String,
    price_cents: Option<i64>,
    total_cents: Option<i64>,
}

/// A cart as the pages show it: lines with names and prices, and the total
/// when every price is known.
pub(super) struct CartView {
    pub(super) lines: Vec<LineView>,
    pub(super) total_cents: Option<i64>,
    /// Set when products did not answer for some line.
    pub(super) products_down: Option<AppError>,
}

/// Reads a cart and names its lines; `Err` when the cart service is down.
pub(super) async fn cart_view(state: &AppState, cart_id: &str) -> Result<CartView, AppError> {
    let cart = state.upstream.cart(cart_id).await?;
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
pub(super) async fn cart_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
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
    page.degraded(view.products_down, "Product information")
        .render(&state)
}

fn empty_cart_page() -> Page {
    Page::new(
        "cart.html",
        "Your cart",
        context! { lines => Value::from(Vec::<Value>::new()), total_cents => None::<i64> },
    )
}

/// A cart page that only shows `message`.
pub(super) fn cart_error(status: StatusCode, message: impl Into<String>) -> Page {
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

/// Form of "Add to cart".
#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
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
pub(super) async fn add_to_cart(
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
        match state.upstream.cart(&cart_id).await {
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
    match state.upstream.set_line(&cart_id, product_id, wanted).await {
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

/// Form of a cart line's "Update".
#[derive(Debug, Deserialize)]
pub(super) struct UpdateForm {
    quantity: Option<String>,
}

/// `POST /cart/items/{product_id}`: sets a line's quantity; 0 removes it.
pub(super) async fn update_line(
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
pub(super) async fn remove_line(
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
    match state.upstream.set_line(cart_id, product_id, quantity).await {
        Ok(Ok(_)) => see_other("/cart"),
        Ok(Err(refusal)) => refused(refusal).render(state),
        Err(down) => cart_error(
            StatusCode::SERVICE_UNAVAILABLE,
            down_message(down, "Your cart"),
        )
        .render(state),
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
}
