#!/usr/bin/env python3
"""deploy/k8s_check.py: the checks of deploy/k8s-check.sh that no installed tool does.

    k8s_check.py manifests OVERLAY RENDERED.yaml [--expect-env K=V] [--expect-kind KIND]
                 [--forbid-kind KIND] [--pg-budget]
        The custom resources kubernetes-validate has no schema for (KEDA ScaledObject,
        PrometheusRule, PodMonitor) against hand-written strict schemas of the fields this
        repository may use (unknown fields fail, as with --strict), KEDA's admission rules, and
        references between the rendered objects: selectors, named ports, scale targets (never an
        HPA and a ScaledObject on one Deployment), JetStream streams and consumers that exist in
        the code, the PrometheusRule and dashboard ConfigMap equal to their sources, and what the
        overlay must contain. With --pg-budget: the Postgres connection budget (max replicas +
        surge, times each process's pool and connections outside it) against PG_MAX_CONNECTIONS,
        every place the code opens connections counted, and the table in docs/operations.md
        ("Postgres connections") equal to the computed one.
    k8s_check.py monitoring EXPRS_OUT.yaml
        rules.yaml's alerts (for, severity, summary, description, runbook_url to an existing
        anchor of docs/operations.md), a firing and a quiet unit test for each, prometheusrule.yaml
        in sync, dashboard.json's structure, metric names and label matchers against the code;
        writes the dashboard's queries as recording rules to EXPRS_OUT.yaml for promtool to parse.
    k8s_check.py sync-rules [--write]
        Compares (or rewrites) k8s/monitoring/prometheusrule.yaml with rules.yaml.

Needs PyYAML and jsonschema (deploy/k8s-requirements.txt). Prints what it checked; exits 1 on
the first class of failures with every failure of that class listed.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
MON = ROOT / "k8s" / "monitoring"
RULES = MON / "rules.yaml"
RULES_TEST = MON / "rules.test.yaml"
PROMRULE = MON / "prometheusrule.yaml"
DASHBOARD = MON / "dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"
RUNBOOK_BASE = "https://github.com/hotline/hotline/blob/main/docs/operations.md#"

# Metrics announced in issue 12 and being added to the code; named here so the rules can land
# first. Once in the code they are checked like the others; drop them from here then.
ANNOUNCED_METRICS = {
    "hotline_outbox_oldest_age_seconds": ["schema"],
    "hotline_outbox_depth": ["schema"],
    "hotline_consumer_pending": ["consumer"],
    "hotline_consumer_ack_pending": ["consumer"],
    "hotline_dead_letters_total": ["consumer"],
}
# Labels Prometheus, the PodMonitor or a histogram add to every series.
TARGET_LABELS = {"le", "pod", "namespace", "job", "instance", "container", "endpoint", "service"}
# Other exporters' metrics the rules use (kube-state-metrics, Prometheus itself).
FOREIGN_METRICS = {
    "up",
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
    "kube_pod_status_ready",
    "kube_pod_status_phase",
}

# Which Deployment runs which durable consumer (shared/bus/src/subjects.rs, `durable`).
CONSUMER_OWNER = {
    "dispatch": "dispatch",
    "gateway-delivery": "gateway",
    "knowledge": "knowledge",
    "sla": "sla",
    "survey": "survey",
    "notify": "notify",
}
SEVERITIES = {"critical", "warning", "info"}

failures: list[str] = []


def fail(msg: str) -> None:
    failures.append(msg)


def done(what: str) -> None:
    if failures:
        print(f"FAILED: {what}", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


# --------------------------------------------------------------------------------------------
# What the code says
# --------------------------------------------------------------------------------------------


def code_text() -> str:
    parts = []
    for top in ("services", "shared", "src"):
        for p in sorted((ROOT / top).rglob("*.rs")):
            parts.append(p.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def durable_consumers() -> dict[str, str]:
    """`pub mod durable` of subjects.rs: constant name -> value."""
    text = (ROOT / "shared/bus/src/subjects.rs").read_text()
    m = re.search(r"pub mod durable \{(.*?)\n\}", text, re.S)
    if not m:
        fail("shared/bus/src/subjects.rs: no `pub mod durable { ... }` to read consumer names from")
        return {}
    return dict(re.findall(r'pub const (\w+): &str = "([^"]*)";', m.group(1)))


def notify_channels() -> list[str]:
    text = (ROOT / "shared/bus/src/permissions.rs").read_text()
    m = re.search(r"pub const NOTIFY_CHANNELS: \[&str; \d+\] = \[([^\]]*)\]", text)
    return re.findall(r'"([^"]+)"', m.group(1)) if m else []


def stream_suffixes() -> set[str]:
    text = (ROOT / "shared/bus/src/subjects.rs").read_text()
    return set(re.findall(r'format!\("\{\}_([A-Z_]+)", self\.stream_prefix\)', text))


def default_namespace() -> str:
    return tomllib.loads((ROOT / "shared/config/src/defaults.toml").read_text())["namespace"]


def code_metrics(text: str) -> dict[str, list[str] | None]:
    """Metric name -> its label names where the registration is readable, else None."""
    found: dict[str, list[str] | None] = {}
    for name in set(re.findall(r'"(hotline_[a-z0-9_]+)"', text)):
        found[name] = None
    reg = re.compile(
        r'"(hotline_[a-z0-9_]+)",\s*"(?:[^"\\]|\\.)*",\s*&\[([^\]]*)\]', re.S
    )
    for name, labels in reg.findall(text):
        found[name] = re.findall(r'"([^"]+)"', labels)
    return found


# --------------------------------------------------------------------------------------------
# Schemas of the custom resources (the fields this repository may use; unknown ones fail)
# --------------------------------------------------------------------------------------------


def obj(props: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": props,
        "required": required or [],
        "additionalProperties": False,
    }


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
METADATA = obj(
    {"name": STR, "namespace": STR, "labels": STRMAP, "annotations": STRMAP}, ["name"]
)
LABEL_SELECTOR = obj(
    {
        "matchLabels": STRMAP,
        "matchExpressions": {
            "type": "array",
            "items": obj(
                {"key": STR, "operator": STR, "values": {"type": "array", "items": STR}},
                ["key", "operator"],
            ),
        },
    }
)
HPA_RULES = obj(
    {
        "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "policies": {
            "type": "array",
            "items": obj(
                {"type": {"enum": ["Pods", "Percent"]}, "value": INT, "periodSeconds": INT},
                ["type", "value", "periodSeconds"],
            ),
        },
    }
)
SCALED_OBJECT = obj(
    {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": METADATA,
        "spec": obj(
            {
                "scaleTargetRef": obj(
                    {"apiVersion": STR, "kind": STR, "name": STR, "envSourceContainerName": STR},
                    ["name"],
                ),
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": obj(
                    {"failureThreshold": {"type": "integer", "minimum": 0},
                     "replicas": {"type": "integer", "minimum": 0}},
                    ["failureThreshold", "replicas"],
                ),
                "advanced": obj(
                    {
                        "restoreToOriginalReplicaCount": BOOL,
                        "horizontalPodAutoscalerConfig": obj(
                            {"name": STR, "behavior": obj({"scaleUp": HPA_RULES, "scaleDown": HPA_RULES})}
                        ),
                    }
                ),
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": obj(
                        {
                            "type": STR,
                            "name": STR,
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": BOOL,
                            "metadata": STRMAP,
                            "authenticationRef": obj({"name": STR, "kind": STR}, ["name"]),
                        },
                        ["type", "metadata"],
                    ),
                },
            },
            ["scaleTargetRef", "triggers"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)
RULE = obj(
    {
        "alert": STR,
        "record": STR,
        "expr": {"type": ["string", "integer"]},
        "for": DURATION,
        "keep_firing_for": DURATION,
        "labels": STRMAP,
        "annotations": STRMAP,
    },
    ["expr"],
)
RULE_GROUPS = {
    "type": "array",
    "minItems": 1,
    "items": obj(
        {
            "name": {"type": "string", "minLength": 1},
            "interval": DURATION,
            "limit": INT,
            "query_offset": DURATION,
            "labels": STRMAP,
            "rules": {"type": "array", "minItems": 1, "items": RULE},
        },
        ["name", "rules"],
    ),
}
PROMETHEUS_RULE = obj(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": METADATA,
        "spec": obj({"groups": RULE_GROUPS}, ["groups"]),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)
RELABEL = obj(
    {
        "sourceLabels": {"type": "array", "items": STR},
        "separator": STR,
        "targetLabel": STR,
        "regex": STR,
        "modulus": INT,
        "replacement": STR,
        "action": STR,
    }
)
POD_MONITOR = obj(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PodMonitor"},
        "metadata": METADATA,
        "spec": obj(
            {
                "jobLabel": STR,
                "podTargetLabels": {"type": "array", "items": STR},
                "selector": LABEL_SELECTOR,
                "namespaceSelector": obj({"any": BOOL, "matchNames": {"type": "array", "items": STR}}),
                "sampleLimit": INT,
                "podMetricsEndpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": obj(
                        {
                            "port": STR,
                            "path": STR,
                            "scheme": {"enum": ["http", "https"]},
                            "interval": DURATION,
                            "scrapeTimeout": DURATION,
                            "honorLabels": BOOL,
                            "relabelings": {"type": "array", "items": RELABEL},
                            "metricRelabelings": {"type": "array", "items": RELABEL},
                        }
                    ),
                },
            },
            ["selector", "podMetricsEndpoints"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)
CR_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
}
NATS_JETSTREAM_KEYS = {
    "natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold",
    "activationLagThreshold", "useHttps",
}
NATS_JETSTREAM_REQUIRED = {"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"}


# --------------------------------------------------------------------------------------------
# Rules and dashboard
# --------------------------------------------------------------------------------------------


def load_rules() -> dict:
    return yaml.safe_load(RULES.read_text())


def prometheus_rule(rules: dict) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "hotline", "labels": {"app.kubernetes.io/part-of": "hotline"}},
        "spec": {"groups": rules["groups"]},
    }


PROMRULE_HEADER = """\
# GENERATED from rules.yaml by `python3 deploy/k8s_check.py sync-rules --write`: do not edit;
# deploy/k8s-check.sh fails while the two differ. PrometheusRule for the Prometheus Operator
# (its ruleSelector must select it, e.g. kube-prometheus-stack's `release: <name>` label).
"""


def sync_rules(write: bool) -> None:
    want = prometheus_rule(load_rules())
    if write:
        PROMRULE.write_text(
            PROMRULE_HEADER + yaml.safe_dump(want, sort_keys=False, allow_unicode=True, width=100)
        )
        print(f"wrote {PROMRULE.relative_to(ROOT)}")
        return
    have = yaml.safe_load(PROMRULE.read_text()) if PROMRULE.exists() else None
    if have != want:
        fail(
            f"{PROMRULE.relative_to(ROOT)} differs from rules.yaml: run "
            "`python3 deploy/k8s_check.py sync-rules --write`"
        )


def heading_anchors(md: str) -> set[str]:
    anchors = set()
    for line in md.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def selector_labels(expr: str) -> list[tuple[str, list[str]]]:
    """(metric, [label names in its matcher]) for every `metric{...}` and bare metric."""
    out = []
    for m in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", expr):
        name, sel = m.group(1), m.group(2)
        labels = re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", sel) if sel else []
        out.append((name, labels))
    return out


def check_metric_names(where: str, expr: str, known: dict[str, list[str] | None], notes: set[str]) -> None:
    for name, labels in selector_labels(expr):
        if not (name.startswith("hotline_") or name in FOREIGN_METRICS):
            continue
        if name in FOREIGN_METRICS:
            continue
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        code_labels: list[str] | None
        if name in known:
            code_labels = known[name]
        elif base in known:
            code_labels = known[base]
        elif name in ANNOUNCED_METRICS or base in ANNOUNCED_METRICS:
            code_labels = ANNOUNCED_METRICS.get(name, ANNOUNCED_METRICS.get(base))
            notes.add(name)
        else:
            fail(f"{where}: metric {name} is registered nowhere in services/, shared/, src/")
            continue
        if code_labels is None:
            continue
        for label in labels:
            if label not in code_labels and label not in TARGET_LABELS:
                fail(f"{where}: {name} has no label {label!r} (the code's: {code_labels})")


def check_monitoring(exprs_out: Path) -> None:
    rules = load_rules()
    text = code_text()
    known = code_metrics(text)
    notes: set[str] = set()
    anchors = heading_anchors(OPERATIONS.read_text())
    jsonschema.validate(rules["groups"], RULE_GROUPS)
    alerts = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            if ("alert" in rule) == ("record" in rule):
                fail(f"{group['name']}: a rule must be an alert or a record: {rule}")
                continue
            check_metric_names(f"rules.yaml {name}", str(rule["expr"]), known, notes)
            if "record" in rule:
                continue
            alerts.append(name)
            if "for" not in rule:
                fail(f"alert {name}: no `for`")
            if rule.get("labels", {}).get("severity") not in SEVERITIES:
                fail(f"alert {name}: severity label must be one of {sorted(SEVERITIES)}")
            ann = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    fail(f"alert {name}: no {key} annotation")
            url = ann.get("runbook_url", "")
            if not url.startswith(RUNBOOK_BASE):
                fail(f"alert {name}: runbook_url must start with {RUNBOOK_BASE}")
            elif url[len(RUNBOOK_BASE):] not in anchors:
                fail(f"alert {name}: docs/operations.md has no heading for #{url[len(RUNBOOK_BASE):]}")
    if len(set(alerts)) != len(alerts):
        fail("rules.yaml: an alert name is used twice")

    # every alert: a test where it fires and one where it stays quiet
    tests = yaml.safe_load(RULES_TEST.read_text())
    if tests.get("rule_files") != ["rules.yaml"]:
        fail("rules.test.yaml must test rule_files: [rules.yaml]")
    fired, quiet = set(), set()
    n_cases = 0
    for t in tests.get("tests", []):
        for case in t.get("alert_rule_test", []):
            n_cases += 1
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    for name in alerts:
        if name not in fired:
            fail(f"rules.test.yaml: no test where {name} fires")
        if name not in quiet:
            fail(f"rules.test.yaml: no test where {name} stays quiet")
    for name in (fired | quiet) - set(alerts):
        fail(f"rules.test.yaml tests {name}, which rules.yaml does not have")

    sync_rules(write=False)

    # dashboard
    dash = json.loads(DASHBOARD.read_text())
    exprs = check_dashboard(dash, known, notes)
    exprs_out.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "dashboard", "rules": [
                {"record": f"dashboard:panel_{pid}_{ref}", "expr": e} for pid, ref, e in exprs
            ]}]},
            sort_keys=False,
        )
    )
    for name in sorted(notes):
        print(f"note: {name} is not in the code yet (announced in issue 12: {ANNOUNCED_METRICS.get(name) or ANNOUNCED_METRICS.get(re.sub(r'_(bucket|count|sum)$', '', name))})")
    done(
        f"monitoring: {len(alerts)} alerts (for, severity, summary, description, runbook anchor), "
        f"{n_cases} unit-test cases covering each firing and quiet, prometheusrule.yaml in sync, "
        f"dashboard {dash.get('uid')}: {len(dash.get('panels', []))} panels, {len(exprs)} queries"
    )


DASHBOARD_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "table", "bargauge", "text", "heatmap"}


def check_dashboard(dash: dict, known: dict, notes: set[str]) -> list[tuple[int, str, str]]:
    before = len(failures)
    for key, typ in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list)):
        if not isinstance(dash.get(key), typ):
            fail(f"dashboard.json: `{key}` must be a {typ.__name__}")
    if len(failures) > before:
        return []
    variables = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    ids = set()
    exprs = []
    for p in dash["panels"]:
        pid = p.get("id")
        where = f"dashboard.json panel {pid} {p.get('title')!r}"
        if not isinstance(pid, int) or pid in ids:
            fail(f"{where}: ids must be unique integers")
        ids.add(pid)
        if p.get("type") not in PANEL_TYPES:
            fail(f"{where}: unknown type {p.get('type')!r}")
        if not p.get("title"):
            fail(f"{where}: no title")
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
            fail(f"{where}: gridPos needs integer h, w, x, y")
        elif g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
            fail(f"{where}: gridPos x + w must stay within 24 columns")
        if p.get("type") == "row":
            continue
        ds = p.get("datasource", {})
        if ds.get("type") != "prometheus" or ds.get("uid", "").strip("${}") not in variables:
            fail(f"{where}: datasource must be the dashboard's Prometheus variable")
        targets = p.get("targets") or []
        if not targets:
            fail(f"{where}: no queries")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            fail(f"{where}: refIds must be present and unique")
        for t in targets:
            e = t.get("expr", "")
            if not e.strip():
                fail(f"{where}: empty expr")
                continue
            for var, value in DASHBOARD_VARS.items():
                e = e.replace(var, value)
            if "$" in e:
                fail(f"{where}: unknown variable in {t['expr']!r}")
            check_metric_names(where, e, known, notes)
            exprs.append((pid, t.get("refId"), e))
    return exprs


# --------------------------------------------------------------------------------------------
# Rendered overlays
# --------------------------------------------------------------------------------------------


def matches(selector: dict, labels: dict) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        val, op, vals = labels.get(e["key"]), e["operator"], e.get("values") or []
        if (op == "In" and val not in vals) or (op == "NotIn" and val in vals) \
                or (op == "Exists" and val is None) or (op == "DoesNotExist" and val is not None):
            return False
    return True


def pod_ports(template: dict) -> dict:
    ports = {}
    for c in template["spec"].get("containers", []):
        for p in c.get("ports", []) or []:
            if "name" in p:
                ports[p["name"]] = p["containerPort"]
            ports[p["containerPort"]] = p["containerPort"]
    return ports


def check_manifests(overlay: str, path: Path, expect_env: list[str], expect_kinds: list[str],
                    forbid_kinds: list[str]) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    workloads = list(deployments.values()) + by_kind.get("Job", [])
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    n_cr = 0

    for kind in expect_kinds:
        if kind not in by_kind:
            fail(f"{overlay}: no {kind} rendered")
    for kind in forbid_kinds:
        if kind in by_kind:
            fail(f"{overlay}: renders {kind} (this overlay must not need its CRD)")

    # custom resources against their schemas
    for d in docs:
        schema = CR_SCHEMAS.get((d.get("apiVersion"), d.get("kind")))
        if schema is None:
            continue
        n_cr += 1
        for err in jsonschema.Draft7Validator(schema).iter_errors(d):
            where = "/".join(str(x) for x in err.absolute_path)
            fail(f"{overlay}: {d['kind']}/{d['metadata']['name']} {where}: {err.message}")

    # workloads: selectors, named ports, prometheus annotations
    for name, d in deployments.items():
        tmpl = d["spec"]["template"]
        if not matches(d["spec"]["selector"], tmpl["metadata"].get("labels", {})):
            fail(f"{overlay}: Deployment/{name}: selector does not match its pod labels")
        ports = pod_ports(tmpl)
        ann = tmpl["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") == "true":
            if int(ann.get("prometheus.io/port", 0)) not in ports:
                fail(f"{overlay}: Deployment/{name}: prometheus.io/port is no container port")
        for c in tmpl["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or (c.get(probe) or {}).get("tcpSocket") or {}).get("port")
                if port is not None and port not in ports:
                    fail(f"{overlay}: Deployment/{name} {probe}: no port {port!r}")
    for s in by_kind.get("Service", []):
        sel = s["spec"].get("selector")
        if not sel:
            continue
        pods = [d for d in deployments.values() if matches({"matchLabels": sel}, d["spec"]["template"]["metadata"].get("labels", {}))]
        if not pods:
            fail(f"{overlay}: Service/{s['metadata']['name']} selects no Deployment")
        for p in s["spec"].get("ports", []):
            tp = p.get("targetPort", p.get("port"))
            for d in pods:
                if tp not in pod_ports(d["spec"]["template"]):
                    fail(f"{overlay}: Service/{s['metadata']['name']} targetPort {tp!r} is not a port of Deployment/{d['metadata']['name']}")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not any(matches(pdb["spec"]["selector"], d["spec"]["template"]["metadata"].get("labels", {})) for d in deployments.values()):
            fail(f"{overlay}: PodDisruptionBudget/{pdb['metadata']['name']} selects no Deployment")

    # autoscaling: one autoscaler per Deployment, KEDA's admission rules, consumers that exist
    scaled: dict[str, str] = {}

    def target(kind: str, name: str, ref: dict) -> None:
        t = ref.get("name")
        if ref.get("kind", "Deployment") != "Deployment" or t not in deployments:
            fail(f"{overlay}: {kind}/{name} scales {ref.get('kind', 'Deployment')}/{t}, which is not rendered")
            return
        if t in scaled:
            fail(f"{overlay}: Deployment/{t} is scaled by both {scaled[t]} and {kind}/{name}")
        scaled[t] = f"{kind}/{name}"

    def cpu_requests(dep: str) -> bool:
        d = deployments.get(dep)
        return bool(d) and all(
            (c.get("resources") or {}).get("requests", {}).get("cpu")
            for c in d["spec"]["template"]["spec"]["containers"]
        )

    for h in by_kind.get("HorizontalPodAutoscaler", []):
        target("HorizontalPodAutoscaler", h["metadata"]["name"], h["spec"]["scaleTargetRef"])
        if h["spec"].get("minReplicas", 1) > h["spec"]["maxReplicas"]:
            fail(f"{overlay}: HPA/{h['metadata']['name']}: minReplicas > maxReplicas")
        uses_cpu = any(m.get("resource", {}).get("name") == "cpu" for m in h["spec"].get("metrics", []))
        if uses_cpu and not cpu_requests(h["spec"]["scaleTargetRef"]["name"]):
            fail(f"{overlay}: HPA/{h['metadata']['name']}: CPU target on containers without a CPU request")

    durable = durable_consumers()
    channels = notify_channels()
    suffixes = stream_suffixes()
    cfg = configmaps.get(next((n for n in configmaps if n.startswith("hotline-config")), ""), {})
    namespace = (cfg.get("data") or {}).get("HOTLINE__NAMESPACE") or default_namespace()
    prefix = namespace.upper().replace(".", "_").replace("-", "_")
    consumers_tickets = {v for k, v in durable.items() if not k.endswith("_PREFIX")}
    consumers_notify = {durable.get("NOTIFY_SENDER_PREFIX", "notify-") + c for c in channels}
    if not consumers_tickets or not suffixes:
        fail("could not read the durable consumer or stream names from shared/bus/src/subjects.rs")

    for so in by_kind.get("ScaledObject", []):
        name, spec = so["metadata"]["name"], so["spec"]
        target("ScaledObject", name, spec["scaleTargetRef"])
        dep = spec["scaleTargetRef"].get("name")
        if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
            fail(f"{overlay}: ScaledObject/{name}: minReplicaCount > maxReplicaCount")
        trig_names = [t["name"] for t in spec["triggers"] if "name" in t]
        if len(set(trig_names)) != len(trig_names):
            fail(f"{overlay}: ScaledObject/{name}: trigger names must be unique")
        for t in spec["triggers"]:
            typ, md = t["type"], t.get("metadata", {})
            if spec.get("fallback") is not None:
                if typ in ("cpu", "memory"):
                    fail(f"{overlay}: ScaledObject/{name}: KEDA refuses fallback with a {typ} trigger")
                elif t.get("metricType") != "AverageValue":
                    fail(f"{overlay}: ScaledObject/{name}: fallback needs metricType AverageValue on every trigger (say it)")
            if typ in ("cpu", "memory"):
                if not cpu_requests(dep):
                    fail(f"{overlay}: ScaledObject/{name}: {typ} trigger on containers without a request")
                if t.get("metricType") not in ("Utilization", "AverageValue") or "value" not in md:
                    fail(f"{overlay}: ScaledObject/{name}: {typ} trigger needs metricType and metadata.value")
            elif typ == "nats-jetstream":
                for k in sorted(set(md) - NATS_JETSTREAM_KEYS):
                    fail(f"{overlay}: ScaledObject/{name}: nats-jetstream has no parameter {k!r}")
                for k in sorted(NATS_JETSTREAM_REQUIRED - set(md)):
                    fail(f"{overlay}: ScaledObject/{name}: nats-jetstream needs {k!r}")
                stream, consumer = md.get("stream", ""), md.get("consumer", "")
                if consumer in consumers_tickets:
                    want = f"{prefix}_TICKETS"
                elif consumer in consumers_notify:
                    want = f"{prefix}_NOTIFY"
                else:
                    fail(f"{overlay}: ScaledObject/{name}: consumer {consumer!r} is not a durable consumer of the code "
                         f"({sorted(consumers_tickets | consumers_notify)}; department consumers are the departments' to drain)")
                    continue
                if stream != want:
                    fail(f"{overlay}: ScaledObject/{name}: consumer {consumer} is on stream {want}, not {stream!r}")
                owner = CONSUMER_OWNER.get(consumer, "notify" if consumer in consumers_notify else None)
                if owner != dep:
                    fail(f"{overlay}: ScaledObject/{name}: consumer {consumer} is run by {owner}, not by {dep}")
                if not str(md.get("lagThreshold", "")).isdigit():
                    fail(f"{overlay}: ScaledObject/{name}: lagThreshold must be a whole number")
            else:
                fail(f"{overlay}: ScaledObject/{name}: trigger type {typ!r} is not one this check knows")

    # expected settings reach every workload through envFrom ConfigMaps (or env)
    for kv in expect_env:
        key, _, value = kv.partition("=")
        for w in workloads:
            spec = w["spec"]["template"]["spec"]
            for c in spec["containers"]:
                got = None
                for ef in c.get("envFrom", []) or []:
                    ref = ef.get("configMapRef")
                    if ref and ref["name"] in configmaps:
                        got = (configmaps[ref["name"]].get("data") or {}).get(key, got)
                for e in c.get("env", []) or []:
                    if e["name"] == key:
                        got = e.get("value")
                if got != value:
                    fail(f"{overlay}: {w['kind']}/{w['metadata']['name']} container {c['name']}: {key}={got!r}, expected {value!r}")

    # monitoring objects equal to their sources
    for pr in by_kind.get("PrometheusRule", []):
        if pr["spec"] != {"groups": load_rules()["groups"]}:
            fail(f"{overlay}: PrometheusRule/{pr['metadata']['name']} differs from k8s/monitoring/rules.yaml")
    for cm in configmaps.values():
        if (cm["metadata"].get("labels") or {}).get("grafana_dashboard") == "1":
            for key, body in (cm.get("data") or {}).items():
                if json.loads(body) != json.loads(DASHBOARD.read_text()):
                    fail(f"{overlay}: ConfigMap/{cm['metadata']['name']} {key} differs from dashboard.json")

    done(
        f"{overlay}: {len(docs)} documents; {n_cr} custom resources against their schemas; "
        f"selectors, ports, {len(scaled)} scale targets"
        + (f", {len(by_kind.get('ScaledObject', []))} ScaledObjects' streams and consumers" if by_kind.get("ScaledObject") else "")
        + (f", {', '.join(expect_env)} in {len(workloads)} workloads" if expect_env else "")
    )


# --------------------------------------------------------------------------------------------
# Postgres connection budget (docs/operations.md, "Postgres connections")
# --------------------------------------------------------------------------------------------

# The production Postgres' max_connections: the budget below must fit it. Raise it only with the
# server's setting (and docs/operations.md, which states it).
PG_MAX_CONNECTIONS = 800
# Kept free for people and tools: psql, `hotline users`, `hotline dispatch corrections`, a
# metrics exporter, a backup's pg_dump.
PG_OPERATORS = 10
# Postgres' superuser_reserved_connections (its default): not usable by the hotline role.
PG_SUPERUSER_RESERVED = 3

# What one process of each `hotline <command>` (a container's first arg) opens, and where the
# code opens it: (file, needle, cost). cost "pool": the database.max_connections pool
# (shared/bus/src/db.rs `connect`, once per process); a number: connections outside that pool,
# per process. A command with no entry opens no Postgres connection. Each entry stands for one
# occurrence of its needle: every needle of PG_NEEDLES in services/ and shared/ (tests and
# comments aside) must occur as often as this table and PG_SHARED_SITES say, so a new way of
# connecting (or a second pool, relay, LISTEN) fails this check until it is counted.
PG_SMS_STOP_POOL = 4  # services/intake/src/sms/provider.rs: SmsProvider's own PgPoolOptions
PG_SERVICES: dict[str, list[tuple[str, str, str | int]]] = {
    # src/main.rs `setup` opens hotline_tickets::connect_db
    "setup": [("services/tickets/src/lib.rs", "db::connect(", "pool")],
    "tickets": [
        # Service::postgres_for with Transactions::PostgresOnly (the ledger's idle-transaction limit)
        ("services/tickets/src/lib.rs", ".postgres_for(", "pool"),
        # the relay's own connection, detached from the pool (shared/bus/src/outbox.rs, `lead`);
        # its leader's LISTEN (`serve`) is a pool connection
        ("services/tickets/src/lib.rs", "outbox_relay(", 1),
    ],
    "knowledge": [
        ("services/knowledge/src/lib.rs", ".postgres(", "pool"),
        ("services/knowledge/src/lib.rs", "outbox_relay(", 1),
    ],
    "sla": [
        ("services/sla/src/lib.rs", ".postgres(", "pool"),
        ("services/sla/src/lib.rs", "outbox_relay(", 1),
    ],
    "dispatch": [("services/dispatch/src/lib.rs", ".postgres(", "pool")],
    "survey": [("services/survey/src/lib.rs", ".postgres(", "pool")],
    "identity": [("services/identity/src/lib.rs", "db::connect(", "pool")],
    "intake": [("services/intake/src/lib.rs", "postgres_unmigrated(", "pool")],
    "email": [("services/intake/src/email/mod.rs", "postgres_unmigrated(", "pool")],
    "phone": [("services/intake/src/phone/mod.rs", "postgres_unmigrated(", "pool")],
    # the SMS STOP list's pool, once SMS is configured (counted as if it always is)
    "app": [
        ("services/intake/src/app/mod.rs", "postgres_unmigrated(", "pool"),
        ("services/intake/src/app/mod.rs", "SmsProvider::new(", PG_SMS_STOP_POOL),
    ],
    "notify": [
        ("services/intake/src/notify/mod.rs", "postgres_unmigrated(", "pool"),
        ("services/intake/src/notify/send.rs", "SmsProvider::new(", PG_SMS_STOP_POOL),
    ],
    "sms": [
        ("services/intake/src/sms/mod.rs", "postgres_unmigrated(", "pool"),
        ("services/intake/src/sms/mod.rs", "SmsProvider::new(", PG_SMS_STOP_POOL),
    ],
    "gateway": [],
    "wechat": [],
    # sessions in Redis, the services through their APIs
    "console": [],
}
# The shared code the entries above go through (their cost is counted there): occurrences.
PG_SHARED_SITES = {
    ("shared/bus/src/db.rs", "PgPoolOptions::new("): 1,  # the pool
    ("shared/runtime/src/service.rs", "db::connect("): 1,  # Service::postgres_unmigrated: the pool
    ("shared/runtime/src/service.rs", "postgres_unmigrated("): 1,  # its definition
    ("shared/runtime/src/service.rs", ".postgres_for("): 1,  # Service::postgres goes through it
    ("shared/runtime/src/service.rs", "connect_for("): 1,  # Service::postgres_for: the pool
    ("shared/bus/src/db.rs", "connect_for("): 2,  # its definition, db::connect's call (the pool above)
    ("shared/runtime/src/service.rs", "outbox_relay("): 1,  # Service::outbox_relay's definition
    ("shared/bus/src/outbox.rs", ".detach()"): 1,  # the relay's own connection: 1 per outbox_relay
    ("shared/bus/src/outbox.rs", "PgListener::connect"): 1,  # the relay leader's LISTEN, in the pool
    ("shared/bus/src/command_outbox.rs", "PgListener::connect"): 1,  # the command sender's LISTEN, in the pool
    ("services/intake/src/sms/provider.rs", "PgPoolOptions::new("): 1,  # the STOP list's pool, per SmsProvider::new
}
PG_NEEDLES = (
    ".postgres(", "postgres_unmigrated(", "db::connect(", "PgPoolOptions::new(", "PgPool::connect",
    "PgListener::connect", "PgConnection::connect", ".detach()", "outbox_relay(", "SmsProvider::new(",
    ".postgres_for(", "connect_for(",
)
PG_SETTING = "HOTLINE__DATABASE__MAX_CONNECTIONS"
BUDGET_DOC_HEADING = "## Postgres connections"


def without_tests(text: str) -> str:
    """`text` without `#[cfg(test)]` items (brace-matched) and `//` comment lines."""
    out, i = [], 0
    while (j := text.find("#[cfg(test)]", i)) >= 0:
        out.append(text[i:j])
        k = text.find("{", j)
        if k < 0:
            i = len(text)
            break
        depth = 0
        for n in range(k, len(text)):
            depth += {"{": 1, "}": -1}.get(text[n], 0)
            if depth == 0:
                break
        i = n + 1
    out.append(text[i:])
    return "\n".join(l for l in "".join(out).splitlines() if not l.lstrip().startswith("//"))


def pg_sites_in_code() -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for top in ("services", "shared"):
        for p in sorted((ROOT / top).rglob("*.rs")):
            rel = p.relative_to(ROOT).as_posix()
            if "/tests/" in rel or "/benches/" in rel or "/examples/" in rel or rel.startswith("shared/testkit/"):
                continue
            text = without_tests(p.read_text(encoding="utf-8", errors="replace"))
            found.update({(rel, n): text.count(n) for n in PG_NEEDLES if n in text})
    return found


def max_surge(dep: dict, replicas: int) -> int:
    strategy = dep["spec"].get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%"):
        return -(-replicas * int(surge[:-1]) // 100)
    return int(surge)


def budget_markdown(rows: list[tuple], used: int) -> str:
    lines = [
        "| workload | max replicas | + surge | pool | + outside the pool | connections |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, replicas, surge, pool, extra, total in rows:
        lines.append(f"| {name} | {replicas} | {surge} | {pool} | {extra} | {total} |")
    lines += [
        f"| operators' headroom | | | | | {PG_OPERATORS} |",
        f"| superuser_reserved_connections | | | | | {PG_SUPERUSER_RESERVED} |",
        f"| **total** (max_connections {PG_MAX_CONNECTIONS}) | | | | | **{used}** |",
    ]
    return "\n".join(lines)


def check_pg_budget(overlay: str, docs: list[dict]) -> None:
    """Σ over workloads of (max replicas + surge) × (pool + outside the pool), plus the operators'
    headroom and the superuser slots, against PG_MAX_CONNECTIONS; the table in
    docs/operations.md equal to the one computed."""
    # the code's connections are the ones the table says
    listed = dict(PG_SHARED_SITES)
    for sites in PG_SERVICES.values():
        for f, n, _ in sites:
            listed[(f, n)] = listed.get((f, n), 0) + 1
    in_code = pg_sites_in_code()
    for f, n in sorted(set(listed) | set(in_code)):
        have, want = in_code.get((f, n), 0), listed.get((f, n), 0)
        if have < want:
            fail(f"{f} has {have} x {n!r} (outside tests), deploy/k8s_check.py PG_SERVICES/PG_SHARED_SITES count {want}: "
                 "update the table (and the budget) to what the code opens now")
        elif have > want:
            fail(f"{f} has {have} x {n!r} (outside tests), deploy/k8s_check.py PG_SERVICES/PG_SHARED_SITES count {want}: "
                 "Postgres connections the budget does not count; add what each costs per process")
    provider = (ROOT / "services/intake/src/sms/provider.rs").read_text()
    m = re.search(r"PgPoolOptions::new\(\)\s*\.max_connections\((\d+)\)", provider)
    if not m or int(m.group(1)) != PG_SMS_STOP_POOL:
        fail(f"services/intake/src/sms/provider.rs: the STOP list's pool is no longer max_connections({PG_SMS_STOP_POOL}): update PG_SMS_STOP_POOL")

    default_pool = tomllib.loads((ROOT / "shared/config/src/defaults.toml").read_text())["database"]["max_connections"]
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    autoscaled: dict[str, tuple[int, str]] = {}
    for h in by_kind.get("HorizontalPodAutoscaler", []):
        autoscaled[h["spec"]["scaleTargetRef"]["name"]] = (h["spec"]["maxReplicas"], f"HPA/{h['metadata']['name']} maxReplicas")
    for so in by_kind.get("ScaledObject", []):
        # KEDA's default maxReplicaCount is 100
        autoscaled[so["spec"]["scaleTargetRef"]["name"]] = (so["spec"].get("maxReplicaCount", 100), f"ScaledObject/{so['metadata']['name']} maxReplicaCount")

    rows, used = [], 0
    for w in by_kind.get("Deployment", []) + by_kind.get("Job", []):
        name, spec = w["metadata"]["name"], w["spec"]
        if w["kind"] == "Deployment":
            replicas, _ = autoscaled.get(name, (spec.get("replicas", 1), "replicas"))
            surge = max_surge(w, replicas)
        else:
            replicas, surge = spec.get("parallelism", 1), 0
        pool_sum = extra_sum = 0
        for c in spec["template"]["spec"]["containers"]:
            if not str(c.get("image", "")).startswith("ghcr.io/hotline/hotline"):
                continue
            command = (c.get("args") or ["all"])[0]
            if command not in PG_SERVICES:
                fail(f"{overlay}: {w['kind']}/{name} runs `hotline {command}`, which deploy/k8s_check.py PG_SERVICES does not know: "
                     "add what it opens in Postgres")
                continue
            costs = [cost for _, _, cost in PG_SERVICES[command]]
            if "pool" in costs:
                env = {e["name"]: e for e in c.get("env") or []}
                if PG_SETTING not in env or "value" not in env[PG_SETTING]:
                    fail(f"{overlay}: {w['kind']}/{name} container {c['name']}: no literal env {PG_SETTING}: set its pool in "
                         "k8s/overlays/production/postgres-pools.yaml (env, which beats a ConfigMap's or Secret's envFrom)")
                    pool = default_pool
                    for ef in c.get("envFrom") or []:
                        ref = ef.get("configMapRef")
                        if ref and ref["name"] in configmaps:
                            pool = int((configmaps[ref["name"]].get("data") or {}).get(PG_SETTING, pool))
                else:
                    pool = int(env[PG_SETTING]["value"])
                pool_sum += pool
            extra_sum += sum(cost for cost in costs if cost != "pool")
        if pool_sum == 0 and extra_sum == 0:
            continue
        total = (replicas + surge) * (pool_sum + extra_sum)
        used += total
        rows.append((name, replicas, surge, pool_sum, extra_sum, total))
    rows.sort(key=lambda r: (-r[5], r[0]))
    used_all = used + PG_OPERATORS + PG_SUPERUSER_RESERVED

    width = max(len(r[0]) for r in rows) if rows else 8
    print(f"  Postgres connections, {overlay} (max replicas + surge) x (pool + outside the pool):")
    print(f"    {'workload':<{width}}  max  +surge  pool  +outside  total")
    for name, replicas, surge, pool, extra, total in rows:
        print(f"    {name:<{width}}  {replicas:>3}  {surge:>6}  {pool:>4}  {extra:>8}  {total:>5}")
    print(f"    {'':<{width}}  services {used} + operators {PG_OPERATORS} + superuser_reserved {PG_SUPERUSER_RESERVED}"
          f" = {used_all} of max_connections {PG_MAX_CONNECTIONS}")

    if used_all > PG_MAX_CONNECTIONS:
        fail(f"{overlay}: the services may open {used} Postgres connections, {used_all} with the operators' {PG_OPERATORS} and "
             f"the superuser's {PG_SUPERUSER_RESERVED}: {used_all - PG_MAX_CONNECTIONS} more than max_connections {PG_MAX_CONNECTIONS}. Lower a pool "
             f"(k8s/overlays/production/postgres-pools.yaml) or an autoscaler's maximum, or raise the server's max_connections "
             f"and PG_MAX_CONNECTIONS in deploy/k8s_check.py with docs/operations.md (\"Postgres connections\")")
    sys.stdout.flush()
    table = budget_markdown(rows, used_all)
    doc = OPERATIONS.read_text()
    section = doc.split(BUDGET_DOC_HEADING, 1)[1].split("\n## ", 1)[0] if BUDGET_DOC_HEADING in doc else ""
    if not section:
        fail(f"docs/operations.md: no section {BUDGET_DOC_HEADING!r}")
    elif table not in section:
        fail("docs/operations.md, \"Postgres connections\": the table is not the one the manifests give; replace it with:\n"
             + table)
    done(f"{overlay}: Postgres connection budget: {used_all} of max_connections {PG_MAX_CONNECTIONS} "
         f"({len(rows)} workloads; the code's connection sites all counted)")


def main(argv: list[str]) -> None:
    if not argv:
        print(__doc__)
        sys.exit(2)
    cmd, args = argv[0], argv[1:]
    if cmd == "sync-rules":
        sync_rules(write="--write" in args)
        done("prometheusrule.yaml in sync with rules.yaml")
    elif cmd == "monitoring":
        check_monitoring(Path(args[0]))
    elif cmd == "manifests":
        overlay, path, rest = args[0], Path(args[1]), args[2:]
        pg_budget = "--pg-budget" in rest
        rest = [a for a in rest if a != "--pg-budget"]
        opts: dict[str, list[str]] = {"--expect-env": [], "--expect-kind": [], "--forbid-kind": []}
        for flag, value in zip(rest[::2], rest[1::2]):
            opts[flag].append(value)
        check_manifests(overlay, path, opts["--expect-env"], opts["--expect-kind"], opts["--forbid-kind"])
        if pg_budget:
            check_pg_budget(overlay, [d for d in yaml.safe_load_all(path.read_text()) if d])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
