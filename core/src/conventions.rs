//! Names and labels shared by every renderer, so that selectors, policies and rules that
//! refer to each other always agree.

use std::collections::BTreeMap;

/// The recommended label naming what an object is part of (a component's own name).
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// The recommended label naming the application an object belongs to ([`PART_OF`]).
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
/// The recommended label naming an object's tier ([`PUBLIC_COMPONENT`], ...).
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// The recommended label naming the tool that manages an object ([`MANAGED_BY`]).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The recommended label carrying the deployed version, added by each overlay.
pub const VERSION_LABEL: &str = "app.kubernetes.io/version";
/// [`PART_OF_LABEL`] of every object.
pub const PART_OF: &str = "kubestore";
/// [`MANAGED_BY_LABEL`] of every object.
pub const MANAGED_BY: &str = "kubestore-gen";
/// Label on pods that may open connections to MySQL.
pub const MYSQL_CLIENT_LABEL: &str = "kubestore.dev/mysql-client";
/// Label on pods that may open connections to Redis.
pub const REDIS_CLIENT_LABEL: &str = "kubestore.dev/redis-client";
/// Label carrying the environment name, added by each overlay.
pub const ENVIRONMENT_LABEL: &str = "kubestore.dev/environment";
/// Secret holding the MySQL root password.
pub const MYSQL_SECRET: &str = "mysql-credentials";
/// Key of the MySQL root password in [`MYSQL_SECRET`].
pub const MYSQL_SECRET_KEY: &str = "root-password";
/// Secret holding the Redis password.
pub const REDIS_SECRET: &str = "redis-credentials";
/// Key of the Redis password in [`REDIS_SECRET`].
pub const REDIS_SECRET_KEY: &str = "password";
/// Name of the SLO checker's image, hook Job and NetworkPolicy; `images.digests` may pin it.
pub const SLO_CHECK: &str = "slo-check";
/// Name of an environment's Argo CD Application.
pub fn application_name(environment: &str) -> String {
    format!("{PART_OF}-{environment}")
}
/// `app.kubernetes.io/component` of the service the internet reaches (the catalogue's
/// entry point): the shop's front tier, whatever the service is called.
pub const PUBLIC_COMPONENT: &str = "frontend";
/// `app.kubernetes.io/component` of the services only other services call.
pub const INTERNAL_COMPONENT: &str = "backend";
/// Name of the HTTP port of every service.
pub const HTTP_PORT_NAME: &str = "http";
/// UID and GID the containers run as (the distroless `nonroot` user).
pub const APP_UID: i64 = 65532;
/// UID and GID the data stores run as: above 10000 so they never match a host user.
pub const STORE_UID: i64 = 10999;

/// Labels that select a component's pods. They never include the version, so a selector
/// written by one release still matches the pods of the next.
pub fn selector(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_owned(), name.to_owned()),
        (PART_OF_LABEL.to_owned(), PART_OF.to_owned()),
    ])
}

/// The standard labels of a component's objects: the selector labels plus component and
/// manager. Overlays add `app.kubernetes.io/version` and the environment label.
pub fn labels(name: &str, component: &str) -> BTreeMap<String, String> {
    let mut labels = selector(name);
    labels.insert(COMPONENT_LABEL.into(), component.into());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels
}

/// The logical image name renderers write; each overlay maps it to a real image with
/// Kustomize's `images:`.
pub fn image_name(service: &str) -> String {
    format!("kubestore/{service}")
}
