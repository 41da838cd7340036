//! `/v1/orders`: placing, reading, listing and cancelling orders.
//!
//! Placing an order checks the user, reserves the stock through products under a
//! fresh `order_ref`, then stores the order. Whatever fails after the reservation
//! releases it, so no stock leaks and no half order remains. The work runs in its
//! own task, so a client that hangs up cannot interrupt it halfway.

use crate::AppState;
use crate::idempotency::{self, Claim, Owner};
use crate::upstream::{ReservedLine, WantedLine};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use kubestore_common::db::retry_transient;
use kubestore_common::extract::MAX_ID;
use kubestore_common::limits::{MAX_LINES, MAX_QUANTITY};
use kubestore_common::pagination::PageRequest;
use kubestore_common::validate::range;
use kubestore_common::{AppError, Json, Keyed, Page, PathId, Query};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, MySql, MySqlPool, Transaction};
use std::collections::HashMap;

/// An order as answered.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    /// Id.
    pub id: i64,
    /// Who ordered.
    pub user_id: i64,
    /// Lines in request order.
    pub items: Vec<ReservedLine>,
    /// Sum of the lines.
    pub total_cents: i64,
    /// `confirmed` or `cancelled`.
    pub status: String,
    /// Creation time.
    #[serde(serialize_with = "kubestore_common::time::serialize")]
    pub created_at: NaiveDateTime,
}

impl Keyed for Order {
    fn key(&self) -> i64 {
        self.id
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct OrderRow {
    id: i64,
    user_id: i64,
    order_ref: String,
    status: String,
    total_cents: i64,
    created_at: NaiveDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct ItemRow {
    order_id: i64,
    product_id: i64,
    quantity: i64,
    unit_price_cents: i64,
}

/// `POST /v1/orders` body.
#[derive(Debug, Clone, Deserialize)]
pub struct NewOrder {
    user_id: i64,
    items: Vec<LineRequest>,
}

/// One requested line.
#[derive(Debug, Clone, Deserialize)]
pub struct LineRequest {
    product_id: i64,
    quantity: i64,
}

fn validate(order: &NewOrder) -> Result<Vec<WantedLine>, AppError> {
    range("user_id", order.user_id, 1, MAX_ID)?;
    if order.items.is_empty() || order.items.len() > MAX_LINES {
        return Err(AppError::validation(
            "items",
            format!("must contain 1 to {MAX_LINES} items"),
        ));
    }
    order
        .items
        .iter()
        .enumerate()
        .map(|(i, l)| {
            range(&format!("items[{i}].product_id"), l.product_id, 1, MAX_ID)?;
            range(&format!("items[{i}].quantity"), l.quantity, 1, MAX_QUANTITY)?;
            Ok(WantedLine {
                product_id: l.product_id,
                quantity: l.quantity,
            })
        })
        .collect()
}

/// The request in canonical text form, compared when an idempotency key repeats.
fn fingerprint(user_id: i64, lines: &[WantedLine]) -> String {
    let items: Vec<String> = lines
        .iter()
        .map(|l| format!("{}:{}", l.product_id, l.quantity))
        .collect();
    format!("{user_id}|{}", items.join(","))
}

fn created(order_id: i64, mut body: String) -> Response {
    // Same framing as every other JSON answer (see `kubestore_common::Json`).
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut response = (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/orders/{order_id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `POST /v1/orders`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewOrder>,
) -> Result<Response, AppError> {
    let lines = validate(&body)?;
    let key = idempotency::key_from(&headers)?;
    let user_id = body.user_id;
    let task = tokio::spawn(async move {
        let owner = match &key {
            None => None,
            Some(key) => {
                let fp = fingerprint(user_id, &lines);
                match idempotency::claim(&state.pool, state.idempotency, key, &fp).await? {
                    Claim::Replay(stored) => {
                        let id = serde_json::from_str::<serde_json::Value>(&stored)
                            .ok()
                            .and_then(|v| v["id"].as_i64())
                            .unwrap_or_default();
                        return Ok(created(id, stored));
                    }
                    Claim::Owned(owner) => Some(owner),
                }
            }
        };
        // On failure the owner's transaction is dropped: rolled back, key free again.
        let (id, text) = place(&state, user_id, &lines, owner).await?;
        Ok(created(id, text))
    });
    task.await.map_err(AppError::internal)?
}

async fn place(
    state: &AppState,
    user_id: i64,
    lines: &[WantedLine],
    owner: Option<Owner>,
) -> Result<(i64, String), AppError> {
    state.upstream.check_user(user_id).await?;
    let order_ref = format!("o-{:032x}", fastrand::u128(..));
    let reservation = match state.upstream.reserve(&order_ref, lines).await {
        Ok(r) => r,
        Err(e) => {
            // A timed-out reservation may still have been made: releasing an unknown
            // ref is harmless and also stops a late one from taking stock.
            if matches!(e, AppError::DependencyUnavailable { .. }) {
                release_quietly(state, &order_ref).await;
            }
            return Err(e);
        }
    };
    let stored = match owner {
        Some(owner) => store_keyed(owner, user_id, &order_ref, reservation).await,
        None => store_order(state, user_id, &order_ref, reservation).await,
    };
    if stored.is_err() {
        release_quietly(state, &order_ref).await;
    }
    stored
}

async fn release_quietly(state: &AppState, order_ref: &str) {
    if let Err(e) = state.upstream.release(order_ref).await {
        tracing::error!(order_ref, error = %e, "could not release a reservation");
    }
}

/// Inserts the order and its lines; returns its id and its JSON.
async fn insert_order(
    tx: &mut Transaction<'static, MySql>,
    user_id: i64,
    order_ref: &str,
    items: Vec<ReservedLine>,
) -> Result<(i64, String), AppError> {
    let total_cents = items.iter().map(|l| l.quantity * l.unit_price_cents).sum();
    let now = kubestore_common::time::now();
    let result = sqlx::query(
        "INSERT INTO orders (user_id, order_ref, status, total_cents, created_at) \
         VALUES (?, ?, 'confirmed', ?, ?)",
    )
    .bind(user_id)
    .bind(order_ref)
    .bind(total_cents)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let id = i64::try_from(result.last_insert_id()).map_err(AppError::internal)?;
    let placeholders = vec!["(?, ?, ?, ?, ?)"; items.len()].join(", ");
    let sql = format!(
        "INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents) \
         VALUES {placeholders}"
    );
    let mut insert = sqlx::query(AssertSqlSafe(sql));
    for (n, line) in items.iter().enumerate() {
        insert = insert
            .bind(id)
            .bind(n as i64)
            .bind(line.product_id)
            .bind(line.quantity)
            .bind(line.unit_price_cents);
    }
    insert.execute(&mut **tx).await?;
    let order = Order {
        id,
        user_id,
        items,
        total_cents,
        status: "confirmed".to_owned(),
        created_at: now,
    };
    let text = serde_json::to_string(&order).map_err(AppError::internal)?;
    Ok((id, text))
}

/// Stores an order placed without a key in its own transaction.
async fn store_order(
    state: &AppState,
    user_id: i64,
    order_ref: &str,
    reservation: crate::upstream::Reservation,
) -> Result<(i64, String), AppError> {
    retry_transient(|| {
        let items = reservation.items.clone();
        async move {
            let mut tx = state.pool.begin().await?;
            let stored = insert_order(&mut tx, user_id, order_ref, items).await?;
            tx.commit().await?;
            Ok(stored)
        }
    })
    .await
}

/// Stores an order and its answer in the transaction holding its key, so that the
/// order, the answer and the release of waiting twins happen in one commit.
async fn store_keyed(
    mut owner: Owner,
    user_id: i64,
    order_ref: &str,
    reservation: crate::upstream::Reservation,
) -> Result<(i64, String), AppError> {
    let (id, text) = insert_order(&mut owner.tx, user_id, order_ref, reservation.items).await?;
    idempotency::store(&mut owner, id, &text).await?;
    owner.tx.commit().await?;
    Ok((id, text))
}

async fn load(pool: &MySqlPool, rows: Vec<OrderRow>) -> Result<Vec<Order>, AppError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; rows.len()].join(", ");
    let sql = format!(
        "SELECT order_id, product_id, CAST(quantity AS SIGNED) AS quantity, unit_price_cents \
         FROM order_items WHERE order_id IN ({placeholders}) ORDER BY order_id, line_no"
    );
    let mut query = sqlx::query_as::<_, ItemRow>(AssertSqlSafe(sql));
    for row in &rows {
        query = query.bind(row.id);
    }
    let mut by_order: HashMap<i64, Vec<ReservedLine>> = HashMap::new();
    for item in query.fetch_all(pool).await? {
        by_order
            .entry(item.order_id)
            .or_default()
            .push(ReservedLine {
                product_id: item.product_id,
                quantity: item.quantity,
                unit_price_cents: item.unit_price_cents,
            });
    }
    Ok(rows
        .into_iter()
        .map(|r| Order {
            items: by_order.remove(&r.id).unwrap_or_default(),
            id: r.id,
            user_id: r.user_id,
            total_cents: r.total_cents,
            status: r.status,
            created_at: r.created_at,
        })
        .collect())
}

async fn find(pool: &MySqlPool, id: i64) -> Result<Order, AppError> {
    let row = sqlx::query_as::<_, OrderRow>(
        "SELECT id, user_id, order_ref, status, total_cents, created_at FROM orders WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found(format!("order {id}")))?;
    load(pool, vec![row])
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found(format!("order {id}")))
}

/// `GET /v1/orders/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<Order>, AppError> {
    find(&state.pool, id).await.map(Json)
}

/// `GET /v1/orders` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<u64>,
    after: Option<u64>,
    user_id: Option<u64>,
}

/// `GET /v1/orders?user_id=&limit=&after=`.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Order>>, AppError> {
    let page = PageRequest::new(q.limit, q.after)?;
    let user_id = match q.user_id {
        None => None,
        Some(u) => Some(
            i64::try_from(u)
                .ok()
                .filter(|u| *u >= 1)
                .ok_or_else(|| AppError::validation("user_id", "must be a positive id"))?,
        ),
    };
    let rows = match user_id {
        None => {
            sqlx::query_as::<_, OrderRow>(
                "SELECT id, user_id, order_ref, status, total_cents, created_at FROM orders \
                 WHERE id > ? ORDER BY id LIMIT ?",
            )
            .bind(page.after)
            .bind(page.fetch_limit())
            .fetch_all(&state.pool)
            .await?
        }
        Some(user_id) => {
            sqlx::query_as::<_, OrderRow>(
                "SELECT id, user_id, order_ref, status, total_cents, created_at FROM orders \
                 WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?",
            )
            .bind(user_id)
            .bind(page.after)
            .bind(page.fetch_limit())
            .fetch_all(&state.pool)
            .await?
        }
    };
    let orders = load(&state.pool, rows).await?;
    Ok(Json(Page::from_rows(orders, page)))
}

/// `POST /v1/orders/{id}/cancel`: gives the stock back and marks the order
/// cancelled; a second cancel is 409 `already_cancelled`. The order row stays
/// locked while products releases, so two cancels cannot both proceed.
pub async fn cancel(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<Order>, AppError> {
    let task = tokio::spawn(async move {
        let mut tx = state.pool.begin().await?;
        let row = sqlx::query_as::<_, OrderRow>(
            "SELECT id, user_id, order_ref, status, total_cents, created_at FROM orders \
             WHERE id = ? FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::not_found(format!("order {id}")))?;
        if row.status == "cancelled" {
            return Err(AppError::conflict(
                "already_cancelled",
                format!("order {id} is already cancelled"),
            ));
        }
        state.upstream.release(&row.order_ref).await?;
        sqlx::query("UPDATE orders SET status = 'cancelled', cancelled_at = ? WHERE id = ?")
            .bind(kubestore_common::time::now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        find(&state.pool, id).await
    });
    task.await.map_err(AppError::internal)?.map(Json)
}
