//! Every custom resource the generator renders (Istio, Argo CD, Sealed Secrets, External
//! Secrets, and any other kind whose CRD is in `shared/schemas/crds`) validates against
//! the upstream CRD's `openAPIV3Schema`, for every environment in `environments/`.
//!
//! The checker is a small structural OpenAPI v3 validator: `type`, `properties`,
//! `required`, `items`, `enum`, `additionalProperties`, `oneOf`/`anyOf`/`allOf`/`not`,
//! length, item-count and numeric bounds, `x-kubernetes-int-or-string` and
//! `x-kubernetes-preserve-unknown-fields`. Unlike the API server, which prunes unknown
//! fields silently, it refuses them: a misspelt field would otherwise vanish on apply.
//! CEL rules (`x-kubernetes-validations`) and `pattern` are not evaluated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use kubestore_gen::pipeline::render_tree;

/// The schemas live beside the repository (`../shared` from its root) in CI; elsewhere
/// they may be absent, and the test says so instead of failing.
fn schemas_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/crds");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have the CRD schemas at {}",
        dir.display()
    );
    eprintln!("skipped: no CRD schemas at {}", dir.display());
    None
}

/// `(group, version, kind)` -> the version's `openAPIV3Schema`, served versions only.
fn load_schemas(dir: &Path) -> BTreeMap<(String, String, String), Value> {
    let mut schemas = BTreeMap::new();
    for group in std::fs::read_dir(dir).expect("schema dir readable") {
        let group = group.expect("schema dir entry").path();
        if !group.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&group).expect("group dir readable") {
            let file = file.expect("group dir entry").path();
            if file.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("CRD readable");
            let crd: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let spec = &crd["spec"];
            let group = spec["group"].as_str().expect("CRD group").to_owned();
            let kind = spec["names"]["kind"].as_str().expect("CRD kind").to_owned();
            for version in spec["versions"].as_array().expect("CRD versions") {
                if version["served"] != true {
                    continue;
                }
                let name = version["name"].as_str().expect("version name").to_owned();
                let schema = version["schema"]["openAPIV3Schema"].clone();
                schemas.insert((group.clone(), name, kind.clone()), schema);
            }
        }
    }
    schemas
}

/// Records every way `value` breaks `schema`, with JSON-pointer-like paths.
fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let mut fail = |message: String| errors.push(format!("{path}: {message}"));
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            fail(format!("expected an integer or a string, got {value}"));
        }
        return;
    }
    if let Some(t) = schema["type"].as_str() {
        let ok = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !ok {
            fail(format!("expected {t}, got {value}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        fail(format!("{value} is not one of {allowed:?}"));
    }
    if let Some(n) = value.as_f64() {
        if schema["format"] == "int32" && !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&n)
        {
            fail(format!("{n} is out of int32 range"));
        }
        if let Some(min) = schema["minimum"].as_f64()
            && n < min
        {
            fail(format!("{n} is below {min}"));
        }
        if let Some(max) = schema["maximum"].as_f64()
            && n > max
        {
            fail(format!("{n} is above {max}"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if schema["maxLength"].as_u64().is_some_and(|max| len > max) {
            fail(format!("`{s}` is longer than {}", schema["maxLength"]));
        }
        if schema["minLength"].as_u64().is_some_and(|min| len < min) {
            fail(format!("`{s}` is shorter than {}", schema["minLength"]));
        }
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if schema["maxItems"].as_u64().is_some_and(|max| len > max) {
            fail(format!("more than {} items", schema["maxItems"]));
        }
        if schema["minItems"].as_u64().is_some_and(|min| len < min) {
            fail(format!("fewer than {} items", schema["minItems"]));
        }
        if schema.get("items").is_some() {
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{path}/{i}"), errors);
            }
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            if let Some(key) = key.as_str()
                && !object.contains_key(key)
            {
                errors.push(format!("{path}: missing required `{key}`"));
            }
        }
        let properties = schema["properties"].as_object();
        let additional = schema.get("additionalProperties");
        let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
        for (key, field) in object {
            let at = format!("{path}/{key}");
            if let Some(sub) = properties.and_then(|p| p.get(key)) {
                check(sub, field, &at, errors);
            } else if let Some(sub) = additional.filter(|a| a.is_object()) {
                check(sub, field, &at, errors);
            } else if additional == Some(&Value::Bool(true)) || preserve {
            } else if properties.is_some() {
                errors.push(format!("{at}: unknown field"));
            }
            // An object schema with neither properties nor additionalProperties (such as
            // `metadata`) is validated elsewhere by the API server.
        }
    }
    let matches = |sub: &Value| {
        let mut inner = Vec::new();
        check(sub, value, path, &mut inner);
        inner.is_empty()
    };
    if let Some(subs) = schema["oneOf"].as_array() {
        let n = subs.iter().filter(|s| matches(s)).count();
        if n != 1 {
            errors.push(format!("{path}: matches {n} of oneOf, expected exactly 1"));
        }
    }
    if let Some(subs) = schema["anyOf"].as_array()
        && !subs.iter().any(matches)
    {
        errors.push(format!("{path}: matches none of anyOf"));
    }
    for sub in schema["allOf"].as_array().into_iter().flatten() {
        check(sub, value, path, errors);
    }
    if let Some(sub) = schema.get("not")
        && matches(sub)
    {
        errors.push(format!("{path}: matches a schema it must not"));
    }
}

/// Every whole object of the rendered tree (not patches or kustomizations), plus every
/// object each environment renders, which is what its overlay builds after patching.
fn rendered_objects() -> Vec<(String, Value)> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let envs_dir = repo.join("environments");
    let envs = kubestore_gen::Environments::read(&envs_dir)
        .expect("environments listed")
        .load_all()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut objects = Vec::new();
    for (path, text) in render_tree(&envs, &envs, &envs_dir) {
        if !path.ends_with(".yaml")
            || path.contains("/patches/")
            || path.ends_with("kustomization.yaml")
        {
            continue;
        }
        let value: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        objects.push((path, value));
    }
    for env in &envs {
        for object in kubestore_gen::render::render_all(env) {
            objects.push((format!("{} ({})", object.file, env.name), object.value));
        }
    }
    objects
}

#[test]
fn every_custom_resource_matches_its_crd_schema() {
    let Some(dir) = schemas_dir() else { return };
    let schemas = load_schemas(&dir);
    let groups: std::collections::BTreeSet<_> = schemas.keys().map(|k| k.0.clone()).collect();
    let mut errors = Vec::new();
    let mut checked = BTreeMap::<String, usize>::new();
    for (origin, object) in rendered_objects() {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let Some((group, version)) = api_version.split_once('/') else {
            continue; // the core API group
        };
        if !groups.contains(group) {
            continue; // a built-in group, typed by k8s-openapi
        }
        let key = (group.to_owned(), version.to_owned(), kind.to_owned());
        let Some(schema) = schemas.get(&key) else {
            errors.push(format!(
                "{origin}: no served CRD version for {api_version} {kind}"
            ));
            continue;
        };
        *checked.entry(format!("{api_version} {kind}")).or_default() += 1;
        // The API server checks type and object metadata itself; many CRDs (Istio's) leave
        // them out of their schema, so they are added where missing.
        let mut schema = schema.clone();
        if let Some(properties) = schema["properties"].as_object_mut() {
            for (field, kind) in [
                ("apiVersion", "string"),
                ("kind", "string"),
                ("metadata", "object"),
            ] {
                properties
                    .entry(field)
                    .or_insert_with(|| serde_json::json!({"type": kind}));
            }
        }
        let mut found = Vec::new();
        check(&schema, &object, "", &mut found);
        errors.extend(found.into_iter().map(|e| format!("{origin}: {e}")));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    for kind in [
        "networking.istio.io/v1 Gateway",
        "networking.istio.io/v1 VirtualService",
        "networking.istio.io/v1 DestinationRule",
        "security.istio.io/v1 PeerAuthentication",
        "security.istio.io/v1 AuthorizationPolicy",
        "bitnami.com/v1alpha1 SealedSecret",
        "external-secrets.io/v1 ExternalSecret",
        "argoproj.io/v1alpha1 Application",
        "argoproj.io/v1alpha1 AppProject",
    ] {
        assert!(
            checked.contains_key(kind),
            "no {kind} was rendered: {checked:?}"
        );
    }
    eprintln!("checked against their CRDs: {checked:?}");
}

#[test]
fn the_checker_refuses_what_the_schemas_forbid() {
    let schema: Value = serde_json::json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "maxLength": 3},
            "mode": {"type": "string", "enum": ["STRICT", "PERMISSIVE"]},
            "port": {"x-kubernetes-int-or-string": true},
            "match": {
                "type": "object",
                "properties": {"exact": {"type": "string"}, "prefix": {"type": "string"}},
                "oneOf": [
                    {"not": {"anyOf": [{"required": ["exact"]}, {"required": ["prefix"]}]}},
                    {"required": ["exact"]},
                    {"required": ["prefix"]}
                ]
            }
        }
    });
    let errors = |value: Value| {
        let mut errors = Vec::new();
        check(&schema, &value, "", &mut errors);
        errors
    };
    assert!(errors(serde_json::json!({"name": "a", "port": 80, "match": {}})).is_empty());
    assert!(errors(serde_json::json!({"name": "a", "port": "http"})).is_empty());
    assert_eq!(errors(serde_json::json!({})).len(), 1);
    assert_eq!(errors(serde_json::json!({"name": "long"})).len(), 1);
    assert_eq!(
        errors(serde_json::json!({"name": "a", "mode": "OFF"})).len(),
        1
    );
    assert_eq!(
        errors(serde_json::json!({"name": "a", "port": true})).len(),
        1
    );
    assert_eq!(
        errors(serde_json::json!({"name": "a", "extra": 1})).len(),
        1
    );
    assert_eq!(
        errors(serde_json::json!({"name": "a", "match": {"exact": "/", "prefix": "/"}})).len(),
        1
    );
}
