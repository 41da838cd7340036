//! The environment whose rendering is `base/`: every setting at its built-in default,
//! so that an overlay's patches show exactly what an environment file changes.

use kubestore_core::model::Environment;
use kubestore_core::model::secrets::{CREDENTIALS, EXTERNAL_SECRETS};
use kubestore_core::spec::{EnvironmentSpec, ImagesSpec, Loaded, SecretsSpec};

/// Name and namespace of the base; each overlay sets its own.
const NAME: &str = "base";
const NAMESPACE: &str = "kubestore";

/// What the base's files name as their source.
pub const ORIGIN: &str = "the built-in defaults";

/// The baseline, validated like any environment file.
pub fn baseline() -> Environment {
    let spec = EnvironmentSpec {
        name: NAME.into(),
        namespace: NAMESPACE.into(),
        images: Some(ImagesSpec {
            tag: Some(kubestore_core::defaults::BASE_IMAGE_TAG.into()),
            ..Default::default()
        }),
        // Credentials are rendered per environment only, but the base still needs a
        // valid provider.
        secrets: Some(SecretsSpec {
            provider: Some(EXTERNAL_SECRETS.into()),
            store: Some("kubestore".into()),
            keys: Some(
                CREDENTIALS
                    .iter()
                    .map(|c| (c.name.to_owned(), format!("{NAMESPACE}/{}#value", c.name)))
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    Environment::from_loaded(&Loaded::built_in(spec))
        .unwrap_or_else(|errors| panic!("the built-in defaults are invalid: {errors}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_defaults_make_a_valid_environment() {
        let base = super::baseline();
        assert_eq!(base.name, super::NAME);
        assert_eq!(base.namespace, super::NAMESPACE);
    }
}
