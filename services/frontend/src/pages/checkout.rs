//! Checkout: the form, and placing the order (signing a new customer up first).

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kubestore_common::extract::parse_id;
use kubestore_common::idempotency;
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Deserialize;

use super::cart::{CartView, cart_error, cart_view};
use super::{Page, down_message, see_other, set_cookie, shopper_message};
use crate::AppState;
use crate::cookies;

/// What the checkout form holds.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CheckoutForm {
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
pub(super) async fn checkout_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
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
            page.degraded(view.products_down, "Product information")
                .render(&state)
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
pub(super) async fn checkout(
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
            match state.upstream.create_user(&email, &name, &key).await {
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
    let mut response = match state.upstream.checkout(cart_id, user_id, &key).await {
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
