//! What the generator knows about the bundled store services: ports, the call graph,
//! data stores, which one is the shop's public entry point, and routes. This is the one
//! place to change when a service is added or starts calling another one; network
//! policies, authorization policies, retries and SLO rules all follow from it.
//!
//! The services build their routers from these entries (`kubestore_common::api`), which
//! refuses a route not declared here and one declared here but not served, so the
//! routes below are exactly the routes each service serves.

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
    /// Whether it is the shop's public entry point: the backend of the ingress gateway,
    /// reached from the internet over HTTPS. Exactly one service is ([`ENTRY_POINT`]).
    pub public: bool,
    /// Every route it serves (besides `/healthz`, `/readyz` and `/metrics`).
    pub routes: &'static [Route],
}

impl ServiceDef {
    /// The environment variable that holds this service's base URL in its callers.
    pub fn url_variable(&self) -> String {
        format!("{}_URL", self.name.to_ascii_uppercase())
    }

    /// Whether it stores `Idempotency-Key` answers for repeats, which it does exactly
    /// when a route is safe to repeat with that header: the services that must keep
    /// (and expire, after `IDEMPOTENCY_KEY_TTL`) what they answered.
    pub fn stores_idempotency_keys(&self) -> bool {
        self.routes.iter().any(|r| {
            matches!(r.idempotency, Idempotency::WithHeader(h) if h.eq_ignore_ascii_case(IDEMPOTENCY_KEY_HEADER))
        })
    }
}

/// The request header that makes a `WithHeader` route safe to repeat (lower case,
/// as `http` names it).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

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
        public: true,
        routes: &[
            route("GET", "/", Always),
            route("GET", "/products/{id}", Always),
            route("GET", "/cart", Always),
            // Adds to the line's quantity (and without a cart cookie starts another
            // cart): a repeat after success adds again.
            route("POST", "/cart/items", Never),
            // Set a line's quantity, or 0: a repeat is the same redirect to the same cart.
            route("POST", "/cart/items/{product_id}", Always),
            route("POST", "/cart/items/{product_id}/remove", Always),
            // Changes nothing; every rendering carries a fresh form key.
            route("GET", "/checkout", Always),
            // Keyed by the form's `checkout_key`, but in the body, which the mesh
            // cannot see, and a form without one is still served with a fresh key:
            // a repeat of such a success finds the cart empty.
            route("POST", "/checkout", Never),
            route("GET", "/orders/{id}", Always),
            // The HTML 404 page for every other GET; last, as it matches any path.
            route("GET", "/{*path}", Always),
        ],
    },
    ServiceDef {
        name: "users",
        description: "customer accounts",
        port: 8081,
        calls: &[],
        datastore: Some(Datastore::Mysql),
        public: false,
        routes: &[
            // A repeat with the caller's key is the first 201; without, 409 email_taken.
            route("POST", "/v1/users", WithHeader(IDEMPOTENCY_KEY_HEADER)),
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
        public: false,
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
        public: false,
        routes: &[
            route("POST", "/v1/orders", WithHeader(IDEMPOTENCY_KEY_HEADER)),
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
        public: false,
        routes: &[
            route("GET", "/v1/carts/{cart_id}", Always),
            route("PUT", "/v1/carts/{cart_id}/items/{product_id}", Always),
            route("DELETE", "/v1/carts/{cart_id}", Always),
            // Without the caller's key, a repeat after success finds the cart
            // emptied and answers 422 `empty_cart`; with it, the first 201 again.
            route(
                "POST",
                "/v1/carts/{cart_id}/checkout",
                WithHeader(IDEMPOTENCY_KEY_HEADER),
            ),
        ],
    },
];

/// The shop's public entry point: the one service marked `public`, checked when the
/// crate compiles.
pub const ENTRY_POINT: &ServiceDef = entry_point(SERVICES);

const fn entry_point(services: &'static [ServiceDef]) -> &'static ServiceDef {
    let mut found = None;
    let mut i = 0;
    while i < services.len() {
        if services[i].public {
            assert!(found.is_none(), "more than one service is public");
            found = Some(&services[i]);
        }
        i += 1;
    }
    match found {
        Some(service) => service,
        None => panic!("no service is public"),
    }
}

/// The port of the service named `name`, usable in constants (a service's default
/// listen port); an unknown name fails the build.
pub const fn port(name: &str) -> u16 {
    let mut i = 0;
    while i < SERVICES.len() {
        if same(SERVICES[i].name.as_bytes(), name.as_bytes()) {
            return SERVICES[i].port;
        }
        i += 1;
    }
    panic!("no such service in the catalogue");
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

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

    #[test]
    fn a_service_declares_each_route_once() {
        for s in SERVICES {
            for (i, r) in s.routes.iter().enumerate() {
                assert!(
                    !s.routes[..i]
                        .iter()
                        .any(|o| o.method == r.method && o.template == r.template),
                    "{}: {} {} twice",
                    s.name,
                    r.method,
                    r.template
                );
            }
        }
    }

    #[test]
    fn ports_are_found_by_name() {
        for s in SERVICES {
            assert_eq!(port(s.name), s.port);
        }
    }

    #[test]
    fn the_services_that_store_idempotency_keys_are_those_with_keyed_routes() {
        let storing: Vec<_> = SERVICES
            .iter()
            .filter(|s| s.stores_idempotency_keys())
            .map(|s| s.name)
            .collect();
        assert_eq!(storing, ["users", "orders", "cart"]);
    }

    #[test]
    fn the_entry_point_is_the_frontend() {
        assert_eq!(ENTRY_POINT.name, "frontend");
    }
}
