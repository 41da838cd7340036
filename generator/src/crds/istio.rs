//! Istio networking (`networking.istio.io/v1`) and security (`security.istio.io/v1`)
//! resources: only the fields the mesh renderer sets.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Resource;

/// `Gateway`: ports, hosts and TLS of the ingress gateway.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// Labels of the gateway pods this configuration applies to.
    pub selector: BTreeMap<String, String>,
    /// Listeners.
    pub servers: Vec<Server>,
}

impl Resource for GatewaySpec {
    const API_VERSION: &'static str = "networking.istio.io/v1";
    const KIND: &'static str = "Gateway";
}

/// One listener of a gateway.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// Port the gateway listens on.
    pub port: ServerPort,
    /// Hosts served on it.
    pub hosts: Vec<String>,
    /// TLS settings, or a redirect to HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
}

/// A gateway port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerPort {
    /// Port number.
    pub number: u32,
    /// Port name.
    pub name: String,
    /// `HTTP` or `HTTPS`.
    pub protocol: String,
}

/// TLS of a gateway listener.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTls {
    /// Answer every plain-HTTP request with a 301 to HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_redirect: Option<bool>,
    /// Terminate TLS with the certificate in `credential_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ServerTlsMode>,
    /// Secret holding the certificate and key, in the gateway's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
}

/// TLS mode of a gateway listener.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    /// Standard TLS termination.
    Simple,
}

/// `VirtualService`: the routing, timeouts, retries and faults of calls to hosts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// Hosts the routes apply to.
    pub hosts: Vec<String>,
    /// Gateways the routes apply at; absent means the sidecars (`mesh`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateways: Option<Vec<String>>,
    /// HTTP routes, first match wins.
    pub http: Vec<HttpRoute>,
}

impl Resource for VirtualServiceSpec {
    const API_VERSION: &'static str = "networking.istio.io/v1";
    const KIND: &'static str = "VirtualService";
}

/// One HTTP route.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// Name, shown in Envoy's stats and access logs.
    pub name: String,
    /// Conditions, any of which selects the route; absent matches everything.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<HttpMatchRequest>>,
    /// Where matching requests go.
    pub route: Vec<HttpRouteDestination>,
    /// Timeout of the whole request, retries included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Retry policy; always written, since Istio's default retries twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    /// Injected faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<HttpFault>,
}

/// Conditions of a route; all given ones must hold.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatchRequest {
    /// Path condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// Method condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// Header conditions, keyed by lower-case header name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, StringMatch>>,
}

/// A string condition. With no field set it matches any value: for a header, Istio then
/// checks only that the header is present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    /// Equal to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Starts with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Matches the whole value (RE2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl StringMatch {
    /// Equal to `value`.
    pub fn exact(value: impl Into<String>) -> Self {
        Self {
            exact: Some(value.into()),
            ..Self::default()
        }
    }

    /// Starts with `value`.
    pub fn prefix(value: impl Into<String>) -> Self {
        Self {
            prefix: Some(value.into()),
            ..Self::default()
        }
    }

    /// Matches the RE2 expression `value` as a whole.
    pub fn regex(value: impl Into<String>) -> Self {
        Self {
            regex: Some(value.into()),
            ..Self::default()
        }
    }

    /// For headers: the header is present, whatever its value.
    pub fn present() -> Self {
        Self::default()
    }
}

/// A route's destination.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteDestination {
    /// The service.
    pub destination: Destination,
    /// Percent of the route's requests sent here, where a route splits its traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

/// A service and port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Service name, resolved in the VirtualService's namespace.
    pub host: String,
    /// Port.
    pub port: PortSelector,
    /// Subset of the DestinationRule the requests go to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
}

/// A port number.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    /// The number.
    pub number: u32,
}

/// Retry policy of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    /// Retries after the first attempt; 0 turns retries off.
    pub attempts: u32,
    /// Timeout of each attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<String>,
    /// Envoy retry conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    /// Retry on another endpoint than the ones tried; absent means true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_ignore_previous_hosts: Option<bool>,
}

impl HttpRetry {
    /// No retry at all.
    pub fn off() -> Self {
        Self {
            attempts: 0,
            per_try_timeout: None,
            retry_on: None,
            retry_ignore_previous_hosts: None,
        }
    }
}

/// Faults injected into a route's requests.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpFault {
    /// Delay before forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    /// Answer without forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
}

/// Injected delay.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelay {
    /// The delay.
    pub fixed_delay: String,
    /// Share of requests delayed.
    pub percentage: Percentage,
}

/// Injected abort.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbort {
    /// Status answered.
    pub http_status: u16,
    /// Share of requests aborted.
    pub percentage: Percentage,
}

/// A percentage, 0 to 100.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentage {
    /// The value.
    pub value: f64,
}

/// `DestinationRule`: client-side policy of calls to a service.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    /// Service name.
    pub host: String,
    /// The policy.
    pub traffic_policy: TrafficPolicy,
    /// Named groups of the service's pods, selected by labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsets: Option<Vec<Subset>>,
}

/// A named group of a service's pods.
#[derive(Debug, Clone, Serialize)]
pub struct Subset {
    /// Name, which a route's destination names.
    pub name: String,
    /// Labels the pods carry.
    pub labels: BTreeMap<String, String>,
}

impl Resource for DestinationRuleSpec {
    const API_VERSION: &'static str = "networking.istio.io/v1";
    const KIND: &'static str = "DestinationRule";
}

/// TLS, connection pool and outlier detection.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// Client TLS.
    pub tls: ClientTls,
    /// Connection limits.
    pub connection_pool: ConnectionPool,
    /// Ejection of failing endpoints.
    pub outlier_detection: OutlierDetection,
}

/// Client TLS settings.
#[derive(Debug, Clone, Serialize)]
pub struct ClientTls {
    /// The mode.
    pub mode: ClientTlsMode,
}

/// Client TLS mode.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    /// Mutual TLS with the mesh's certificates.
    IstioMutual,
}

/// Connection pool limits.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionPool {
    /// TCP limits.
    pub tcp: TcpPool,
    /// HTTP limits.
    pub http: HttpPool,
}

/// TCP limits.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpPool {
    /// Most connections to the destination, per client.
    pub max_connections: u32,
}

/// HTTP limits.
#[derive(Debug, Clone, Serialize)]
pub struct HttpPool {
    /// Most requests queued waiting for a connection.
    #[serde(rename = "http1MaxPendingRequests")]
    pub http1_max_pending_requests: u32,
    /// Requests per connection; 0 means unlimited.
    #[serde(rename = "maxRequestsPerConnection")]
    pub max_requests_per_connection: u32,
}

/// Outlier detection: the circuit breaker.
#[derive(Debug, Clone, Serialize)]
pub struct OutlierDetection {
    /// Consecutive 5xx answers that eject an endpoint.
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: u32,
    /// Time between ejection sweeps.
    pub interval: String,
    /// Minimum ejection time.
    #[serde(rename = "baseEjectionTime")]
    pub base_ejection_time: String,
    /// Most endpoints ejected at once, in percent.
    #[serde(rename = "maxEjectionPercent")]
    pub max_ejection_percent: u32,
}

/// Workloads a policy applies to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// Pod labels.
    pub match_labels: BTreeMap<String, String>,
}

/// `PeerAuthentication`: which mTLS mode inbound connections need.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthenticationSpec {
    /// Workloads it applies to; absent means the whole namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// Mode of every port.
    pub mtls: Mtls,
    /// Modes of single ports (needs a selector), keyed by port number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_level_mtls: Option<BTreeMap<String, Mtls>>,
}

impl Resource for PeerAuthenticationSpec {
    const API_VERSION: &'static str = "security.istio.io/v1";
    const KIND: &'static str = "PeerAuthentication";
}

/// An mTLS mode.
#[derive(Debug, Clone, Serialize)]
pub struct Mtls {
    /// The mode.
    pub mode: MtlsMode,
}

/// Inbound mTLS mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// mTLS only.
    Strict,
    /// mTLS and plaintext.
    Permissive,
}

/// `AuthorizationPolicy`. With no field set it is the namespace's allow-nothing policy.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicySpec {
    /// Workloads it applies to; absent means the whole namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// What a matching rule does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// Rules, any of which matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
}

impl Resource for AuthorizationPolicySpec {
    const API_VERSION: &'static str = "security.istio.io/v1";
    const KIND: &'static str = "AuthorizationPolicy";
}

/// Authorization action.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Allow matching requests.
    Allow,
}

/// One authorization rule: a source and an operation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rule {
    /// Sources, any of which matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<RuleFrom>>,
    /// Operations, any of which matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<RuleTo>>,
}

/// A rule's source.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFrom {
    /// The source.
    pub source: Source,
}

/// Who calls.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// mTLS identities, `<trust domain>/ns/<namespace>/sa/<service account>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principals: Option<Vec<String>>,
    /// Identities that must not match; `["*"]` matches plaintext peers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_principals: Option<Vec<String>>,
    /// Namespaces of mTLS peers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
}

/// A rule's operation.
#[derive(Debug, Clone, Serialize)]
pub struct RuleTo {
    /// The operation.
    pub operation: Operation,
}

/// What is called.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Operation {
    /// Ports, as strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
    /// HTTP methods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// HTTP paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
}
