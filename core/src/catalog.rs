//! What the generator knows about the bundled store services: ports, the call graph,
//! data stores and routes. This is the one place to change when a service is added or
//! starts calling another one; network policies, authorization policies, retries and
//! SLO rules all follow from it.

/// The data store a service owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datastore {
    /// A MySQL database named after the service.
    Mysql,
    /// The Redis instance.
    Redis,
}

/// Whether repeating a request is harmless, which decides if the mesh may retry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Safe to repeat: a repeat of a request that succeeded gets the same success
    /// (GET, PUT, DELETE, and POSTs keyed by a field of their body). Every route
    /// marked so has a test in its service that sends it twice.
    Always,
    /// Safe only when the request carries this header (an idempotency key).
    WithHeader(&'static str),
    /// Never repeat: it could create a second order or take stock twice.
    Never,
}

/// A route of a service, as its HTTP contract defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Route template with `{param}` placeholders, as in the `route` metric label.
    pub template: &'static str,
    /// Whether the mesh may retry it.
    pub idempotency: Idempotency,
}

/// One bundled service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceDef {
    /// Name: the binary, the Kubernetes objects and the metric `service` label.
    pub name: &'static str,
    /// One-line description for object annotations and docs.
    pub description: &'static str,
    /// HTTP port (also serves /metrics, /healthz and /readyz).
    pub port: u16,
    /// Services it calls synchronously.
    pub calls: &'static [&'static str],
    /// Its own data store, if any.
    pub datastore: Option<Datastore>,
    /// Its public routes.
    pub routes: &'static [Route],
}

impl ServiceDef {
    /// The environment variable that holds this service's base URL in its callers.
    pub fn url_variable(&self) -> String {
        format!("{}_URL", self.name.to_ascii_uppercase())
    }
}

const fn route(method: &'static str, template: &'static str, idempotency: Idempotency) -> Route {
    Route {
        method,
        template,
        idempotency,
    }
}

use Idempotency::{Always, Never, WithHeader};

/// The bundled services, in the order their objects are listed.
pub const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        name: "frontend",
        description: "server-rendered shop pages",
        port: 8080,
        // users: the checkout form registers the customer (or finds them by email).
        calls: &["products", "cart", "orders", "users"],
        datastore: None,
        routes: &[
            route("GET", "/", Always),
            route("GET", "/products/{id}", Always),
            route("GET", "/cart", Always),
            route("POST", "/cart", Never),
            route("POST", "/checkout", Never),
            route("GET", "/orders/{id}", Always),
        ],
    },
    ServiceDef {
        name: "users",
        description: "customer accounts",
        port: 8081,
        calls: &[],
        datastore: Some(Datastore::Mysql),
        routes: &[
            // A repeat with the caller's key is the first 201; without, 409 email_taken.
            route("POST", "/v1/users", WithHeader("idempotency-key")),
            route("GET", "/v1/users", Always),
            route("GET", "/v1/users/{id}", Always),
        ],
    },
    ServiceDef {
        name: "products",
        description: "catalogue and stock reservations",
        port: 8082,
        calls: &[],
        datastore: Some(Datastore::Mysql),
        routes: &[
            route("POST", "/v1/products", Never),
            route("GET", "/v1/products", Always),
            route("GET", "/v1/products/{id}", Always),
            route("PATCH", "/v1/products/{id}", Never),
            // Keyed by order_ref: repeating it returns the same reservation.
            route("POST", "/v1/reservations", Always),
            route("DELETE", "/v1/reservations/{order_ref}", Always),
        ],
    },
    ServiceDef {
        name: "orders",
        description: "orders, with idempotency keys",
        port: 8083,
        calls: &["users", "products"],
        datastore: Some(Datastore::Mysql),
        routes: &[
            route("POST", "/v1/orders", WithHeader("idempotency-key")),
            route("GET", "/v1/orders", Always),
            route("GET", "/v1/orders/{id}", Always),
            route("POST", "/v1/orders/{id}/cancel", Never),
        ],
    },
    ServiceDef {
        name: "cart",
        description: "shopping carts in Redis",
        port: 8084,
        calls: &["products", "orders"],
        datastore: Some(Datastore::Redis),
        routes: &[
            route("GET", "/v1/carts/{cart_id}", Always),
            route("PUT", "/v1/carts/{cart_id}/items/{product_id}", Always),
            route("DELETE", "/v1/carts/{cart_id}", Always),
            // Without the caller's key, a repeat after success finds the cart
            // emptied and answers 422 `empty_cart`; with it, the first 201 again.
            route(
                "POST",
                "/v1/carts/{cart_id}/checkout",
                WithHeader("idempotency-key"),
            ),
        ],
    },
];

/// The service named `name`.
pub fn service(name: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.name == name)
}

/// Names of all bundled services.
pub fn names() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name).collect()
}

/// Services that call `name`.
pub fn callers(name: &str) -> impl Iterator<Item = &'static ServiceDef> + '_ {
    SERVICES.iter().filter(move |s| s.calls.contains(&name))
}

/// Name of the MySQL StatefulSet and Service.
pub const MYSQL: &str = "mysql";
/// MySQL port.
pub const MYSQL_PORT: u16 = 3306;
/// MariaDB image (MySQL-compatible), pinned; overlays may pin a digest.
pub const MYSQL_IMAGE: &str = "docker.io/library/mariadb";
/// Tag of the MariaDB image.
pub const MYSQL_TAG: &str = "11.4.4";
/// Name of the Redis StatefulSet and Service.
pub const REDIS: &str = "redis";
/// Redis port.
pub const REDIS_PORT: u16 = 6379;
/// Redis image, pinned.
pub const REDIS_IMAGE: &str = "docker.io/library/redis";
/// Tag of the Redis image.
pub const REDIS_TAG: &str = "7.4.1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_graph_only_names_known_services() {
        for s in SERVICES {
            for callee in s.calls {
                assert!(
                    service(callee).is_some(),
                    "{} calls unknown {callee}",
                    s.name
                );
                assert_ne!(*callee, s.name);
            }
        }
    }
}
