//! The environment's own checks (names, cluster, Git source, ingress, images, services,
//! stores, mesh, experiments) and the assembly of the [`Environment`] from every part's
//! checked value. Secrets and SLOs are checked in their own modules, into the same
//! [`Check`].

use std::collections::BTreeSet;

use super::check::{Check, Checked, shown_text};
use super::dns;
use super::images::images;
use super::layers::{BuiltinAt, Layers};
use super::service::{Disruption, Image, Replicas, Resilience, Resources, Retries, Service};
use super::units::{CountOrPercent, Duration, Percent, Quantity};
use super::{Environment, Experiment, Git, Ingress, Mesh, Monitoring, RetryLayer, Store};
use crate::catalog::{self, ServiceDef};
use crate::defaults;
use crate::spec::{
    ConfigErrors, EnvironmentSpec, Loaded, ResourcesSpec, ServiceSpec, StoreSpec, unknown,
};

/// Most replicas a service may ask for.
const MAX_REPLICAS: u32 = 1000;

/// Longest drain we accept: beyond this a rollout of 10 pods takes the better part of an hour.
const MAX_DRAIN: Duration = Duration::from_millis(10 * 60 * 1000);

pub(super) fn environment(loaded: &Loaded) -> Result<Environment, ConfigErrors> {
    let mut c = Check::new(loaded);
    let built = assemble(&mut c);
    c.finish(built)
}

/// Runs every check, then builds the environment from the parts' values. The `?`s come
/// last, so one failed part never keeps the next from being checked.
fn assemble(c: &mut Check) -> Checked<Environment> {
    let loaded = c.loaded();
    let spec = &loaded.spec;

    if !dns::is_label(&spec.name) {
        c.error(
            "name",
            format!("`{}` is not a valid name: {}", spec.name, dns::LABEL_RULE),
        );
    } else if let Some(stem) = loaded.file.file_stem().and_then(|s| s.to_str())
        && stem != spec.name
    {
        c.error(
            "name",
            format!("`{}` does not match the file name `{stem}.yaml`", spec.name),
        );
    }
    if !dns::is_label(&spec.namespace) {
        c.error(
            "namespace",
            format!(
                "`{}` is not a valid namespace: {}",
                spec.namespace,
                dns::LABEL_RULE
            ),
        );
    }

    let overrides = spec.services.clone().unwrap_or_default();
    for name in overrides.keys() {
        if catalog::service(name).is_none() {
            c.error(&format!("services.{name}"), unknown_service(name));
        }
    }

    let images = images(c, spec);
    let builtin = defaults::service();
    let services: Vec<Checked<Service>> = catalog::SERVICES
        .iter()
        .map(|def| {
            let layers = Layers::of(
                "",
                def.name,
                &overrides,
                spec.defaults.as_ref(),
                &builtin,
                BuiltinAt::Field,
            );
            let image = images
                .as_ref()
                .map(|(registry, tag, digests)| Image {
                    repository: format!("{registry}/{}", def.name),
                    tag: tag.clone(),
                    digest: digests.get(def.name).cloned(),
                })
                .map_err(|reported| *reported);
            service(c, def, &layers, image)
        })
        .collect();
    let timeout_key = |name: &str| {
        Layers::of(
            "",
            name,
            &overrides,
            spec.defaults.as_ref(),
            &builtin,
            BuiltinAt::Field,
        )
        .get("resilience.timeout", |s| {
            s.resilience.as_ref()?.timeout.as_ref()
        })
        .map(|(_, key): (String, String)| key)
        // A built-in value has no line: point at where the fix goes.
        .filter(|key| key.starts_with("services.") || key.starts_with("defaults."))
        .unwrap_or_else(|| format!("services.{name}.resilience.timeout"))
    };
    timeout_order(c, &services, timeout_key);

    let mesh = mesh(c, spec);
    let digest_of = |name: &str| {
        images
            .as_ref()
            .ok()
            .and_then(|(_, _, d)| d.get(name).cloned())
    };
    let store_image = |repository: &str, tag: &str, name: &str| Image {
        repository: repository.into(),
        tag: tag.into(),
        digest: digest_of(name),
    };
    let mysql = store(
        c,
        spec.data.as_ref().and_then(|d| d.mysql.as_ref()),
        "data.mysql",
        defaults::MYSQL_STORAGE,
        store_image(catalog::MYSQL_IMAGE, catalog::MYSQL_TAG, catalog::MYSQL),
    );
    let redis = store(
        c,
        spec.data.as_ref().and_then(|d| d.redis.as_ref()),
        "data.redis",
        defaults::REDIS_STORAGE,
        store_image(catalog::REDIS_IMAGE, catalog::REDIS_TAG, catalog::REDIS),
    );
    let slo_check_image = images
        .as_ref()
        .map(|(registry, tag, _)| Image {
            repository: format!("{registry}/{}", crate::conventions::SLO_CHECK),
            tag: tag.clone(),
            digest: digest_of(crate::conventions::SLO_CHECK),
        })
        .map_err(|reported| *reported);
    let experiments = experiments(c, spec);
    let secrets = super::secrets::validate(c);
    let slos = super::slo::validate(c);

    let git = spec.git.clone().unwrap_or_default();
    let ingress = spec.ingress.clone().unwrap_or_default();
    let monitoring = spec.monitoring.clone().unwrap_or_default();
    if let Some(ns) = &monitoring.namespace
        && !dns::is_label(ns)
    {
        c.error(
            "monitoring.namespace",
            format!("`{ns}` is not a valid namespace: {}", dns::LABEL_RULE),
        );
    }

    let cluster = spec
        .cluster
        .clone()
        .unwrap_or_else(|| defaults::CLUSTER.into());
    if !is_api_server_url(&cluster) {
        c.error(
            "cluster",
            format!(
                "{} is not an API server URL: expected e.g. `{}`",
                shown_text(&cluster),
                defaults::CLUSTER
            ),
        );
    }
    git_source(c, &git);
    // The default host is made from a valid name (or the name is reported already).
    let host = ingress_host(spec);
    if ingress.host.is_some() && !dns::is_subdomain(&host) {
        c.error(
            "ingress.host",
            format!(
                "{} is not a host name: {}",
                shown_text(&host),
                dns::SUBDOMAIN_RULE
            ),
        );
    }
    if let Some(credential) = &ingress.tls_credential
        && !dns::is_subdomain(credential)
    {
        c.error(
            "ingress.tls_credential",
            format!(
                "{} cannot be a Secret name: {}",
                shown_text(credential),
                dns::SUBDOMAIN_RULE
            ),
        );
    }

    let warnings = c.take_warnings();
    Ok(Environment {
        name: spec.name.clone(),
        namespace: spec.namespace.clone(),
        cluster,
        git: Git {
            repo: git.repo.unwrap_or_else(|| defaults::GIT_REPO.into()),
            revision: git
                .revision
                .unwrap_or_else(|| defaults::GIT_REVISION.into()),
            path: git.path.unwrap_or_else(|| defaults::GIT_PATH.into()),
        },
        automated_sync: spec.sync.as_ref().and_then(|s| s.automated).unwrap_or(true),
        ingress: Ingress {
            host,
            tls_credential: ingress
                .tls_credential
                .unwrap_or_else(|| format!("{}-tls", spec.namespace)),
        },
        mesh: mesh?,
        services: services.into_iter().collect::<Checked<_>>()?,
        mysql: mysql?,
        redis: redis?,
        monitoring: Monitoring {
            namespace: monitoring
                .namespace
                .unwrap_or_else(|| defaults::MONITORING_NAMESPACE.into()),
            prometheus_url: monitoring
                .prometheus_url
                .unwrap_or_else(|| defaults::PROMETHEUS_URL.into()),
            grafana_folder: monitoring
                .grafana_folder
                .unwrap_or_else(|| defaults::GRAFANA_FOLDER.into()),
        },
        experiments,
        secrets: secrets?,
        slo_check_image: slo_check_image?,
        slos: slos?,
        warnings,
        _validated: (),
    })
}

/// Warns where a service's route timeout is shorter than that of a service it calls:
/// its callers' sidecars give up on it while it still waits, so a slow answer it then
/// gets reaches nobody (and a keyed checkout is made, but reported as failed).
fn timeout_order(c: &mut Check, services: &[Checked<Service>], key_of: impl Fn(&str) -> String) {
    let built: Vec<&Service> = services.iter().filter_map(|s| s.as_ref().ok()).collect();
    for caller in &built {
        let timeout = caller.resilience.timeout;
        let slower: Vec<String> = caller
            .def
            .calls
            .iter()
            .filter_map(|name| built.iter().find(|s| s.name() == *name))
            .filter(|callee| callee.resilience.timeout > timeout)
            .map(|callee| format!("{} ({})", callee.name(), callee.resilience.timeout))
            .collect();
        if !slower.is_empty() {
            let name = caller.name();
            c.warn(
                &key_of(name),
                format!(
                    "{name}'s route timeout {timeout} is shorter than that of {}, which it \
                     waits on: its callers give up while it still waits; give {name} a \
                     longer timeout",
                    slower.join(", ")
                ),
            );
        }
    }
}

/// The host the frontend answers on: the file's, or one made from the environment's name.
pub(crate) fn ingress_host(spec: &EnvironmentSpec) -> String {
    spec.ingress
        .as_ref()
        .and_then(|i| i.host.clone())
        .unwrap_or_else(|| format!("{}.shop.example.com", spec.name))
}

/// Argo CD's destination: an `https://` (or `http://`) URL with a host and no spaces.
fn is_api_server_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && !r.chars().any(|ch| ch.is_whitespace() || ch.is_control())
    })
}

/// Where Argo CD reads the rendered tree: a repository, a revision, a relative folder.
fn git_source(c: &mut Check, git: &crate::spec::GitSpec) {
    let blank = |v: &str| v.is_empty() || v.chars().any(|ch| ch.is_whitespace() || ch.is_control());
    if let Some(repo) = &git.repo
        && blank(repo)
    {
        c.error(
            "git.repo",
            format!(
                "{} is not a repository URL: expected e.g. `{}`",
                shown_text(repo),
                defaults::GIT_REPO
            ),
        );
    }
    if let Some(revision) = &git.revision
        && blank(revision)
    {
        c.error(
            "git.revision",
            format!("{} is not a branch, tag or commit", shown_text(revision)),
        );
    }
    if let Some(path) = &git.path
        && (blank(path) || path.starts_with('/') || path.split('/').any(|part| part == ".."))
    {
        c.error(
            "git.path",
            format!(
                "{} is not a folder inside the repository: expected a relative path such as `{}`",
                shown_text(path),
                defaults::GIT_PATH
            ),
        );
    }
}

/// Names of production environments, which never run fault injection.
pub const PRODUCTION: [&str; 2] = ["prod", "production"];

fn unknown_service(name: &str) -> String {
    unknown("service", name, &catalog::names())
}

type ServiceLayers<'a> = Layers<'a, ServiceSpec>;

/// A service's effective settings; `image` is an `Err` when the image settings were
/// invalid (already reported), so that the service's own checks still run.
fn service(
    c: &mut Check,
    def: &'static ServiceDef,
    layers: &ServiceLayers,
    image: Checked<Image>,
) -> Checked<Service> {
    let mark = c.mark();
    let name = def.name;

    let (min, min_key) = layers.must(c, "replicas.min", |s| s.replicas.as_ref()?.min.as_ref())?;
    let (max, max_key) = layers.must(c, "replicas.max", |s| s.replicas.as_ref()?.max.as_ref())?;
    if min < 1 {
        c.error(&min_key, "must be at least 1");
    }
    if max > MAX_REPLICAS {
        c.error(
            &max_key,
            format!("must be at most {MAX_REPLICAS} (got {max})"),
        );
    }
    if max < min {
        c.error(
            &max_key,
            format!("must be ≥ replicas.min ({min}) for {name}"),
        );
    }
    let replicas = Replicas { min, max };

    let cpu_target = layers.must(c, "cpu_target", |s| s.cpu_target.as_ref())?;
    let cpu_target = c.parse(&cpu_target, Percent::parse).and_then(|p| {
        if p.micro() == 0 {
            Err(c.error(&cpu_target.1, "must be above 0%"))
        } else if !p.is_whole() {
            Err(c.error(
                &cpu_target.1,
                format!("{p} is not a whole percentage: the autoscaler takes whole percents"),
            ))
        } else {
            Ok(p)
        }
    });

    let resources = resources(
        c,
        &|key, f| layers.get(key, |s| f(s.resources.as_ref()?)),
        name,
    );
    if let Ok(resources) = &resources
        && replicas.autoscaled()
        && resources.cpu.is_none()
    {
        let (_, cpu_key) =
            layers.must(c, "resources.cpu", |s| s.resources.as_ref()?.cpu.as_ref())?;
        c.error(
            &cpu_key,
            format!(
                "{name} autoscales on CPU (replicas {min}..{max}), which needs a CPU request; \
                 set one, or make replicas.min equal replicas.max"
            ),
        );
    }

    let surge = layers.must(c, "rollout.max_surge", |s| {
        s.rollout.as_ref()?.max_surge.as_ref()
    })?;
    let max_surge = c.parse(&surge, CountOrPercent::parse).and_then(|v| {
        if matches!(v, CountOrPercent::Count(0) | CountOrPercent::Percent(0)) {
            Err(c.error(
                &surge.1,
                "must be above 0: with maxUnavailable 0, a rollout could never start a new pod",
            ))
        } else {
            Ok(v)
        }
    });

    let drain = layers.must(c, "drain", |s| s.drain.as_ref())?;
    let drain = c.parse(&drain, Duration::parse).and_then(|d| {
        if d > MAX_DRAIN {
            Err(c.error(&drain.1, format!("must be at most {MAX_DRAIN}")))
        } else {
            Ok(d)
        }
    });

    let disruption = disruption(c, layers, replicas, name);

    let (log_level, log_key) = layers.must(c, "log_level", |s| s.log_level.as_ref())?;
    if log_level.trim().is_empty() {
        c.error(&log_key, "must not be empty");
    }

    let resilience = resilience(c, layers);

    c.clean_since(mark)?;
    Ok(Service {
        def,
        image: image?,
        replicas,
        cpu_target: cpu_target?,
        resources: resources?,
        max_surge: max_surge?,
        drain: drain?,
        disruption: disruption?,
        log_level,
        resilience: resilience?,
    })
}

type FieldLookup<'a> =
    dyn Fn(&str, &dyn Fn(&ResourcesSpec) -> Option<&String>) -> Option<(String, String)> + 'a;

/// A quantity and the key that set it; `None` when no layer sets it.
type Found = Option<(Quantity, String)>;

/// Requests and limits, limits derived from requests where not given.
fn resources(c: &mut Check, get: &FieldLookup, owner: &str) -> Checked<Resources> {
    let mark = c.mark();
    let request = |c: &mut Check, key: &str, f: &dyn Fn(&ResourcesSpec) -> Option<&String>| {
        let key = format!("resources.{key}");
        match get(&key, f) {
            None => Ok((None, key)),
            Some(found) => c
                .parse(&found, Quantity::parse)
                .map(|q| (Some((q, found.1)), key)),
        }
    };
    // A request every container needs, whichever layer sets it.
    let required = |c: &mut Check, found: Checked<(Found, String)>| {
        let (found, key) = found?;
        found.ok_or_else(|| c.error(&key, "is not set and has no built-in default: set it"))
    };
    let cpu = request(c, "cpu", &|r| r.cpu.as_ref());
    let memory = request(c, "memory", &|r| r.memory.as_ref());
    let memory = required(c, memory);
    let ephemeral = request(c, "ephemeral_storage", &|r| r.ephemeral_storage.as_ref());
    let ephemeral = required(c, ephemeral);
    let cpu_limit = request(c, "limits.cpu", &|r| r.limits.as_ref()?.cpu.as_ref());
    let memory_limit = request(c, "limits.memory", &|r| r.limits.as_ref()?.memory.as_ref());
    let ephemeral_limit = request(c, "limits.ephemeral_storage", &|r| {
        r.limits.as_ref()?.ephemeral_storage.as_ref()
    });
    let optional =
        |found: &Checked<(Found, String)>| found.as_ref().ok().and_then(|(found, _)| found.clone());

    for (quantity, key) in [
        memory.as_ref().ok().cloned(),
        ephemeral.as_ref().ok().cloned(),
        optional(&memory_limit),
        optional(&ephemeral_limit),
    ]
    .iter()
    .flatten()
    {
        whole_bytes(c, quantity, key);
    }
    c.clean_since(mark)?;
    let (memory, memory_key) = memory?;
    let (ephemeral, _) = ephemeral?;
    let (cpu, cpu_limit, memory_limit, ephemeral_limit) =
        (cpu?.0, cpu_limit?.0, memory_limit?.0, ephemeral_limit?.0);
    if memory.is_zero() {
        c.error(
            &memory_key,
            format!("{owner} needs a memory request above 0"),
        );
    }
    let cpu = cpu.map(|(q, _)| q).filter(|q| !q.is_zero());
    let cpu_limit = match cpu_limit {
        Some((limit, key)) => {
            if let Some(cpu) = &cpu
                && limit.milli() < cpu.milli()
            {
                c.error(&key, format!("must be ≥ the CPU request ({cpu})"));
            }
            Some(limit)
        }
        // Room to burst at start-up and under spikes without letting one pod starve a node.
        None => cpu.as_ref().map(|cpu| cpu.times(4)),
    };
    let mut at_least = |limit: Found, request: &Quantity, what: &str| match limit {
        Some((limit, key)) => {
            if limit.milli() < request.milli() {
                c.error(&key, format!("must be ≥ the {what} request ({request})"));
            }
            limit
        }
        // Memory is not compressible: a limit above the request only moves the OOM kill
        // from the container to a random neighbour.
        None => request.clone(),
    };
    let memory_limit = at_least(memory_limit, &memory, "memory");
    let ephemeral_storage_limit = at_least(ephemeral_limit, &ephemeral, "ephemeral storage");
    Ok(Resources {
        cpu,
        memory,
        ephemeral_storage: ephemeral,
        cpu_limit,
        memory_limit,
        ephemeral_storage_limit,
    })
}

fn disruption(
    c: &mut Check,
    layers: &ServiceLayers,
    replicas: Replicas,
    name: &str,
) -> Checked<Disruption> {
    // The most specific `disruption` table wins as a whole: mixing min_available from one
    // layer with max_unavailable from another would make a PDB nobody wrote.
    let (table, key) = layers.must(c, "disruption", |s| s.disruption.as_ref())?;
    match (table.min_available, table.max_unavailable) {
        (Some(_), Some(_)) => Err(c.error(&key, "set min_available or max_unavailable, not both")),
        (Some(min_available), None) => {
            if min_available >= replicas.min {
                Err(c.error(
                    &format!("{key}.min_available"),
                    format!(
                        "{min_available} would block every node drain: {name} can run as few as \
                         {} replicas (replicas.min), so min_available must be below that",
                        replicas.min
                    ),
                ))
            } else {
                Ok(Disruption::MinAvailable(min_available))
            }
        }
        (None, Some(0)) => Err(c.error(
            &format!("{key}.max_unavailable"),
            "0 would block every node drain; use at least 1",
        )),
        (None, Some(n)) => Ok(Disruption::MaxUnavailable(n)),
        (None, None) => Ok(Disruption::MaxUnavailable(1)),
    }
}

fn resilience(c: &mut Check, layers: &ServiceLayers) -> Checked<Resilience> {
    fn r(s: &ServiceSpec) -> Option<&crate::spec::ResilienceSpec> {
        s.resilience.as_ref()
    }
    fn cb(s: &ServiceSpec) -> Option<&crate::spec::CircuitBreakerSpec> {
        r(s)?.circuit_breaker.as_ref()
    }
    fn pool(s: &ServiceSpec) -> Option<&crate::spec::ConnectionPoolSpec> {
        r(s)?.connection_pool.as_ref()
    }
    let timeout = layers.must(c, "resilience.timeout", |s| r(s)?.timeout.as_ref())?;
    let timeout_key = timeout.1.clone();
    let timeout = positive(c, &timeout);
    let (attempts, attempts_key) = layers.must(c, "resilience.retries.attempts", |s| {
        r(s)?.retries.as_ref()?.attempts.as_ref()
    })?;
    let per_try = layers.must(c, "resilience.retries.per_try_timeout", |s| {
        r(s)?.retries.as_ref()?.per_try_timeout.as_ref()
    })?;
    let per_try_key = per_try.1.clone();
    let per_try = positive(c, &per_try);
    let (retry_on, retry_on_key) = layers.must(c, "resilience.retries.retry_on", |s| {
        r(s)?.retries.as_ref()?.retry_on.as_ref()
    })?;
    if let Some(problem) = retry_on_problem(&retry_on) {
        c.error(&retry_on_key, problem);
    }
    if attempts > 10 {
        c.error(
            &attempts_key,
            "must be at most 10: every retry multiplies the load on a struggling service",
        );
    }
    if let (Ok(timeout), Ok(per_try)) = (timeout, per_try)
        && attempts > 0
    {
        // `attempts` counts retries: the first try comes on top.
        let total = per_try.millis().saturating_mul(u64::from(attempts) + 1);
        if total > timeout.millis() {
            // Blame the most specific of the three values the file sets (a service's own
            // before `defaults`, before the built-in defaults, which have no line), so the
            // error points at what the user wrote; on a tie, the per-try timeout.
            let rank = |key: &String| {
                if key.starts_with("services.") {
                    2
                } else if key.starts_with("defaults.") {
                    1
                } else {
                    0
                }
            };
            let key = [&per_try_key, &attempts_key, &timeout_key]
                .into_iter()
                .rev()
                .max_by_key(|k| rank(k))
                .cloned()
                .unwrap_or_else(|| per_try_key.clone());
            c.error(
                &key,
                format!(
                    "the first try and {attempts} retries of {per_try} each ({}) do not fit in \
                     the route timeout of {timeout}",
                    Duration::from_millis(total)
                ),
            );
        }
    }
    let (consecutive_5xx, key_5xx) =
        layers.must(c, "resilience.circuit_breaker.consecutive_5xx", |s| {
            cb(s)?.consecutive_5xx.as_ref()
        })?;
    if consecutive_5xx == 0 {
        c.error(&key_5xx, "must be at least 1");
    }
    let interval = layers.must(c, "resilience.circuit_breaker.interval", |s| {
        cb(s)?.interval.as_ref()
    })?;
    let interval = positive(c, &interval);
    let ejection = layers.must(c, "resilience.circuit_breaker.ejection", |s| {
        cb(s)?.ejection.as_ref()
    })?;
    let ejection = positive(c, &ejection);
    let max_ejected = layers.must(c, "resilience.circuit_breaker.max_ejected", |s| {
        cb(s)?.max_ejected.as_ref()
    })?;
    let max_ejected = c.parse(&max_ejected, Percent::parse).and_then(|p| {
        if p.is_whole() {
            Ok(p)
        } else {
            Err(c.error(
                &max_ejected.1,
                format!("{p} is not a whole percentage: Istio takes whole percents"),
            ))
        }
    });
    let (max_connections, key_conn) =
        layers.must(c, "resilience.connection_pool.max_connections", |s| {
            pool(s)?.max_connections.as_ref()
        })?;
    let (max_pending, key_pending) =
        layers.must(c, "resilience.connection_pool.max_pending", |s| {
            pool(s)?.max_pending.as_ref()
        })?;
    let (max_requests_per_connection, _) = layers.must(
        c,
        "resilience.connection_pool.max_requests_per_connection",
        |s| pool(s)?.max_requests_per_connection.as_ref(),
    )?;
    if max_connections == 0 {
        c.error(&key_conn, "must be at least 1");
    }
    if max_pending == 0 {
        c.error(&key_pending, "must be at least 1");
    }
    Ok(Resilience {
        timeout: timeout?,
        retries: Retries {
            attempts,
            per_try_timeout: per_try?,
            retry_on,
        },
        consecutive_5xx,
        interval: interval?,
        ejection: ejection?,
        max_ejected: max_ejected?,
        max_connections,
        max_pending,
        max_requests_per_connection,
    })
}

/// A duration Istio accepts: at least 1ms (durations here are whole milliseconds).
fn positive(c: &mut Check, value: &(String, String)) -> Checked<Duration> {
    let duration = c.parse(value, Duration::parse)?;
    if duration.millis() == 0 {
        return Err(c.error(
            &value.1,
            "must be above 0: Istio refuses durations under 1ms",
        ));
    }
    Ok(duration)
}

/// Retry conditions Istio accepts in `retryOn`: Envoy's HTTP and gRPC conditions, or an
/// HTTP status code.
const RETRY_CONDITIONS: [&str; 16] = [
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

fn retry_on_problem(retry_on: &str) -> Option<String> {
    if retry_on.is_empty() {
        return Some(format!(
            "must name at least one condition, e.g. `{}`",
            defaults::RETRY_ON
        ));
    }
    for condition in retry_on.split(',') {
        let status = condition
            .parse::<u16>()
            .is_ok_and(|code| (100..=599).contains(&code));
        if condition.trim() != condition {
            return Some(format!(
                "`{condition}` has a space: conditions are separated by ',' alone, e.g. `{}`",
                defaults::RETRY_ON
            ));
        }
        if !status && !RETRY_CONDITIONS.contains(&condition) {
            let hint = match crate::spec::did_you_mean(condition, &RETRY_CONDITIONS) {
                Some(best) => format!(", did you mean `{best}`?"),
                None => format!(
                    ": expected {}, or an HTTP status code",
                    RETRY_CONDITIONS.join(", ")
                ),
            };
            return Some(format!(
                "`{condition}` is not a retry condition Istio knows{hint}"
            ));
        }
    }
    None
}

fn mesh(c: &mut Check, spec: &EnvironmentSpec) -> Checked<Mesh> {
    let mesh = spec.mesh.clone().unwrap_or_default();
    let strict_mtls = match mesh.mtls.as_deref().unwrap_or("strict") {
        "strict" => Ok(true),
        "permissive" => Ok(false),
        other => Err(c.error(
            "mesh.mtls",
            format!("`{other}` is not a mode: expected `strict` or `permissive`"),
        )),
    };
    let retries_in = match mesh.retries_in.as_deref().unwrap_or("mesh") {
        "mesh" => Ok(RetryLayer::Mesh),
        "app" => Ok(RetryLayer::App),
        other => Err(c.error(
            "mesh.retries_in",
            format!("`{other}` is not a layer: expected `mesh` or `app`"),
        )),
    };
    Ok(Mesh {
        strict_mtls: strict_mtls?,
        retries_in: retries_in?,
    })
}

fn store(
    c: &mut Check,
    spec: Option<&StoreSpec>,
    key: &str,
    default_storage: &str,
    image: Image,
) -> Checked<Store> {
    let spec = spec.cloned().unwrap_or_default();
    let storage = spec.storage.unwrap_or_else(|| default_storage.into());
    let storage_key = format!("{key}.storage");
    let storage = c
        .parse(&(storage, storage_key.clone()), Quantity::parse)
        .and_then(|q| {
            let mark = c.mark();
            whole_bytes(c, &q, &storage_key);
            if q.is_zero() {
                c.error(&storage_key, "must be above 0: a volume needs a size");
            }
            c.clean_since(mark).map(|()| q)
        });
    // The stores get a fixed, modest footprint unless the environment says otherwise.
    let base = ResourcesSpec {
        cpu: Some("250m".into()),
        memory: Some("512Mi".into()),
        ephemeral_storage: Some("256Mi".into()),
        limits: None,
    };
    let own = spec.resources.clone();
    let prefix = format!("{key}.resources");
    let lookup = |field: &str, f: &dyn Fn(&ResourcesSpec) -> Option<&String>| {
        let sub = field.trim_start_matches("resources.");
        own.as_ref()
            .and_then(|r| f(r).map(|v| (v.clone(), format!("{prefix}.{sub}"))))
            .or_else(|| f(&base).map(|v| (v.clone(), format!("{prefix}.{sub}"))))
    };
    let resources = resources(c, &lookup, key);
    if let Some(class) = &spec.storage_class
        && !dns::is_subdomain(class)
    {
        c.error(
            &format!("{key}.storage_class"),
            format!("`{class}` is not a valid StorageClass name"),
        );
    }
    Ok(Store {
        image,
        storage: storage?,
        storage_class: spec.storage_class,
        resources: resources?,
    })
}

/// Refuses a byte count with a fraction: `384m` is 0.384 bytes, surely not what was meant.
fn whole_bytes(c: &mut Check, quantity: &Quantity, key: &str) {
    if quantity.milli() % 1000 != 0 {
        let text = quantity.as_str();
        let hint = match text.strip_suffix('m') {
            Some(number) => format!("; did you mean `{number}Mi`?"),
            None => String::new(),
        };
        c.error(
            key,
            format!("`{text}` is a fraction of a byte: sizes are whole bytes{hint}"),
        );
    }
}

/// A number as the user probably wrote it, without hundreds of digits for `1e308`.
fn shown(p: f64) -> String {
    if p.abs() < 1e6 {
        format!("{p}")
    } else {
        format!("{p:e}")
    }
}

fn experiments(c: &mut Check, spec: &EnvironmentSpec) -> Vec<Experiment> {
    let chaos = spec.chaos.clone().unwrap_or_default();
    let allowed = chaos.allowed.unwrap_or(false);
    // Production never injects faults; staging, which pages like production, is where
    // experiments run.
    let production = PRODUCTION.contains(&spec.name.as_str());
    if production && allowed {
        c.error(
            "chaos.allowed",
            format!(
                "{} never allows fault injection: run experiments in staging, or set \
                 chaos.allowed: false",
                spec.name
            ),
        );
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, e) in chaos
        .experiments
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let key = format!("chaos.experiments[{i}]");
        let mark = c.mark();
        if production {
            c.error(
                &key,
                format!(
                    "{} never runs fault injection: move `{}` to staging",
                    spec.name, e.name
                ),
            );
        } else if !allowed {
            c.error(
                &key,
                format!(
                    "fault injection is not allowed in {}: set chaos.allowed: true to run `{}`",
                    spec.name, e.name
                ),
            );
        }
        if !dns::is_label(&e.name) {
            c.error(
                &format!("{key}.name"),
                format!("`{}` is not a valid name: {}", e.name, dns::LABEL_RULE),
            );
        } else if !names.insert(e.name.clone()) {
            c.error(
                &format!("{key}.name"),
                format!("a second experiment is named `{}`", e.name),
            );
        }
        if catalog::service(&e.service).is_none() {
            c.error(&format!("{key}.service"), unknown_service(&e.service));
        }
        if let Some(route) = &e.route
            && !route.starts_with('/')
        {
            c.error(
                &format!("{key}.route"),
                format!("`{route}` must start with `/`"),
            );
        }
        if e.delay.is_none() && e.abort.is_none() {
            c.error(&key, "an experiment needs a delay, an abort, or both");
        }
        let percent = |c: &mut Check, p: f64, at: String| {
            if !(p > 0.0 && p <= 100.0) {
                Err(c.error(
                    &at,
                    format!(
                        "{} is not a share of requests: expected more than 0 and at most 100",
                        shown(p)
                    ),
                ))
            } else {
                Percent::parse(&format!("{p}")).map_err(|m| c.error(&at, m))
            }
        };
        let delay = e.delay.as_ref().map(|d| -> Checked<(Duration, Percent)> {
            let fixed = positive(c, &(d.fixed.clone(), format!("{key}.delay.fixed")));
            let p = percent(c, d.percent, format!("{key}.delay.percent"));
            Ok((fixed?, p?))
        });
        let abort = e.abort.as_ref().map(|a| -> Checked<(u16, Percent)> {
            if !(200..=599).contains(&a.status) {
                c.error(
                    &format!("{key}.abort.status"),
                    format!("{} is not an HTTP status", a.status),
                );
            }
            let p = percent(c, a.percent, format!("{key}.abort.percent"));
            Ok((a.status, p?))
        });
        if let (Ok(delay), Ok(abort)) = (delay.transpose(), abort.transpose())
            && c.clean_since(mark).is_ok()
        {
            out.push(Experiment {
                name: e.name,
                service: e.service,
                route: e.route,
                delay,
                abort,
            });
        }
    }
    out
}
