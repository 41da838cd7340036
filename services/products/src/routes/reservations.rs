//! `/v1/reservations`: taking stock for an order all-or-nothing, and giving it back.
//!
//! A reservation runs in one transaction that first claims the `order_ref` (its
//! primary key serialises twins of the same request), then locks every product row
//! in ascending id order (so two reservations can never wait on each other in a
//! cycle), checks the summed quantities and takes the stock. Deadlocks that InnoDB
//! still reports are retried by [`retry_transient`].

use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kubestore_common::db::{is_unique_violation, retry_transient};
use kubestore_common::limits::{MAX_LINES, MAX_QUANTITY};
use kubestore_common::validate::range;
use kubestore_common::{AppError, Json};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, MySql, Transaction};
use std::collections::BTreeMap;

/// One requested line.
#[derive(Debug, Clone, Deserialize)]
pub struct LineRequest {
    product_id: i64,
    quantity: i64,
}

/// `POST /v1/reservations` body.
#[derive(Debug, Deserialize)]
pub struct ReservationRequest {
    order_ref: String,
    items: Vec<LineRequest>,
}

/// One reserved line.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct Line {
    /// Product.
    pub product_id: i64,
    /// Units taken.
    pub quantity: i64,
    /// Price per unit at reservation time.
    pub unit_price_cents: i64,
}

/// The reservation as answered.
#[derive(Debug, Clone, Serialize)]
pub struct Reservation {
    /// The caller's reference.
    pub order_ref: String,
    /// Lines in request order.
    pub items: Vec<Line>,
    /// Sum of quantity times unit price.
    pub total_cents: i64,
}

/// Whether `s` is a valid order_ref: `[A-Za-z0-9._:-]{1,64}`.
pub fn valid_order_ref(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn validate(req: &ReservationRequest) -> Result<(), AppError> {
    if !valid_order_ref(&req.order_ref) {
        return Err(AppError::validation(
            "order_ref",
            "must be 1 to 64 characters of [A-Za-z0-9._:-]",
        ));
    }
    if req.items.is_empty() || req.items.len() > MAX_LINES {
        return Err(AppError::validation(
            "items",
            format!("must contain 1 to {MAX_LINES} items"),
        ));
    }
    for (i, line) in req.items.iter().enumerate() {
        range(
            &format!("items[{i}].product_id"),
            line.product_id,
            1,
            i64::MAX,
        )?;
        range(
            &format!("items[{i}].quantity"),
            line.quantity,
            1,
            MAX_QUANTITY,
        )?;
    }
    Ok(())
}

/// The request in a canonical text form, stored to tell a replay from a reuse.
fn fingerprint(items: &[LineRequest]) -> String {
    items
        .iter()
        .map(|l| format!("{}:{}", l.product_id, l.quantity))
        .collect::<Vec<_>>()
        .join(",")
}

fn created(reservation: Reservation) -> Response {
    (StatusCode::CREATED, Json(reservation)).into_response()
}

/// `POST /v1/reservations`.
pub async fn reserve(
    State(state): State<AppState>,
    Json(req): Json<ReservationRequest>,
) -> Result<Response, AppError> {
    validate(&req)?;
    let fp = fingerprint(&req.items);
    // A twin that rolled back between our failed claim and our replay read leaves
    // nothing to replay: claim again (bounded, it can only race a few times).
    for _ in 0..3 {
        let outcome = retry_transient(|| reserve_once(&state, &req, &fp)).await?;
        if let Some(reservation) = outcome {
            return Ok(created(reservation));
        }
        if let Some(reservation) = replay(&state, &req.order_ref, &fp).await? {
            return Ok(created(reservation));
        }
    }
    Err(AppError::unavailable(
        "database",
        format!("reservation {} keeps changing", req.order_ref),
    ))
}

#[derive(sqlx::FromRow)]
struct StockRow {
    id: i64,
    price_cents: i64,
    stock: i64,
}

/// One attempt; `Ok(None)` when the order_ref already exists.
async fn reserve_once(
    state: &AppState,
    req: &ReservationRequest,
    fp: &str,
) -> Result<Option<Reservation>, AppError> {
    let mut tx = state.pool.begin().await?;
    let claimed = sqlx::query(
        "INSERT INTO reservations (order_ref, request, status, created_at) \
         VALUES (?, ?, 'active', ?)",
    )
    .bind(&req.order_ref)
    .bind(fp)
    .bind(kubestore_common::time::now())
    .execute(&mut *tx)
    .await;
    match claimed {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    }

    let mut wanted: BTreeMap<i64, i64> = BTreeMap::new();
    for line in &req.items {
        *wanted.entry(line.product_id).or_default() += line.quantity;
    }
    let rows = lock_products(&mut tx, wanted.keys().copied()).await?;
    for (i, line) in req.items.iter().enumerate() {
        if !rows.contains_key(&line.product_id) {
            return Err(AppError::unprocessable(
                "unknown_product",
                format!("product {} does not exist", line.product_id),
            )
            .with_detail("field", format!("items[{i}].product_id"))
            .with_detail("product_id", line.product_id));
        }
    }
    for (id, qty) in &wanted {
        let row = &rows[id];
        if row.stock < *qty {
            return Err(AppError::conflict(
                "insufficient_stock",
                format!(
                    "product {id} has insufficient stock ({} available, {qty} requested)",
                    row.stock
                ),
            )
            .with_detail("product_id", *id)
            .with_detail("available", row.stock)
            .with_detail("requested", *qty));
        }
    }
    for (id, qty) in &wanted {
        sqlx::query("UPDATE products SET stock = stock - ? WHERE id = ?")
            .bind(qty)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let lines: Vec<Line> = req
        .items
        .iter()
        .map(|l| Line {
            product_id: l.product_id,
            quantity: l.quantity,
            unit_price_cents: rows[&l.product_id].price_cents,
        })
        .collect();
    let total_cents = lines
        .iter()
        .map(|l| l.quantity * l.unit_price_cents)
        .sum::<i64>();
    let placeholders = vec!["(?, ?, ?, ?, ?)"; lines.len()].join(", ");
    let sql = format!(
        "INSERT INTO reservation_items (order_ref, line_no, product_id, quantity, unit_price_cents) \
         VALUES {placeholders}"
    );
    let mut insert = sqlx::query(AssertSqlSafe(sql));
    for (n, line) in lines.iter().enumerate() {
        insert = insert
            .bind(&req.order_ref)
            .bind(n as i64)
            .bind(line.product_id)
            .bind(line.quantity)
            .bind(line.unit_price_cents);
    }
    insert.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Some(Reservation {
        order_ref: req.order_ref.clone(),
        items: lines,
        total_cents,
    }))
}

/// Locks the product rows in ascending id order and returns them by id.
async fn lock_products(
    tx: &mut Transaction<'static, MySql>,
    ids: impl Iterator<Item = i64>,
) -> Result<BTreeMap<i64, StockRow>, AppError> {
    let ids: Vec<i64> = ids.collect();
    let placeholders = vec!["?"; ids.len()].join(", ");
    let sql = format!(
        "SELECT id, price_cents, stock FROM products WHERE id IN ({placeholders}) \
         ORDER BY id FOR UPDATE"
    );
    let mut query = sqlx::query_as::<_, StockRow>(AssertSqlSafe(sql));
    for id in &ids {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

#[derive(sqlx::FromRow)]
struct Head {
    request: Option<String>,
    status: String,
}

/// The stored answer for a repeated order_ref, or the conflict it is.
async fn replay(
    state: &AppState,
    order_ref: &str,
    fp: &str,
) -> Result<Option<Reservation>, AppError> {
    let head =
        sqlx::query_as::<_, Head>("SELECT request, status FROM reservations WHERE order_ref = ?")
            .bind(order_ref)
            .fetch_optional(&state.pool)
            .await?;
    let Some(head) = head else {
        return Ok(None);
    };
    if head.status == "released" {
        return Err(AppError::conflict(
            "reservation_released",
            format!("reservation {order_ref} was already released"),
        ));
    }
    if head.request.as_deref() != Some(fp) {
        return Err(AppError::conflict(
            "order_ref_reused",
            format!("order_ref {order_ref} was already used with different items"),
        ));
    }
    let items = sqlx::query_as::<_, Line>(
        "SELECT product_id, CAST(quantity AS SIGNED) AS quantity, unit_price_cents \
         FROM reservation_items WHERE order_ref = ? ORDER BY line_no",
    )
    .bind(order_ref)
    .fetch_all(&state.pool)
    .await?;
    // The total is not stored: it is the sum of the lines, as when first answered.
    let total_cents = items.iter().map(|l| l.quantity * l.unit_price_cents).sum();
    Ok(Some(Reservation {
        order_ref: order_ref.to_owned(),
        items,
        total_cents,
    }))
}

#[derive(sqlx::FromRow)]
struct Returned {
    product_id: i64,
    quantity: i64,
}

/// `DELETE /v1/reservations/{order_ref}`: 204 whatever the state, and afterwards the
/// ref is released for good.
pub async fn release(
    State(state): State<AppState>,
    Path(order_ref): Path<String>,
) -> Result<StatusCode, AppError> {
    // A ref that fails validation can never be reserved: nothing to record.
    if !valid_order_ref(&order_ref) {
        return Ok(StatusCode::NO_CONTENT);
    }
    for _ in 0..3 {
        if retry_transient(|| release_once(&state, &order_ref)).await? {
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    Err(AppError::unavailable(
        "database",
        format!("reservation {order_ref} keeps changing"),
    ))
}

/// One attempt; `Ok(false)` when a concurrent reservation of the same ref won the
/// race for the row, so the release must look again.
async fn release_once(state: &AppState, order_ref: &str) -> Result<bool, AppError> {
    let mut tx = state.pool.begin().await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM reservations WHERE order_ref = ? FOR UPDATE")
            .bind(order_ref)
            .fetch_optional(&mut *tx)
            .await?;
    match status.as_deref() {
        None => {
            // Tombstone, so a reservation still in flight for this ref cannot take
            // stock after its order gave up on it.
            let now = kubestore_common::time::now();
            let inserted = sqlx::query(
                "INSERT IGNORE INTO reservations (order_ref, request, status, created_at, released_at) \
                 VALUES (?, NULL, 'released', ?, ?)",
            )
            .bind(order_ref)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(inserted.rows_affected() == 1)
        }
        Some("released") => Ok(true),
        Some(_) => {
            let lines = sqlx::query_as::<_, Returned>(
                "SELECT product_id, CAST(SUM(quantity) AS SIGNED) AS quantity \
                 FROM reservation_items WHERE order_ref = ? GROUP BY product_id ORDER BY product_id",
            )
            .bind(order_ref)
            .fetch_all(&mut *tx)
            .await?;
            for line in &lines {
                sqlx::query("UPDATE products SET stock = stock + ? WHERE id = ?")
                    .bind(line.quantity)
                    .bind(line.product_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE reservations SET status = 'released', released_at = ? WHERE order_ref = ?",
            )
            .bind(kubestore_common::time::now())
            .bind(order_ref)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_refs() {
        assert!(valid_order_ref("o-1.a:b_C"));
        assert!(valid_order_ref(&"a".repeat(64)));
        for bad in ["", "a b", "é", "a/b", &"a".repeat(65)] {
            assert!(!valid_order_ref(bad), "{bad}");
        }
    }
}
