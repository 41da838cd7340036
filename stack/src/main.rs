//! `kubestore-stack`: see `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use kubestore_gen::envoy::ports;
use kubestore_stack::load;
use kubestore_stack::stack::{Request, Stack};

const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  the stack could not be brought up, changed or driven (the message says why)\n  2  usage error";

/// Runs an environment of the store on one machine behind real Envoy sidecars, with
/// Prometheus and Alertmanager.
#[derive(Debug, Parser)]
#[command(name = "kubestore-stack", version, after_help = EXIT_CODES)]
struct Cli {
    /// Run folder: configurations, logs, data and the record of what runs.
    #[arg(
        long,
        global = true,
        default_value = ".stack",
        env = "KUBESTORE_STACK_DIR"
    )]
    run_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the stack (idempotent: only what does not run yet is started).
    #[command(after_help = EXIT_CODES)]
    Up {
        /// Environment name.
        #[arg(default_value = "dev")]
        env: String,
        /// Folder of the environment files.
        #[arg(long, default_value = "environments", env = "KUBESTORE_ENVIRONMENTS")]
        environments: PathBuf,
        /// First port of the port plan (the stack uses this port and the next 999; 1024 to 64536).
        #[arg(long, default_value_t = ports::DEFAULT_BASE, env = "KUBESTORE_STACK_PORT_BASE",
              value_parser = ports::parse_base)]
        port_base: u16,
        /// Folder of the service binaries; default: the folder of this program.
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// Alertmanager webhook to send every alert to (repeatable).
        #[arg(long)]
        webhook: Vec<String>,
    },
    /// Stop exactly what `up` started.
    #[command(after_help = EXIT_CODES)]
    Down,
    /// Print STORE_URL, PROMETHEUS_URL and ALERTMANAGER_URL as shell assignments.
    #[command(after_help = EXIT_CODES)]
    Env,
    /// Print where everything runs.
    #[command(after_help = EXIT_CODES)]
    Status,
    /// Drive pages and the add-to-cart form through the ingress.
    #[command(after_help = EXIT_CODES)]
    Load {
        /// Requests per second (at most 2000).
        #[arg(long, default_value_t = 20)]
        rate: u32,
        /// How long, in seconds (at most 600).
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Replace each replica of a service in turn (SIGTERM, drain, start, wait ready).
    #[command(after_help = EXIT_CODES)]
    Restart {
        /// Service name.
        service: String,
    },
    /// Release a new version of a canary service the way the rendered Rollout and
    /// AnalysisTemplate release it in the cluster: start it beside the stable replicas,
    /// move the weights step by step, judge each step against the local Prometheus, then
    /// promote it or abort.
    #[command(after_help = ROLLOUT_EXIT_CODES)]
    Rollout {
        /// Service name (its environment must set `release.strategy: canary`).
        service: String,
        /// A setting of the new version, `KEY=VALUE` on top of its ConfigMap (repeatable),
        /// e.g. `--set PRODUCTS_URL=http://127.0.0.1:1` for a version that cannot reach
        /// the catalogue.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_setting, required = true)]
        settings: Vec<(String, String)>,
        /// Report format: each step as it happens and the verdict, or one JSON record.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Re-render from the environment file and restart the Envoys whose configuration
    /// changed (e.g. after adding a chaos experiment).
    #[command(after_help = EXIT_CODES)]
    Apply,
}

const ROLLOUT_EXIT_CODES: &str = "Exit codes:\n  0  promoted: the new version serves every request\n  1  aborted: a measurement failed or the new version never became ready; the stable version serves\n  2  usage error, or the stack could not be driven (the message says why)\n  3  inconclusive: too little traffic to judge (or a pause that waits for a person); not promoted";

fn parse_setting(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{raw}` is not KEY=VALUE")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rollout = matches!(cli.command, Command::Rollout { .. });
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("kubestore-stack: {e:#}");
            // For `rollout`, 1 means "aborted"; a stack it could not drive is 2.
            ExitCode::from(if rollout { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Rollout {
            service,
            settings,
            format,
        } => {
            let mut stack = Stack::open(&cli.run_dir, None)?;
            let mut progress = |line: &str| {
                if format == Format::Text {
                    println!("{line}");
                }
            };
            let record =
                kubestore_stack::rollout::run(&mut stack, &service, settings, &mut progress)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&record)?),
                Format::Text => println!(
                    "{service}: {:?} after {:.1} s: {}",
                    record.verdict, record.seconds, record.reason
                ),
            }
            return Ok(record.verdict.exit_code());
        }
        Command::Up {
            env,
            environments,
            port_base,
            bin_dir,
            webhook,
        } => {
            let bin_dir = match bin_dir {
                Some(dir) => dir,
                None => std::env::current_exe()?
                    .parent()
                    .map(PathBuf::from)
                    .unwrap_or_default(),
            };
            let environments = std::path::absolute(&environments)?;
            let request = Request {
                env,
                environments,
                port_base,
                bin_dir,
                webhooks: webhook,
            };
            let started = std::time::Instant::now();
            let mut stack = Stack::open(&cli.run_dir, Some(request))?;
            stack.up()?;
            print!("{}", stack.summary());
            eprintln!("up in {:.1} s", started.elapsed().as_secs_f64());
        }
        Command::Down => match Stack::open(&cli.run_dir, None) {
            Ok(mut stack) => {
                let stopped = stack.down();
                eprintln!("stopped {} process(es)", stopped.len());
            }
            Err(_) => eprintln!("nothing runs in {}", cli.run_dir.display()),
        },
        Command::Env => print!("{}", Stack::open(&cli.run_dir, None)?.env_lines()),
        Command::Status => print!("{}", Stack::open(&cli.run_dir, None)?.summary()),
        Command::Load {
            rate,
            seconds,
            format,
        } => {
            let stack = Stack::open(&cli.run_dir, None)?;
            let report = load::run(&stack.plan.store_url(), rate, Duration::from_secs(seconds))?;
            let summary = report.summary();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
                Format::Text => println!(
                    "{} requests in {:.1} s ({:.1}/s), {} failed; p50 {:.1} ms, p99 {:.1} ms; statuses {:?}",
                    summary.requests,
                    report.seconds,
                    summary.throughput,
                    summary.failed,
                    summary.p50 * 1000.0,
                    summary.p99 * 1000.0,
                    summary.statuses
                ),
            }
        }
        Command::Restart { service } => {
            let mut stack = Stack::open(&cli.run_dir, None)?;
            stack.restart(&service)?;
            eprintln!("restarted both replicas of {service}");
        }
        Command::Apply => {
            let mut stack = Stack::open(&cli.run_dir, None)?;
            let restarted = stack.apply()?;
            eprintln!(
                "restarted {} Envoy(s): {}",
                restarted.len(),
                restarted.join(", ")
            );
        }
    }
    Ok(0)
}
