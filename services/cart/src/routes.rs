//! The cart's HTTP handlers: validation, Redis updates and the checkout flow.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kubestore_common::api::Api;
use kubestore_common::extract::{MAX_ID, parse_id};
use kubestore_common::limits::MAX_QUANTITY;
use kubestore_common::{AppError, Json, idempotency, validate};
use serde::{Deserialize, Serialize};

use crate::store::{Cart, Line, SetLine, StoreError};
use crate::{AppState, SERVICE, checkout};

/// The cart routes, exactly those of the service catalogue (the shared health and
/// metrics routes are added by the caller).
pub fn routes() -> Router<AppState> {
    Api::of(SERVICE)
        .get("/v1/carts/{cart_id}", get_cart)
        .delete("/v1/carts/{cart_id}", delete_cart)
        .put("/v1/carts/{cart_id}/items/{product_id}", put_item)
        .post("/v1/carts/{cart_id}/checkout", checkout)
        .into_router()
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        let reason = match std::error::Error::source(&err) {
            Some(source) => source.to_string(),
            None => err.to_string(),
        };
        AppError::unavailable("redis", reason)
    }
}

/// A cart as answered: `{"cart_id", "items": [{"product_id", "quantity"}]}`.
#[derive(Debug, Serialize)]
struct CartBody<'a> {
    cart_id: &'a str,
    items: &'a [Line],
}

/// The path parameters, or a 422 naming the cart id: the only way axum can
/// fail them here is a segment that is not UTF-8, which no valid id is.
fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, AppError> {
    path.map(|Path(value)| value).map_err(|_| {
        AppError::validation(
            "cart_id",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
        )
    })
}

fn cart_response(cart_id: &str, cart: &Cart) -> Response {
    axum::Json(CartBody {
        cart_id,
        items: &cart.lines,
    })
    .into_response()
}

/// Checks a cart id: 1..=64 characters of `[A-Za-z0-9_-]`.
pub fn check_cart_id(cart_id: &str) -> Result<(), AppError> {
    let ok = (1..=64).contains(&cart_id.len())
        && cart_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AppError::validation(
            "cart_id",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
        ))
    }
}

async fn get_cart(
    State(state): State<AppState>,
    cart_id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let cart_id = path(cart_id)?;
    check_cart_id(&cart_id)?;
    let cart = state.store.get(&cart_id).await?;
    Ok(cart_response(&cart_id, &cart))
}

async fn delete_cart(
    State(state): State<AppState>,
    cart_id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, AppError> {
    let cart_id = path(cart_id)?;
    check_cart_id(&cart_id)?;
    state.store.delete(&cart_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `PUT /v1/carts/{cart_id}/items/{product_id}`.
#[derive(Debug, Deserialize)]
struct PutItem {
    quantity: i64,
}

async fn put_item(
    State(state): State<AppState>,
    params: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<PutItem>, AppError>,
) -> Result<Response, AppError> {
    let (cart_id, product_id) = path(params)?;
    check_cart_id(&cart_id)?;
    // A malformed product id can never name a product: the same 422 family as
    // an unknown one, rather than a 404 for a cart that exists.
    let product_id = parse_id(&product_id).ok_or_else(|| {
        AppError::validation(
            "product_id",
            format!("must be an integer from 1 to {MAX_ID}"),
        )
    })?;
    let Json(body) = body?;
    validate::range("quantity", body.quantity, 0, MAX_QUANTITY)?;
    let quantity = u32::try_from(body.quantity).unwrap_or_default();
    let product_id = product_id.unsigned_abs();
    if quantity > 0 {
        // Removing a line needs no lookup: a product deleted since it was added
        // must still be removable.
        if !state.upstream.product_exists(product_id).await? {
            return Err(AppError::unprocessable(
                "unknown_product",
                format!("product {product_id} does not exist"),
            )
            .with_detail("field", "product_id")
            .with_detail("product_id", product_id));
        }
    }
    match state.store.set_line(&cart_id, product_id, quantity).await? {
        SetLine::Done(cart) => Ok(cart_response(&cart_id, &cart)),
        SetLine::CartFull => Err(AppError::validation(
            "product_id",
            format!(
                "a cart holds at most {} different products",
                state.store.config().max_lines
            ),
        )),
    }
}

/// Body of `POST /v1/carts/{cart_id}/checkout`.
#[derive(Debug, Deserialize)]
struct CheckoutBody {
    user_id: i64,
}

async fn checkout(
    State(state): State<AppState>,
    cart_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<CheckoutBody>, AppError>,
) -> Result<Response, AppError> {
    let cart_id = path(cart_id)?;
    check_cart_id(&cart_id)?;
    let key = idempotency::key_from(&headers)?;
    let Json(body) = body?;
    validate::range("user_id", body.user_id, 1, MAX_ID)?;
    // A caller that hangs up (a mesh per-try timeout, a closed tab) drops this
    // handler; the checkout runs in its own task so that an order once made is
    // always followed by emptying the cart and storing the answer.
    let task = tokio::spawn(async move {
        checkout::checkout(&state, &cart_id, body.user_id, key.as_deref()).await
    });
    task.await.map_err(AppError::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_exactly_the_catalogue_routes() {
        let _ = routes();
    }

    #[test]
    fn cart_ids() {
        for ok in ["a", "A-z_09", &"x".repeat(64)] {
            assert!(check_cart_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", &"x".repeat(65), "a b", "a/b", "é", "a.b", "a:b"] {
            assert!(check_cart_id(bad).is_err(), "{bad}");
        }
    }
}
