//! The mesh: the ingress Gateway and its VirtualService, and per service a VirtualService
//! (timeouts, retries only where repeating a request is harmless, chaos faults; for a
//! canary service, every route split between its stable and canary subsets), a
//! DestinationRule (mTLS, connection pool, outlier detection; the two subsets of a canary
//! service) and an AuthorizationPolicy built from the call graph; plus the namespace's
//! PeerAuthentication and allow-nothing default.
//!
//! Why retries are spelt out on every route: a route without `retries` gets Istio's
//! default policy, two retries on `connect-failure,refused-stream,unavailable,
//! cancelled,retriable-status-codes` (503s included). A POST that created an order and
//! then timed out would run twice. So each route of the catalogue carries either the
//! service's retry policy (idempotent routes) or an explicit `attempts: 0`.

use std::collections::BTreeMap;

use kubestore_core::canary;
use kubestore_core::catalog::{self, Idempotency, Route};
use kubestore_core::conventions::selector;
use kubestore_core::model::{Environment, Experiment, Percent, RetryLayer, Service};
use kubestore_core::runtime::OPERATIONAL_PATHS;

use super::Object;
use super::network::ISTIO_NAMESPACE;
use super::workloads::meta;
use crate::crds::Custom;
use crate::crds::istio::{
    Action, AuthorizationPolicySpec, ClientTls, ClientTlsMode, ConnectionPool, Destination,
    DestinationRuleSpec, FaultAbort, FaultDelay, GatewaySpec, HttpFault, HttpMatchRequest,
    HttpPool, HttpRetry, HttpRoute, HttpRouteDestination, Mtls, MtlsMode, Operation,
    OutlierDetection, PeerAuthenticationSpec, Percentage, PortSelector, RuleFrom, RuleTo, Server,
    ServerPort, ServerTls, ServerTlsMode, Source, StringMatch, Subset, TcpPool, TrafficPolicy,
    VirtualServiceSpec, WorkloadSelector,
};

/// Name of the store's Gateway.
pub const GATEWAY: &str = "kubestore";
/// Name of the VirtualService that binds the public host to the entry point.
pub fn ingress_route_name() -> String {
    format!("{}-ingress", catalog::ENTRY_POINT.name)
}
/// Service account of Istio's default ingress gateway.
pub const INGRESS_GATEWAY_SA: &str = "istio-ingressgateway-service-account";
/// The mesh's trust domain, the first segment of every workload principal.
pub const TRUST_DOMAIN: &str = "cluster.local";
/// Component label of the mesh objects.
const COMPONENT: &str = "mesh";

pub(super) fn render_mesh(env: &Environment) -> Vec<Object> {
    let mut out = vec![
        Object::new(GATEWAY, "gateway", &gateway(env)),
        Object::new(&ingress_route_name(), "virtualservice", &ingress_route(env)),
        Object::new("default", "peerauthentication", &peer_authentication(env)),
        Object::new(
            "mysql",
            "peerauthentication",
            &mysql_peer_authentication(env),
        ),
        Object::new(
            "allow-nothing",
            "authorizationpolicy",
            &Custom::new(
                meta("allow-nothing", COMPONENT),
                AuthorizationPolicySpec::default(),
            ),
        ),
    ];
    for service in &env.services {
        let name = service.name();
        out.push(Object::new(
            name,
            "virtualservice",
            &virtual_service(env, service),
        ));
        out.push(Object::new(
            name,
            "destinationrule",
            &destination_rule(service),
        ));
        out.push(Object::new(
            name,
            "authorizationpolicy",
            &service_authorization(env, service.def),
        ));
    }
    out.push(Object::new(
        catalog::MYSQL,
        "authorizationpolicy",
        &store_authorization(env, catalog::MYSQL, catalog::MYSQL_PORT, true),
    ));
    out.push(Object::new(
        catalog::REDIS,
        "authorizationpolicy",
        &store_authorization(env, catalog::REDIS, catalog::REDIS_PORT, false),
    ));
    out
}

/// HTTPS on 443 with the environment's certificate; port 80 only redirects to it.
fn gateway(env: &Environment) -> Custom<GatewaySpec> {
    let host = vec![env.ingress.host.clone()];
    Custom::new(
        meta(GATEWAY, COMPONENT),
        GatewaySpec {
            selector: BTreeMap::from([("istio".to_owned(), "ingressgateway".to_owned())]),
            servers: vec![
                Server {
                    port: ServerPort {
                        number: 443,
                        name: "https".into(),
                        protocol: "HTTPS".into(),
                    },
                    hosts: host.clone(),
                    tls: Some(ServerTls {
                        mode: Some(ServerTlsMode::Simple),
                        credential_name: Some(env.ingress.tls_credential.clone()),
                        ..Default::default()
                    }),
                },
                Server {
                    port: ServerPort {
                        number: 80,
                        name: "http".into(),
                        protocol: "HTTP".into(),
                    },
                    hosts: host,
                    tls: Some(ServerTls {
                        https_redirect: Some(true),
                        ..Default::default()
                    }),
                },
            ],
        },
    )
}

/// The public host, bound to the Gateway, routed to the frontend only; the routes are the
/// frontend's own, so retries and faults apply to traffic from the internet as well.
pub(super) fn ingress_route(env: &Environment) -> Custom<VirtualServiceSpec> {
    let http = env
        .service(catalog::ENTRY_POINT.name)
        .map(|entry| http_routes(env, entry))
        .unwrap_or_default();
    Custom::new(
        meta(&ingress_route_name(), COMPONENT),
        VirtualServiceSpec {
            hosts: vec![env.ingress.host.clone()],
            gateways: Some(vec![GATEWAY.to_owned()]),
            http,
        },
    )
}

pub(super) fn virtual_service(env: &Environment, service: &Service) -> Custom<VirtualServiceSpec> {
    let name = service.name();
    Custom::new(
        meta(name, COMPONENT),
        VirtualServiceSpec {
            hosts: vec![name.to_owned()],
            gateways: None,
            http: http_routes(env, service),
        },
    )
}

/// The routes of calls to `service`, first match wins: chaos experiments, then one route
/// per catalogue route (an idempotency-keyed POST gets two: with and without its header),
/// then a catch-all.
pub fn http_routes(env: &Environment, service: &Service) -> Vec<HttpRoute> {
    let mut routes: Vec<HttpRoute> = env
        .experiments
        .iter()
        .filter(|e| e.service == service.name())
        .map(|e| chaos_route(service, e))
        .collect();
    let timeout = Some(service.resilience.timeout.to_string());
    let safe = retry_policy(env, service);
    for route in service.def.routes {
        let uri = uri_match(route.template);
        let method = StringMatch::exact(route.method);
        let name = route_name(route);
        if let Idempotency::WithHeader(header) = route.idempotency {
            routes.push(HttpRoute {
                name: format!("{name}-keyed"),
                matches: Some(vec![HttpMatchRequest {
                    uri: Some(uri.clone()),
                    method: Some(method.clone()),
                    headers: Some(BTreeMap::from([(
                        header.to_owned(),
                        StringMatch::present(),
                    )])),
                }]),
                route: destination(service),
                timeout: timeout.clone(),
                retries: Some(safe.clone()),
                fault: None,
            });
        }
        let retries = match route.idempotency {
            Idempotency::Always => safe.clone(),
            Idempotency::WithHeader(_) | Idempotency::Never => HttpRetry::off(),
        };
        routes.push(HttpRoute {
            name,
            matches: Some(vec![HttpMatchRequest {
                uri: Some(uri),
                method: Some(method),
                headers: None,
            }]),
            route: destination(service),
            timeout: timeout.clone(),
            retries: Some(retries),
            fault: None,
        });
    }
    // Anything the catalogue does not know (a new route, another method) is not known to
    // be idempotent, so it is not retried.
    routes.push(HttpRoute {
        name: "default".into(),
        matches: None,
        route: destination(service),
        timeout,
        retries: Some(HttpRetry::off()),
        fault: None,
    });
    routes
}

/// The service's retry policy for idempotent routes, or none when the services retry
/// themselves (two layers of retries multiply) or the environment asks for 0 attempts.
fn retry_policy(env: &Environment, service: &Service) -> HttpRetry {
    let retries = &service.resilience.retries;
    if env.mesh.retries_in == RetryLayer::App || retries.attempts == 0 {
        return HttpRetry::off();
    }
    HttpRetry {
        attempts: retries.attempts,
        per_try_timeout: Some(retries.per_try_timeout.to_string()),
        retry_on: Some(retries.retry_on.clone()),
        retry_ignore_previous_hosts: None,
    }
}

/// A fault route ahead of the service's normal ones. Istio does not apply a route's
/// timeout or retries to a route that injects faults, so this route states it: no
/// timeout, `attempts: 0`. Requests it matches but does not fault reach the service
/// without a mesh timeout or retry while the experiment runs.
fn chaos_route(service: &Service, e: &Experiment) -> HttpRoute {
    let percentage = |p: Percent| Percentage {
        value: p.ratio() * 100.0,
    };
    HttpRoute {
        name: format!("chaos-{}", e.name),
        matches: Some(vec![HttpMatchRequest {
            uri: Some(StringMatch::prefix(e.route.as_deref().unwrap_or("/"))),
            ..Default::default()
        }]),
        route: destination(service),
        timeout: None,
        retries: Some(HttpRetry::off()),
        fault: Some(HttpFault {
            delay: e.delay.map(|(fixed, p)| FaultDelay {
                fixed_delay: fixed.to_string(),
                percentage: percentage(p),
            }),
            abort: e.abort.map(|(status, p)| FaultAbort {
                http_status: status,
                percentage: percentage(p),
            }),
        }),
    }
}

/// Where a route to `service` sends its requests: the service, or for a canary service
/// its stable and canary subsets, all to stable until the Rollouts controller moves the
/// weights. The route's retries and timeout stay the route's, whatever the split.
fn destination(service: &Service) -> Vec<HttpRouteDestination> {
    let to = |subset: Option<&str>, weight: Option<i32>| HttpRouteDestination {
        destination: Destination {
            host: service.name().to_owned(),
            port: PortSelector {
                number: u32::from(service.def.port),
            },
            subset: subset.map(str::to_owned),
        },
        weight,
    };
    if super::canary::is_canary(service) {
        vec![
            to(Some(canary::STABLE_SUBSET), Some(100)),
            to(Some(canary::CANARY_SUBSET), Some(0)),
        ]
    } else {
        vec![to(None, None)]
    }
}

/// `GET /v1/users/{id}` is named `get-v1-users-id`; `GET /` is `get-root`, `GET /{*path}`
/// `get-path`.
fn route_name(route: &Route) -> String {
    let path: Vec<String> = route
        .template
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_matches(|c| matches!(c, '{' | '}' | '*'))
                .replace('_', "-")
        })
        .collect();
    let path = if path.is_empty() {
        "root".to_owned()
    } else {
        path.join("-")
    };
    format!("{}-{path}", route.method.to_ascii_lowercase())
}

/// A template without parameters matches exactly; `{param}` matches one path segment,
/// `{*rest}` the rest of the path.
/// Envoy matches both against the path without its query string.
pub fn uri_match(template: &str) -> StringMatch {
    if !template.contains('{') {
        return StringMatch::exact(template);
    }
    let mut regex = String::new();
    for (i, segment) in template.split('/').enumerate() {
        if i > 0 {
            regex.push('/');
        }
        if segment.starts_with("{*") && segment.ends_with('}') {
            // A wildcard takes the rest of the path, slashes included.
            regex.push_str(".+");
        } else if segment.starts_with('{') && segment.ends_with('}') {
            regex.push_str("[^/]+");
        } else {
            for ch in segment.chars() {
                if !ch.is_ascii_alphanumeric() && !matches!(ch, '-' | '_') {
                    regex.push('\\');
                }
                regex.push(ch);
            }
        }
    }
    StringMatch::regex(regex)
}

pub(super) fn destination_rule(service: &Service) -> Custom<DestinationRuleSpec> {
    let r = &service.resilience;
    let name = service.name();
    Custom::new(
        meta(name, COMPONENT),
        DestinationRuleSpec {
            host: name.to_owned(),
            traffic_policy: TrafficPolicy {
                tls: ClientTls {
                    mode: ClientTlsMode::IstioMutual,
                },
                connection_pool: ConnectionPool {
                    tcp: TcpPool {
                        max_connections: r.max_connections,
                    },
                    http: HttpPool {
                        http1_max_pending_requests: r.max_pending,
                        max_requests_per_connection: r.max_requests_per_connection,
                    },
                },
                outlier_detection: OutlierDetection {
                    consecutive_5xx_errors: r.consecutive_5xx,
                    interval: r.interval.to_string(),
                    base_ejection_time: r.ejection.to_string(),
                    max_ejection_percent: r.max_ejected.rounded(),
                },
            },
            // The controller adds each version's pod-template hash to these labels.
            subsets: super::canary::is_canary(service).then(|| {
                [canary::STABLE_SUBSET, canary::CANARY_SUBSET]
                    .into_iter()
                    .map(|subset| Subset {
                        name: subset.to_owned(),
                        labels: selector(name),
                    })
                    .collect()
            }),
        },
    )
}

fn mtls(strict: bool) -> Mtls {
    Mtls {
        mode: if strict {
            MtlsMode::Strict
        } else {
            MtlsMode::Permissive
        },
    }
}

fn peer_authentication(env: &Environment) -> Custom<PeerAuthenticationSpec> {
    Custom::new(
        meta("default", COMPONENT),
        PeerAuthenticationSpec {
            selector: None,
            mtls: mtls(env.mesh.strict_mtls),
            port_level_mtls: None,
        },
    )
}

/// The migration Jobs run without a sidecar (a Job whose sidecar never exits never
/// completes), so MySQL's port also accepts plaintext; the NetworkPolicy still admits only
/// pods labelled as MySQL clients, and the AuthorizationPolicy only the services'
/// identities or sidecar-less peers. Other ports follow the namespace's mode.
fn mysql_peer_authentication(env: &Environment) -> Custom<PeerAuthenticationSpec> {
    Custom::new(
        meta(catalog::MYSQL, COMPONENT),
        PeerAuthenticationSpec {
            selector: Some(WorkloadSelector {
                match_labels: selector(catalog::MYSQL),
            }),
            mtls: mtls(env.mesh.strict_mtls),
            port_level_mtls: Some(BTreeMap::from([(
                catalog::MYSQL_PORT.to_string(),
                mtls(false),
            )])),
        },
    )
}

/// The principal of a service account of the store's namespace.
pub fn principal(namespace: &str, service_account: &str) -> String {
    format!("{TRUST_DOMAIN}/ns/{namespace}/sa/{service_account}")
}

fn allow(name: &str, rules: Vec<crate::crds::istio::Rule>) -> Custom<AuthorizationPolicySpec> {
    Custom::new(
        meta(name, COMPONENT),
        AuthorizationPolicySpec {
            selector: Some(WorkloadSelector {
                match_labels: selector(name),
            }),
            action: Some(Action::Allow),
            rules: Some(rules),
        },
    )
}

fn rule(source: Source, operation: Operation) -> crate::crds::istio::Rule {
    crate::crds::istio::Rule {
        from: Some(vec![RuleFrom { source }]),
        to: Some(vec![RuleTo { operation }]),
    }
}

fn on_port(port: u16) -> Operation {
    Operation {
        ports: Some(vec![port.to_string()]),
        ..Default::default()
    }
}

/// Callers from the catalogue (the frontend: the ingress gateway), and Prometheus on the
/// scrape and health paths.
fn service_authorization(
    env: &Environment,
    def: &catalog::ServiceDef,
) -> Custom<AuthorizationPolicySpec> {
    let mut principals: Vec<String> = catalog::callers(def.name)
        .map(|caller| principal(&env.namespace, caller.name))
        .collect();
    if def.public {
        principals.push(format!(
            "{TRUST_DOMAIN}/ns/{ISTIO_NAMESPACE}/sa/{INGRESS_GATEWAY_SA}"
        ));
    }
    let mut rules = Vec::new();
    if !principals.is_empty() {
        rules.push(rule(
            Source {
                principals: Some(principals),
                ..Default::default()
            },
            on_port(def.port),
        ));
    }
    rules.push(rule(
        Source {
            namespaces: Some(vec![env.monitoring.namespace.clone()]),
            ..Default::default()
        },
        Operation {
            ports: Some(vec![def.port.to_string()]),
            methods: Some(vec!["GET".into()]),
            // Prometheus may call every operational path (kubelet probes need no rule:
            // Istio rewrites them to the sidecar's own port).
            paths: Some(OPERATIONAL_PATHS.iter().map(|p| (*p).to_owned()).collect()),
        },
    ));
    allow(def.name, rules)
}

/// The services that own data in a store may connect to it; for MySQL also sidecar-less
/// peers (the migration Jobs), which only the NetworkPolicy's client label admits.
fn store_authorization(
    env: &Environment,
    store: &str,
    port: u16,
    migrations: bool,
) -> Custom<AuthorizationPolicySpec> {
    let wanted = if store == catalog::MYSQL {
        catalog::Datastore::Mysql
    } else {
        catalog::Datastore::Redis
    };
    let principals: Vec<String> = catalog::SERVICES
        .iter()
        .filter(|s| s.datastore == Some(wanted))
        .map(|s| principal(&env.namespace, s.name))
        .collect();
    let mut rules = vec![rule(
        Source {
            principals: Some(principals),
            ..Default::default()
        },
        on_port(port),
    )];
    if migrations {
        rules.push(rule(
            Source {
                not_principals: Some(vec!["*".into()]),
                ..Default::default()
            },
            on_port(port),
        ));
    }
    allow(store, rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_exact_or_segment_matches() {
        assert_eq!(uri_match("/v1/users"), StringMatch::exact("/v1/users"));
        assert_eq!(
            uri_match("/v1/carts/{cart_id}/items/{product_id}"),
            StringMatch::regex("/v1/carts/[^/]+/items/[^/]+")
        );
        assert_eq!(uri_match("/{*path}"), StringMatch::regex("/.+"));
    }

    #[test]
    fn route_names_are_dns_labels() {
        for service in catalog::SERVICES {
            for route in service.routes {
                let name = route_name(route);
                let label = name.len() <= 63
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                assert!(label, "{name} is not a DNS label");
            }
        }
    }
}
