//! Calls to the users and products services through the shared client's
//! [`Outcome`](kubestore_common::client::Outcome), with the contract's mapping of
//! their answers: a missing user is 422 `unknown_user`; a products 409 or 422 is
//! passed through; anything else unexpected, a timeout or a refused connection is a
//! fast 503 `dependency_unavailable`.

use axum::http::{Method, StatusCode};
use kubestore_common::AppError;
use kubestore_common::client::{ClientError, Refusal, Upstream, UpstreamRequest};
use kubestore_common::config::{self, Echo, UpstreamArgs};
use kubestore_common::runtime::env;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a user known to exist is trusted without asking users again.
const KNOWN_USER_TTL: Duration = Duration::from_secs(300);
/// Bound of the known-user cache; it is emptied when full.
const KNOWN_USER_CAP: usize = 100_000;

/// Where the services orders calls live (`serve` arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct Dependencies {
    /// Base URL of the users service (`USERS_URL`).
    #[arg(long, env = env::USERS_URL, default_value_t = config::local_url("users"), value_parser = config::parse_base_url)]
    pub users_url: String,
    /// Base URL of the products service (`PRODUCTS_URL`).
    #[arg(long, env = env::PRODUCTS_URL, default_value_t = config::local_url("products"), value_parser = config::parse_base_url)]
    pub products_url: String,
}

impl Dependencies {
    /// Adds the URLs, then `args`, to the start-up line.
    pub fn echo(&self, args: &UpstreamArgs, echo: &mut Echo) {
        echo.url(env::USERS_URL, &self.users_url)
            .url(env::PRODUCTS_URL, &self.products_url);
        args.echo(echo);
    }
}

/// The two dependencies.
#[derive(Clone, Debug)]
pub struct Upstreams {
    /// The users service.
    pub users: Upstream,
    /// The products service.
    pub products: Upstream,
    /// Users recently seen to exist. The users API cannot delete a user, so a
    /// positive answer stays true; caching it saves a call per order. Negative
    /// answers are never cached: a user may be created at any moment.
    known_users: Arc<Mutex<HashMap<i64, Instant>>>,
}

/// One line of a reservation request.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WantedLine {
    /// Product.
    pub product_id: i64,
    /// Units.
    pub quantity: i64,
}

/// One reserved line as products answers it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReservedLine {
    /// Product.
    pub product_id: i64,
    /// Units.
    pub quantity: i64,
    /// Price per unit when reserved.
    pub unit_price_cents: i64,
}

/// A reservation as products answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct Reservation {
    /// Lines in request order.
    pub items: Vec<ReservedLine>,
    /// Sum of the lines.
    pub total_cents: i64,
}

#[derive(Serialize)]
struct ReservationRequest<'a> {
    order_ref: &'a str,
    items: &'a [WantedLine],
}

impl Upstreams {
    /// Clients for users and products, every call with `args`' timeout and retries;
    /// fails on a URL that is not http(s).
    pub fn new(deps: &Dependencies, args: &UpstreamArgs) -> Result<Self, ClientError> {
        Ok(Self {
            users: Upstream::new("users", &deps.users_url, args)?,
            products: Upstream::new("products", &deps.products_url, args)?,
            known_users: Arc::default(),
        })
    }

    fn is_known_user(&self, user_id: i64) -> bool {
        let known = self
            .known_users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known
            .get(&user_id)
            .is_some_and(|seen| seen.elapsed() < KNOWN_USER_TTL)
    }

    fn remember_user(&self, user_id: i64) {
        let mut known = self
            .known_users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= KNOWN_USER_CAP {
            known.clear();
        }
        known.insert(user_id, Instant::now());
    }

    /// Ok when the user exists.
    pub async fn check_user(&self, user_id: i64) -> Result<(), AppError> {
        if self.is_known_user(user_id) {
            return Ok(());
        }
        if !self.users.exists(format!("/v1/users/{user_id}")).await? {
            return Err(AppError::unprocessable(
                "unknown_user",
                format!("user {user_id} does not exist"),
            )
            .with_detail("field", "user_id"));
        }
        self.remember_user(user_id);
        Ok(())
    }

    /// Reserves `items` under `order_ref`. Repeating a reservation is harmless (the
    /// order_ref makes it idempotent), so it may be retried. A 409 or 422 of
    /// products is passed on as it came.
    pub async fn reserve(
        &self,
        order_ref: &str,
        items: &[WantedLine],
    ) -> Result<Reservation, AppError> {
        let req = UpstreamRequest::new(Method::POST, "/v1/reservations")
            .json(&ReservationRequest { order_ref, items })?
            .idempotent(true);
        match self.products.call_json(req, StatusCode::CREATED).await? {
            Ok(reservation) => Ok(reservation),
            Err(refusal)
                if matches!(
                    refusal.status,
                    StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
                ) =>
            {
                Err(refusal.into_error())
            }
            Err(refusal) => Err(refusal.unexpected()),
        }
    }

    /// Gives the stock of `order_ref` back (idempotent on the products side).
    pub async fn release(&self, order_ref: &str) -> Result<(), AppError> {
        let req = UpstreamRequest::new(Method::DELETE, format!("/v1/reservations/{order_ref}"));
        self.products
            .call(req, StatusCode::NO_CONTENT)
            .await?
            .map(drop)
            .map_err(Refusal::unexpected)
    }
}
