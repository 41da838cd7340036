//! Command line: `users migrate` and `users serve`, configured from the
//! environment (see [`kubestore_common::config`]); all of it is shared with the
//! other MySQL services ([`kubestore_common::service`]), down to sweeping the
//! expired rows of its `idempotency_keys` table.

kubestore_common::pool_service_main! {
    name: crate::SERVICE,
    port: crate::DEFAULT_PORT,
    migrator: crate::MIGRATOR,
    service: crate::service,
    idempotency_keys: crate::routes::users::KEYS,
}
