//! Exit 2: unknown flags, definitions that cannot be read or are invalid, and a run
//! that finds no SLO. Each error names the file, line and key.

mod support;

use support::*;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn usage_and_spec_errors_exit_2() {
    let out = slo_check(&["--slos", "x", "--no-such-flag"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = slo_check(&["--prometheus", "http://127.0.0.1:1"]);
    assert_eq!(code(&out), 2, "--slos or --env is required: {}", text(&out));
    let both = slo_check(&[
        "--slos",
        "x",
        "--env",
        "dev",
        "--prometheus",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(
        code(&both),
        2,
        "exactly one of --slos and --env: {}",
        text(&both)
    );
    let header = slo_check(&[
        "--slos",
        &repo().join("gitops/slo/dev").display().to_string(),
        "--prometheus",
        "http://127.0.0.1:1",
        "--header",
        "no colon",
    ]);
    assert_eq!(code(&header), 2, "{}", text(&header));
    let help = slo_check(&["--help"]);
    assert_eq!(code(&help), 0);
    assert!(
        String::from_utf8_lossy(&help.stdout)
            .contains("4  no breach, but at least one SLO has no_data")
    );

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = slo_check(&[
        "--slos",
        &empty.display().to_string(),
        "--prometheus",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("no SLO found"), "{}", text(&out));

    let threshold = write(
        dir.path(),
        "threshold.yaml",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: t\nspec:\n  service: s\n  indicator:\n    spec:\n      thresholdMetric:\n        metricSource: {type: Prometheus, spec: {query: up}}\n  timeWindow: [{duration: 30d, isRolling: true}]\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.99}]\n",
    );
    let out = slo_check(&["--slos", &threshold, "--prometheus", "http://127.0.0.1:1"]);
    assert_eq!(code(&out), 2);
    let t = text(&out);
    assert!(t.contains("threshold.yaml:12: spec.budgetingMethod: a `thresholdMetric` is judged per time slice: slo-check evaluates it with `Timeslices`"), "{t}");
    assert!(t.contains("threshold.yaml:13: spec.objectives[0].op: missing: a `thresholdMetric` objective needs `op` (lt, lte, gt or gte) and `value`"), "{t}");

    let rate = write(
        dir.path(),
        "rate.yaml",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: r\nspec:\n  service: s\n  indicator:\n    spec:\n      ratioMetric:\n        counter: true\n        bad:\n          metricSource: {type: Prometheus, spec: {query: 'sum(rate(x_total[5m]))'}}\n        total:\n          metricSource: {type: Datadog, spec: {query: 'x'}}\n  timeWindow: [{duration: 30d, isRolling: true}]\n  objectives: [{target: 1.5}]\n",
    );
    let out = slo_check(&["--slos", &rate, "--prometheus", "http://127.0.0.1:1"]);
    assert_eq!(code(&out), 2);
    let t = text(&out);
    assert!(
        t.contains(
            "rate.yaml:12: spec.indicator.spec.ratioMetric.bad.metricSource.spec.query: `rate(...)`"
        ),
        "{t}"
    );
    assert!(
        t.contains("ratioMetric.total.metricSource.type: a `Datadog` source is not supported"),
        "{t}"
    );
    assert!(
        t.contains("spec.objectives[0].target: must be between 0 and 1"),
        "{t}"
    );

    let broken = write(
        dir.path(),
        "broken.yaml",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: [\n",
    );
    let out = slo_check(&["--slos", &broken, "--prometheus", "http://127.0.0.1:1"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).contains("broken.yaml"), "{}", text(&out));

    let out = slo_check(&[
        "--env",
        "nope",
        "--environments",
        &repo().join("environments").display().to_string(),
        "--prometheus",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

#[test]
fn a_port_that_refuses_is_exit_3() {
    let port = free_port();
    let out = slo_check(&[
        "--slos",
        &repo().join("gitops/slo/dev").display().to_string(),
        "--prometheus",
        &format!("http://127.0.0.1:{port}"),
        "--retries",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let r = json(&out);
    assert_eq!(r["verdict"], "error");
    assert!(
        r["slos"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot reach")
    );
}

/// OpenSLO as other tools write it: an SLI of its own referenced by name, several
/// objectives, `targetPercent`, and a query that counts over `$window` itself.
#[test]
fn other_tools_openslo_is_read() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "checkout.yaml",
        "\
apiVersion: openslo/v1
kind: Service
metadata: {name: checkout}
spec: {description: the checkout}
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: checkout-ok}
spec:
  ratioMetric:
    counter: false
    good:
      metricSource:
        type: Prometheus
        spec: {query: 'sum(increase(checkout_total{code!~\"5..\"}[$window]))'}
    total:
      metricSource:
        type: Prometheus
        spec: {query: 'sum(increase(checkout_total[$window]))'}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout-availability}
spec:
  service: checkout
  indicatorRef: checkout-ok
  timeWindow: [{duration: 4w, isRolling: true}]
  budgetingMethod: Occurrences
  objectives:
    - {name: strict, targetPercent: 99.9}
    - {name: loose, target: 0.99}
",
    );
    let out = slo_check(&[
        "--slos",
        &dir.path().display().to_string(),
        "--explain",
        "--window",
        "1h",
        "--at",
        "1796148000",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        t.contains("evaluation time: 2026-12-01T18:00:00Z (1796148000)"),
        "{t}"
    );
    assert!(
        t.contains("checkout-availability-strict (service checkout, objective 0.999, period 28d"),
        "{t}"
    );
    assert!(
        t.contains("checkout-availability-loose (service checkout, objective 0.99, period 28d"),
        "{t}"
    );
    assert!(
        t.contains("good over 1h: sum(increase(checkout_total{code!~\"5..\"}[1h]))"),
        "{t}"
    );
    assert!(
        t.contains("total over 28d: sum(increase(checkout_total[28d]))"),
        "{t}"
    );
}
