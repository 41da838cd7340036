//! `/v1/users`: create, read and list users.

use crate::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use kubestore_common::db::is_unique_violation;
use kubestore_common::validate::char_len;
use kubestore_common::{AppError, Json, Keyed, Page, PageRequest, PathId};
use serde::{Deserialize, Serialize};

/// A user as stored and as answered.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Lower-cased email address, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    #[serde(serialize_with = "kubestore_common::time::serialize")]
    pub created_at: NaiveDateTime,
}

impl Keyed for User {
    fn key(&self) -> i64 {
        self.id
    }
}

/// `POST /v1/users` body.
#[derive(Debug, Deserialize)]
pub struct NewUser {
    email: String,
    name: String,
}

/// Whether `email` looks like an address: `local@domain.tld`, one `@`, no
/// whitespace or control characters, a dot-separated domain without empty labels.
pub fn looks_like_email(email: &str) -> bool {
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

/// `POST /v1/users`.
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewUser>,
) -> Result<Response, AppError> {
    char_len("email", &body.email, 3, 254)?;
    if !looks_like_email(&body.email) {
        return Err(AppError::validation("email", "must be an email address"));
    }
    char_len("name", &body.name, 1, 100)?;
    let email = body.email.to_lowercase();
    // Lower-casing can lengthen some characters; the column holds 254.
    char_len("email", &email, 3, 254)?;
    let now = kubestore_common::time::now();
    let result = sqlx::query("INSERT INTO users (email, name, created_at) VALUES (?, ?, ?)")
        .bind(&email)
        .bind(&body.name)
        .bind(now)
        .execute(&state.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::conflict("email_taken", "a user with this email already exists")
                    .with_detail("field", "email")
            } else {
                e.into()
            }
        })?;
    let id = i64::try_from(result.last_insert_id()).map_err(AppError::internal)?;
    let user = User {
        id,
        email,
        name: body.name,
        created_at: now,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/users/{id}"))],
        Json(user),
    )
        .into_response())
}

/// `GET /v1/users/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<User>, AppError> {
    sqlx::query_as::<_, User>("SELECT id, email, name, created_at FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("user {id}")))
}

/// `GET /v1/users?limit=&after=`.
pub async fn list(
    State(state): State<AppState>,
    page: PageRequest,
) -> Result<Json<Page<User>>, AppError> {
    let rows = sqlx::query_as::<_, User>(
        "SELECT id, email, name, created_at FROM users WHERE id > ? ORDER BY id LIMIT ?",
    )
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(Page::from_rows(rows, page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "First.Last+tag@Example.COM", "ü@exämple.de"] {
            assert!(looks_like_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a@b..co", "a b@c.de", "a@b.co\n", "a@.co",
            "a@b.co.",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
