//! The rendered Argo Rollouts objects as the stack's stand-in controller reads them: the
//! Rollout's canary steps and the AnalysisTemplate's metrics, taken from the objects
//! `kubestore-gen` renders (never a second definition), and the judging of one
//! measurement exactly as Argo Rollouts judges it (`utils/evaluate`): a failure condition
//! that holds fails; without a failure condition a success condition that does not hold
//! fails too; neither holding is Inconclusive.
//!
//! Conditions are read in the one form the generator renders, `result[0] <op> number`
//! joined by `&&`; anything else is refused by name rather than guessed at.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// What is wrong with a rendered Rollout or AnalysisTemplate, for this stand-in.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A condition outside the form the generator renders.
    #[error(
        "metric `{metric}`: condition `{condition}` is not of the form `result[0] <op> number` joined by `&&`"
    )]
    Condition {
        /// The metric.
        metric: String,
        /// The condition text.
        condition: String,
    },
    /// A duration Argo would accept but this reader does not.
    #[error("{what}: `{value}` is not a duration such as `30s`, `1m` or `1m30s`")]
    Duration {
        /// Where.
        what: String,
        /// The text.
        value: String,
    },
    /// A field the stand-in needs is missing.
    #[error("{object}: `{field}` is missing")]
    Missing {
        /// The object.
        object: String,
        /// The field path.
        field: String,
    },
}

/// A comparison operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Le,
    Gt,
    Lt,
    Eq,
    Ne,
}

/// `result[0] <op> number` joined by `&&`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    terms: Vec<(Op, f64)>,
    text: String,
}

impl Condition {
    /// Reads a condition of metric `metric`.
    pub fn parse(metric: &str, text: &str) -> Result<Self, AnalysisError> {
        let refuse = || AnalysisError::Condition {
            metric: metric.to_owned(),
            condition: text.to_owned(),
        };
        let mut terms = Vec::new();
        for term in text.split("&&") {
            let rest = term.trim().strip_prefix("result[0]").ok_or_else(refuse)?;
            let rest = rest.trim_start();
            let (op, number) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("==", Op::Eq),
                ("!=", Op::Ne),
                (">", Op::Gt),
                ("<", Op::Lt),
            ]
            .into_iter()
            .find_map(|(token, op)| rest.strip_prefix(token).map(|n| (op, n)))
            .ok_or_else(refuse)?;
            let number: f64 = number.trim().parse().map_err(|_| refuse())?;
            terms.push((op, number));
        }
        Ok(Self {
            terms,
            text: text.to_owned(),
        })
    }

    /// Whether it holds for a measured value.
    pub fn holds(&self, value: f64) -> bool {
        self.terms.iter().all(|(op, n)| match op {
            Op::Ge => value >= *n,
            Op::Le => value <= *n,
            Op::Gt => value > *n,
            Op::Lt => value < *n,
            Op::Eq => value == *n,
            Op::Ne => value != *n,
        })
    }

    /// The condition as rendered.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The outcome of one measurement, or of a whole analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub enum Phase {
    /// The success condition holds.
    Successful,
    /// The failure condition holds (or, without one, the success condition does not).
    Failed,
    /// Neither condition holds: too little to judge.
    Inconclusive,
    /// No value to judge (the query failed or returned nothing).
    Error,
}

/// One metric of an AnalysisTemplate.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Its name (`<slo>-canary-burn`, ...).
    pub name: String,
    /// The PromQL, with `{{args.*}}` still in it.
    pub query: String,
    /// How often it is measured.
    pub interval: Duration,
    /// Wait before the first measurement (Argo measures at once without it).
    pub initial_delay: Duration,
    /// How many measurements; None: until the rollout ends.
    pub count: Option<u32>,
    /// Failed measurements tolerated (the run fails at one more).
    pub failure_limit: u32,
    /// Inconclusive measurements tolerated (the rollout pauses at one more).
    pub inconclusive_limit: u32,
    /// Consecutive errors tolerated.
    pub consecutive_error_limit: u32,
    /// Success condition.
    pub success: Option<Condition>,
    /// Failure condition.
    pub failure: Option<Condition>,
}

impl Metric {
    /// Judges a measured value as Argo Rollouts does; None (nothing measured) is an Error.
    pub fn judge(&self, value: Option<f64>) -> Phase {
        let Some(value) = value else {
            return Phase::Error;
        };
        let success = self.success.as_ref().map(|c| c.holds(value));
        let failure = self.failure.as_ref().map(|c| c.holds(value));
        let (success, failure) = match (success, failure) {
            (None, None) => return Phase::Successful,
            (Some(s), None) => (s, !s),
            (None, Some(f)) => (!f, f),
            (Some(s), Some(f)) => (s, f),
        };
        if failure {
            Phase::Failed
        } else if success {
            Phase::Successful
        } else {
            Phase::Inconclusive
        }
    }

    /// The limit a user reads next to the value: the conditions as rendered.
    pub fn limits(&self) -> String {
        let mut out = Vec::new();
        if let Some(c) = &self.success {
            out.push(format!("success when {}", c.text()));
        }
        if let Some(c) = &self.failure {
            out.push(format!("failure when {}", c.text()));
        }
        out.join("; ")
    }
}

/// An argument of the template and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// A literal.
    Literal(String),
    /// `valueFrom.podTemplateHashValue: Latest`: the canary's hash.
    CanaryHash,
    /// `valueFrom.podTemplateHashValue: Stable`: the stable version's hash.
    StableHash,
}

/// An AnalysisTemplate.
#[derive(Debug, Clone)]
pub struct Template {
    /// Its name.
    pub name: String,
    /// Its arguments.
    pub args: Vec<(String, ArgValue)>,
    /// Its metrics.
    pub metrics: Vec<Metric>,
}

/// A step of the canary strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this share of the requests (percent) to the canary.
    SetWeight(u32),
    /// Wait, while background analysis runs.
    Pause(Duration),
    /// Run these templates to the end of their counts before going on.
    Analysis(Vec<String>),
}

/// The canary strategy of a Rollout.
#[derive(Debug, Clone)]
pub struct Strategy {
    /// Its steps.
    pub steps: Vec<Step>,
    /// Background analysis templates, if any.
    pub background: Vec<String>,
    /// The step from which background analysis runs.
    pub starting_step: usize,
    /// The arguments the Rollout gives its analysis.
    pub args: Vec<(String, ArgValue)>,
    /// The DestinationRule subset names.
    pub stable_subset: String,
    /// See `stable_subset`.
    pub canary_subset: String,
}

/// Reads a Go duration as Argo writes them (`30s`, `5m`, `1m30s`, `500ms`, `1h`).
pub fn parse_duration(what: &str, text: &str) -> Result<Duration, AnalysisError> {
    let refuse = || AnalysisError::Duration {
        what: what.to_owned(),
        value: text.to_owned(),
    };
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(refuse());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(refuse)?;
        let n: u64 = rest[..digits].parse().map_err(|_| refuse())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(refuse()),
        };
    }
    Ok(total)
}

fn missing(object: &str, field: &str) -> AnalysisError {
    AnalysisError::Missing {
        object: object.to_owned(),
        field: field.to_owned(),
    }
}

fn duration_field(object: &str, v: &Value, field: &str) -> Result<Duration, AnalysisError> {
    match v.get(field) {
        // Argo accepts a number of seconds too.
        Some(Value::Number(n)) => Ok(Duration::from_secs(n.as_u64().unwrap_or(0))),
        Some(Value::String(s)) => parse_duration(&format!("{object}: {field}"), s),
        _ => Err(missing(object, field)),
    }
}

fn u32_field(v: &Value, field: &str) -> Option<u32> {
    match v.get(field)? {
        Value::Number(n) => n.as_u64().map(|n| n as u32),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl Template {
    /// Reads a rendered AnalysisTemplate.
    pub fn from_object(object: &Value) -> Result<Self, AnalysisError> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or("AnalysisTemplate")
            .to_owned();
        let what = format!("AnalysisTemplate {name}");
        let spec = &object["spec"];
        let args = args(&spec["args"]);
        let mut metrics = Vec::new();
        for m in spec["metrics"]
            .as_array()
            .ok_or_else(|| missing(&what, "spec.metrics"))?
        {
            let metric = m["name"].as_str().unwrap_or_default().to_owned();
            let mwhat = format!("{what}: metric {metric}");
            let query = m["provider"]["prometheus"]["query"]
                .as_str()
                .ok_or_else(|| missing(&mwhat, "provider.prometheus.query"))?
                .to_owned();
            let condition = |field: &str| {
                m[field]
                    .as_str()
                    .filter(|s| !s.trim().is_empty())
                    .map(|c| Condition::parse(&metric, c))
                    .transpose()
            };
            metrics.push(Metric {
                query,
                interval: duration_field(&mwhat, m, "interval")?,
                initial_delay: if m.get("initialDelay").is_some() {
                    duration_field(&mwhat, m, "initialDelay")?
                } else {
                    Duration::ZERO
                },
                count: u32_field(m, "count"),
                failure_limit: u32_field(m, "failureLimit").unwrap_or(0),
                inconclusive_limit: u32_field(m, "inconclusiveLimit").unwrap_or(0),
                consecutive_error_limit: u32_field(m, "consecutiveErrorLimit").unwrap_or(4),
                success: condition("successCondition")?,
                failure: condition("failureCondition")?,
                name: metric,
            });
        }
        Ok(Self {
            name,
            args,
            metrics,
        })
    }

    /// A metric's query with the arguments put in: the Rollout's values (`given`) over
    /// the template's own.
    pub fn query(
        &self,
        metric: &Metric,
        given: &[(String, ArgValue)],
        canary_hash: &str,
        stable_hash: &str,
    ) -> String {
        let mut query = metric.query.clone();
        for (arg, value) in given.iter().chain(&self.args) {
            let value = match value {
                ArgValue::Literal(v) => v.as_str(),
                ArgValue::CanaryHash => canary_hash,
                ArgValue::StableHash => stable_hash,
            };
            query = query.replace(&kubestore_core::canary::arg(arg), value);
        }
        query
    }
}

impl Strategy {
    /// Reads a rendered Rollout's canary strategy.
    pub fn from_object(object: &Value) -> Result<Self, AnalysisError> {
        let name = object["metadata"]["name"].as_str().unwrap_or("Rollout");
        let what = format!("Rollout {name}");
        let canary = &object["spec"]["strategy"]["canary"];
        let mut steps = Vec::new();
        for s in canary["steps"]
            .as_array()
            .ok_or_else(|| missing(&what, "spec.strategy.canary.steps"))?
        {
            if let Some(w) = u32_field(s, "setWeight") {
                steps.push(Step::SetWeight(w));
            } else if let Some(p) = s.get("pause") {
                // A pause without a duration waits for a person: the stand-in stops there.
                let d = if p.get("duration").is_some() {
                    duration_field(&what, p, "duration")?
                } else {
                    Duration::MAX
                };
                steps.push(Step::Pause(d));
            } else if let Some(a) = s.get("analysis") {
                steps.push(Step::Analysis(template_names(a)));
            }
        }
        let dr = &canary["trafficRouting"]["istio"]["destinationRule"];
        Ok(Self {
            steps,
            background: template_names(&canary["analysis"]),
            starting_step: u32_field(&canary["analysis"], "startingStep").unwrap_or(0) as usize,
            args: args(&canary["analysis"]["args"]),
            stable_subset: dr["stableSubsetName"]
                .as_str()
                .unwrap_or(kubestore_core::canary::STABLE_SUBSET)
                .to_owned(),
            canary_subset: dr["canarySubsetName"]
                .as_str()
                .unwrap_or(kubestore_core::canary::CANARY_SUBSET)
                .to_owned(),
        })
    }
}

/// `args[]` of a template or of a Rollout's analysis.
fn args(list: &Value) -> Vec<(String, ArgValue)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let arg = a["name"].as_str()?.to_owned();
            let value = match a["valueFrom"]["podTemplateHashValue"].as_str() {
                Some("Latest") => ArgValue::CanaryHash,
                Some(_) => ArgValue::StableHash,
                // An argument without a value is one the Rollout must give.
                None => ArgValue::Literal(a["value"].as_str()?.to_owned()),
            };
            Some((arg, value))
        })
        .collect()
}

fn template_names(analysis: &Value) -> Vec<String> {
    analysis["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["templateName"].as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(success: Option<&str>, failure: Option<&str>) -> Metric {
        Metric {
            name: "m".into(),
            query: String::new(),
            interval: Duration::from_secs(5),
            initial_delay: Duration::ZERO,
            count: None,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            success: success.map(|c| Condition::parse("m", c).expect("a condition")),
            failure: failure.map(|c| Condition::parse("m", c).expect("a condition")),
        }
    }

    #[test]
    fn measurements_are_judged_as_argo_rollouts_judges_them() {
        let burn = metric(
            Some("result[0] >= 0 && result[0] <= 14.4"),
            Some("result[0] > 14.4"),
        );
        assert_eq!(burn.judge(Some(3.0)), Phase::Successful);
        assert_eq!(burn.judge(Some(20.0)), Phase::Failed);
        // The sentinel of too little traffic matches neither.
        assert_eq!(burn.judge(Some(-1.0)), Phase::Inconclusive);
        assert_eq!(burn.judge(None), Phase::Error);
        // Without a failure condition, a success condition that does not hold fails.
        let requests = metric(Some("result[0] >= 100"), None);
        assert_eq!(requests.judge(Some(12.0)), Phase::Failed);
        let vs_stable = metric(None, Some("result[0] > 0"));
        assert_eq!(vs_stable.judge(Some(-0.01)), Phase::Successful);
        assert_eq!(vs_stable.judge(Some(0.2)), Phase::Failed);
    }

    #[test]
    fn only_the_rendered_form_of_condition_is_read() {
        for bad in [
            "result > 3",
            "len(result) > 0",
            "result[0] >= x",
            "result[0] || 3",
        ] {
            assert!(Condition::parse("m", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_duration("x", "1m30s").ok(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration("x", "500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert!(parse_duration("x", "5 minutes").is_err());
        assert!(parse_duration("x", "").is_err());
    }

    #[test]
    fn every_rendered_rollout_and_analysis_template_is_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../environments");
        let mut rollouts = 0;
        for name in ["dev", "staging", "prod"] {
            let env = kubestore_gen::load_environment(&dir, name).expect("a valid environment");
            for object in kubestore_gen::render::render_all(&env) {
                let value = &object.value;
                match value["kind"].as_str() {
                    Some("Rollout") => {
                        let strategy = Strategy::from_object(value).expect("a Rollout read");
                        assert!(
                            strategy.steps.contains(&Step::SetWeight(
                                u32_field(
                                    &value["spec"]["strategy"]["canary"]["steps"][0],
                                    "setWeight"
                                )
                                .expect("a first weight")
                            ))
                        );
                        assert!(strategy.args.contains(&(
                            kubestore_core::canary::CANARY_HASH_ARG.to_owned(),
                            ArgValue::CanaryHash
                        )));
                        rollouts += 1;
                    }
                    Some("AnalysisTemplate") => {
                        let template = Template::from_object(value).expect("a template read");
                        for m in &template.metrics {
                            assert!(m.success.is_some() || m.failure.is_some(), "{}", m.name);
                            assert!(m.interval > Duration::ZERO, "{}", m.name);
                        }
                    }
                    _ => {}
                }
            }
        }
        assert!(rollouts > 0, "some environment releases a canary");
    }
}
