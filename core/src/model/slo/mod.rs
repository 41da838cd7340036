//! Service level objectives, validated: per service an availability and a latency SLO,
//! the compliance window, the SLI source, the low-traffic floor and the alert tiers, plus
//! the burn-rate arithmetic every renderer shares (recording windows, alert windows and
//! thresholds), computed with integers so thresholds print as exact decimals.
//!
//! Their checks, and the warnings they give (a service promising more availability than
//! its synchronous dependencies can give, an objective so loose that a burn-rate alert
//! can never fire), live in `checks.rs`.

use serde::{Serialize, Serializer};

mod checks;

pub(super) use checks::validate;

use super::units::{Duration, Percent};
use crate::catalog::ServiceDef;

/// Compliance windows Prometheus keeps enough data for (its default retention is 15d, so
/// a 30d window needs `--storage.tsdb.retention.time` of at least 30d).
pub const WINDOWS: [&str; 3] = ["30d", "28d", "7d"];

/// Bucket bounds of `http_request_duration_seconds`, in milliseconds (the store API).
pub const APP_BUCKETS_MS: &[u64] = &[5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// Bucket bounds of `istio_request_duration_milliseconds` (Istio's defaults) that a
/// duration can name; Istio's first bound, 0.5ms, is below the 1ms resolution of
/// durations.
pub const MESH_BUCKETS_MS: &[u64] = &[
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
    1800000, 3600000,
];

/// Where the SLIs are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SliSource {
    /// Istio's standard metrics, reported by the destination's sidecar.
    Mesh,
    /// The services' own `http_requests_total` and `http_request_duration_seconds`.
    App,
}

impl SliSource {
    /// The latency histogram's bucket bounds in milliseconds.
    pub fn buckets_ms(self) -> &'static [u64] {
        match self {
            SliSource::Mesh => MESH_BUCKETS_MS,
            SliSource::App => APP_BUCKETS_MS,
        }
    }
}

/// What an SLO measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SloKind {
    /// Requests answered without a 5xx.
    Availability,
    /// Requests answered faster than a threshold.
    Latency,
}

impl SloKind {
    /// The `slo` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SloKind::Availability => "availability",
            SloKind::Latency => "latency",
        }
    }
}

/// Which alert tiers are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Alerts {
    /// Fast burn: pages.
    pub page: bool,
    /// Slow burn: opens a ticket.
    pub ticket: bool,
    /// The SLI's series disappeared.
    pub absent: bool,
}

impl Alerts {
    /// Whether the burn-rate alert of `tier` is on.
    pub fn on(self, tier: Tier) -> bool {
        match tier {
            Tier::Page => self.page,
            Tier::Ticket => self.ticket,
        }
    }
}

/// Requests per second, exact to a millionth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestRate {
    micro: u64,
}

impl RequestRate {
    /// Parses `0.5/s`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{text}` is not a request rate: expected requests per second, e.g. `0.5/s`")
        };
        let number = text.strip_suffix("/s").ok_or_else(bad)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty()
            || whole.len() > 9
            || fraction.len() > 6
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let fraction: u64 = format!("{fraction:0<6}").parse().map_err(|_| bad())?;
        Ok(Self {
            micro: whole * 1_000_000 + fraction,
        })
    }

    /// Millionths of a request per second.
    pub fn micro(self) -> u64 {
        self.micro
    }

    /// Requests per second as an exact decimal, for PromQL (`0.5`).
    pub fn per_second(self) -> String {
        decimal(u128::from(self.micro), 1_000_000)
    }
}

impl std::fmt::Display for RequestRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/s", self.per_second())
    }
}

impl Serialize for RequestRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One SLO of a service.
#[derive(Debug, Clone, Serialize)]
pub struct Slo {
    /// What it measures.
    pub kind: SloKind,
    /// Share of good requests promised over the window.
    pub objective: Percent,
    /// Latency threshold (latency SLOs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Duration>,
    /// Which alert tiers are on for this SLO.
    pub alerts: Alerts,
    /// Below this request rate the fast-burn alert does not page.
    pub min_request_rate: RequestRate,
}

/// Millionths of a percent in one (100%).
const WHOLE: u64 = 100_000_000;

impl Slo {
    /// The error budget in millionths of a percent: 100% minus the objective.
    pub fn budget_micro(&self) -> u64 {
        WHOLE - self.objective.micro()
    }

    /// The objective as a ratio, e.g. `0.999`.
    pub fn objective_ratio(&self) -> String {
        decimal(u128::from(self.objective.micro()), u128::from(WHOLE))
    }

    /// The error budget as a ratio, e.g. `0.001`.
    pub fn budget_ratio(&self) -> String {
        decimal(u128::from(self.budget_micro()), u128::from(WHOLE))
    }
}

/// The SLOs of one service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSlos {
    /// The service.
    #[serde(rename = "service", serialize_with = "def_name")]
    pub def: &'static ServiceDef,
    /// Compliance window.
    pub window: Duration,
    /// SLI source.
    pub source: SliSource,
    /// Whether the service answers when a dependency fails.
    pub degrades_gracefully: bool,
    /// Availability first, then latency.
    pub slos: Vec<Slo>,
}

impl ServiceSlos {
    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.def.name
    }

    /// The multi-window burn-rate alert conditions for this service's window.
    pub fn burn_windows(&self) -> Vec<BurnWindow> {
        burn_windows(self.window)
    }

    /// Every range the error ratios are recorded over, shortest first, ending with the
    /// window itself.
    pub fn rate_windows(&self) -> Vec<Duration> {
        rate_windows(self.window)
    }
}

/// Alert tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Wakes someone up.
    Page,
    /// Waits for working hours.
    Ticket,
}

impl Tier {
    /// The `severity` label.
    pub fn severity(self) -> &'static str {
        match self {
            Tier::Page => "page",
            Tier::Ticket => "ticket",
        }
    }
}

/// One multi-window burn-rate condition (Google SRE workbook, chapter 5, table 5-8):
/// the error ratio is above `factor x budget` over both the long and the short window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurnWindow {
    /// Page or ticket.
    pub tier: Tier,
    /// Share of the whole error budget this condition catches, in percent.
    pub budget_percent: u64,
    /// Long window: the budget share is spent within it.
    pub long: Duration,
    /// Short window: confirms the burn is still going on, so the alert resets quickly.
    pub short: Duration,
    /// The SLO window, which the factor is relative to.
    window: Duration,
}

/// The workbook's conditions for a 30-day window: (tier, budget share %, long, short).
const WORKBOOK: [(Tier, u64, u64, u64); 4] = [
    (Tier::Page, 2, HOUR, 5 * MINUTE),
    (Tier::Page, 5, 6 * HOUR, 30 * MINUTE),
    (Tier::Ticket, 10, DAY, 2 * HOUR),
    (Tier::Ticket, 10, 3 * DAY, 6 * HOUR),
];

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const THIRTY_DAYS: u64 = 30 * DAY;

/// Scales a workbook duration (written for 30 days) to `window`. Every workbook duration
/// is a whole number of minutes and a minute is 60000ms, so the division is exact for any
/// window of whole days.
fn scaled(millis: u64, window: Duration) -> Duration {
    Duration::from_millis(millis * window.millis() / THIRTY_DAYS)
}

/// The burn-rate conditions for `window`: the workbook's windows scaled by
/// `window / 30d`, so each condition still catches the same share of the budget.
pub fn burn_windows(window: Duration) -> Vec<BurnWindow> {
    WORKBOOK
        .iter()
        .map(|&(tier, budget_percent, long, short)| BurnWindow {
            tier,
            budget_percent,
            long: scaled(long, window),
            short: scaled(short, window),
            window,
        })
        .collect()
}

/// The page tier's fastest burn-rate factor: 2% of the budget in the first hour of a
/// 30-day window, 14.4. Alert windows scale with the SLO window, so the factor is the same
/// for every window; tools that judge a fast burn without an environment, and a canary
/// step that would page at this burn, use this one.
pub fn page_factor() -> f64 {
    let (n, d) = burn_windows(Duration::from_millis(THIRTY_DAYS))[0].factor_fraction();
    n as f64 / d as f64
}

/// The ranges error ratios are recorded over: every alert window, then the SLO window.
pub fn rate_windows(window: Duration) -> Vec<Duration> {
    let mut out: Vec<Duration> = burn_windows(window)
        .iter()
        .flat_map(|b| [b.short, b.long])
        .collect();
    out.sort();
    out.dedup();
    out.push(window);
    out
}

impl BurnWindow {
    /// `(numerator, denominator)` of the burn-rate factor: spending `budget_percent` of
    /// the budget within `long` means burning `budget_percent/100 x window / long` times
    /// faster than the rate that spends exactly the budget over the window.
    fn factor_fraction(&self) -> (u128, u128) {
        (
            u128::from(self.budget_percent) * u128::from(self.window.millis()),
            100 * u128::from(self.long.millis()),
        )
    }

    /// The burn-rate factor as an exact decimal (`14.4`).
    pub fn factor(&self) -> String {
        let (n, d) = self.factor_fraction();
        decimal(n, d)
    }

    /// The error-ratio threshold for `slo`: factor x budget, as an exact decimal
    /// (`0.0144` for 14.4 x 0.1%).
    pub fn threshold(&self, slo: &Slo) -> String {
        let (n, d) = self.threshold_fraction(slo);
        decimal(n, d)
    }

    fn threshold_fraction(&self, slo: &Slo) -> (u128, u128) {
        let (n, d) = self.factor_fraction();
        (n * u128::from(slo.budget_micro()), d * u128::from(WHOLE))
    }

    /// Whether the threshold is at or above an error ratio of 1, where the alert can
    /// never fire.
    pub fn unreachable(&self, slo: &Slo) -> bool {
        let (n, d) = self.threshold_fraction(slo);
        n >= d
    }
}

/// The post-sync SLO check.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PostSyncCheck {
    /// Whether Argo CD runs it after each sync.
    pub enabled: bool,
    /// Window it measures.
    pub window: Duration,
}

/// Every SLO of an environment.
#[derive(Debug, Clone, Serialize)]
pub struct Slos {
    /// Per service, in catalogue order.
    pub services: Vec<ServiceSlos>,
    /// The post-sync check.
    pub post_sync_check: PostSyncCheck,
}

impl Slos {
    /// The SLOs of `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSlos> {
        self.services.iter().find(|s| s.name() == name)
    }
}

/// `n / d` as an exact decimal without trailing zeros (`0.0144`, `14.4`, `3`). Fractions
/// used here always terminate (their denominators are products of 2, 3 and 5 whose 3s
/// cancel); one that does not is cut after 18 digits rather than looping.
pub fn decimal(n: u128, d: u128) -> String {
    assert!(d > 0, "a decimal needs a denominator");
    let mut out = (n / d).to_string();
    let mut rest = n % d;
    if rest != 0 {
        out.push('.');
        let mut digits = 0;
        while rest != 0 && digits < 18 {
            rest *= 10;
            out.push(char::from(b'0' + (rest / d) as u8));
            rest %= d;
            digits += 1;
        }
    }
    out
}

fn def_name<S: Serializer>(def: &&'static ServiceDef, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(def.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(objective: &str) -> Slo {
        Slo {
            kind: SloKind::Availability,
            objective: Percent::parse(objective).unwrap(),
            threshold: None,
            alerts: Alerts {
                page: true,
                ticket: true,
                absent: true,
            },
            min_request_rate: RequestRate::parse("0.5/s").unwrap(),
        }
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal(144, 10), "14.4");
        assert_eq!(decimal(3, 1), "3");
        assert_eq!(decimal(1, 1000), "0.001");
        assert_eq!(decimal(1, 3), "0.333333333333333333");
    }

    #[test]
    fn workbook_thresholds_for_thirty_days() {
        let windows = burn_windows(Duration::parse("30d").unwrap());
        let got: Vec<_> = windows
            .iter()
            .map(|b| {
                (
                    b.long.to_string(),
                    b.short.to_string(),
                    b.factor(),
                    b.threshold(&slo("99.9%")),
                )
            })
            .collect();
        let want = [
            ("1h", "5m", "14.4", "0.0144"),
            ("6h", "30m", "6", "0.006"),
            ("1d", "2h", "3", "0.003"),
            ("3d", "6h", "1", "0.001"),
        ];
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2.as_str(), g.3.as_str()), w);
        }
        assert_eq!(windows[0].threshold(&slo("99.95%")), "0.0072");
        assert_eq!(windows[0].threshold(&slo("99.99%")), "0.00144");
    }

    #[test]
    fn the_page_factor_is_the_workbooks() {
        assert_eq!(page_factor(), 14.4);
    }

    #[test]
    fn shorter_windows_scale_the_alert_windows_and_keep_the_budget_shares() {
        let w28 = burn_windows(Duration::parse("28d").unwrap());
        assert_eq!(w28[0].long.to_string(), "56m");
        assert_eq!(w28[0].short.to_string(), "280s");
        assert_eq!(w28[0].factor(), "14.4");
        let w7 = burn_windows(Duration::parse("7d").unwrap());
        assert_eq!(
            w7.iter()
                .map(|b| format!("{}/{}", b.long, b.short))
                .collect::<Vec<_>>(),
            ["14m/70s", "84m/7m", "336m/28m", "1008m/84m"]
        );
        assert_eq!(
            rate_windows(Duration::parse("7d").unwrap())
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["70s", "7m", "14m", "28m", "84m", "336m", "1008m", "7d"]
        );
    }

    #[test]
    fn request_rates_parse_exactly() {
        assert_eq!(RequestRate::parse("0.5/s").unwrap().micro(), 500_000);
        assert_eq!(RequestRate::parse("2/s").unwrap().to_string(), "2/s");
        assert_eq!(RequestRate::parse("0.05/s").unwrap().per_second(), "0.05");
        for bad in ["0.5", "1/m", "/s", "-1/s", "1.2345678/s", "x/s"] {
            assert!(RequestRate::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
