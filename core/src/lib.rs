//! `kubestore-core`: what every KubeStore program must agree on, and nothing that renders.
//!
//! - [`spec`]: the environment file as users write it (serde types, the loader with its
//!   line-and-key errors);
//! - [`model`]: the validated environment, SLO maths included, built only through every
//!   check;
//! - [`catalog`]: the bundled services, their ports, call graph and routes;
//! - [`metrics`] and [`sli`]: the services' metric names, and the series, labels and
//!   PromQL every SLO is measured with;
//! - [`canary`]: the canary gate's measurements, derived from the SLIs;
//! - [`slo_check`]: the flags, exit codes and OpenSLO annotations the generator and
//!   `slo-check` share;
//! - [`defaults`] and [`conventions`]: built-in values and shared names;
//! - [`runtime`]: the environment variables the services read and the paths they serve
//!   besides their API (probes, metrics);
//! - [`limits`]: the store's business limits (quantities, lines per cart or order).
//!
//! The generator renders from this crate; `slo-check` evaluates from it. Keeping it free of
//! Kubernetes types and templates keeps both programs on one definition of each SLO.

pub mod canary;
pub mod catalog;
pub mod conventions;
pub mod defaults;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod sli;
pub mod slo_check;
pub mod spec;
