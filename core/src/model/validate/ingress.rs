//! The public entry point: the host the frontend answers on and the TLS Secret the
//! ingress gateway serves.

use crate::defaults;
use crate::model::Ingress;
use crate::model::check::{Check, shown_text};
use crate::model::dns;
use crate::spec::EnvironmentSpec;

/// The checked ingress, defaults filled in.
pub(super) fn ingress(c: &mut Check, spec: &EnvironmentSpec) -> Ingress {
    let ingress = spec.ingress.clone().unwrap_or_default();
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
    Ingress {
        host,
        tls_credential: ingress
            .tls_credential
            .unwrap_or_else(|| defaults::tls_credential(&spec.namespace)),
    }
}

/// The host the frontend answers on: the file's, or one made from the environment's name.
pub(crate) fn ingress_host(spec: &EnvironmentSpec) -> String {
    spec.ingress
        .as_ref()
        .and_then(|i| i.host.clone())
        .unwrap_or_else(|| defaults::ingress_host(&spec.name))
}
