//! `--format junit`: one testcase per SLO (classname = service); a breach is a
//! `<failure>`, a failed query an `<error>`, no data or low traffic an `<error>`, or
//! `<skipped>` with `--allow-no-data`. The numbers are properties of each testcase.

use quick_junit::{NonSuccessKind, Property, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use super::{Report, round};
use crate::evaluate::Verdict;

pub(super) fn render(report: &Report) -> String {
    let mut suite = TestSuite::new("slo-check");
    suite.set_timestamp(
        chrono::DateTime::from_timestamp(report.evaluated_at, 0)
            .unwrap_or_default()
            .fixed_offset(),
    );
    suite.add_property(Property::new(
        "evaluated_at",
        Report::time(report.evaluated_at),
    ));
    suite.add_property(Property::new("prometheus", report.prometheus.clone()));
    suite.add_property(Property::new("window", report.window.to_string()));
    for o in &report.slos {
        let status = match o.verdict {
            Verdict::Met => TestCaseStatus::success(),
            Verdict::Breached => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(o.reason.clone()).set_type("breached");
                s
            }
            Verdict::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(o.reason.clone()).set_type("error");
                s
            }
            Verdict::NoData | Verdict::LowTraffic if report.allow_no_data => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(o.reason.clone()).set_type(o.verdict.as_str());
                s
            }
            Verdict::NoData | Verdict::LowTraffic => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(o.reason.clone()).set_type(o.verdict.as_str());
                s
            }
        };
        let mut case = TestCase::new(o.name.clone(), status);
        case.set_classname(o.service.clone());
        let mut props = vec![
            ("verdict", o.verdict.as_str().to_owned()),
            ("objective", round(o.objective, 10).to_string()),
            ("window", o.window.to_string()),
            ("period", o.period.to_string()),
        ];
        for (key, value, d) in [
            ("sli", o.sli, 10),
            ("error_ratio", o.error_ratio, 10),
            ("burn_rate", o.burn_rate, 6),
            ("requests", o.requests, 3),
            ("request_rate", o.request_rate, 6),
            ("budget_remaining", o.budget_remaining, 6),
        ] {
            if let Some(v) = value {
                props.push((key, round(v, d).to_string()));
            }
        }
        for (key, value) in props {
            case.add_property(Property::new(key, value));
        }
        let mut out = format!("{}\n", o.reason);
        for q in &o.queries {
            out.push_str(&format!("query: {q}\n"));
        }
        for w in &o.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        case.set_system_out(out);
        suite.add_test_case(case);
    }
    if !report.warnings.is_empty() {
        suite.set_system_err(
            report
                .warnings
                .iter()
                .map(|w| format!("warning: {w}\n"))
                .collect::<String>(),
        );
    }
    let mut junit = JUnit::new("slo-check");
    junit.add_test_suite(suite);
    junit.to_string().expect("JUnit XML always serialises")
}
