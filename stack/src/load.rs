//! Open-loop load through the ingress: requests start at a fixed rate whatever the answers
//! take, as real shoppers arrive, for a bounded time. Pages (catalogue, product, cart) and
//! the add-to-cart form; each answer is recorded with its start time, so a test can see
//! when failures began and ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Most requests per second `load` sends.
pub const MAX_RATE: u32 = 2000;
/// Longest `load` runs.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// One request's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the load started.
    pub at: f64,
    /// What was asked (`GET /products/{id}`).
    pub what: &'static str,
    /// Status, or 0 when no answer came.
    pub status: u16,
    /// Seconds until the answer.
    pub latency: f64,
}

impl Sample {
    /// A 5xx or no answer at all: what a shopper notices.
    pub fn failed(&self) -> bool {
        self.status == 0 || self.status >= 500
    }
}

/// Every sample of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The samples, in start order.
    pub samples: Vec<Sample>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// Summary figures of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Requests sent.
    pub requests: usize,
    /// Failed (5xx or no answer).
    pub failed: usize,
    /// Answers per second.
    pub throughput: f64,
    /// Median latency, seconds.
    pub p50: f64,
    /// 99th percentile latency, seconds.
    pub p99: f64,
    /// Count per status (0: no answer).
    pub statuses: std::collections::BTreeMap<u16, usize>,
}

impl Report {
    /// Failed samples.
    pub fn failures(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(|s| s.failed())
    }

    /// The figures.
    pub fn summary(&self) -> Summary {
        let mut latencies: Vec<f64> = self.samples.iter().map(|s| s.latency).collect();
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            if latencies.is_empty() {
                0.0
            } else {
                latencies[((latencies.len() as f64 - 1.0) * p).round() as usize]
            }
        };
        let mut statuses = std::collections::BTreeMap::new();
        for s in &self.samples {
            *statuses.entry(s.status).or_insert(0) += 1;
        }
        Summary {
            requests: self.samples.len(),
            failed: self.failures().count(),
            throughput: self.samples.len() as f64 / self.seconds.max(0.001),
            p50: pct(0.5),
            p99: pct(0.99),
            statuses,
        }
    }
}

/// Drives `base_url` at `rate` requests per second for `duration`.
pub fn run(base_url: &str, rate: u32, duration: Duration) -> anyhow::Result<Report> {
    run_until(base_url, rate, duration, &AtomicBool::new(false))
}

/// Like [`run`], but stops early once `stop` is set.
pub fn run_until(
    base_url: &str,
    rate: u32,
    duration: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<Report> {
    let rate = rate.clamp(1, MAX_RATE);
    let duration = duration.min(MAX_DURATION);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(drive(
        base_url.trim_end_matches('/').to_owned(),
        rate,
        duration,
        stop,
    ))
}

async fn drive(
    base: String,
    rate: u32,
    duration: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .build()?;
    let ids = product_ids(&client, &base).await;
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let mut n: usize = 0;
    while start.elapsed() < duration && !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let client = client.clone();
        let id = ids.get(n % ids.len().max(1)).copied().unwrap_or(1);
        let (what, request) = match n % 10 {
            0..=3 => ("GET /", client.get(format!("{base}/"))),
            4..=7 => (
                "GET /products/{id}",
                client.get(format!("{base}/products/{id}")),
            ),
            8 => ("GET /cart", client.get(format!("{base}/cart"))),
            _ => (
                "POST /cart/items",
                client
                    .post(format!("{base}/cart/items"))
                    .form(&[("product_id", id.to_string()), ("quantity", "1".to_owned())]),
            ),
        };
        n += 1;
        let at = start.elapsed().as_secs_f64();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let status = match request.send().await {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    // Read the whole body: a page cut short is a failure too.
                    if answer.bytes().await.is_ok() {
                        status
                    } else {
                        0
                    }
                }
                Err(_) => 0,
            };
            Sample {
                at,
                what,
                status,
                latency: sent.elapsed().as_secs_f64(),
            }
        }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for t in tasks {
        samples.push(t.await?);
    }
    Ok(Report {
        samples,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Product ids from the catalogue page's links.
async fn product_ids(client: &reqwest::Client, base: &str) -> Vec<u64> {
    let Ok(answer) = client.get(format!("{base}/")).send().await else {
        return Vec::new();
    };
    let page = answer.text().await.unwrap_or_default();
    let mut ids: Vec<u64> = page
        .split("/products/")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
