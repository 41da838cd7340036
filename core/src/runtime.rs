//! How a store service is run: the environment variables it reads (which the
//! generator writes into its ConfigMap and Deployment, and the one-machine stack sets
//! on its process) and the paths it serves besides its API (probes and metrics, which
//! the Deployment's probes, the mesh's scrape rule, the ServiceMonitor and the stack's
//! health checks call). The services declare each variable with clap's `env = ..`
//! from here, so a renamed variable changes on both sides at once.

/// Liveness: 200 while the process runs; never touches a dependency.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Readiness: 200 when the service's own database or Redis answers, 503 once draining.
pub const READYZ_PATH: &str = "/readyz";
/// The Prometheus metrics, on the service port.
pub const METRICS_PATH: &str = "/metrics";
/// Every path a service serves besides its API routes.
pub const OPERATIONAL_PATHS: [&str; 3] = [METRICS_PATH, HEALTHZ_PATH, READYZ_PATH];

/// The environment variables the services read.
pub mod env {
    /// Address to listen on, `0.0.0.0:<port>` by default.
    pub const LISTEN_ADDR: &str = "LISTEN_ADDR";
    /// How long to keep serving after SIGTERM.
    pub const DRAIN_SECONDS: &str = "DRAIN_SECONDS";
    /// The log filter.
    pub const RUST_LOG: &str = "RUST_LOG";
    /// Timeout of each attempt of an outgoing call.
    pub const UPSTREAM_TIMEOUT: &str = "UPSTREAM_TIMEOUT";
    /// Extra attempts of an idempotent outgoing call.
    pub const UPSTREAM_RETRIES: &str = "UPSTREAM_RETRIES";
    /// The MySQL URL with the service's database (users, products, orders).
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// The MySQL password, from a Secret; [`DATABASE_URL`] embeds it.
    pub const DATABASE_PASSWORD: &str = "DATABASE_PASSWORD";
    /// Largest number of pooled database connections.
    pub const DATABASE_MAX_CONNECTIONS: &str = "DATABASE_MAX_CONNECTIONS";
    /// The Redis URL (cart).
    pub const REDIS_URL: &str = "REDIS_URL";
    /// The Redis password, from a Secret; [`REDIS_URL`] embeds it.
    pub const REDIS_PASSWORD: &str = "REDIS_PASSWORD";
    /// Time allowed for one Redis command.
    pub const REDIS_TIMEOUT: &str = "REDIS_TIMEOUT";
    /// Idle time after which a cart expires.
    pub const CART_IDLE_TTL: &str = "CART_IDLE_TTL";
    /// How long the answer of a request with an `Idempotency-Key` is kept.
    pub const IDEMPOTENCY_KEY_TTL: &str = "IDEMPOTENCY_KEY_TTL";
    /// How long a repeat waits for the first request with its key.
    pub const IDEMPOTENCY_WAIT: &str = "IDEMPOTENCY_WAIT";
    /// After how long an unfinished claim of a key may be taken over (orders).
    pub const IDEMPOTENCY_LEASE: &str = "IDEMPOTENCY_LEASE";
    /// Timeout of the one call that creates an order at checkout.
    pub const CHECKOUT_TIMEOUT: &str = "CHECKOUT_TIMEOUT";
    /// Whether the entry point marks its cookies `Secure`.
    pub const COOKIE_SECURE: &str = "COOKIE_SECURE";

    /// Base URL of users in its callers: the catalogue's `url_variable` of users.
    pub const USERS_URL: &str = "USERS_URL";
    /// Base URL of products in its callers.
    pub const PRODUCTS_URL: &str = "PRODUCTS_URL";
    /// Base URL of orders in its callers.
    pub const ORDERS_URL: &str = "ORDERS_URL";
    /// Base URL of the cart in its callers.
    pub const CART_URL: &str = "CART_URL";
    /// Every `<DEP>_URL` above, by the catalogue service it locates.
    pub const SERVICE_URLS: [(&str, &str); 4] = [
        ("users", USERS_URL),
        ("products", PRODUCTS_URL),
        ("orders", ORDERS_URL),
        ("cart", CART_URL),
    ];
}

#[cfg(test)]
mod tests {
    use super::env;
    use crate::catalog;

    /// Clap needs the `<DEP>_URL` names as constants; the catalogue derives them from
    /// the service's name. They must be the same, for every service that is called.
    #[test]
    fn service_url_variables_are_the_catalogue_s() {
        let called: std::collections::BTreeSet<&str> = catalog::SERVICES
            .iter()
            .flat_map(|s| s.calls.iter().copied())
            .collect();
        let named: std::collections::BTreeSet<&str> =
            env::SERVICE_URLS.iter().map(|(name, _)| *name).collect();
        assert_eq!(named, called);
        for (name, variable) in env::SERVICE_URLS {
            let def = catalog::service(name).expect("a catalogue service");
            assert_eq!(def.url_variable(), variable);
        }
    }
}
