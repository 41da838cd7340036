//! The store on one machine, the way the mesh runs it: two replicas of every service, each
//! behind its own Envoy sidecar configured from the environment's Istio objects, an
//! ingress Envoy in front of the frontend, Prometheus with the environment's rules and
//! Alertmanager. `scripts/stack` is the command; this crate is its engine and what the
//! end-to-end tests drive.

pub mod analysis;
pub mod http;
pub mod load;
pub mod plan;
pub mod procs;
pub mod rollout;
pub mod stack;
