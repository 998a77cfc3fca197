#!/usr/bin/env bash
# deploy/run-local.sh: run the whole platform on this machine (one process, demo data).
# Makes Postgres/Redis (and the open dev/test NATS) answer (deploy/services.sh), builds, writes the
# NATS users (`hotline nats-config`, keys kept between runs) and starts a nats-server with them on
# 127.0.0.1:4223 (monitoring :8223), then runs `hotline all --demo` with every service connecting as
# its own NATS user; the binary prints its URLs. Extra arguments go to `hotline all`, e.g. --config my.toml.
#
# The open NATS on 4222 stays as it is: the tests use it (each test needing users starts its own).
# Knobs: HOTLINE_NATS_AUTH_PORT (default 4223), HOTLINE_NATS_AUTH_HTTP_PORT (default 8223),
#        HOTLINE_NATS_OPEN=1 to skip the users and use the open NATS as before.
# `deploy/services.sh stop` also stops the nats-server started here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=deploy/services.sh
source deploy/services.sh
hotline_services_ensure       # exports NATS_URL, DATABASE_URL, REDIS_URL
hotline_services_env

cargo build --release --bin hotline
bin="${CARGO_TARGET_DIR:-target}/release/hotline"

if [[ "${HOTLINE_NATS_OPEN:-}" != 1 ]]; then
    port="${HOTLINE_NATS_AUTH_PORT:-4223}"
    http_port="${HOTLINE_NATS_AUTH_HTTP_PORT:-8223}"
    auth_dir="$HOTLINE_STATE/nats-auth"
    pid_file="$HOTLINE_STATE/nats-auth.pid"
    # The namespace comes from HOTLINE_CONFIG / HOTLINE__NAMESPACE, as for `hotline all`.
    "$bin" nats-config --out "$auth_dir" --listen "127.0.0.1:$port" --http "127.0.0.1:$http_port" >&2
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        # Already running (an earlier run): load the config written above (same keys).
        _hs_log "NATS with users: reloading pid $pid"
        kill -HUP "$pid"
    else
        nats_bin="$(_hs_nats_bin)" || { _hs_log "ERROR: no nats-server >= $HOTLINE_NATS_MIN"; exit 1; }
        _hs_log "NATS with users: starting on 127.0.0.1:$port, log $HOTLINE_STATE/nats-auth.log"
        setsid nohup "$nats_bin" -c "$auth_dir/nats.conf" -P "$pid_file" \
            >>"$HOTLINE_STATE/nats-auth.log" 2>&1 </dev/null &
        disown 2>/dev/null || true
    fi
    export NATS_URL="nats://127.0.0.1:$port"
    _hs_wait "NATS with users" _hs_nats_answers "$NATS_URL" || { tail -n 20 "$HOTLINE_STATE/nats-auth.log" >&2; exit 1; }
    if _hs_have curl; then   # JetStream ready too
        deadline=$((SECONDS + HOTLINE_WAIT_SECS))
        until curl -fsS -m 2 "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; do
            ((SECONDS < deadline)) || { _hs_log "ERROR: NATS with users: /healthz not ok"; exit 1; }
            sleep 0.5
        done
    fi
    # Every service of `hotline all` reads its own seed (<service>.nk) from here.
    export HOTLINE__NATS__CREDENTIALS_DIR="$auth_dir"
fi

exec "$bin" all --demo "$@"
