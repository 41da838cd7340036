//! `rollout`: the stack's stand-in for the Argo Rollouts controller, driven by the Rollout
//! and AnalysisTemplate the environment renders. It starts the new version as the canary
//! replica (its own settings, its own sidecar), moves the weights of every caller's
//! weighted route live through the Envoy runtime, measures each rendered metric against
//! the local Prometheus at its interval and judges it as Argo Rollouts does; then it
//! promotes (the stable replicas are replaced by the new version, weights back to the
//! stable subset) or aborts (weight back to 0, the canary stopped). docs/local-stack.md
//! says what it does not reproduce.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use kubestore_core::catalog;
use kubestore_gen::envoy::ports::CANARY_REPLICA;
use kubestore_gen::envoy::translate::{subset_cluster_name, weight_runtime_prefix};
use kubestore_gen::render;

use crate::analysis::{Metric, Phase, Step, Strategy, Template};
use crate::http;
use crate::plan::{self, Versions};
use crate::stack::Stack;

/// How a release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every step passed: the new version is the stable one.
    Promoted,
    /// A measurement failed (or the canary never became ready): back to the stable version.
    Aborted,
    /// Too little to judge, or a pause waiting for a person: not promoted.
    Inconclusive,
}

impl Verdict {
    /// The exit code of `scripts/stack rollout`.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Promoted => 0,
            Self::Aborted => 1,
            Self::Inconclusive => 3,
        }
    }
}

/// One measurement, as an AnalysisRun shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Seconds since the release started.
    pub at: f64,
    /// Canary weight when measured.
    pub weight: u32,
    /// The template.
    pub template: String,
    /// The metric (`<slo>-canary-burn`, ...).
    pub metric: String,
    /// The measured value; None when the query answered nothing.
    pub value: Option<f64>,
    /// The judgement.
    pub phase: Phase,
    /// The rendered conditions it was judged by.
    pub limits: String,
}

/// The record of one release.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The service.
    pub service: String,
    /// Pod-template hash of the version that served before.
    pub stable_hash: String,
    /// Pod-template hash of the new version.
    pub canary_hash: String,
    /// The new version's settings.
    pub settings: Vec<(String, String)>,
    /// The outcome.
    pub verdict: Verdict,
    /// Why, in a sentence naming the metric, its value and its limit.
    pub reason: String,
    /// The measurement that decided, if one did.
    pub decided_by: Option<Measurement>,
    /// Canary weights set, in order, with the second they were set at.
    pub weights: Vec<(f64, u32)>,
    /// Every measurement.
    pub measurements: Vec<Measurement>,
    /// Seconds from start to verdict.
    pub seconds: f64,
}

/// One metric's run.
struct MetricRun {
    template: usize,
    metric: usize,
    due: Instant,
    taken: u32,
    failed: u32,
    inconclusive: u32,
    errors: u32,
    background: bool,
}

impl MetricRun {
    fn done(&self, metric: &Metric) -> bool {
        metric.count.is_some_and(|c| self.taken >= c)
    }
}

enum Stop {
    Verdict(Verdict, String, Option<Measurement>),
}

struct Controller<'a> {
    stack: &'a mut Stack,
    service: String,
    strategy: Strategy,
    templates: Vec<Template>,
    runs: Vec<MetricRun>,
    record: Record,
    started: Instant,
    weight: u32,
    progress: &'a mut dyn FnMut(&str),
}

/// The rendered object of `kind` named `name`.
fn rendered(objects: &[render::Object], kind: &str, name: &str) -> Option<Value> {
    objects
        .iter()
        .find(|o| o.value["kind"] == kind && o.value["metadata"]["name"] == name)
        .map(|o| o.value.clone())
}

/// Releases `settings` of `service` as a canary, step by step; `progress` gets one line per
/// event.
pub fn run(
    stack: &mut Stack,
    service: &str,
    settings: Vec<(String, String)>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Record> {
    let env = &stack.plan.env;
    if env.service(service).is_none() {
        bail!(
            "no service `{service}` in environment `{}` (services: {})",
            env.name,
            env.services
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let objects = render::render_all(env);
    let rollout = rendered(&objects, "Rollout", service).with_context(|| {
        format!(
            "`{service}` is released rolling in environment `{}`: no Rollout is rendered for it (set `release.strategy: canary`)",
            env.name
        )
    })?;
    let strategy = Strategy::from_object(&rollout)?;
    let mut names: Vec<String> = strategy.background.clone();
    for step in &strategy.steps {
        if let Step::Analysis(t) = step {
            names.extend(t.iter().cloned());
        }
    }
    names.sort();
    names.dedup();
    let templates = names
        .iter()
        .map(|name| {
            let object = rendered(&objects, "AnalysisTemplate", name).with_context(|| {
                format!("the Rollout names AnalysisTemplate `{name}`, which is not rendered")
            })?;
            Ok(Template::from_object(&object)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let current = stack
        .plan
        .versions
        .get(service)
        .cloned()
        .unwrap_or_default();
    let mut new = current.stable.clone();
    for (k, v) in &settings {
        new.retain(|(key, _)| key != k);
        new.push((k.clone(), v.clone()));
    }
    let stable_hash = plan::template_hash(service, &current.stable);
    let canary_hash = plan::template_hash(service, &new);
    if stable_hash == canary_hash {
        bail!(
            "the new version of `{service}` is the running one: give it a setting that differs (--set KEY=VALUE)"
        );
    }
    let record = Record {
        service: service.to_owned(),
        stable_hash,
        canary_hash,
        settings: new.clone(),
        verdict: Verdict::Inconclusive,
        reason: String::new(),
        decided_by: None,
        weights: Vec::new(),
        measurements: Vec::new(),
        seconds: 0.0,
    };
    let mut controller = Controller {
        stack,
        service: service.to_owned(),
        strategy,
        templates,
        runs: Vec::new(),
        record,
        started: Instant::now(),
        weight: 0,
        progress,
    };
    controller.stack.set_versions(
        service,
        Versions {
            stable: current.stable.clone(),
            canary: Some(new.clone()),
        },
    )?;
    let outcome = controller.release();
    let (verdict, reason, decided_by) = match outcome {
        Ok(Stop::Verdict(v, r, m)) => (v, r, m),
        Err(e) => {
            // Whatever broke, the shoppers go back to the stable version.
            let _ = controller.abort(&current);
            return Err(e);
        }
    };
    match verdict {
        Verdict::Promoted => controller.promote(new)?,
        _ => controller.abort(&current)?,
    }
    let mut record = controller.record;
    record.verdict = verdict;
    record.reason = reason;
    record.decided_by = decided_by;
    record.seconds = controller.started.elapsed().as_secs_f64();
    Ok(record)
}

impl Controller<'_> {
    fn say(&mut self, line: String) {
        (self.progress)(&format!(
            "[{:6.1} s] {line}",
            self.started.elapsed().as_secs_f64()
        ));
    }

    fn release(&mut self) -> anyhow::Result<Stop> {
        // A release interrupted before (its command killed) may have left its canary
        // running: it goes first, so the new one gets its ports.
        self.stop_canary();
        self.reload_prometheus()?;
        let canary_sidecar = self.stack.plan.sidecar_spec(&self.service, CANARY_REPLICA);
        let canary_app = self.stack.plan.app_spec(&self.service, CANARY_REPLICA);
        self.say(format!(
            "starting the canary {} (hash {}) with {}",
            canary_app.name,
            self.record.canary_hash,
            describe(&self.record.settings)
        ));
        self.stack.start(&canary_sidecar)?;
        if let Err(e) = self.stack.start(&canary_app) {
            return Ok(Stop::Verdict(
                Verdict::Aborted,
                format!("the new version never became ready: {e:#}"),
                None,
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.stack.healthy_in_callers(&self.service, CANARY_REPLICA) {
            if Instant::now() > deadline {
                bail!(
                    "the callers of {} never saw its canary healthy",
                    self.service
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let steps = self.strategy.steps.clone();
        for (index, step) in steps.iter().enumerate() {
            if index >= self.strategy.starting_step
                && !self.strategy.background.is_empty()
                && !self.runs.iter().any(|r| r.background)
            {
                let names = self.strategy.background.clone();
                self.start_runs(&names, true);
            }
            match step {
                Step::SetWeight(w) => self.set_weight(*w)?,
                Step::Pause(d) if *d == Duration::MAX => {
                    return Ok(Stop::Verdict(
                        Verdict::Inconclusive,
                        format!(
                            "step {}: a pause without a duration waits for a person; the stand-in does not wait",
                            index + 1
                        ),
                        None,
                    ));
                }
                Step::Pause(d) => {
                    self.say(format!(
                        "step {}: pause {} s at weight {}",
                        index + 1,
                        d.as_secs(),
                        self.weight
                    ));
                    let end = Instant::now() + *d;
                    while Instant::now() < end {
                        if let Some(stop) = self.tick()? {
                            return Ok(stop);
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                Step::Analysis(names) => {
                    self.say(format!("step {}: analysis {}", index + 1, names.join(", ")));
                    let first = self.runs.len();
                    self.start_runs(names, false);
                    loop {
                        if let Some(stop) = self.tick()? {
                            return Ok(stop);
                        }
                        let all_done = self.runs[first..]
                            .iter()
                            .all(|r| r.done(&self.templates[r.template].metrics[r.metric]));
                        if all_done {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    self.runs.truncate(first);
                }
            }
        }
        Ok(Stop::Verdict(
            Verdict::Promoted,
            format!(
                "every step passed ({} measurements)",
                self.record.measurements.len()
            ),
            None,
        ))
    }

    fn start_runs(&mut self, names: &[String], background: bool) {
        let now = Instant::now();
        for (t, template) in self.templates.iter().enumerate() {
            if !names.contains(&template.name) {
                continue;
            }
            for (m, metric) in template.metrics.iter().enumerate() {
                self.runs.push(MetricRun {
                    template: t,
                    metric: m,
                    due: now + metric.initial_delay,
                    taken: 0,
                    failed: 0,
                    inconclusive: 0,
                    errors: 0,
                    background,
                });
            }
        }
    }

    /// Takes every measurement that is due; a verdict when one decides the release.
    fn tick(&mut self) -> anyhow::Result<Option<Stop>> {
        let now = Instant::now();
        for i in 0..self.runs.len() {
            let run = &self.runs[i];
            let template = &self.templates[run.template];
            let metric = &template.metrics[run.metric];
            if run.done(metric) || run.due > now {
                continue;
            }
            let query = template.query(
                metric,
                &self.strategy.args,
                &self.record.canary_hash,
                &self.record.stable_hash,
            );
            let value = self.query(&query);
            let phase = metric.judge(value);
            let measurement = Measurement {
                at: self.started.elapsed().as_secs_f64(),
                weight: self.weight,
                template: template.name.clone(),
                metric: metric.name.clone(),
                value,
                phase,
                limits: metric.limits(),
            };
            let (name, interval, failure_limit, inconclusive_limit, error_limit) = (
                metric.name.clone(),
                metric.interval,
                metric.failure_limit,
                metric.inconclusive_limit,
                metric.consecutive_error_limit,
            );
            self.say(format!(
                "  {name} = {} -> {phase:?} ({})",
                value.map_or_else(|| "no value".to_owned(), |v| format!("{v:.4}")),
                measurement.limits
            ));
            self.record.measurements.push(measurement.clone());
            let run = &mut self.runs[i];
            run.taken += 1;
            run.due = now + interval;
            match phase {
                Phase::Successful => run.errors = 0,
                Phase::Failed => {
                    run.failed += 1;
                    run.errors = 0;
                }
                Phase::Inconclusive => {
                    run.inconclusive += 1;
                    run.errors = 0;
                }
                Phase::Error => run.errors += 1,
            }
            // Argo's limits are tolerances: the run fails at one more than the limit.
            if run.failed > failure_limit {
                return Ok(Some(Stop::Verdict(
                    Verdict::Aborted,
                    format!(
                        "{name} measured {} at weight {}: {}",
                        fmt(value),
                        self.weight,
                        measurement.limits
                    ),
                    Some(measurement),
                )));
            }
            if run.inconclusive > inconclusive_limit {
                return Ok(Some(Stop::Verdict(
                    Verdict::Inconclusive,
                    format!(
                        "{name} measured {} at weight {}: neither condition holds ({}), too little to judge",
                        fmt(value),
                        self.weight,
                        measurement.limits
                    ),
                    Some(measurement),
                )));
            }
            if run.errors > error_limit {
                return Ok(Some(Stop::Verdict(
                    Verdict::Aborted,
                    format!("{name}: {} measurements in a row had no value", run.errors),
                    Some(measurement),
                )));
            }
        }
        Ok(None)
    }

    /// An instant query's first value.
    fn query(&self, query: &str) -> Option<f64> {
        let answer = http::get(
            self.stack.plan.ports.prometheus(),
            &format!("/api/v1/query?query={}", http::encode(query)),
        )
        .ok()?;
        let json: Value = serde_json::from_str(&answer.body).ok()?;
        let data = &json["data"];
        let value = match data["resultType"].as_str()? {
            "scalar" => &data["result"][1],
            _ => &data["result"][0]["value"][1],
        };
        value.as_str()?.parse().ok()
    }

    fn set_weight(&mut self, weight: u32) -> anyhow::Result<()> {
        set_weight(
            self.stack,
            &self.service,
            [&self.strategy.stable_subset, &self.strategy.canary_subset],
            weight,
        )?;
        self.weight = weight;
        self.record
            .weights
            .push((self.started.elapsed().as_secs_f64(), weight));
        self.say(format!("weight {weight}% to the canary"));
        Ok(())
    }

    fn reload_prometheus(&mut self) -> anyhow::Result<()> {
        self.stack.plan.write_configs()?;
        http::request(
            self.stack.plan.ports.prometheus(),
            "POST",
            "/-/reload",
            None,
        )
        .context("cannot reload Prometheus")?;
        Ok(())
    }

    fn stop_canary(&mut self) {
        for name in [
            plan::app_name(&self.service, CANARY_REPLICA),
            plan::sidecar_name(&self.service, CANARY_REPLICA),
        ] {
            if let Some(p) = self.stack.process(&name).cloned() {
                // Its weight is 0 already; the drain lets in-flight requests finish.
                p.stop(Duration::from_secs(20));
            }
            self.stack.forget(&name);
        }
    }

    fn abort(&mut self, current: &Versions) -> anyhow::Result<()> {
        self.set_weight(0)?;
        self.stop_canary();
        self.stack.set_versions(
            &self.service,
            Versions {
                stable: current.stable.clone(),
                canary: None,
            },
        )?;
        self.reload_prometheus()?;
        self.say("aborted: weight 0, canary stopped".into());
        Ok(())
    }

    /// The new version becomes the stable one: every request to the canary while the
    /// stable replicas are replaced one by one with its settings, then back to the stable
    /// subset, and the canary goes.
    fn promote(&mut self, new: Vec<(String, String)>) -> anyhow::Result<()> {
        self.set_weight(100)?;
        self.stack.set_versions(
            &self.service,
            Versions {
                stable: new.clone(),
                canary: Some(new.clone()),
            },
        )?;
        self.say("promoting: replacing the stable replicas with the new version".into());
        self.stack.restart(&self.service)?;
        self.set_weight(0)?;
        self.stop_canary();
        self.stack.set_versions(
            &self.service,
            Versions {
                stable: new,
                canary: None,
            },
        )?;
        self.reload_prometheus()?;
        self.say("promoted".into());
        Ok(())
    }
}

/// Moves `weight` percent of every caller's requests to `service`'s canary subset
/// (`subsets`: the stable and the canary subset's names), live, on every caller's Envoy.
pub fn set_weight(
    stack: &Stack,
    service: &str,
    subsets: [&str; 2],
    weight: u32,
) -> anyhow::Result<()> {
    let ns = &stack.plan.env.namespace;
    let port = catalog::service(service)
        .map(|d| u32::from(d.port))
        .unwrap_or_default();
    let prefix = weight_runtime_prefix(service, ns);
    let key = |subset: &str| {
        http::encode(&format!(
            "{prefix}.{}",
            subset_cluster_name(service, port, subset, ns)
        ))
    };
    let weight = weight.min(100);
    let path = format!(
        "/runtime_modify?{}={}&{}={weight}",
        key(subsets[0]),
        100 - weight,
        key(subsets[1]),
    );
    for admin in stack.caller_admins(service) {
        let answer = http::request(admin, "POST", &path, None)
            .with_context(|| format!("cannot reach the Envoy admin on 127.0.0.1:{admin}"))?;
        if answer.status != 200 {
            bail!(
                "the Envoy on 127.0.0.1:{admin} refused the weights: {} {}",
                answer.status,
                answer.body.trim()
            );
        }
    }
    Ok(())
}

fn fmt(value: Option<f64>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |v| format!("{v:.4}"))
}

fn describe(settings: &[(String, String)]) -> String {
    if settings.is_empty() {
        return "the stable settings".into();
    }
    settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
