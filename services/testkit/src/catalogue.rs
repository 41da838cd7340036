//! Whether a service reads what the catalogue says it needs: the `<DEP>_URL` of each
//! service it calls (defaulting to that service's local URL) and, when it stores
//! `Idempotency-Key` answers, their lifetime. Each service's tests assert that
//! [`catalogue_differences`] is empty, so a dependency changed in the catalogue fails
//! them until the service reads it.

use kubestore_common::catalog;
use kubestore_common::config::local_url;
use kubestore_common::runtime::env;
use kubestore_common::service::{self, Service};

/// The catalogue's `calls` of `S` against the variables its `serve` reads: one line
/// per difference (a dependency not read, one read that the catalogue does not list, a
/// default that is not the dependency's local URL, the key lifetime read or not read
/// against the catalogue's keyed routes); empty when they agree.
pub fn catalogue_differences<S: Service>() -> Vec<String> {
    let Some(def) = catalog::service(S::NAME) else {
        return vec![format!("{} is not in the catalogue", S::NAME)];
    };
    let cli = service::command::<S>();
    let Some(serve) = cli.find_subcommand("serve") else {
        return vec!["there is no serve subcommand".to_owned()];
    };
    let variable_of = |arg: &clap::Arg| arg.get_env().and_then(|v| v.to_str()).map(str::to_owned);
    let mut differences = Vec::new();
    let mut read = Vec::new();
    for arg in serve.get_arguments() {
        let Some(variable) = variable_of(arg) else {
            continue;
        };
        let Some(dep) = catalog::SERVICES
            .iter()
            .find(|d| d.url_variable() == variable)
        else {
            continue;
        };
        read.push(dep.name);
        if !def.calls.contains(&dep.name) {
            differences.push(format!(
                "{variable} is read, but the catalogue has no call to {}",
                dep.name
            ));
        }
        let default: Vec<_> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let local = local_url(dep.name);
        if default != [local.as_str()] {
            let default = if default.is_empty() {
                "nothing".to_owned()
            } else {
                default.join(", ")
            };
            differences.push(format!("{variable} defaults to {default}, not {local}"));
        }
    }
    let key_ttl = env::IDEMPOTENCY_KEY_TTL;
    let reads_key_ttl = serve
        .get_arguments()
        .any(|arg| variable_of(arg).as_deref() == Some(key_ttl));
    match (def.stores_idempotency_keys(), reads_key_ttl) {
        (true, false) => differences.push(format!(
            "stores Idempotency-Key answers, but serve reads no {key_ttl}"
        )),
        (false, true) => differences.push(format!(
            "{key_ttl} is read, but the catalogue has no route keyed by Idempotency-Key"
        )),
        _ => {}
    }
    for dep in def.calls {
        let variable = catalog::service(dep).map(|d| d.url_variable());
        match read.iter().filter(|r| *r == dep).count() {
            1 => {}
            0 => differences.push(format!(
                "calls {dep}, but serve reads no {}",
                variable.unwrap_or_default()
            )),
            n => differences.push(format!("{dep}'s URL is read {n} times")),
        }
    }
    differences
}

/// Asserts that `S` reads exactly what the catalogue says it needs.
pub fn assert_matches_catalogue<S: Service>() {
    let differences = catalogue_differences::<S>();
    assert!(
        differences.is_empty(),
        "{} differs from the catalogue:\n{}",
        S::NAME,
        differences.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Args;
    use kubestore_common::config::Echo;
    use kubestore_common::service::{App, NoArgs, Stateless};

    /// A cart that reads users, which the catalogue says it does not call, at a
    /// wrong default, and reads neither orders, which it calls, nor how long it
    /// keeps the answers of its keyed checkout.
    struct MiswiredCart;

    #[derive(Debug, Args)]
    struct Reads {
        #[arg(long, env = env::PRODUCTS_URL, default_value_t = local_url("products"))]
        products_url: String,
        #[arg(long, env = env::USERS_URL, default_value = "http://127.0.0.1:1")]
        users_url: String,
    }

    impl Service for MiswiredCart {
        const NAME: &'static str = "cart";
        const VERSION: &'static str = "0";
        const ABOUT: &'static str = "";
        type Store = Stateless;
        const STORE: Stateless = Stateless;
        type Args = Reads;

        fn echo(_: &Reads, _: &NoArgs, _: &mut Echo) {}

        fn app(_: Reads, (): ()) -> anyhow::Result<App> {
            unreachable!("only its command line is read")
        }
    }

    #[test]
    fn differences_from_the_catalogue_are_named() {
        assert_eq!(
            catalogue_differences::<MiswiredCart>(),
            [
                "USERS_URL is read, but the catalogue has no call to users".to_owned(),
                format!(
                    "USERS_URL defaults to http://127.0.0.1:1, not {}",
                    local_url("users")
                ),
                "stores Idempotency-Key answers, but serve reads no IDEMPOTENCY_KEY_TTL".to_owned(),
                "calls orders, but serve reads no ORDERS_URL".to_owned(),
            ]
        );
    }
}
