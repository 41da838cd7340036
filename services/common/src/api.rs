//! A service's API router, built from its entry in the service catalogue
//! (`kubestore_core::catalog`), so that the routes a service serves and the routes
//! the generator renders retries, timeouts and policies for are one list.
//!
//! [`Api::on`] refuses a route the catalogue does not declare for the service, and
//! [`Api::into_router`] refuses to finish while a declared route has no handler.
//! Both panic, as axum does for overlapping routes: a drift is a programming error,
//! and every test that builds the router finds it (each service also has a unit
//! test that only builds it).

use std::collections::BTreeMap;

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use kubestore_core::catalog::{self, ServiceDef};

/// The API routes of one catalogued service, added one method and template at a time.
pub struct Api<S> {
    service: &'static ServiceDef,
    routes: BTreeMap<&'static str, MethodRouter<S>>,
    registered: Vec<(Method, &'static str)>,
}

impl<S: Clone + Send + Sync + 'static> Api<S> {
    /// The routes of `service`.
    ///
    /// # Panics
    /// When the catalogue has no such service.
    pub fn of(service: &str) -> Self {
        let Some(service) = catalog::service(service) else {
            panic!("`{service}` is not in the service catalogue (core/src/catalog.rs)");
        };
        Self {
            service,
            routes: BTreeMap::new(),
            registered: Vec::new(),
        }
    }

    /// Serves `method template` with `handler`.
    ///
    /// # Panics
    /// When the catalogue does not declare the route for this service, or it was
    /// added already.
    #[must_use]
    pub fn on<H, T>(mut self, method: Method, template: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let name = self.service.name;
        let declared = self
            .service
            .routes
            .iter()
            .any(|r| r.method == method.as_str() && r.template == template);
        assert!(
            declared,
            "{name} serves {method} {template}, which its entry in core/src/catalog.rs does not declare"
        );
        assert!(
            !self
                .registered
                .iter()
                .any(|(m, t)| *m == method && *t == template),
            "{name}: {method} {template} is added twice"
        );
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{name}: axum cannot route the method {method}"));
        let methods = self.routes.remove(template).unwrap_or_default();
        self.routes.insert(template, methods.on(filter, handler));
        self.registered.push((method, template));
        self
    }

    /// [`Api::on`] for GET (which also answers HEAD).
    #[must_use]
    pub fn get<H: Handler<T, S>, T: 'static>(self, template: &'static str, handler: H) -> Self {
        self.on(Method::GET, template, handler)
    }

    /// [`Api::on`] for POST.
    #[must_use]
    pub fn post<H: Handler<T, S>, T: 'static>(self, template: &'static str, handler: H) -> Self {
        self.on(Method::POST, template, handler)
    }

    /// [`Api::on`] for PUT.
    #[must_use]
    pub fn put<H: Handler<T, S>, T: 'static>(self, template: &'static str, handler: H) -> Self {
        self.on(Method::PUT, template, handler)
    }

    /// [`Api::on`] for PATCH.
    #[must_use]
    pub fn patch<H: Handler<T, S>, T: 'static>(self, template: &'static str, handler: H) -> Self {
        self.on(Method::PATCH, template, handler)
    }

    /// [`Api::on`] for DELETE.
    #[must_use]
    pub fn delete<H: Handler<T, S>, T: 'static>(self, template: &'static str, handler: H) -> Self {
        self.on(Method::DELETE, template, handler)
    }

    /// The router serving every declared route.
    ///
    /// # Panics
    /// When a route the catalogue declares for this service has no handler.
    pub fn into_router(self) -> Router<S> {
        let missing: Vec<String> = self
            .service
            .routes
            .iter()
            .filter(|r| {
                !self
                    .registered
                    .iter()
                    .any(|(m, t)| m.as_str() == r.method && *t == r.template)
            })
            .map(|r| format!("{} {}", r.method, r.template))
            .collect();
        assert!(
            missing.is_empty(),
            "{} does not serve {}, which its entry in core/src/catalog.rs declares",
            self.service.name,
            missing.join(", ")
        );
        self.routes
            .into_iter()
            .fold(Router::new(), |router, (template, methods)| {
                router.route(template, methods)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok() -> &'static str {
        "ok"
    }

    fn all_users_routes() -> Api<()> {
        Api::of("users")
            .post("/v1/users", ok)
            .get("/v1/users", ok)
            .get("/v1/users/{id}", ok)
    }

    #[test]
    fn the_declared_routes_make_a_router() {
        let _ = all_users_routes().into_router();
    }

    #[test]
    #[should_panic(expected = "users serves DELETE /v1/users/{id}, which its entry")]
    fn an_undeclared_route_is_refused() {
        let _ = all_users_routes().delete("/v1/users/{id}", ok);
    }

    #[test]
    #[should_panic(expected = "users does not serve GET /v1/users/{id}, which")]
    fn a_declared_route_without_a_handler_is_refused() {
        let _ = Api::<()>::of("users")
            .post("/v1/users", ok)
            .get("/v1/users", ok)
            .into_router();
    }

    #[test]
    #[should_panic(expected = "is not in the service catalogue")]
    fn an_unknown_service_is_refused() {
        let _ = Api::<()>::of("payments");
    }
}
