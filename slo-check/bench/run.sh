#!/usr/bin/env bash
# Benchmark: one slo-check evaluation of N SLOs (default 100 and 500) against a real
# Prometheus holding a day of 15s samples for them (see history.py). Builds slo-check in
# release, loads the history with promtool, starts Prometheus on a free 127.0.0.1 port,
# runs 1 cold and RUNS warm evaluations per size, prints the times, and stops the
# Prometheus it started (by pid).
# A size `N:timeslices` is N Timeslices SLOs (1m slices) over a 28d window, whose
# subqueries step through the whole window.
#   slo-check/bench/run.sh [SLOS[:timeslices]...]   e.g. slo-check/bench/run.sh 100 500 100:timeslices
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${RUNS:-5}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 500 100:timeslices)
cargo build -q --release --locked -p slo-check
bin="${CARGO_TARGET_DIR:-target}/release/slo-check"
work="$(mktemp -d)"
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
end=$(( $(date +%s) / 60 * 60 - 600 ))
for size in "${sizes[@]}"; do
    slos="${size%%:*}"
    method=occurrences
    [ "$size" = "$slos" ] || method="${size#*:}"
    dir="$work/$slos-$method"
    python3 slo-check/bench/history.py $(( slos / 2 )) "$end" "$dir" "$method"
    promtool tsdb create-blocks-from openmetrics "$dir/history.om" "$dir/data" >/dev/null
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    printf 'global: {scrape_interval: 15s}\n' > "$dir/prometheus.yml"
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --storage.tsdb.retention.time=10y --web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 &
    pid=$!
    until curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.2; done
    times=()
    for i in $(seq 0 "$RUNS"); do
        t0=$(date +%s.%N)
        code=0
        "$bin" --slos "$dir/slos" --prometheus "http://127.0.0.1:$port" --at "$end" \
            --format json --output "$dir/report.json" >/dev/null 2>&1 || code=$?
        t1=$(date +%s.%N)
        [ "$code" -eq 0 ] || { echo "slo-check exited $code" >&2; exit 1; }
        times+=("$(echo "$t1 - $t0" | bc)")
    done
    count=$(python3 -c "import json,sys; print(len(json.load(open('$dir/report.json'))['slos']))")
    warm=$(printf '%s\n' "${times[@]:1}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    # Counting events asks 4 queries per SLO; time slices 3 (the share of good slices
    # over the window and over the period, and the requests).
    per=4; [ "$method" = occurrences ] || per=3
    printf '%s %s SLOs (%s evaluated, %s queries): cold %.3fs, warm median of %s %.3fs\n' \
        "$slos" "$method" "$count" "$(( count * per ))" "${times[0]}" "$RUNS" "$warm"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
