//! Where a setting comes from. Services and SLOs are layered alike, most specific first:
//! the service's own table (`services.<name>`, `slos.services.<name>`), the shared one
//! (`defaults`, `slos.defaults`), then the built-in defaults of [`crate::defaults`].
//! Each value comes back with the key path that set it, for messages.

use std::collections::BTreeMap;

use super::check::{Check, Checked};

/// Which key a value from the built-in defaults is reported at.
#[derive(Debug, Clone, Copy)]
pub(super) enum BuiltinAt {
    /// The bare field (`resilience.timeout`): the file has no such line.
    Field,
    /// The service's own key, where a fix would go (`slos.services.orders.availability`).
    Service,
}

/// The layers of one service's settings of type `S`.
pub(super) struct Layers<'a, S>(Vec<(&'a S, String)>);

impl<'a, S> Layers<'a, S> {
    /// The layers of `name` under `root` (`""` for services, `"slos."` for SLOs): its own
    /// entry in `overrides`, then `shared`, then `builtin`.
    pub(super) fn of(
        root: &str,
        name: &str,
        overrides: &'a BTreeMap<String, S>,
        shared: Option<&'a S>,
        builtin: &'a S,
        builtin_at: BuiltinAt,
    ) -> Self {
        let own = format!("{root}services.{name}");
        let mut layers = Vec::new();
        if let Some(spec) = overrides.get(name) {
            layers.push((spec, own.clone()));
        }
        if let Some(spec) = shared {
            layers.push((spec, format!("{root}defaults")));
        }
        let builtin_key = match builtin_at {
            BuiltinAt::Field => String::new(),
            BuiltinAt::Service => own,
        };
        layers.push((builtin, builtin_key));
        Self(layers)
    }

    /// The most specific value of a field and the key path that set it.
    pub(super) fn get<T: Clone>(
        &self,
        key: &str,
        field: impl Fn(&S) -> Option<&T>,
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

    /// Like [`Layers::get`], for fields the built-in defaults set; should they ever not,
    /// the file is told to set the value rather than the program stopping.
    pub(super) fn must<T: Clone>(
        &self,
        c: &mut Check,
        key: &str,
        field: impl Fn(&S) -> Option<&T>,
    ) -> Checked<(T, String)> {
        self.get(key, field).ok_or_else(|| {
            c.error(
                &self.most_specific(key),
                "is not set and has no built-in default: set it",
            )
        })
    }

    /// The first flag any layer sets, searched with `field`.
    pub(super) fn find<T>(&self, field: impl Fn(&S) -> Option<T>) -> Option<T> {
        self.0.iter().find_map(|(spec, _)| field(spec))
    }

    fn most_specific(&self, key: &str) -> String {
        match self.0.first() {
            Some((_, prefix)) if !prefix.is_empty() => format!("{prefix}.{key}"),
            _ => key.to_owned(),
        }
    }
}
