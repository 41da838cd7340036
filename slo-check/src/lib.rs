//! slo-check: does a service meet its SLOs? Reads SLO definitions (OpenSLO v1, Sloth,
//! Pyrra, or a KubeStore environment), asks a Prometheus-compatible server at one evaluation time, and answers
//! with an exit code and a report (table, JSON, JUnit, Markdown or HTML).

pub mod calendar;
pub mod cli;
pub mod definition;
pub mod environment;
pub mod error;
pub mod evaluate;
pub mod fields;
pub mod load;
pub mod openslo;
pub mod prometheus;
pub mod promql;
pub mod pyrra;
pub mod report;
pub mod run;
pub mod sloth;
pub mod span;
pub mod window;
pub mod yaml;
