//! Image references: the registry path every image name starts with, the tag every
//! service runs (required, and never a mutable one unless the file says so) and the
//! digests that pin single images, all as the distribution spec defines them.

use super::check::{Check, Checked, shown_text};
use crate::catalog;
use crate::defaults;
use crate::spec::{EnvironmentSpec, unknown};

/// Registry, tag and the digests by image name.
pub(super) type ImageSettings = (String, String, std::collections::BTreeMap<String, String>);

/// Longest image tag the distribution spec allows.
const TAG_MAX: usize = 128;
/// Longest repository name (registry and path) the distribution spec allows.
const REPOSITORY_MAX: usize = 255;

pub(super) fn images(c: &mut Check, spec: &EnvironmentSpec) -> Checked<ImageSettings> {
    let images = spec.images.clone().unwrap_or_default();
    let registry = images.registry.unwrap_or_else(|| defaults::REGISTRY.into());
    let digests = images.digests.unwrap_or_default();
    let mark = c.mark();
    if let Some(problem) = registry_problem(&registry) {
        c.error("images.registry", problem);
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
            String::new()
        }
    };
    if tag.is_empty() {
        if spec.images.as_ref().is_some_and(|i| i.tag.is_some()) {
            c.error(
                "images.tag",
                "an empty tag is not a version: give the version every service runs",
            );
        }
    } else if tag == "latest" && !images.allow_mutable_tag.unwrap_or(false) {
        c.error(
            "images.tag",
            "`latest` is mutable, so a rollback or a new node could run different code; \
             use a version tag, or set images.allow_mutable_tag: true",
        );
    } else if tag.len() > TAG_MAX {
        c.error(
            "images.tag",
            format!(
                "is {} characters long: an image tag has at most {TAG_MAX}",
                tag.len()
            ),
        );
    } else if !is_tag(&tag) {
        c.error(
            "images.tag",
            format!(
                "`{tag}` is not a valid image tag: use letters, digits, '_', '.' and '-', \
                 starting with a letter, digit or '_'"
            ),
        );
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
            let message = unknown("image", name, &names);
            c.error(&key, message);
        } else if !is_digest(digest) {
            c.error(
                &key,
                format!("`{digest}` is not a digest: expected `sha256:` and 64 hex digits"),
            );
        }
    }
    c.clean_since(mark).map(|()| (registry, tag, digests))
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
