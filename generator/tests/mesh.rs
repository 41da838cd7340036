//! The rendered mesh: retries only on routes the catalogue calls idempotent, never on a
//! POST that could run twice; no mesh retries when the services retry; chaos routes first
//! and without retries; explicit circuit breaking; authorization from the call graph.

use std::path::Path;

use serde_json::Value;

use kubestore_core::catalog::{self, Idempotency};
use kubestore_core::model::Environment;
use kubestore_core::spec;
use kubestore_gen::render::render_all;

/// Every environment of the repository.
fn environments() -> Vec<Environment> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
    kubestore_gen::Environments::read(&dir)
        .expect("environments listed")
        .load_all()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// An environment from YAML text (file name `<name>.yaml`).
fn environment(source: &str) -> Result<Environment, String> {
    let name = source
        .lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("a name line");
    let file = format!("environments/{name}.yaml");
    let loaded = spec::load_str(Path::new(&file), source).map_err(|e| e.to_string())?;
    Environment::from_loaded(&loaded).map_err(|e| e.to_string())
}

fn objects(env: &Environment, kind: &str) -> Vec<Value> {
    render_all(env)
        .into_iter()
        .map(|o| o.value)
        .filter(|v| v["kind"] == kind)
        .collect()
}

fn virtual_service(env: &Environment, name: &str) -> Value {
    objects(env, "VirtualService")
        .into_iter()
        .find(|v| v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no VirtualService {name}"))
}

fn routes(vs: &Value) -> &Vec<Value> {
    vs["spec"]["http"].as_array().expect("http routes")
}

/// Whether a rendered route's first match selects `method template`.
fn selects(route: &Value, method: &str, template: &str) -> bool {
    let m = &route["match"][0];
    let uri = &m["uri"];
    let regex: Vec<&str> = template
        .split('/')
        .map(|s| match s {
            _ if s.starts_with("{*") => ".+",
            _ if s.starts_with('{') => "[^/]+",
            _ => s,
        })
        .collect();
    m["method"]["exact"] == method && (uri["exact"] == template || uri["regex"] == regex.join("/"))
}

fn attempts(route: &Value) -> u64 {
    route["retries"]["attempts"]
        .as_u64()
        .unwrap_or_else(|| panic!("route {} has no explicit retries", route["name"]))
}

#[test]
fn no_retry_is_rendered_on_a_non_idempotent_route() {
    for env in environments() {
        for service in catalog::SERVICES {
            let vs = virtual_service(&env, service.name);
            for route in service.routes {
                let rendered: Vec<&Value> = routes(&vs)
                    .iter()
                    .filter(|r| selects(r, route.method, route.template))
                    .collect();
                assert!(
                    !rendered.is_empty(),
                    "{}: {} {}",
                    env.name,
                    route.method,
                    route.template
                );
                for r in rendered {
                    let keyed = !r["match"][0]["headers"].is_null();
                    let safe = match route.idempotency {
                        Idempotency::Always => true,
                        Idempotency::WithHeader(h) => {
                            keyed && r["match"][0]["headers"][h] == serde_json::json!({})
                        }
                        Idempotency::Never => false,
                    };
                    if !safe {
                        assert_eq!(
                            attempts(r),
                            0,
                            "{}: {} retries {}",
                            env.name,
                            service.name,
                            r["name"]
                        );
                    }
                }
            }
            // Every route says what it does about retries; the catch-all never retries.
            let all = routes(&vs);
            assert!(
                all.iter().all(|r| !r["retries"].is_null()),
                "{}",
                service.name
            );
            let last = all.last().unwrap();
            assert!(
                last["match"].is_null(),
                "{}: the catch-all comes last",
                service.name
            );
            assert_eq!(attempts(last), 0);
        }
    }
}

/// The POSTs that create an order or an account are retried only with the caller's
/// key: a repeat of a key-less one after success is a second order (orders), a 422
/// `empty_cart` (cart) or a 409 `email_taken` (users), so its route says `attempts: 0`.
#[test]
fn a_post_creating_an_order_is_retried_only_with_an_idempotency_key() {
    for env in environments() {
        for (service, path) in [
            ("users", "/v1/users"),
            ("orders", "/v1/orders"),
            ("cart", "/v1/carts/{cart_id}/checkout"),
        ] {
            let vs = virtual_service(&env, service);
            let posts: Vec<&Value> = routes(&vs)
                .iter()
                .filter(|r| selects(r, "POST", path))
                .collect();
            assert_eq!(posts.len(), 2, "{}: {service}", env.name);
            assert_eq!(
                posts[0]["match"][0]["headers"]["idempotency-key"],
                serde_json::json!({}),
                "{}: {service}: the keyed route comes first",
                env.name
            );
            let keyed = first_attempts(&vs, "GET", service);
            assert_eq!(
                attempts(posts[0]),
                keyed,
                "{}: {service}: keyed POSTs retry like GETs",
                env.name
            );
            assert!(posts[1]["match"][0]["headers"].is_null());
            assert_eq!(
                attempts(posts[1]),
                0,
                "{}: {service}: a key-less POST is never repeated",
                env.name
            );
        }
    }
    let prod = environments()
        .into_iter()
        .find(|e| e.name == "prod")
        .unwrap();
    let vs = virtual_service(&prod, "cart");
    let keyed = routes(&vs)
        .iter()
        .find(|r| selects(r, "POST", "/v1/carts/{cart_id}/checkout"))
        .unwrap();
    assert_eq!(keyed["name"], "post-v1-carts-cart-id-checkout-keyed");
    assert_eq!(attempts(keyed), 2);
    let vs = virtual_service(&prod, "orders");
    let posts: Vec<&Value> = routes(&vs)
        .iter()
        .filter(|r| selects(r, "POST", "/v1/orders"))
        .collect();
    assert_eq!(attempts(posts[0]), 2);
    assert_eq!(posts[0]["retries"]["perTryTimeout"], "500ms");
    // A cancel is never repeated, a GET is.
    let cancel = routes(&vs)
        .iter()
        .find(|r| selects(r, "POST", "/v1/orders/{id}/cancel"))
        .unwrap();
    assert_eq!(attempts(cancel), 0);
    let get = routes(&vs)
        .iter()
        .find(|r| selects(r, "GET", "/v1/orders/{id}"))
        .unwrap();
    assert_eq!(attempts(get), 2);
    assert_eq!(get["timeout"], "3s", "prod gives orders 3s");
}

/// The attempts of the service's first route with `method` (its idempotent policy).
fn first_attempts(vs: &Value, method: &str, service: &str) -> u64 {
    let route = routes(vs)
        .iter()
        .find(|r| r["match"][0]["method"]["exact"] == method)
        .unwrap_or_else(|| panic!("{service} has no {method} route"));
    attempts(route)
}

const SECRETS: &str = "images: {tag: \"1.4.2\"}
secrets:
  provider: external-secrets
  store: vault
  keys:
    mysql-root-password: kubestore/test/mysql#root-password
    redis-password: kubestore/test/redis#password
";

#[test]
fn the_mesh_does_not_retry_when_the_services_do() {
    let env = environment(&format!(
        "name: app\nnamespace: app\nmesh: {{retries_in: app}}\n{SECRETS}"
    ))
    .unwrap();
    for vs in objects(&env, "VirtualService") {
        for route in routes(&vs) {
            assert_eq!(attempts(route), 0, "{}", route["name"]);
        }
    }
}

#[test]
fn chaos_routes_come_first_and_carry_no_retries() {
    let env = environment(&format!(
        "name: lab\nnamespace: lab\n{SECRETS}chaos:
  allowed: true
  experiments:
    - {{name: slow, service: products, route: /v1/products, delay: {{fixed: 2s, percent: 10}}}}
    - {{name: flaky, service: products, abort: {{status: 503, percent: 5}}}}
"
    ))
    .unwrap();
    let vs = virtual_service(&env, "products");
    let http = routes(&vs);
    assert_eq!(http[0]["name"], "chaos-slow");
    assert_eq!(http[0]["match"][0]["uri"]["prefix"], "/v1/products");
    assert_eq!(http[0]["fault"]["delay"]["fixedDelay"], "2s");
    assert_eq!(http[0]["fault"]["delay"]["percentage"]["value"], 10.0);
    assert_eq!(http[1]["name"], "chaos-flaky");
    assert_eq!(http[1]["match"][0]["uri"]["prefix"], "/");
    assert_eq!(http[1]["fault"]["abort"]["httpStatus"], 503);
    assert_eq!(http[1]["fault"]["abort"]["percentage"]["value"], 5.0);
    for chaos in &http[..2] {
        assert_eq!(attempts(chaos), 0);
        assert!(
            chaos["timeout"].is_null(),
            "Istio ignores a timeout next to a fault"
        );
    }
    assert!(http[2..].iter().all(|r| r["fault"].is_null()));
    // Other services are untouched.
    assert!(
        routes(&virtual_service(&env, "users"))
            .iter()
            .all(|r| r["fault"].is_null())
    );
}

#[test]
fn prod_refuses_fault_injection() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments/prod.yaml");
    let prod = std::fs::read_to_string(path).unwrap();
    let chaos_line = prod
        .lines()
        .position(|l| l.starts_with("chaos:"))
        .expect("prod has a chaos block")
        + 1;
    let source = format!(
        "{prod}  experiments:\n    - {{name: flaky-users, service: users, abort: {{status: 503, percent: 5}}}}\n"
    );
    let errors = environment(&source).unwrap_err();
    let expected = format!("environments/prod.yaml:{}:", chaos_line + 3);
    assert!(
        errors.contains(&expected)
            && errors.contains(
                ": chaos.experiments[0]: prod never runs fault injection: move `flaky-users` to staging"
            ),
        "{errors}"
    );
}

#[test]
fn destination_rules_spell_out_mtls_pools_and_outlier_detection() {
    for env in environments() {
        for dr in objects(&env, "DestinationRule") {
            let name = dr["metadata"]["name"].as_str().unwrap();
            let service = env.service(name).unwrap();
            let r = &service.resilience;
            let policy = &dr["spec"]["trafficPolicy"];
            assert_eq!(policy["tls"]["mode"], "ISTIO_MUTUAL");
            assert_eq!(
                policy["connectionPool"]["tcp"]["maxConnections"],
                r.max_connections
            );
            assert_eq!(
                policy["connectionPool"]["http"]["http1MaxPendingRequests"],
                r.max_pending
            );
            assert_eq!(
                policy["connectionPool"]["http"]["maxRequestsPerConnection"],
                r.max_requests_per_connection
            );
            let outlier = &policy["outlierDetection"];
            assert_eq!(outlier["consecutive5xxErrors"], r.consecutive_5xx);
            assert_eq!(outlier["interval"], r.interval.to_string());
            assert_eq!(outlier["baseEjectionTime"], r.ejection.to_string());
            assert_eq!(outlier["maxEjectionPercent"], r.max_ejected.rounded());
        }
    }
}

#[test]
fn authorization_follows_the_call_graph() {
    for env in environments() {
        let policies = objects(&env, "AuthorizationPolicy");
        let allow_nothing = policies
            .iter()
            .find(|p| p["metadata"]["name"] == "allow-nothing")
            .unwrap();
        assert_eq!(allow_nothing["spec"], serde_json::json!({}));
        for service in catalog::SERVICES {
            let policy = policies
                .iter()
                .find(|p| p["metadata"]["name"] == service.name)
                .unwrap();
            assert_eq!(policy["spec"]["action"], "ALLOW");
            let rules = policy["spec"]["rules"].as_array().unwrap();
            let principals: Vec<&str> = rules
                .iter()
                .flat_map(|r| {
                    r["from"][0]["source"]["principals"]
                        .as_array()
                        .into_iter()
                        .flatten()
                })
                .filter_map(Value::as_str)
                .collect();
            let mut expected: Vec<String> = catalog::callers(service.name)
                .map(|c| format!("cluster.local/ns/{}/sa/{}", env.namespace, c.name))
                .collect();
            if service.name == "frontend" {
                expected.push(
                    "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account".into(),
                );
            }
            assert_eq!(principals, expected, "{}/{}", env.name, service.name);
            let scrape = rules
                .iter()
                .find(|r| !r["from"][0]["source"]["namespaces"].is_null())
                .unwrap();
            assert_eq!(
                scrape["from"][0]["source"]["namespaces"][0],
                env.monitoring.namespace.as_str()
            );
            assert_eq!(
                scrape["to"][0]["operation"]["paths"],
                serde_json::json!(["/metrics", "/healthz", "/readyz"])
            );
        }
        let peer = objects(&env, "PeerAuthentication");
        let default = peer
            .iter()
            .find(|p| p["metadata"]["name"] == "default")
            .unwrap();
        let mode = if env.mesh.strict_mtls {
            "STRICT"
        } else {
            "PERMISSIVE"
        };
        assert_eq!(default["spec"]["mtls"]["mode"], mode);
    }
}

#[test]
fn only_the_frontend_is_exposed_with_tls_and_a_redirect() {
    for env in environments() {
        let gateway = &objects(&env, "Gateway")[0];
        let servers = gateway["spec"]["servers"].as_array().unwrap();
        let https = servers.iter().find(|s| s["port"]["number"] == 443).unwrap();
        assert_eq!(https["tls"]["mode"], "SIMPLE");
        assert_eq!(
            https["tls"]["credentialName"],
            env.ingress.tls_credential.as_str()
        );
        assert_eq!(https["hosts"][0], env.ingress.host.as_str());
        let http = servers.iter().find(|s| s["port"]["number"] == 80).unwrap();
        assert_eq!(http["tls"]["httpsRedirect"], true);
        let ingress: Vec<Value> = objects(&env, "VirtualService")
            .into_iter()
            .filter(|v| !v["spec"]["gateways"].is_null())
            .collect();
        assert_eq!(ingress.len(), 1);
        assert_eq!(ingress[0]["spec"]["hosts"][0], env.ingress.host.as_str());
        for route in routes(&ingress[0]) {
            assert_eq!(route["route"][0]["destination"]["host"], "frontend");
        }
    }
}

#[test]
fn retries_that_do_not_fit_the_timeout_blame_the_value_the_file_sets() {
    // The built-in 2 x 500ms does not fit a 800ms timeout set for one service.
    let errors = environment(&format!(
        "name: tight\nnamespace: tight\n{SECRETS}services:\n  orders:\n    resilience:\n      timeout: 800ms\n"
    ))
    .unwrap_err();
    assert!(
        errors.contains(
            "tight.yaml:13:7: services.orders.resilience.timeout: the first try and 2 retries of 500ms each (1500ms) do not fit in the route timeout of 800ms"
        ),
        "{errors}"
    );
    // More attempts for one service than the shared per-try timeout allows.
    let errors = environment(&format!(
        "name: many\nnamespace: many\n{SECRETS}defaults:\n  resilience:\n    retries: {{per_try_timeout: 1s}}\nservices:\n  users:\n    resilience: {{retries: {{attempts: 3}}}}\n"
    ))
    .unwrap_err();
    assert!(
        errors.contains(
            "many.yaml:15:28: services.users.resilience.retries.attempts: the first try and 3 retries of 1s each (4s)"
        ),
        "{errors}"
    );
    // The first try counts: two retries of 500ms and the first try take 1500ms.
    let errors = environment(&format!(
        "name: first\nnamespace: first\n{SECRETS}services:\n  users:\n    resilience: {{timeout: 1s, retries: {{attempts: 2, per_try_timeout: 500ms}}}}\n"
    ))
    .unwrap_err();
    assert!(
        errors.contains("(1500ms) do not fit in the route timeout of 1s"),
        "{errors}"
    );
    // Within the timeout: accepted.
    environment(&format!(
        "name: fits\nnamespace: fits\n{SECRETS}services:\n  users:\n    resilience: {{timeout: 1s, retries: {{attempts: 1, per_try_timeout: 500ms}}}}\n"
    ))
    .unwrap();
}

/// A caller whose route timeout is shorter than a callee's gives up on requests its
/// callee is still answering: a warning at the key to raise, naming the slower callee.
#[test]
fn a_caller_that_times_out_before_its_callee_is_warned() {
    let timeouts = |env: &Environment| -> Vec<String> {
        env.warnings()
            .iter()
            .map(ToString::to_string)
            .filter(|w| w.contains("route timeout"))
            .collect()
    };
    let env = environment(&format!(
        "name: t\nnamespace: t\n{SECRETS}services:\n  orders: {{resilience: {{timeout: 3s}}}}\n"
    ))
    .expect("a warning does not stop a render");
    // Neither caller sets a timeout: the warning points at the services table.
    assert_eq!(
        timeouts(&env),
        [
            "environments/t.yaml:10:1: services.frontend.resilience.timeout: frontend's route \
             timeout 2s is shorter than that of orders (3s), which it waits on: its callers give \
             up while it still waits; give frontend a longer timeout",
            "environments/t.yaml:10:1: services.cart.resilience.timeout: cart's route timeout 2s \
             is shorter than that of orders (3s), which it waits on: its callers give up while it \
             still waits; give cart a longer timeout",
        ]
    );
    // Callers that wait longer than what they call are fine.
    let env = environment(&format!(
        "name: t\nnamespace: t\n{SECRETS}services:\n  orders: {{resilience: {{timeout: 3s}}}}\n  \
         cart: {{resilience: {{timeout: 4s}}}}\n  frontend: {{resilience: {{timeout: 5s}}}}\n"
    ))
    .unwrap();
    assert!(timeouts(&env).is_empty(), "{:?}", timeouts(&env));
    // A timeout set in the shared defaults is blamed there, on its own line.
    let env = environment(&format!(
        "name: t\nnamespace: t\n{SECRETS}defaults: {{resilience: {{timeout: 1s, retries: {{per_try_timeout: 300ms}}}}}}\nservices:\n  users: {{resilience: {{timeout: 3s}}}}\n"
    ))
    .unwrap();
    let warnings = timeouts(&env);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("environments/t.yaml:10:25: defaults.resilience.timeout: frontend's route timeout 1s is shorter than that of users (3s)"),
        "{warnings:?}"
    );
}
