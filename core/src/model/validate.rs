//! Every semantic check of an environment file. Checks never stop at the first problem:
//! each one records its error against the key that holds the bad value and goes on, so a
//! user fixes a file in one round.

use std::collections::BTreeSet;

use super::service::{Disruption, Image, Replicas, Resilience, Resources, Retries, Service};
use super::units::{CountOrPercent, Duration, Percent, Quantity};
use super::{Environment, Experiment, Git, Ingress, Mesh, Monitoring, RetryLayer, Store};
use crate::catalog::{self, ServiceDef};
use crate::defaults;
use crate::spec::{
    ConfigError, ConfigErrors, EnvironmentSpec, Loaded, ResourcesSpec, ServiceSpec, StoreSpec,
};

/// Longest DNS-1123 label, the limit for namespaces and object names.
pub const DNS_LABEL_MAX: usize = 63;

/// Most replicas a service may ask for.
const MAX_REPLICAS: u32 = 1000;

/// Longest drain we accept: beyond this a rollout of 10 pods takes the better part of an hour.
const MAX_DRAIN: Duration = Duration::from_millis(10 * 60 * 1000);

struct Check<'a> {
    loaded: &'a Loaded,
    errors: Vec<ConfigError>,
}

impl Check<'_> {
    fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(self.loaded.error(key, message));
    }

    /// Parses `value` found at `key`, recording the parser's message on failure.
    fn parse<T>(
        &mut self,
        (value, key): &(String, String),
        parser: fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parser(value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(key, message);
                None
            }
        }
    }
}

pub(super) fn environment(loaded: &Loaded) -> Result<Environment, ConfigErrors> {
    let spec = &loaded.spec;
    let mut c = Check {
        loaded,
        errors: Vec::new(),
    };

    if !is_dns_label(&spec.name) {
        c.error(
            "name",
            format!("`{}` is not a valid name: {DNS_RULE}", spec.name),
        );
    } else if let Some(stem) = loaded.file.file_stem().and_then(|s| s.to_str())
        && stem != spec.name
    {
        c.error(
            "name",
            format!("`{}` does not match the file name `{stem}.yaml`", spec.name),
        );
    }
    if !is_dns_label(&spec.namespace) {
        c.error(
            "namespace",
            format!("`{}` is not a valid namespace: {DNS_RULE}", spec.namespace),
        );
    }

    let overrides = spec.services.clone().unwrap_or_default();
    for name in overrides.keys() {
        if catalog::service(name).is_none() {
            c.error(&format!("services.{name}"), unknown_service(name));
        }
    }

    let images = images(&mut c, spec);
    let builtin = defaults::service();
    let mut services = Vec::new();
    for def in catalog::SERVICES {
        let mut layers = Vec::new();
        if let Some(own) = overrides.get(def.name) {
            layers.push((own, format!("services.{}", def.name)));
        }
        if let Some(shared) = &spec.defaults {
            layers.push((shared, "defaults".to_owned()));
        }
        layers.push((&builtin, String::new()));
        let image = images.as_ref().map(|(registry, tag, digests)| Image {
            repository: format!("{registry}/{}", def.name),
            tag: tag.clone(),
            digest: digests.get(def.name).cloned(),
        });
        if let Some(service) = service(&mut c, def, &Layers(layers), image) {
            services.push(service);
        }
    }

    let mesh = mesh(&mut c, spec);
    let digest_of = |name: &str| images.as_ref().and_then(|(_, _, d)| d.get(name).cloned());
    let store_image = |repository: &str, tag: &str, name: &str| Image {
        repository: repository.into(),
        tag: tag.into(),
        digest: digest_of(name),
    };
    let mysql = store(
        &mut c,
        spec.data.as_ref().and_then(|d| d.mysql.as_ref()),
        "data.mysql",
        defaults::MYSQL_STORAGE,
        store_image(catalog::MYSQL_IMAGE, catalog::MYSQL_TAG, catalog::MYSQL),
    );
    let redis = store(
        &mut c,
        spec.data.as_ref().and_then(|d| d.redis.as_ref()),
        "data.redis",
        defaults::REDIS_STORAGE,
        store_image(catalog::REDIS_IMAGE, catalog::REDIS_TAG, catalog::REDIS),
    );
    let slo_check_image = images.as_ref().map(|(registry, tag, _)| Image {
        repository: format!("{registry}/{}", crate::conventions::SLO_CHECK),
        tag: tag.clone(),
        digest: digest_of(crate::conventions::SLO_CHECK),
    });
    let experiments = experiments(&mut c, spec);
    let secrets = super::secrets::validate(loaded, &mut c.errors);
    let slos = match super::slo::validate(loaded) {
        Ok(slos) => Some(slos),
        Err(errors) => {
            c.errors.extend(errors);
            None
        }
    };

    let git = spec.git.clone().unwrap_or_default();
    let ingress = spec.ingress.clone().unwrap_or_default();
    let monitoring = spec.monitoring.clone().unwrap_or_default();
    if let Some(ns) = &monitoring.namespace
        && !is_dns_label(ns)
    {
        c.error(
            "monitoring.namespace",
            format!("`{ns}` is not a valid namespace: {DNS_RULE}"),
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
    git_source(&mut c, &git);
    // The default host is made from a valid name (or the name is reported already).
    let host = ingress_host(spec);
    if ingress.host.is_some() && !is_dns_subdomain(&host) {
        c.error(
            "ingress.host",
            format!(
                "{} is not a host name: use lower-case letters, digits, '-' and '.' (RFC 1123)",
                shown_text(&host)
            ),
        );
    }
    if let Some(credential) = &ingress.tls_credential
        && !is_dns_subdomain(credential)
    {
        c.error(
            "ingress.tls_credential",
            format!(
                "{} cannot be a Secret name: use lower-case letters, digits, '-' and '.' (RFC 1123)",
                shown_text(credential)
            ),
        );
    }

    if !c.errors.is_empty() || !loaded.problems.is_empty() {
        // A check of a placeholder would only repeat the problem the reader found.
        let mut errors: Vec<ConfigError> = c
            .errors
            .into_iter()
            .filter(|e| !loaded.is_placeholder(&e.key))
            .collect();
        errors.extend(loaded.problems.iter().cloned());
        crate::spec::sort_errors(&mut errors);
        return Err(ConfigErrors(errors));
    }
    let (Some(mesh), Some(mysql), Some(redis)) = (mesh, mysql, redis) else {
        unreachable!("every failed check records an error");
    };
    let Some(slo_check_image) = slo_check_image else {
        unreachable!("invalid images record an error");
    };
    let Some(secrets) = secrets else {
        unreachable!("failed secrets checks record an error");
    };
    let Some(slos) = slos else {
        unreachable!("failed SLO checks record an error");
    };
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
        mesh,
        services,
        mysql,
        redis,
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
        secrets,
        slo_check_image,
        slos,
        _validated: (),
    })
}

const DNS_RULE: &str = "use at most 63 lower-case letters, digits and '-', starting and ending \
                        with a letter or digit (RFC 1123)";

/// RFC 1123 label, as Kubernetes requires for namespaces and most names.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= DNS_LABEL_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The host the frontend answers on: the file's, or one made from the environment's name.
pub(crate) fn ingress_host(spec: &EnvironmentSpec) -> String {
    spec.ingress
        .as_ref()
        .and_then(|i| i.host.clone())
        .unwrap_or_else(|| format!("{}.shop.example.com", spec.name))
}

/// A value in a message, empty text included.
fn shown_text(value: &str) -> String {
    if value.is_empty() {
        "an empty value".to_owned()
    } else {
        format!("`{value}`")
    }
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
    let names = catalog::names();
    match crate::spec::did_you_mean(name, &names) {
        Some(best) => format!("unknown service `{name}`, did you mean `{best}`?"),
        None => format!(
            "unknown service `{name}`, expected one of: {}",
            names.join(", ")
        ),
    }
}

type ImageSettings = (String, String, std::collections::BTreeMap<String, String>);

/// Longest image tag the distribution spec allows.
const TAG_MAX: usize = 128;
/// Longest repository name (registry and path) the distribution spec allows.
const REPOSITORY_MAX: usize = 255;

fn images(c: &mut Check, spec: &EnvironmentSpec) -> Option<ImageSettings> {
    let images = spec.images.clone().unwrap_or_default();
    let registry = images.registry.unwrap_or_else(|| defaults::REGISTRY.into());
    let digests = images.digests.unwrap_or_default();
    let mut ok = true;
    if let Some(problem) = registry_problem(&registry) {
        c.error("images.registry", problem);
        ok = false;
    }
    // An absent tag has no default: output must not change with the generator's version,
    // and any fixed tag would silently run code nobody chose.
    let tag = match images.tag {
        Some(tag) => tag,
        None => {
            c.error(
                "images.tag",
                "is required: the version every service runs, e.g. `tag: \"1.4.2\"`",
            );
            ok = false;
            String::new()
        }
    };
    if tag.is_empty() {
        if spec.images.as_ref().is_some_and(|i| i.tag.is_some()) {
            c.error(
                "images.tag",
                "an empty tag is not a version: give the version every service runs",
            );
            ok = false;
        }
    } else if tag == "latest" && !images.allow_mutable_tag.unwrap_or(false) {
        c.error(
            "images.tag",
            "`latest` is mutable, so a rollback or a new node could run different code; \
             use a version tag, or set images.allow_mutable_tag: true",
        );
        ok = false;
    } else if tag.len() > TAG_MAX {
        c.error(
            "images.tag",
            format!(
                "is {} characters long: an image tag has at most {TAG_MAX}",
                tag.len()
            ),
        );
        ok = false;
    } else if !is_tag(&tag) {
        c.error(
            "images.tag",
            format!(
                "`{tag}` is not a valid image tag: use letters, digits, '_', '.' and '-', \
                 starting with a letter, digit or '_'"
            ),
        );
        ok = false;
    }
    let mut names = catalog::names();
    names.extend([
        catalog::MYSQL,
        catalog::REDIS,
        crate::conventions::SLO_CHECK,
    ]);
    for (name, digest) in &digests {
        let key = format!("images.digests.{name}");
        if !names.contains(&name.as_str()) {
            let message = match crate::spec::did_you_mean(name, &names) {
                Some(best) => format!("unknown image `{name}`, did you mean `{best}`?"),
                None => format!(
                    "unknown image `{name}`, expected one of: {}",
                    names.join(", ")
                ),
            };
            c.error(&key, message);
            ok = false;
        } else if !is_digest(digest) {
            c.error(
                &key,
                format!("`{digest}` is not a digest: expected `sha256:` and 64 hex digits"),
            );
            ok = false;
        }
    }
    ok.then_some((registry, tag, digests))
}

/// An image tag as the distribution spec defines it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    tag.len() <= TAG_MAX
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// What is wrong with a registry path, which every image name starts with:
/// `[host[:port]/]path` as the distribution spec defines a repository name.
fn registry_problem(registry: &str) -> Option<String> {
    let expected =
        "expected a registry host and lower-case path such as `ghcr.io/example/kubestore`";
    if let Some((scheme, _)) = registry.split_once("://") {
        return Some(format!(
            "`{registry}` starts with `{scheme}://`: an image name has no scheme; {expected}"
        ));
    }
    // The longest service name must still fit in a repository name.
    let longest = catalog::names()
        .into_iter()
        .chain([
            catalog::MYSQL,
            catalog::REDIS,
            crate::conventions::SLO_CHECK,
        ])
        .map(str::len)
        .max()
        .unwrap_or(0);
    if registry.len() + 1 + longest > REPOSITORY_MAX {
        return Some(format!(
            "is too long: image names are at most {REPOSITORY_MAX} characters"
        ));
    }
    let mut parts = registry.split('/');
    let first = parts.next().unwrap_or_default();
    let is_host = first.contains(['.', ':']) || first == "localhost";
    let valid = if is_host {
        is_registry_host(first) && parts.all(is_path_component)
    } else {
        is_path_component(first) && parts.all(is_path_component)
    };
    (!valid).then(|| {
        format!(
            "{} is not a registry path: {expected}",
            shown_text(registry)
        )
    })
}

/// `host[:port]`: dot-separated labels of letters, digits and inner '-'.
fn is_registry_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    name.split('.').all(label)
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        match &part[start..i] {
            "." | "_" | "__" => {}
            sep if sep.bytes().all(|b| b == b'-') => {}
            _ => return false,
        }
    }
    true
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// The layers a service's settings come from, most specific first: `services.<name>`,
/// `defaults`, then the built-in defaults (whose key prefix is empty).
struct Layers<'a>(Vec<(&'a ServiceSpec, String)>);

impl Layers<'_> {
    /// The most specific value of a field and the key path that set it.
    fn get<T: Clone>(
        &self,
        key: &str,
        field: impl Fn(&ServiceSpec) -> Option<&T>,
    ) -> Option<(T, String)> {
        self.0.iter().find_map(|(spec, prefix)| {
            field(spec).map(|v| {
                let path = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                (v.clone(), path)
            })
        })
    }

    /// Like [`Layers::get`], for fields the built-in defaults always set.
    fn must<T: Clone>(&self, key: &str, field: impl Fn(&ServiceSpec) -> Option<&T>) -> (T, String) {
        self.get(key, field)
            .unwrap_or_else(|| panic!("the built-in defaults set {key}"))
    }
}

/// A service's effective settings; `image` is `None` when the image settings were invalid
/// (already reported), so that the service's own checks still run.
fn service(
    c: &mut Check,
    def: &'static ServiceDef,
    layers: &Layers,
    image: Option<Image>,
) -> Option<Service> {
    let before = c.errors.len();
    let name = def.name;

    let (min, min_key) = layers.must("replicas.min", |s| s.replicas.as_ref()?.min.as_ref());
    let (max, max_key) = layers.must("replicas.max", |s| s.replicas.as_ref()?.max.as_ref());
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

    let cpu_target = layers.must("cpu_target", |s| s.cpu_target.as_ref());
    let cpu_target = c.parse(&cpu_target, Percent::parse).and_then(|p| {
        if p.micro() == 0 {
            c.error(&cpu_target.1, "must be above 0%");
            None
        } else if !p.is_whole() {
            c.error(
                &cpu_target.1,
                format!("{p} is not a whole percentage: the autoscaler takes whole percents"),
            );
            None
        } else {
            Some(p)
        }
    });

    let resources = resources(
        c,
        &|key, f| layers.get(key, |s| f(s.resources.as_ref()?)),
        name,
    );
    if let Some(resources) = &resources
        && replicas.autoscaled()
        && resources.cpu.is_none()
    {
        let (_, cpu_key) = layers.must("resources.cpu", |s| s.resources.as_ref()?.cpu.as_ref());
        c.error(
            &cpu_key,
            format!(
                "{name} autoscales on CPU (replicas {min}..{max}), which needs a CPU request; \
                 set one, or make replicas.min equal replicas.max"
            ),
        );
    }

    let surge = layers.must("rollout.max_surge", |s| {
        s.rollout.as_ref()?.max_surge.as_ref()
    });
    let max_surge = c.parse(&surge, CountOrPercent::parse).and_then(|v| {
        if matches!(v, CountOrPercent::Count(0) | CountOrPercent::Percent(0)) {
            c.error(
                &surge.1,
                "must be above 0: with maxUnavailable 0, a rollout could never start a new pod",
            );
            None
        } else {
            Some(v)
        }
    });

    let drain = layers.must("drain", |s| s.drain.as_ref());
    let drain = c.parse(&drain, Duration::parse).and_then(|d| {
        if d > MAX_DRAIN {
            c.error(&drain.1, format!("must be at most {MAX_DRAIN}"));
            None
        } else {
            Some(d)
        }
    });

    let disruption = disruption(c, layers, replicas, name);

    let (log_level, log_key) = layers.must("log_level", |s| s.log_level.as_ref());
    if log_level.trim().is_empty() {
        c.error(&log_key, "must not be empty");
    }

    let resilience = resilience(c, layers);

    if c.errors.len() > before {
        return None;
    }
    Some(Service {
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

/// Requests and limits, limits derived from requests where not given.
fn resources(c: &mut Check, get: &FieldLookup, owner: &str) -> Option<Resources> {
    let before = c.errors.len();
    let request = |c: &mut Check, key: &str, f: &dyn Fn(&ResourcesSpec) -> Option<&String>| {
        let found = get(&format!("resources.{key}"), f)?;
        c.parse(&found, Quantity::parse).map(|q| (q, found.1))
    };
    let cpu = request(c, "cpu", &|r| r.cpu.as_ref());
    let memory = request(c, "memory", &|r| r.memory.as_ref());
    let ephemeral = request(c, "ephemeral_storage", &|r| r.ephemeral_storage.as_ref());
    let cpu_limit = request(c, "limits.cpu", &|r| r.limits.as_ref()?.cpu.as_ref());
    let memory_limit = request(c, "limits.memory", &|r| r.limits.as_ref()?.memory.as_ref());
    let ephemeral_limit = request(c, "limits.ephemeral_storage", &|r| {
        r.limits.as_ref()?.ephemeral_storage.as_ref()
    });

    for (quantity, key) in [&memory, &ephemeral, &memory_limit, &ephemeral_limit]
        .into_iter()
        .flatten()
    {
        whole_bytes(c, quantity, key);
    }
    if c.errors.len() > before {
        return None;
    }
    let (memory, memory_key) = memory?;
    let (ephemeral, _) = ephemeral?;
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
    let mut at_least =
        |limit: Option<(Quantity, String)>, request: &Quantity, what: &str| match limit {
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
    Some(Resources {
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
    layers: &Layers,
    replicas: Replicas,
    name: &str,
) -> Option<Disruption> {
    // The most specific `disruption` table wins as a whole: mixing min_available from one
    // layer with max_unavailable from another would make a PDB nobody wrote.
    let (table, key) = layers.get("disruption", |s| s.disruption.as_ref())?;
    match (table.min_available, table.max_unavailable) {
        (Some(_), Some(_)) => {
            c.error(&key, "set min_available or max_unavailable, not both");
            None
        }
        (Some(min_available), None) => {
            if min_available >= replicas.min {
                c.error(
                    &format!("{key}.min_available"),
                    format!(
                        "{min_available} would block every node drain: {name} can run as few as \
                         {} replicas (replicas.min), so min_available must be below that",
                        replicas.min
                    ),
                );
                None
            } else {
                Some(Disruption::MinAvailable(min_available))
            }
        }
        (None, Some(0)) => {
            c.error(
                &format!("{key}.max_unavailable"),
                "0 would block every node drain; use at least 1",
            );
            None
        }
        (None, Some(n)) => Some(Disruption::MaxUnavailable(n)),
        (None, None) => Some(Disruption::MaxUnavailable(1)),
    }
}

fn resilience(c: &mut Check, layers: &Layers) -> Option<Resilience> {
    fn r(s: &ServiceSpec) -> Option<&crate::spec::ResilienceSpec> {
        s.resilience.as_ref()
    }
    fn cb(s: &ServiceSpec) -> Option<&crate::spec::CircuitBreakerSpec> {
        r(s)?.circuit_breaker.as_ref()
    }
    fn pool(s: &ServiceSpec) -> Option<&crate::spec::ConnectionPoolSpec> {
        r(s)?.connection_pool.as_ref()
    }
    let timeout = layers.must("resilience.timeout", |s| r(s)?.timeout.as_ref());
    let timeout_key = timeout.1.clone();
    let timeout = positive(c, &timeout);
    let (attempts, attempts_key) = layers.must("resilience.retries.attempts", |s| {
        r(s)?.retries.as_ref()?.attempts.as_ref()
    });
    let per_try = layers.must("resilience.retries.per_try_timeout", |s| {
        r(s)?.retries.as_ref()?.per_try_timeout.as_ref()
    });
    let per_try_key = per_try.1.clone();
    let per_try = positive(c, &per_try);
    let (retry_on, retry_on_key) = layers.must("resilience.retries.retry_on", |s| {
        r(s)?.retries.as_ref()?.retry_on.as_ref()
    });
    if let Some(problem) = retry_on_problem(&retry_on) {
        c.error(&retry_on_key, problem);
    }
    if attempts > 10 {
        c.error(
            &attempts_key,
            "must be at most 10: every retry multiplies the load on a struggling service",
        );
    }
    if let (Some(timeout), Some(per_try)) = (timeout, per_try)
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
    let (consecutive_5xx, key_5xx) = layers
        .must("resilience.circuit_breaker.consecutive_5xx", |s| {
            cb(s)?.consecutive_5xx.as_ref()
        });
    if consecutive_5xx == 0 {
        c.error(&key_5xx, "must be at least 1");
    }
    let interval = layers.must("resilience.circuit_breaker.interval", |s| {
        cb(s)?.interval.as_ref()
    });
    let interval = positive(c, &interval);
    let ejection = layers.must("resilience.circuit_breaker.ejection", |s| {
        cb(s)?.ejection.as_ref()
    });
    let ejection = positive(c, &ejection);
    let max_ejected = layers.must("resilience.circuit_breaker.max_ejected", |s| {
        cb(s)?.max_ejected.as_ref()
    });
    let max_ejected = c.parse(&max_ejected, Percent::parse).and_then(|p| {
        if p.is_whole() {
            Some(p)
        } else {
            c.error(
                &max_ejected.1,
                format!("{p} is not a whole percentage: Istio takes whole percents"),
            );
            None
        }
    });
    let (max_connections, key_conn) = layers
        .must("resilience.connection_pool.max_connections", |s| {
            pool(s)?.max_connections.as_ref()
        });
    let (max_pending, key_pending) = layers.must("resilience.connection_pool.max_pending", |s| {
        pool(s)?.max_pending.as_ref()
    });
    let (max_requests_per_connection, _) = layers.must(
        "resilience.connection_pool.max_requests_per_connection",
        |s| pool(s)?.max_requests_per_connection.as_ref(),
    );
    if max_connections == 0 {
        c.error(&key_conn, "must be at least 1");
    }
    if max_pending == 0 {
        c.error(&key_pending, "must be at least 1");
    }
    Some(Resilience {
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
fn positive(c: &mut Check, value: &(String, String)) -> Option<Duration> {
    let duration = c.parse(value, Duration::parse)?;
    if duration.millis() == 0 {
        c.error(
            &value.1,
            "must be above 0: Istio refuses durations under 1ms",
        );
        return None;
    }
    Some(duration)
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

fn mesh(c: &mut Check, spec: &EnvironmentSpec) -> Option<Mesh> {
    let mesh = spec.mesh.clone().unwrap_or_default();
    let strict_mtls = match mesh.mtls.as_deref().unwrap_or("strict") {
        "strict" => Some(true),
        "permissive" => Some(false),
        other => {
            c.error(
                "mesh.mtls",
                format!("`{other}` is not a mode: expected `strict` or `permissive`"),
            );
            None
        }
    };
    let retries_in = match mesh.retries_in.as_deref().unwrap_or("mesh") {
        "mesh" => Some(RetryLayer::Mesh),
        "app" => Some(RetryLayer::App),
        other => {
            c.error(
                "mesh.retries_in",
                format!("`{other}` is not a layer: expected `mesh` or `app`"),
            );
            None
        }
    };
    Some(Mesh {
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
) -> Option<Store> {
    let spec = spec.cloned().unwrap_or_default();
    let storage = spec.storage.unwrap_or_else(|| default_storage.into());
    let storage_key = format!("{key}.storage");
    let storage = c
        .parse(&(storage, storage_key.clone()), Quantity::parse)
        .and_then(|q| {
            let before = c.errors.len();
            whole_bytes(c, &q, &storage_key);
            if q.is_zero() {
                c.error(&storage_key, "must be above 0: a volume needs a size");
            }
            (c.errors.len() == before).then_some(q)
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
        && !is_dns_subdomain(class)
    {
        c.error(
            &format!("{key}.storage_class"),
            format!("`{class}` is not a valid StorageClass name"),
        );
    }
    Some(Store {
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

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
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
        let before = c.errors.len();
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
        if !is_dns_label(&e.name) {
            c.error(
                &format!("{key}.name"),
                format!("`{}` is not a valid name: {DNS_RULE}", e.name),
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
                c.error(
                    &at,
                    format!(
                        "{} is not a share of requests: expected more than 0 and at most 100",
                        shown(p)
                    ),
                );
                None
            } else {
                Percent::parse(&format!("{p}"))
                    .map_err(|m| c.error(&at, m))
                    .ok()
            }
        };
        let delay = e.delay.as_ref().and_then(|d| {
            let fixed = positive(c, &(d.fixed.clone(), format!("{key}.delay.fixed")));
            let p = percent(c, d.percent, format!("{key}.delay.percent"));
            Some((fixed?, p?))
        });
        let abort = e.abort.as_ref().and_then(|a| {
            if !(200..=599).contains(&a.status) {
                c.error(
                    &format!("{key}.abort.status"),
                    format!("{} is not an HTTP status", a.status),
                );
            }
            let p = percent(c, a.percent, format!("{key}.abort.percent"));
            Some((a.status, p?))
        });
        if c.errors.len() == before {
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
