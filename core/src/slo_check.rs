//! What the generator's PostSync Job and `slo-check` must agree on: the flag names the
//! Job passes, the exit codes its `podFailurePolicy` acts on, and the OpenSLO
//! annotations the generator writes and `slo-check` reads.

/// Long flag names of `slo-check`, without the leading `--`.
pub mod flags {
    /// OpenSLO documents (a file or a folder).
    pub const SLOS: &str = "slos";
    /// Environment name.
    pub const ENV: &str = "env";
    /// Folder of environment files.
    pub const ENVIRONMENTS: &str = "environments";
    /// Prometheus URL.
    pub const PROMETHEUS: &str = "prometheus";
    /// Evaluation window.
    pub const WINDOW: &str = "window";
    /// Post-sync soak.
    pub const SOAK: &str = "soak";
    /// Time between evaluations of a soak.
    pub const INTERVAL: &str = "interval";
    /// Report format.
    pub const FORMAT: &str = "format";
    /// File the one-line verdict is written to.
    pub const TERMINATION_LOG: &str = "termination-log";
    /// Deadline of one evaluation.
    pub const TIMEOUT: &str = "timeout";
}

/// Exit codes of `slo-check`.
pub mod exit {
    /// Every SLO met.
    pub const MET: i32 = 0;
    /// At least one SLO breached.
    pub const BREACHED: i32 = 1;
    /// Usage error or invalid SLO definitions.
    pub const USAGE: i32 = 2;
    /// Prometheus could not be asked.
    pub const UNREACHABLE: i32 = 3;
    /// No breach, but no data or low traffic.
    pub const NO_DATA: i32 = 4;
}

/// OpenSLO annotations the generator writes next to the standard fields.
pub mod annotations {
    /// The SLI's error ratio over `$window`, as PromQL.
    pub const ERROR_RATIO_QUERY: &str = "kubestore.dev/error-ratio-query";
    /// The recorded series of the error ratio over the SLO window.
    pub const RECORDED_ERROR_RATIO: &str = "kubestore.dev/recorded-error-ratio";
    /// The error budget as a ratio.
    pub const ERROR_BUDGET: &str = "kubestore.dev/error-budget";
    /// Where the post-sync check asks.
    pub const PROMETHEUS_URL: &str = "kubestore.dev/prometheus-url";
    /// `app` or `mesh`.
    pub const SLI_SOURCE: &str = "kubestore.dev/sli-source";
    /// Requests per second below which the SLO has too little traffic to judge.
    pub const MIN_REQUEST_RATE: &str = "kubestore.dev/min-request-rate";
    /// Burn rate that stops a post-sync soak at once (the page tier's factor).
    pub const FAST_BURN: &str = "kubestore.dev/fast-burn";
}

/// The placeholder an OpenSLO document's queries name their range with: the generator
/// writes it and slo-check replaces it with the window it evaluates.
pub const WINDOW_PLACEHOLDER: &str = "$window";
