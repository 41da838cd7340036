//! What the KubeStore service tests share, so each test file says only what it checks.
//! A dev-dependency of the services; it knows none of them.
//!
//! # Layout
//! - [`router`]: calling a router in-process and reading its JSON answer.
//! - [`mysql`]: a fresh MariaDB database per test (dropped afterwards, or by the
//!   next run if the test died), and a service client on one.
//! - [`serve`]: serving a router on `127.0.0.1:0`, and ports that refuse.
//! - [`binary`]: running a service binary: isolated environment, readiness, SIGTERM.
//! - [`catalogue`]: whether a service's `serve` reads what the catalogue says it needs.
//! - [`proxy`]: proxies that lose answers, or relay late and count requests.

pub mod binary;
pub mod catalogue;
pub mod mysql;
pub mod proxy;
pub mod router;
pub mod serve;

pub use mysql::TestApp;
pub use router::Client;
