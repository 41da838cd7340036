//! `/v1/products`: create, read, list and patch catalogue entries.

use crate::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use kubestore_common::db::{is_unique_violation, retry_transient};
use kubestore_common::validate::{char_len, double_option, range};
use kubestore_common::{AppError, Json, Keyed, Page, PageRequest, PathId};
use serde::{Deserialize, Serialize};

/// Largest price in cents.
pub const MAX_PRICE_CENTS: i64 = 1_000_000_000_000;
/// Largest stock.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// A product as stored and as answered.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Product {
    /// Id.
    pub id: i64,
    /// Stock keeping unit, unique and case-sensitive.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Unit price in cents.
    pub price_cents: i64,
    /// Units available (not reserved).
    pub stock: i64,
    /// Creation time.
    #[serde(serialize_with = "kubestore_common::time::serialize")]
    pub created_at: NaiveDateTime,
}

impl Keyed for Product {
    fn key(&self) -> i64 {
        self.id
    }
}

/// `POST /v1/products` body.
#[derive(Debug, Deserialize)]
pub struct NewProduct {
    sku: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    price_cents: i64,
    stock: i64,
}

fn check_name(name: &str) -> Result<(), AppError> {
    char_len("name", name, 1, 200)
}

fn check_description(description: Option<&str>) -> Result<(), AppError> {
    description.map_or(Ok(()), |d| char_len("description", d, 0, 2000))
}

fn check_price(price: i64) -> Result<(), AppError> {
    range("price_cents", price, 1, MAX_PRICE_CENTS)
}

fn check_stock(stock: i64) -> Result<(), AppError> {
    range("stock", stock, 0, MAX_STOCK)
}

/// `POST /v1/products`.
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewProduct>,
) -> Result<Response, AppError> {
    char_len("sku", &body.sku, 1, 64)?;
    check_name(&body.name)?;
    check_description(body.description.as_deref())?;
    check_price(body.price_cents)?;
    check_stock(body.stock)?;
    let now = kubestore_common::time::now();
    let result = sqlx::query(
        "INSERT INTO products (sku, name, description, price_cents, stock, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&body.sku)
    .bind(&body.name)
    .bind(&body.description)
    .bind(body.price_cents)
    .bind(body.stock)
    .bind(now)
    .execute(&state.pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict("sku_taken", "a product with this sku already exists")
                .with_detail("field", "sku")
        } else {
            e.into()
        }
    })?;
    let id = i64::try_from(result.last_insert_id()).map_err(AppError::internal)?;
    let product = Product {
        id,
        sku: body.sku,
        name: body.name,
        description: body.description,
        price_cents: body.price_cents,
        stock: body.stock,
        created_at: now,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/products/{id}"))],
        Json(product),
    )
        .into_response())
}

/// `GET /v1/products/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<Product>, AppError> {
    let product = sqlx::query_as::<_, Product>(
        "SELECT id, sku, name, description, price_cents, stock, created_at FROM products WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| AppError::not_found(format!("product {id}")))?;
    Ok(Json(product))
}

/// `GET /v1/products?limit=&after=`.
pub async fn list(
    State(state): State<AppState>,
    page: PageRequest,
) -> Result<Json<Page<Product>>, AppError> {
    let rows = sqlx::query_as::<_, Product>(
        "SELECT id, sku, name, description, price_cents, stock, created_at FROM products \
         WHERE id > ? ORDER BY id LIMIT ?",
    )
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(Page::from_rows(rows, page)))
}

/// `PATCH /v1/products/{id}` body: any of the mutable fields; `sku` is refused.
#[derive(Debug, Deserialize)]
pub struct ProductPatch {
    #[serde(default, deserialize_with = "double_option")]
    sku: Option<Option<serde::de::IgnoredAny>>,
    #[serde(default, deserialize_with = "double_option")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    price_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    stock: Option<Option<i64>>,
}

fn required<T>(field: &str, value: Option<Option<T>>) -> Result<Option<T>, AppError> {
    match value {
        None => Ok(None),
        Some(None) => Err(AppError::validation(field, "cannot be null")),
        Some(Some(v)) => Ok(Some(v)),
    }
}

/// `PATCH /v1/products/{id}`.
pub async fn patch(
    State(state): State<AppState>,
    PathId(id): PathId,
    Json(body): Json<ProductPatch>,
) -> Result<Json<Product>, AppError> {
    if body.sku.is_some() {
        return Err(AppError::validation("sku", "cannot be changed"));
    }
    let name = required("name", body.name)?;
    let price = required("price_cents", body.price_cents)?;
    let stock = required("stock", body.stock)?;
    let description = body.description;
    if name.is_none() && price.is_none() && stock.is_none() && description.is_none() {
        return Err(AppError::validation(
            "body",
            "give at least one of name, description, price_cents, stock",
        ));
    }
    if let Some(n) = &name {
        check_name(n)?;
    }
    if let Some(d) = &description {
        check_description(d.as_deref())?;
    }
    if let Some(p) = price {
        check_price(p)?;
    }
    if let Some(s) = stock {
        check_stock(s)?;
    }
    let product = retry_transient(|| {
        let (pool, name, description) = (&state.pool, &name, &description);
        async move {
            let mut tx = pool.begin().await?;
            let mut product = sqlx::query_as::<_, Product>(
                "SELECT id, sku, name, description, price_cents, stock, created_at \
                 FROM products WHERE id = ? FOR UPDATE",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| AppError::not_found(format!("product {id}")))?;
            if let Some(n) = name {
                product.name.clone_from(n);
            }
            if let Some(d) = description {
                product.description.clone_from(d);
            }
            if let Some(p) = price {
                product.price_cents = p;
            }
            if let Some(s) = stock {
                product.stock = s;
            }
            sqlx::query(
                "UPDATE products SET name = ?, description = ?, price_cents = ?, stock = ? \
                 WHERE id = ?",
            )
            .bind(&product.name)
            .bind(&product.description)
            .bind(product.price_cents)
            .bind(product.stock)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(product)
        }
    })
    .await?;
    Ok(Json(product))
}
