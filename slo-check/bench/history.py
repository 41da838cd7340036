#!/usr/bin/env python3
"""Writes the benchmark's input: a day of 15s samples for SERVICES services (one
availability and one latency SLO each) as OpenMetrics, and their OpenSLO documents:
counting events over a 1d window, or with `timeslices`, good 1m slices over a 28d window
(of which the day of history is all there is).

usage: history.py SERVICES END_UNIX_SECONDS OUT_DIR [occurrences|timeslices]
"""
import os
import sys

services, end, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
method = sys.argv[4] if len(sys.argv) > 4 else "occurrences"
step, day = 15, 86400
start = end - day
os.makedirs(os.path.join(out, "slos"), exist_ok=True)

with open(os.path.join(out, "history.om"), "w") as f:
    f.write("# TYPE http_requests counter\n")
    for s in range(services):
        for status, share in (("200", 0.999), ("500", 0.001)):
            labels = f'namespace="bench",service="svc{s}",pod="svc{s}-a",status="{status}"'
            value = 0.0
            for t in range(start, end + 1, step):
                f.write(f"http_requests_total{{{labels}}} {value:.3f} {t}\n")
                value += 150 * share
    f.write("# TYPE http_request_duration_seconds histogram\n")
    for s in range(services):
        labels = f'namespace="bench",service="svc{s}",pod="svc{s}-a"'
        series = (("bucket", ',le="0.5"', 0.98), ("bucket", ',le="+Inf"', 1.0), ("count", "", 1.0), ("sum", "", 0.02))
        for kind, le, share in series:
            value = 0.0
            for t in range(start, end + 1, step):
                f.write(f"http_request_duration_seconds_{kind}{{{labels}{le}}} {value:.3f} {t}\n")
                value += 150 * share
    f.write("# EOF\n")

def slo(name, service, objective, side, numerator, total):
    if method == "timeslices":
        # A minute is good when its ratio reaches the objective; 99% of minutes must be.
        window, budgeting = "28d", "Timeslices"
        target = f"{{target: 0.99, timeSliceTarget: {objective}, timeSliceWindow: 1m}}"
    else:
        window, budgeting, target = "1d", "Occurrences", f"{{target: {objective}}}"
    return f"""apiVersion: openslo/v1
kind: SLO
metadata:
  name: {name}
spec:
  service: {service}
  indicator:
    spec:
      ratioMetric:
        counter: true
        {side}:
          metricSource: {{type: Prometheus, spec: {{query: '{numerator}'}}}}
        total:
          metricSource: {{type: Prometheus, spec: {{query: '{total}'}}}}
  timeWindow: [{{duration: {window}, isRolling: true}}]
  budgetingMethod: {budgeting}
  objectives: [{target}]
"""

for s in range(services):
    sel = f'namespace="bench",service="svc{s}"'
    with open(os.path.join(out, "slos", f"svc{s}.yaml"), "w") as f:
        f.write(slo(f"svc{s}-availability", f"svc{s}", 0.99, "bad",
                    f'sum(http_requests_total{{{sel},status=~"5.."}})', f"sum(http_requests_total{{{sel}}})"))
        f.write("---\n")
        f.write(slo(f"svc{s}-latency", f"svc{s}", 0.95, "good",
                    f'sum(http_request_duration_seconds_bucket{{{sel},le="0.5"}})',
                    f"sum(http_request_duration_seconds_count{{{sel}}})"))
