//! `--format json`: one versioned document.

use serde_json::{Value, json};

use super::{Report, round};

/// Version of the document's shape; bumped on any incompatible change.
pub const VERSION: u64 = 1;

fn number(value: Option<f64>, decimals: i32) -> Value {
    value
        .filter(|v| v.is_finite())
        .map(|v| json!(round(v, decimals)))
        .unwrap_or(Value::Null)
}

pub(super) fn render(report: &Report) -> String {
    let slos: Vec<Value> = report
        .slos
        .iter()
        .map(|o| {
            let mut v = json!({
                "name": o.name,
                "service": o.service,
                "slo": o.slo,
                "objective": round(o.objective, 10),
                "window": o.window.to_string(),
                "sli": number(o.sli, 10),
                "error_ratio": number(o.error_ratio, 10),
                "burn_rate": number(o.burn_rate, 6),
                "requests": number(o.requests, 3),
                "bad_requests": number(o.bad_requests, 3),
                "request_rate": number(o.request_rate, 6),
                "budget_remaining": number(o.budget_remaining, 6),
                "period": o.period.to_string(),
                "verdict": o.verdict.as_str(),
                "reason": o.reason,
            });
            let map = v.as_object_mut().expect("an object");
            if let Some(cause) = o.no_data_cause {
                map.insert("no_data_cause".into(), json!(cause));
            }
            map.insert("queries".into(), json!(o.queries));
            map.insert("warnings".into(), json!(o.warnings));
            map.insert("origin".into(), json!(o.origin));
            v
        })
        .collect();
    let mut doc = json!({
        "version": VERSION,
        "evaluated_at": Report::time(report.evaluated_at),
        "prometheus": report.prometheus,
        "window": report.window.to_string(),
        "verdict": report.verdict().as_str(),
        "exit_code": report.exit_code(),
    });
    let map = doc.as_object_mut().expect("an object");
    if let Some(since) = report.since {
        map.insert("since".into(), json!(Report::time(since)));
    }
    if let Some(note) = &report.note {
        map.insert("note".into(), json!(note));
    }
    map.insert("warnings".into(), json!(report.warnings));
    map.insert("slos".into(), Value::Array(slos));
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON always serialises");
    text.push('\n');
    text
}
