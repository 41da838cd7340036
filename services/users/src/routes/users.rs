//! `/v1/users`: create, read and list users.

use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use kubestore_common::db::is_unique_violation;
use kubestore_common::idempotency::{self, mysql as keys};
use kubestore_common::validate::char_len;
use kubestore_common::{AppError, Json, Keyed, Page, PageRequest, PathId};
use serde::{Deserialize, Serialize};
use sqlx::MySql;
use std::time::Duration;

/// How a repeat of a keyed creation waits for the first. Creating a user is one
/// insert, so the first is done long before the wait ends; and no committed
/// claim is ever left without its answer, so the lease is only a backstop.
pub const KEYS: keys::Settings = keys::Settings {
    wait: Duration::from_secs(5),
    lease: Duration::from_secs(30),
};

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

/// `POST /v1/users`, with an optional `Idempotency-Key`: a repeat of a keyed
/// creation (a double-submitted sign-up, a retry after a lost answer) gets the
/// first 201 instead of 409 `email_taken`; the same key with another email or
/// name is 422 `idempotency_key_reused`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
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
    let Some(key) = idempotency::key_from(&headers)? else {
        let user = insert(&state.pool, email, body.name).await?;
        return answer(&user);
    };
    // Detached from the connection, like orders: a caller that hangs up must
    // not leave the claim to its lease.
    let task = tokio::spawn(async move {
        let fingerprint = format!("{email}\n{}", body.name);
        match keys::claim(&state.pool, KEYS, &key, &fingerprint).await? {
            keys::Claim::Replay(text) => {
                let id = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["id"].as_i64())
                    .unwrap_or_default();
                Ok(created(id, text))
            }
            keys::Claim::Owned(mut owner) => {
                // On failure (email_taken) the owner is dropped: rolled back,
                // the key free again.
                let user = insert(&mut *owner.tx, email, body.name).await?;
                let text = serde_json::to_string(&user).map_err(AppError::internal)?;
                keys::store(&mut owner, "user_id", user.id, &text).await?;
                owner.tx.commit().await?;
                Ok(created(user.id, text))
            }
        }
    });
    task.await.map_err(AppError::internal)?
}

async fn insert<'e>(
    db: impl sqlx::Executor<'e, Database = MySql>,
    email: String,
    name: String,
) -> Result<User, AppError> {
    let now = kubestore_common::time::now();
    let result = sqlx::query("INSERT INTO users (email, name, created_at) VALUES (?, ?, ?)")
        .bind(&email)
        .bind(&name)
        .bind(now)
        .execute(db)
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
    Ok(User {
        id,
        email,
        name,
        created_at: now,
    })
}

fn answer(user: &User) -> Result<Response, AppError> {
    let text = serde_json::to_string(user).map_err(AppError::internal)?;
    Ok(created(user.id, text))
}

/// The 201 of a creation, the same bytes for the first answer and a replay.
fn created(id: i64, mut body: String) -> Response {
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
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/users/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
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
