//! The data stores: MySQL (MariaDB, one database per service) and Redis with AOF
//! persistence, each a single-replica StatefulSet with a volume and a headless Service.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, ExecAction, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec,
    TCPSocketAction, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubestore_core::catalog;
use kubestore_core::conventions::{self as conv, labels, selector};
use kubestore_core::model::{Environment, Store};
use kubestore_core::runtime::env;

use super::Object;
use super::workloads::{
    container_security, meta, pod_security, quantity, resources, service_account, tmp_volume,
};

pub(super) fn render_datastores(env: &Environment) -> Vec<Object> {
    let mut out = Vec::new();
    for (name, port) in [
        (catalog::MYSQL, catalog::MYSQL_PORT),
        (catalog::REDIS, catalog::REDIS_PORT),
    ] {
        out.push(Object::new(
            name,
            "serviceaccount",
            &service_account(name, "database"),
        ));
        out.push(Object::new(name, "service", &headless_service(name, port)));
    }
    out.push(Object::new(
        catalog::MYSQL,
        "statefulset",
        &mysql(&env.mysql),
    ));
    out.push(Object::new(
        catalog::REDIS,
        "statefulset",
        &redis(&env.redis),
    ));
    out
}

fn headless_service(name: &str, port: u16) -> Service {
    Service {
        metadata: meta(name, "database"),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector(name)),
            ports: Some(vec![ServicePort {
                name: Some(format!("tcp-{name}")),
                app_protocol: Some("tcp".into()),
                port: i32::from(port),
                target_port: Some(IntOrString::String(format!("tcp-{name}"))),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn exec_probe(command: &[&str], period: i32, timeout: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(timeout),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

fn empty_dir(name: &str, path: &str) -> (Volume, VolumeMount) {
    (
        Volume {
            name: name.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
        VolumeMount {
            name: name.into(),
            mount_path: path.into(),
            ..Default::default()
        },
    )
}

fn data_claim(store: &Store) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".into()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: store.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    quantity(&store.storage),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn stateful_set(
    name: &str,
    store: &Store,
    container: Container,
    mut volumes: Vec<Volume>,
) -> StatefulSet {
    let (tmp, _) = tmp_volume();
    volumes.push(tmp);
    StatefulSet {
        metadata: meta(name, "database"),
        spec: Some(StatefulSetSpec {
            service_name: Some(name.to_owned()),
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector(name)),
                ..Default::default()
            },
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(name, "database")),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(name.to_owned()),
                    automount_service_account_token: Some(false),
                    // Time to flush and close cleanly; a killed database replays its log.
                    termination_grace_period_seconds: Some(60),
                    security_context: Some(pod_security(conv::STORE_UID)),
                    containers: vec![Container {
                        resources: Some(resources(&store.resources)),
                        security_context: Some(container_security(conv::STORE_UID)),
                        // Pinned by tag here, by digest where an overlay says so.
                        image_pull_policy: Some("Always".into()),
                        ..container
                    }],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            volume_claim_templates: Some(vec![data_claim(store)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

fn port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(format!("tcp-{name}")),
        container_port: i32::from(port),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn mysql(store: &Store) -> StatefulSet {
    let (run, run_mount) = empty_dir("run", "/run/mysqld");
    let password = super::workloads::datastore_env("", Some(catalog::Datastore::Mysql))
        .into_iter()
        .next()
        .map(|e| EnvVar {
            name: "MARIADB_ROOT_PASSWORD".into(),
            ..e
        });
    let container = Container {
        name: catalog::MYSQL.into(),
        image: Some(format!("{}:{}", catalog::MYSQL_IMAGE, catalog::MYSQL_TAG)),
        env: Some(
            password
                .into_iter()
                .chain([EnvVar {
                    // A new image version upgrades the data files on start.
                    name: "MARIADB_AUTO_UPGRADE".into(),
                    value: Some("1".into()),
                    ..Default::default()
                }])
                .collect(),
        ),
        ports: Some(vec![port(catalog::MYSQL, catalog::MYSQL_PORT)]),
        // First start initialises the data directory: give it five minutes.
        startup_probe: Some(exec_probe(
            &["healthcheck.sh", "--connect", "--innodb_initialized"],
            5,
            5,
            60,
        )),
        readiness_probe: Some(exec_probe(
            &["healthcheck.sh", "--connect", "--innodb_initialized"],
            5,
            5,
            3,
        )),
        liveness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String(format!("tcp-{}", catalog::MYSQL)),
                ..Default::default()
            }),
            period_seconds: Some(15),
            timeout_seconds: Some(5),
            failure_threshold: Some(4),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            mount("data", "/var/lib/mysql"),
            run_mount,
            mount("tmp", "/tmp"),
        ]),
        ..Default::default()
    };
    stateful_set(catalog::MYSQL, store, container, vec![run])
}

fn redis(store: &Store) -> StatefulSet {
    let ping = format!(
        "redis-cli --no-auth-warning -a \"${}\" ping | grep -q PONG",
        env::REDIS_PASSWORD
    );
    let password = super::workloads::datastore_env("", Some(catalog::Datastore::Redis))
        .into_iter()
        .next();
    let container = Container {
        name: catalog::REDIS.into(),
        image: Some(format!("{}:{}", catalog::REDIS_IMAGE, catalog::REDIS_TAG)),
        command: Some(vec!["redis-server".into()]),
        args: Some(vec![
            "--appendonly".into(),
            "yes".into(),
            // At most one second of cart writes is lost on a crash.
            "--appendfsync".into(),
            "everysec".into(),
            "--dir".into(),
            "/data".into(),
            "--requirepass".into(),
            format!("$({})", env::REDIS_PASSWORD),
        ]),
        env: Some(password.into_iter().collect()),
        ports: Some(vec![port(catalog::REDIS, catalog::REDIS_PORT)]),
        startup_probe: Some(exec_probe(&["sh", "-c", &ping], 2, 2, 60)),
        readiness_probe: Some(exec_probe(&["sh", "-c", &ping], 5, 2, 3)),
        liveness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String(format!("tcp-{}", catalog::REDIS)),
                ..Default::default()
            }),
            period_seconds: Some(15),
            timeout_seconds: Some(5),
            failure_threshold: Some(4),
            ..Default::default()
        }),
        volume_mounts: Some(vec![mount("data", "/data"), mount("tmp", "/tmp")]),
        ..Default::default()
    };
    stateful_set(catalog::REDIS, store, container, Vec::new())
}
