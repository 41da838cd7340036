//! Arranges rendered objects into a Kustomize tree: `base/` holds the store as the
//! built-in defaults render it, and `overlays/<env>/` holds only what an environment
//! changes: its namespace, labels, images, objects the base lacks, and one JSON patch
//! per object that differs. A reviewer reads an environment's intent in its overlay.

use std::collections::BTreeMap;

use kubestore_core::model::Environment;
use serde::Serialize;
use serde_json::{Value, json};

use crate::render::Object;
use crate::tree::{self, EnvTree};

/// A rendered file: a YAML document (or a list of patch operations) and its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Path relative to the tree's root, with `/` separators.
    pub path: String,
    /// The content to serialize.
    pub content: Value,
}

/// `kustomization.yaml`, with only the fields the generator uses.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: &'static str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    labels: Vec<LabelsEntry>,
    resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<ImageEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    patches: Vec<PatchEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LabelsEntry {
    pairs: BTreeMap<String, String>,
    include_selectors: bool,
    include_templates: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageEntry {
    name: String,
    new_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

#[derive(Debug, Serialize)]
struct PatchEntry {
    path: String,
    target: Target,
}

#[derive(Debug, Serialize)]
struct Target {
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    version: String,
    kind: String,
    name: String,
}

fn kustomization(k: &Kustomization) -> Value {
    serde_json::to_value(k).expect("a kustomization serializes")
}

/// The files of `base/`.
pub fn base(objects: &[Object]) -> Vec<File> {
    let mut files: Vec<File> = objects
        .iter()
        .map(|o| File {
            path: tree::base_file(&o.file),
            content: o.value.clone(),
        })
        .collect();
    files.push(File {
        path: tree::base_file("kustomization"),
        content: kustomization(&Kustomization {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            resources: objects.iter().map(|o| format!("{}.yaml", o.file)).collect(),
            ..Default::default()
        }),
    });
    files
}

/// The files of `overlays/<env>/`: what `env` changes relative to `base_objects`.
/// `extra` are objects that exist only per environment (never in the base).
pub fn overlay(
    env: &Environment,
    base_objects: &[Object],
    env_objects: &[Object],
    extra: &[Object],
) -> Vec<File> {
    let places = EnvTree::of(env);
    let dir = places.overlay();
    let mut files = Vec::new();
    let mut resources = vec![places.base_from_overlay()];
    let mut patches = Vec::new();
    let by_identity: BTreeMap<_, _> = base_objects.iter().map(|o| (o.identity(), o)).collect();
    let env_identities: std::collections::BTreeSet<_> =
        env_objects.iter().map(Object::identity).collect();

    for object in env_objects {
        match by_identity.get(&object.identity()) {
            Some(base) => {
                let mut ops = Vec::new();
                diff(&base.value, &object.value, &mut String::new(), &mut ops);
                if !ops.is_empty() {
                    let path = format!("patches/{}.yaml", object.file);
                    patches.push(PatchEntry {
                        path: path.clone(),
                        target: target(object),
                    });
                    files.push(File {
                        path: format!("{dir}/{path}"),
                        content: Value::Array(ops),
                    });
                }
            }
            None => {
                resources.push(format!("{}.yaml", object.file));
                files.push(File {
                    path: format!("{dir}/{}.yaml", object.file),
                    content: object.value.clone(),
                });
            }
        }
    }
    for object in extra {
        resources.push(format!("{}.yaml", object.file));
        files.push(File {
            path: format!("{dir}/{}.yaml", object.file),
            content: object.value.clone(),
        });
    }
    // Objects of the base this environment does without (an HPA where replicas are fixed).
    for base in base_objects {
        if !env_identities.contains(&base.identity()) {
            let path = format!("patches/{}.yaml", base.file);
            patches.push(PatchEntry {
                path: path.clone(),
                target: target(base),
            });
            let (api_version, kind, name) = base.identity();
            files.push(File {
                path: format!("{dir}/{path}"),
                content: json!({
                    "$patch": "delete",
                    "apiVersion": api_version,
                    "kind": kind,
                    "metadata": {"name": name},
                }),
            });
        }
    }
    patches.sort_by(|a, b| a.path.cmp(&b.path));
    let mut images: Vec<ImageEntry> = env
        .services
        .iter()
        .map(|s| ImageEntry {
            name: kubestore_core::conventions::image_name(s.name()),
            new_name: s.image.repository.clone(),
            new_tag: Some(s.image.tag.clone()).filter(|t| !t.is_empty()),
            digest: s.image.digest.clone(),
        })
        .collect();
    // The stores keep their upstream image names; an overlay only pins their digests.
    for store in [&env.mysql, &env.redis] {
        if let Some(digest) = &store.image.digest {
            images.push(ImageEntry {
                name: store.image.repository.clone(),
                new_name: store.image.repository.clone(),
                new_tag: Some(store.image.tag.clone()),
                digest: Some(digest.clone()),
            });
        }
    }
    let mut pairs = BTreeMap::from([(
        kubestore_core::conventions::ENVIRONMENT_LABEL.to_owned(),
        env.name.clone(),
    )]);
    if let Some(first) = env.services.first()
        && !first.image.tag.is_empty()
    {
        pairs.insert(
            kubestore_core::conventions::VERSION_LABEL.into(),
            first.image.tag.clone(),
        );
    }
    files.push(File {
        path: format!("{dir}/kustomization.yaml"),
        content: kustomization(&Kustomization {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            namespace: Some(env.namespace.clone()),
            labels: vec![LabelsEntry {
                pairs,
                include_selectors: false,
                include_templates: true,
            }],
            resources,
            images,
            patches,
        }),
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn target(object: &Object) -> Target {
    let (api_version, kind, name) = object.identity();
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), api_version),
    };
    Target {
        group,
        version,
        kind,
        name,
    }
}

/// RFC 6902 operations turning `from` into `to`. Objects are compared key by key; arrays
/// of equal length element by element, others are replaced whole, which keeps patches
/// exact without guessing at list identities.
fn diff(from: &Value, to: &Value, path: &mut String, ops: &mut Vec<Value>) {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                let len = path.len();
                push_segment(path, key);
                match b.get(key) {
                    Some(new) => diff(old, new, path, ops),
                    None => ops.push(json!({"op": "remove", "path": path.clone()})),
                }
                path.truncate(len);
            }
            for (key, new) in b {
                if !a.contains_key(key) {
                    let len = path.len();
                    push_segment(path, key);
                    ops.push(json!({"op": "add", "path": path.clone(), "value": new}));
                    path.truncate(len);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (old, new)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                diff(old, new, path, ops);
                path.truncate(len);
            }
        }
        _ if from == to => {}
        _ => ops.push(json!({"op": "replace", "path": path.clone(), "value": to})),
    }
}

/// Appends a JSON pointer segment, escaping `~` and `/` (label keys contain slashes).
fn push_segment(path: &mut String, key: &str) {
    path.push('/');
    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_produces_exact_json_patch_operations() {
        let from = json!({"a": 1, "b": {"c/d": 2}, "l": [1, 2], "gone": true});
        let to = json!({"a": 1, "b": {"c/d": 3}, "l": [1, 2, 3], "new": "x"});
        let mut ops = Vec::new();
        diff(&from, &to, &mut String::new(), &mut ops);
        // Keys come in document order: the workspace builds serde_json with preserve_order.
        assert_eq!(
            ops,
            vec![
                json!({"op": "replace", "path": "/b/c~1d", "value": 3}),
                json!({"op": "replace", "path": "/l", "value": [1, 2, 3]}),
                json!({"op": "remove", "path": "/gone"}),
                json!({"op": "add", "path": "/new", "value": "x"}),
            ]
        );
    }
}
