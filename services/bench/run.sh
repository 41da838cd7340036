#!/usr/bin/env bash
# Benchmarks users, products and orders the way the Flask peer is measured: builds the
# release binaries, migrates fresh databases on the local MariaDB, starts the services
# on 127.0.0.1:8081/8082/8083, runs shared/peers/load/bench.sh against them, prints its
# lines plus each service's peak RSS (VmHWM), and stops the services (SIGTERM).
#
# Usage: services/bench/run.sh            (env: LOAD_DIR, DB_PREFIX, DURATION, CONNECTIONS,
#                                          DATABASE_MAX_CONNECTIONS, anything bench.sh reads)
# Needs: MariaDB on 127.0.0.1:3306 (root, no password), wrk, curl. Ports 8081-8083 free.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOAD_DIR="${LOAD_DIR:-$ROOT/../shared/peers/load}"
DB_PREFIX="${DB_PREFIX:-kubestore_bench}"
RUN_DIR="$(mktemp -d)"
MYSQL="mysql://root@127.0.0.1:3306"

command -v wrk >/dev/null || { echo "run.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[ -x "$LOAD_DIR/bench.sh" ] || { echo "run.sh: no bench.sh in $LOAD_DIR (set LOAD_DIR)" >&2; exit 1; }

cd "$ROOT"
cargo build --release -q -p kubestore-users -p kubestore-products -p kubestore-orders

declare -A PORT=([users]=8081 [products]=8082 [orders]=8083)
declare -A PID=()

stop() {
    for svc in "${!PID[@]}"; do
        kill -TERM "${PID[$svc]}" 2>/dev/null || true
    done
    for svc in "${!PID[@]}"; do
        wait "${PID[$svc]}" 2>/dev/null || true
    done
    rm -rf "$RUN_DIR"
}
trap stop EXIT

for svc in users products orders; do
    url="$MYSQL/${DB_PREFIX}_$svc"
    # A fresh database per run, so runs do not slow down as tables grow.
    mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`${DB_PREFIX}_$svc\`"
    DATABASE_URL="$url" RUST_LOG=warn "target/release/$svc" migrate >/dev/null
    DATABASE_URL="$url" LISTEN_ADDR="127.0.0.1:${PORT[$svc]}" DRAIN_SECONDS=0 RUST_LOG=warn \
        USERS_URL=http://127.0.0.1:8081 PRODUCTS_URL=http://127.0.0.1:8082 \
        "target/release/$svc" serve >"$RUN_DIR/$svc.log" 2>&1 &
    PID[$svc]=$!
done

for svc in users products orders; do
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$svc]}/readyz" 2>/dev/null && continue 2
        sleep 0.1
    done
    echo "run.sh: $svc did not become ready; log:" >&2
    cat "$RUN_DIR/$svc.log" >&2
    exit 1
done

if ! "$LOAD_DIR/bench.sh" http://127.0.0.1:8082 http://127.0.0.1:8083 http://127.0.0.1:8081; then
    for svc in users products orders; do
        echo "--- $svc log (last lines)" >&2
        tail -n 20 "$RUN_DIR/$svc.log" >&2
    done
    exit 1
fi

for svc in users products orders; do
    awk -v svc="$svc" '/^VmHWM/ {printf "%-14s peak_rss_mib=%.1f\n", svc, $2 / 1024}' \
        "/proc/${PID[$svc]}/status"
done
