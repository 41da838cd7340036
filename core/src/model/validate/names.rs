//! The environment's own names: its name (a DNS label that matches the file's name) and
//! its namespace; and the words for a service the catalogue does not have.

use crate::catalog;
use crate::model::check::Check;
use crate::model::dns;
use crate::spec::unknown;

/// Checks `name` and `namespace`.
pub(super) fn names(c: &mut Check) {
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
}

/// "unknown service `x`", with a did-you-mean from the catalogue.
pub(super) fn unknown_service(name: &str) -> String {
    unknown("service", name, &catalog::names())
}
