//! The data stores (MySQL, Redis): image, volume size and class, resources.

use super::resources::{resources, whole_bytes};
use crate::catalog;
use crate::defaults;
use crate::model::Store;
use crate::model::check::{Check, Checked};
use crate::model::dns;
use crate::model::images::ImageSettings;
use crate::model::service::Image;
use crate::model::units::Quantity;
use crate::spec::{EnvironmentSpec, ResourcesSpec, StoreSpec};

/// MySQL and Redis, checked.
pub(super) fn stores(
    c: &mut Check,
    spec: &EnvironmentSpec,
    images: &Checked<ImageSettings>,
) -> (Checked<Store>, Checked<Store>) {
    let digest_of = |name: &str| {
        images
            .as_ref()
            .ok()
            .and_then(|(_, _, digests)| digests.get(name).cloned())
    };
    let image = |repository: &str, tag: &str, name: &str| Image {
        repository: repository.into(),
        tag: tag.into(),
        digest: digest_of(name),
    };
    let data = spec.data.as_ref();
    let mysql = store(
        c,
        data.and_then(|d| d.mysql.as_ref()),
        "data.mysql",
        defaults::MYSQL_STORAGE,
        image(catalog::MYSQL_IMAGE, catalog::MYSQL_TAG, catalog::MYSQL),
    );
    let redis = store(
        c,
        data.and_then(|d| d.redis.as_ref()),
        "data.redis",
        defaults::REDIS_STORAGE,
        image(catalog::REDIS_IMAGE, catalog::REDIS_TAG, catalog::REDIS),
    );
    (mysql, redis)
}

fn store(
    c: &mut Check,
    spec: Option<&StoreSpec>,
    key: &str,
    default_storage: &str,
    image: Image,
) -> Checked<Store> {
    let spec = spec.cloned().unwrap_or_default();
    let storage = spec.storage.unwrap_or_else(|| default_storage.into());
    let storage_key = format!("{key}.storage");
    let storage = c
        .parse(&(storage, storage_key.clone()), Quantity::parse)
        .and_then(|q| {
            let mark = c.mark();
            whole_bytes(c, &q, &storage_key);
            if q.is_zero() {
                c.error(&storage_key, "must be above 0: a volume needs a size");
            }
            c.clean_since(mark).map(|()| q)
        });
    let base = defaults::store_resources();
    let own = spec.resources.clone();
    let prefix = format!("{key}.resources");
    let lookup = |field: &str, f: &dyn Fn(&ResourcesSpec) -> Option<&String>| {
        let sub = field.trim_start_matches("resources.");
        own.as_ref()
            .and_then(|r| f(r).map(|v| (v.clone(), format!("{prefix}.{sub}"))))
            .or_else(|| f(&base).map(|v| (v.clone(), format!("{prefix}.{sub}"))))
    };
    let resources = resources(c, &lookup, key);
    if let Some(class) = &spec.storage_class
        && !dns::is_subdomain(class)
    {
        c.error(
            &format!("{key}.storage_class"),
            format!("`{class}` is not a valid StorageClass name"),
        );
    }
    Ok(Store {
        image,
        storage: storage?,
        storage_class: spec.storage_class,
        resources: resources?,
    })
}
