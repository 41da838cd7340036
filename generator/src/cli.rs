//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes, printed under every command's `--help`.
const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  an environment file is invalid, or `render --check` found the tree stale\n  2  usage error, or a file could not be read or written";

/// Renders KubeStore environment files into a GitOps tree for Argo CD.
#[derive(Debug, Parser)]
#[command(name = "kubestore-gen", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Folder holding the environment files (`<env>.yaml`, at most 1 MiB each).
    #[arg(
        long,
        global = true,
        default_value = "environments",
        env = "KUBESTORE_ENVIRONMENTS"
    )]
    pub environments: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate environments and render them into the GitOps tree and the dashboards
    /// beside it.
    #[command(after_help = EXIT_CODES)]
    Render(RenderArgs),
    /// Validate environments without writing anything.
    #[command(after_help = EXIT_CODES)]
    Validate(Selection),
    /// Print an environment's effective configuration, every default filled in.
    #[command(after_help = EXIT_CODES)]
    Explain(ExplainArgs),
    /// Write the Envoy bootstraps of an environment's one-machine stack (one per sidecar,
    /// two replicas per service, and the ingress gateway), translated from the Istio
    /// objects `render` writes.
    #[command(after_help = EXIT_CODES)]
    Envoy(EnvoyArgs),
}

/// Arguments of `envoy`.
#[derive(Debug, Args)]
pub struct EnvoyArgs {
    /// Environment name.
    pub env: String,

    /// Folder the `<service>-<replica>.yaml` and `ingress.yaml` files are written to.
    #[arg(long)]
    pub out: PathBuf,

    /// First port of the stack's port plan (everything listens on 127.0.0.1, from here to
    /// here + 999).
    #[arg(long, default_value_t = crate::envoy::ports::DEFAULT_BASE,
          value_parser = crate::envoy::ports::parse_base)]
    pub port_base: u16,
}

/// Which environments.
#[derive(Debug, Args)]
pub struct Selection {
    /// Environment names, e.g. `prod` for `environments/prod.yaml`.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub envs: Vec<String>,

    /// Every `*.yaml` file in the environments folder.
    #[arg(long)]
    pub all: bool,

    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Which environments.
    #[command(flatten)]
    pub selection: Selection,

    /// Folder of the rendered tree; the dashboards to import go to `dashboards/` beside it.
    #[arg(long, default_value = "gitops")]
    pub out: PathBuf,

    /// Write nothing; exit 1 and list stale, missing and extra files when the tree on
    /// disk differs from a fresh render.
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Environment name.
    pub env: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Yaml)]
    pub format: ExplainFormat,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON document for programs.
    Json,
}

/// Formats of `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// YAML, like the environment files.
    Yaml,
    /// JSON.
    Json,
}

#[cfg(test)]
mod exit_code_help {
    use crate::error::exit;

    /// The help text spells the codes out for people; it must say what the code returns.
    #[test]
    fn the_help_names_every_exit_code_as_the_program_returns_it() {
        for (code, meaning) in [
            (0, "success"),
            (exit::NO, "an environment file is invalid"),
            (exit::COULD_NOT, "usage error"),
        ] {
            let line = format!("  {code}  {meaning}");
            assert!(super::EXIT_CODES.contains(&line), "missing `{line}`");
        }
    }
}
