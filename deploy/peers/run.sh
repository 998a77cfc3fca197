#!/usr/bin/env bash
# deploy/peers/run.sh: protocol peers written in other languages, run against a live platform.
#
#   GATEWAY_ADDR=127.0.0.1:50051 TOKEN=demo-gz-th deploy/peers/run.sh
#
# Installs the pinned Python packages (deploy/peers/requirements.txt) into a virtualenv under
# $HOTLINE_STATE (default <repo>/.hotline), then runs department.py, a department's system that
# subscribes to the gateway over gRPC, acks, accepts, replies and completes (EXPECT tickets,
# default 1, within WAIT_SECS, default 60). Exits non-zero on any failure.
#
# The platform must be running and must dispatch a ticket to TOKEN's department meanwhile (the
# end-to-end test does both). Without GATEWAY_ADDR there is nothing to talk to: the script only
# generates the stubs from the proto (which checks the proto against grpcio-tools) and says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

state="${HOTLINE_STATE:-$PWD/.hotline}"
venv="$state/peers-venv"
stamp="$venv/.requirements"
if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$state"
    python3 -m venv "$venv"
fi
# Reinstall only when the pins changed.
if ! cmp -s deploy/peers/requirements.txt "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r deploy/peers/requirements.txt
    cp deploy/peers/requirements.txt "$stamp"
fi

if [[ -z "${GATEWAY_ADDR:-}" ]]; then
    "$venv/bin/python" deploy/peers/department.py --compile-only
    echo "peers: GATEWAY_ADDR is not set, so no live check ran (the end-to-end test sets it)"
    exit 0
fi

export GATEWAY_ADDR TOKEN="${TOKEN:-demo-gz-th}"
exec "$venv/bin/python" deploy/peers/department.py
