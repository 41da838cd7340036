#!/usr/bin/env bash
# Installs and starts what the test suite needs beyond the Rust toolchain:
# promtool (Debian's prometheus), Chromium + ChromeDriver for the browser test,
# wrk for the load benchmark, checkov (in its own virtualenv) for the Kubernetes
# policy checks, and
# makes sure MariaDB and Redis answer on 127.0.0.1.
# Idempotent: every step is skipped when its tool is already there.
set -euo pipefail

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v mariadb >/dev/null || need_apt+=(mariadb-server)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-test-deps: apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The prometheus package would start a server through systemd; there is none here,
    # and the tests start their own Prometheus on a free port.
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# checkov lives in its own virtualenv so its pins never clash with the system's Python.
CHECKOV_VENV="${CHECKOV_VENV:-/opt/kubestore-tools/checkov}"
if [ ! -x "$CHECKOV_VENV/bin/checkov" ]; then
    echo "install-test-deps: pip install checkov into $CHECKOV_VENV"
    python3 -m venv "$CHECKOV_VENV"
    "$CHECKOV_VENV/bin/pip" install -q --disable-pip-version-check checkov
fi

# MariaDB and Redis are normally running already; start them when they are not.
if ! mariadb -uroot -h127.0.0.1 -e 'select 1' >/dev/null 2>&1; then
    echo "install-test-deps: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do
        mariadb -uroot -h127.0.0.1 -e 'select 1' >/dev/null 2>&1 && break
        sleep 0.5
    done
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    echo "install-test-deps: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/test.log
    for _ in $(seq 1 40); do
        redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
        sleep 0.25
    done
fi
