//! Istio objects to Envoy v3 configuration, field by field as istiod translates them
//! (`pilot/pkg/networking/core`): DestinationRule traffic policies become clusters,
//! VirtualService routes become Envoy routes. Every value Istio writes when a field is
//! absent is written here too, so the local Envoy behaves like the mesh's and not like
//! Envoy's own defaults (a 15 s route timeout, 1024-request circuit breakers, three
//! retries, round robin).

use serde_json::{Value, json};

use crate::crds::istio::{
    Destination, HttpFault, HttpMatchRequest, HttpRetry, HttpRoute, Percentage, StringMatch,
    TrafficPolicy, VirtualServiceSpec,
};

/// What istiod writes for a limit nobody set: 2^32 - 1.
const UNLIMITED: u64 = 4_294_967_295;
/// Mesh default `connectTimeout`.
const CONNECT_TIMEOUT: &str = "10s";
/// Istio's retry policy for a route without `retries` (since 1.24: no 503s).
const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
/// Istio's default number of retries.
const DEFAULT_ATTEMPTS: u32 = 2;
/// Istio's stats delimiter: `alt_stat_name` and HCM stat prefixes end with it.
const STAT_DELIMITER: &str = ";";

/// `<host>.<namespace>.svc.cluster.local`: a short host resolved in the namespace.
pub fn fqdn(host: &str, namespace: &str) -> String {
    if host.contains('.') {
        host.to_owned()
    } else {
        format!("{host}.{namespace}.svc.cluster.local")
    }
}

/// Istio's outbound cluster name, `outbound|PORT||FQDN`.
pub fn outbound_cluster_name(host: &str, port: u32, namespace: &str) -> String {
    format!("outbound|{port}||{}", fqdn(host, namespace))
}

/// Istio's inbound cluster name, `inbound|PORT||`.
pub fn inbound_cluster_name(port: u16) -> String {
    format!("inbound|{port}||")
}

/// An Istio duration (`500ms`, `2s`, `5m`) in protobuf JSON, which knows only seconds.
pub fn duration(istio: &str) -> String {
    let split = istio
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(istio.len());
    let (number, unit) = istio.split_at(split);
    let n: u64 = number.parse().unwrap_or(0);
    let millis = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => n * 1000,
    };
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{}.{:03}s", millis / 1000, millis % 1000)
    }
}

fn endpoints(cluster: &str, ports: &[u16]) -> Value {
    let lb_endpoints: Vec<Value> = ports
        .iter()
        .map(|port| {
            json!({"endpoint": {"address": {"socket_address": {
                "address": "127.0.0.1", "port_value": port}}}})
        })
        .collect();
    json!({"cluster_name": cluster, "endpoints": [{"lb_endpoints": lb_endpoints}]})
}

fn limit(value: u32) -> u64 {
    // Istio treats a zero as unset.
    if value == 0 {
        UNLIMITED
    } else {
        u64::from(value)
    }
}

/// One `Thresholds` entry, priority DEFAULT, as Istio writes it: every cluster gets one,
/// with 2^32 - 1 where the connection pool is silent.
fn circuit_breakers(policy: Option<&TrafficPolicy>) -> Value {
    let (connections, pending) = policy.map_or((UNLIMITED, UNLIMITED), |p| {
        (
            limit(p.connection_pool.tcp.max_connections),
            limit(p.connection_pool.http.http1_max_pending_requests),
        )
    });
    json!({"thresholds": [{
        "max_connections": connections,
        "max_pending_requests": pending,
        "max_requests": UNLIMITED,
        "max_retries": UNLIMITED,
        "track_remaining": false,
    }]})
}

fn http_protocol_options(policy: Option<&TrafficPolicy>) -> Option<Value> {
    let per_connection = policy?.connection_pool.http.max_requests_per_connection;
    (per_connection > 0).then(|| {
        json!({"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "common_http_protocol_options": {"max_requests_per_connection": per_connection},
            "explicit_http_config": {"http_protocol_options": {}},
        }})
    })
}

/// A cluster with Istio's name, stats name and circuit breakers, reaching `ports` on
/// 127.0.0.1 instead of EDS endpoints.
fn cluster(
    name: &str,
    policy: Option<&TrafficPolicy>,
    ports: &[u16],
) -> serde_json::Map<String, Value> {
    let mut c = serde_json::Map::new();
    c.insert("name".into(), json!(name));
    c.insert(
        "alt_stat_name".into(),
        json!(format!("{name}{STAT_DELIMITER}")),
    );
    c.insert("type".into(), json!("STATIC"));
    c.insert("connect_timeout".into(), json!(CONNECT_TIMEOUT));
    c.insert("circuit_breakers".into(), circuit_breakers(policy));
    if let Some(options) = http_protocol_options(policy) {
        c.insert("typed_extension_protocol_options".into(), options);
    }
    c.insert("load_assignment".into(), endpoints(name, ports));
    c
}

/// A client-side cluster: the destination's connection pool, its outlier detection (with
/// success-rate ejection off and panic mode off, as Istio writes them) and Istio's default
/// balancer, LEAST_REQUEST.
pub fn outbound_cluster(name: &str, policy: Option<&TrafficPolicy>, ports: &[u16]) -> Value {
    let mut c = cluster(name, policy, ports);
    c.insert("lb_policy".into(), json!("LEAST_REQUEST"));
    if let Some(p) = policy {
        let o = &p.outlier_detection;
        let enforcing = if o.consecutive_5xx_errors == 0 {
            0
        } else {
            100
        };
        let mut outlier = json!({
            "consecutive_5xx": o.consecutive_5xx_errors,
            "enforcing_consecutive_5xx": enforcing,
            "enforcing_success_rate": 0,
            "interval": duration(&o.interval),
            "base_ejection_time": duration(&o.base_ejection_time),
        });
        if o.max_ejection_percent > 0 {
            outlier["max_ejection_percent"] = json!(o.max_ejection_percent);
        }
        c.insert("outlier_detection".into(), outlier);
        // minHealthPercent is unset, which Istio writes as 0: never balance over ejected
        // endpoints.
        c.insert(
            "common_lb_config".into(),
            json!({"healthy_panic_threshold": {"value": 0}}),
        );
    }
    Value::Object(c)
}

/// The server side: the destination's connection pool applies to its own inbound cluster
/// too; outlier detection and balancing do not.
pub fn inbound_cluster(port: u16, policy: Option<&TrafficPolicy>, app_port: u16) -> Value {
    Value::Object(cluster(&inbound_cluster_name(port), policy, &[app_port]))
}

fn string_match(m: &StringMatch) -> Option<Value> {
    if let Some(v) = &m.exact {
        Some(json!({"exact": v}))
    } else if let Some(v) = &m.prefix {
        Some(json!({"prefix": v}))
    } else {
        m.regex
            .as_ref()
            .map(|v| json!({"safe_regex": {"regex": v}}))
    }
}

/// `HTTPMatchRequest` -> `RouteMatch`. Regexes match the whole path, as Envoy's RE2
/// matching is a full match.
fn route_match(m: Option<&HttpMatchRequest>) -> Value {
    let mut out = serde_json::Map::new();
    match m.and_then(|m| m.uri.as_ref()) {
        Some(StringMatch {
            exact: Some(path), ..
        }) => {
            out.insert("path".into(), json!(path));
        }
        Some(StringMatch {
            prefix: Some(prefix),
            ..
        }) => {
            out.insert("prefix".into(), json!(prefix));
        }
        Some(StringMatch {
            regex: Some(regex), ..
        }) => {
            out.insert("safe_regex".into(), json!({"regex": regex}));
        }
        _ => {
            out.insert("prefix".into(), json!("/"));
        }
    }
    out.insert("case_sensitive".into(), json!(true));
    let mut headers = Vec::new();
    if let Some(method) = m.and_then(|m| m.method.as_ref()).and_then(string_match) {
        headers.push(json!({"name": ":method", "string_match": method}));
    }
    // A BTreeMap: sorted by name, as Istio sorts them.
    for (name, matcher) in m.and_then(|m| m.headers.as_ref()).into_iter().flatten() {
        headers.push(match string_match(matcher) {
            Some(sm) => json!({"name": name, "string_match": sm}),
            None => json!({"name": name, "present_match": true}),
        });
    }
    if !headers.is_empty() {
        out.insert("headers".into(), Value::Array(headers));
    }
    Value::Object(out)
}

/// `HTTPRetry` -> `RetryPolicy`; `None` is Istio's default policy, `attempts: 0` none at
/// all. Numeric `retryOn` tokens become `retriable_status_codes`.
pub fn retry_policy(retries: Option<&HttpRetry>) -> Option<Value> {
    let attempts = retries.map_or(DEFAULT_ATTEMPTS, |r| r.attempts);
    if attempts == 0 {
        return None;
    }
    let retry_on = retries
        .and_then(|r| r.retry_on.as_deref())
        .unwrap_or(DEFAULT_RETRY_ON);
    let mut conditions = Vec::new();
    let mut codes = Vec::new();
    for token in retry_on.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match token.parse::<u16>() {
            Ok(code) => codes.push(code),
            Err(_) => conditions.push(token.to_owned()),
        }
    }
    if !codes.is_empty() && !conditions.iter().any(|c| c == "retriable-status-codes") {
        conditions.push("retriable-status-codes".into());
    }
    let mut policy = json!({
        "retry_on": conditions.join(","),
        "num_retries": attempts,
    });
    if !codes.is_empty() {
        policy["retriable_status_codes"] = json!(codes);
    }
    if let Some(per_try) = retries.and_then(|r| r.per_try_timeout.as_deref()) {
        policy["per_try_timeout"] = json!(duration(per_try));
    }
    if retries.and_then(|r| r.retry_ignore_previous_hosts) != Some(false) {
        policy["retry_host_predicate"] = json!([{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"},
        }]);
    }
    policy["host_selection_retry_max_attempts"] = json!(5);
    Some(policy)
}

fn fraction(p: Percentage) -> Value {
    // Istio's double percentage, in millionths.
    json!({"numerator": (p.value * 10_000.0).round() as u64, "denominator": "MILLION"})
}

/// `HTTPFaultInjection` -> the fault filter's per-route `HTTPFault`.
pub fn fault(f: &HttpFault) -> Option<Value> {
    let mut out =
        json!({"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"});
    if let Some(d) = &f.delay {
        out["delay"] =
            json!({"fixed_delay": duration(&d.fixed_delay), "percentage": fraction(d.percentage)});
    }
    if let Some(a) = &f.abort {
        out["abort"] = json!({"http_status": a.http_status, "percentage": fraction(a.percentage)});
    }
    (f.delay.is_some() || f.abort.is_some()).then_some(out)
}

/// Istio's cluster name of a subset, `outbound|PORT|SUBSET|FQDN`.
pub fn subset_cluster_name(host: &str, port: u32, subset: &str, namespace: &str) -> String {
    format!("outbound|{port}|{subset}|{}", fqdn(host, namespace))
}

/// The runtime key prefix of every weighted route to `host`: the key of one destination is
/// `<prefix>.<its cluster name>`, so one admin call per Envoy moves every route to the
/// host at once.
pub fn weight_runtime_prefix(host: &str, namespace: &str) -> String {
    format!("kubestore.weights.{}", fqdn(host, namespace))
}

fn destination_cluster(dest: &Destination, namespace: &str) -> String {
    match &dest.subset {
        Some(subset) => subset_cluster_name(&dest.host, dest.port.number, subset, namespace),
        None => outbound_cluster_name(&dest.host, dest.port.number, namespace),
    }
}

/// Where a route sends its requests: one cluster, or (several destinations, as in a
/// canary) `weighted_clusters` with the VirtualService's weights, as istiod writes them.
/// Istio's weights change through xDS; a static bootstrap takes them from the runtime
/// instead (`runtime_key_prefix`), which `POST /runtime_modify` on the admin port changes
/// without a restart, so no connection is dropped.
fn route_target(r: &HttpRoute, namespace: &str) -> (&'static str, Value) {
    if let [only] = r.route.as_slice() {
        return (
            "cluster",
            json!(destination_cluster(&only.destination, namespace)),
        );
    }
    let clusters: Vec<Value> = r
        .route
        .iter()
        .map(|d| {
            json!({
                "name": destination_cluster(&d.destination, namespace),
                "weight": d.weight.unwrap_or(0),
            })
        })
        .collect();
    let host = r.route.first().map_or("", |d| d.destination.host.as_str());
    (
        "weighted_clusters",
        json!({
            "runtime_key_prefix": weight_runtime_prefix(host, namespace),
            "clusters": clusters,
        }),
    )
}

fn route(name: &str, m: Option<&HttpMatchRequest>, r: &HttpRoute, namespace: &str) -> Value {
    let (key, target) = route_target(r, namespace);
    let mut action = json!({
        // Istio writes 0s (no timeout) when the VirtualService sets none; Envoy's own
        // default would be 15s.
        "timeout": r.timeout.as_deref().map_or_else(|| "0s".to_owned(), duration),
    });
    action[key] = target;
    if let Some(policy) = retry_policy(r.retries.as_ref()) {
        action["retry_policy"] = policy;
    }
    let mut out = json!({"name": name, "match": route_match(m), "route": action});
    if let Some(fault) = r.fault.as_ref().and_then(fault) {
        out["typed_per_filter_config"] = json!({"envoy.filters.http.fault": fault});
    }
    out
}

fn catches_all(m: Option<&HttpMatchRequest>) -> bool {
    m.is_none_or(|m| m.uri.is_none() && m.method.is_none() && m.headers.is_none())
}

/// A VirtualService's routes in Istio's order: `http[]` order, one Envoy route per match,
/// nothing after the first catch-all.
pub fn routes(vs: &VirtualServiceSpec, namespace: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for r in &vs.http {
        let matches: Vec<Option<&HttpMatchRequest>> = match &r.matches {
            Some(list) if !list.is_empty() => list.iter().map(Some).collect(),
            _ => vec![None],
        };
        for m in matches {
            out.push(route(&r.name, m, r, namespace));
            if catches_all(m) {
                return out;
            }
        }
    }
    out
}

/// The route of a destination without a VirtualService (`BuildDefaultHTTPOutboundRoute`).
pub fn default_route(cluster: &str) -> Value {
    json!({
        "name": "default",
        "match": {"prefix": "/", "case_sensitive": true},
        "route": {"cluster": cluster, "timeout": "0s", "retry_policy": retry_policy(None)},
    })
}

/// The inbound route of a server sidecar (`BuildDefaultHTTPInboundRoute`).
pub fn inbound_route(cluster: &str) -> Value {
    json!({
        "name": "default",
        "match": {"prefix": "/", "case_sensitive": true},
        "route": {
            "cluster": cluster,
            "timeout": "0s",
            "max_stream_duration": {"max_stream_duration": "0s", "grpc_timeout_header_max": "0s"},
            "retry_policy": {"retry_on": "reset-before-request", "num_retries": 2},
        },
    })
}

/// An HTTP listener on 127.0.0.1 with Istio's stat prefix and filter chain (fault before
/// the router).
pub fn http_listener(
    name: &str,
    port: u16,
    direction: &str,
    stat_prefix: &str,
    route_config: Value,
) -> Value {
    json!({
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "traffic_direction": direction,
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": format!("{stat_prefix}{STAT_DELIMITER}"),
                "route_config": route_config,
                "http_filters": [
                    {"name": "envoy.filters.http.fault", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}},
                    {"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                ],
            },
        }]}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_in_seconds() {
        assert_eq!(duration("500ms"), "0.500s");
        assert_eq!(duration("2s"), "2s");
        assert_eq!(duration("5m"), "300s");
    }

    #[test]
    fn numeric_retry_conditions_become_status_codes() {
        let r = HttpRetry {
            attempts: 3,
            per_try_timeout: None,
            retry_on: Some("connect-failure,503".into()),
            retry_ignore_previous_hosts: Some(false),
        };
        let p = retry_policy(Some(&r)).expect("a policy");
        assert_eq!(p["retry_on"], "connect-failure,retriable-status-codes");
        assert_eq!(p["retriable_status_codes"], json!([503]));
        assert!(p.get("retry_host_predicate").is_none());
        assert!(retry_policy(Some(&HttpRetry::off())).is_none());
        let default = retry_policy(None).expect("Istio's default");
        assert_eq!(default["retry_on"], DEFAULT_RETRY_ON);
        assert_eq!(default["num_retries"], 2);
    }

    #[test]
    fn a_split_route_keeps_its_retries_and_takes_live_weights() {
        use crate::crds::istio::{HttpRouteDestination, PortSelector};
        let to = |subset: &str, weight: i32| HttpRouteDestination {
            destination: Destination {
                host: "orders".into(),
                port: PortSelector { number: 8083 },
                subset: Some(subset.into()),
            },
            weight: Some(weight),
        };
        let r = HttpRoute {
            name: "post-v1-orders".into(),
            matches: None,
            route: vec![to("stable", 100), to("canary", 0)],
            timeout: Some("3s".into()),
            retries: Some(HttpRetry::off()),
            fault: None,
        };
        let out = route(&r.name, None, &r, "shop");
        let action = &out["route"];
        assert!(action.get("cluster").is_none());
        assert_eq!(
            action["weighted_clusters"],
            json!({
                "runtime_key_prefix": "kubestore.weights.orders.shop.svc.cluster.local",
                "clusters": [
                    {"name": "outbound|8083|stable|orders.shop.svc.cluster.local", "weight": 100},
                    {"name": "outbound|8083|canary|orders.shop.svc.cluster.local", "weight": 0},
                ],
            })
        );
        assert_eq!(action["timeout"], "3s");
        assert!(
            action.get("retry_policy").is_none(),
            "a key-less route stays unretried"
        );
    }
}
