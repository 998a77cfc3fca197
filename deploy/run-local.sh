#!/usr/bin/env bash
# deploy/run-local.sh: run the whole platform on this machine (one process, demo data).
# Makes NATS/Postgres/Redis answer (deploy/services.sh), builds, then runs `hotline all --demo`;
# the binary prints its URLs. Extra arguments go to `hotline all`, e.g. --config my.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=deploy/services.sh
source deploy/services.sh
hotline_services_ensure       # exports NATS_URL, DATABASE_URL, REDIS_URL
hotline_services_env

cargo build --release --bin hotline
exec "${CARGO_TARGET_DIR:-target}/release/hotline" all --demo "$@"
