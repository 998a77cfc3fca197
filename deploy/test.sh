#!/usr/bin/env bash
# deploy/test.sh: the whole test run, the same on a laptop and in CI (.ci/run calls it).
# k8s manifests -> services -> fmt -> clippy -> nextest -> peer tests (deploy/peers/run.sh, when present).
# Stops at the first failing step with its exit code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
if [[ "${CI:-}" == true ]]; then export CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never; fi

# A cold build takes about 3 GB under target/ (it was 6.3 GB before dependencies lost their
# debug info, and CI's disk ran out): say what is free so a full disk is seen, not guessed.
step "disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free for $PWD"

# Kubernetes manifests, alert rules and dashboard: rendered and validated offline (~20 s once
# its tools are installed; installs promtool, kubernetes-validate, and kubectl if needed).
step "deploy/k8s-check.sh"
bash deploy/k8s-check.sh

step "services (deploy/services.sh)"
# shellcheck source=deploy/services.sh
source deploy/services.sh
hotline_services_ensure       # exports NATS_URL, DATABASE_URL, REDIS_URL for the tests
hotline_services_env

if ! cargo nextest --version >/dev/null 2>&1; then
    step "cargo install cargo-nextest --locked"
    cargo install cargo-nextest --locked
fi

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo nextest run --workspace --no-fail-fast"
cargo nextest run --workspace --no-fail-fast

# Hook: tests against real protocol peers (Python clients etc.), added by the lead.
if [[ -f deploy/peers/run.sh ]]; then
    if command -v python3 >/dev/null 2>&1; then
        step "deploy/peers/run.sh"
        bash deploy/peers/run.sh
    else
        step "deploy/peers/run.sh skipped: no python3"
    fi
fi
