//! `kubestore-gen`: environment files in, a Kustomize + Argo CD tree out.
//!
//! The data flows one way: `kubestore_core::spec` (load the YAML) ->
//! `kubestore_core::model` (validate) -> [`render`] (objects) -> [`layout`] (base and
//! overlays) -> [`output`] (bytes on disk), with the paths of the tree in [`tree`].
//! [`environments`] reads the folder of environment files once, [`pipeline`] drives a
//! render into an in-memory tree, and [`commands`] are what the command line runs.

pub mod baseline;
pub mod cli;
mod commands;
pub mod crds;
pub mod environments;
pub mod envoy;
pub mod error;
pub mod layout;
pub mod output;
pub mod pipeline;
pub mod render;
pub mod tree;

pub use commands::{run, write_envoy_configs};
pub use environments::{Environments, load_environment};
pub use error::Error;
