"""deploy/monitoring: the PrometheusRule through the real promtool (check and unit tests), the Grafana dashboard's
shape, and every metric either of them names found in a live scrape of the operator's metrics endpoint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bench.servers import serve
from tests.deploy.scrape import sample, scrape
from tests.kube_helpers import REPO, Kubectl, condition, map_service, visualizer, wait_for
from tests.operator_helpers import OperatorProcess

MONITORING = REPO / "deploy" / "monitoring"
RULE = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
ALERTS = {
    "ModelVisualizerBenchmarkTargetsMissed",
    "ModelVisualizerReconcileErrors",
    "ModelVisualizerDegraded",
    "ModelVisualizerOperatorDown",
}
# Series Prometheus itself makes for every target, not the operator.
SYNTHETIC = {"up"}
_GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: ./scripts/setup installs the Debian package prometheus"
    return found


def rule_groups() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULE.read_text())
    assert doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "PrometheusRule"
    return list(doc["spec"]["groups"])


def rule_exprs() -> list[str]:
    return [rule["expr"] for group in rule_groups() for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def dashboard_exprs(dash: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dash["panels"] for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords or labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(_GROUPING, "", text)  # label lists
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("(") or match.group(0) in _KEYWORDS:
            continue  # a function or an aggregation
        names.add(match.group(0))
    return names


def exported_names(text: str) -> set[str]:
    """Every sample name a scrape serves or declares (a labelled metric without children has only # TYPE)."""
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for match in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        name, kind = match.groups()
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(modelviz_reconcile_duration_seconds_bucket{namespace=~"$ns"}'
        '[$__rate_interval]))) or vector(0) and on(name) up{job="x"} == 1 unless count(foo:bar offset 5m)'
    )
    assert metric_names(expr) == {"modelviz_reconcile_duration_seconds_bucket", "up", "foo:bar"}


def test_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    groups = rule_groups()
    assert {rule["alert"] for group in groups for rule in group["rules"]} == ALERTS
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    shutil.copy(MONITORING / "tests" / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    check = subprocess.run(
        [promtool(), "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0 and f"SUCCESS: {len(ALERTS)} rules found" in check.stdout, check.stdout + check.stderr
    test = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr
    # Every alert has at least one case that fires it.
    cases = yaml.safe_load((tmp_path / "alerts_test.yaml").read_text())["tests"]
    fired = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t.get("exp_alerts")}
    assert fired == ALERTS


def test_dashboard_is_well_formed() -> None:
    dash = dashboard()
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        columns, rows = range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        mine = {(x, y) for x in columns for y in rows}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"] and target["expr"].strip(), panel["title"]
            assert metric_names(target["expr"]), f"{panel['title']}: no metric in {target['expr']}"
    # The kustomization ships the dashboard as a ConfigMap for Grafana's sidecar.
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    (generated,) = kustomization["configMapGenerator"]
    assert generated["files"] == [f"modelviz.json={DASHBOARD.name}"]


@pytest.mark.cluster
def test_every_query_names_a_metric_the_operator_exports(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    # A run that misses its targets and a resource that is Degraded: the series the alerts are about exist.
    with serve("ok") as url:
        map_service(cluster, "missed", namespace, url.split("//", 1)[1].rstrip("/"))
        bench = {"runId": "m1", "requests": 20, "concurrency": 2, "targets": {"minRps": 1e9}}
        kubectl.apply(visualizer("missed", benchmark=bench), namespace)
        kubectl.apply(visualizer("claims", dataset={"path": "images", "claimName": "missing"}), namespace)

        def missed() -> bool:
            cond = condition(kubectl.get("mviz", "missed", namespace), "BenchmarkPassed")
            return bool(cond and cond["status"] == "False")

        wait_for(missed, timeout=90, what="benchmark m1 to miss its targets", explain=operator.logs)
    ours = {"namespace": namespace}

    def scraped() -> str | None:
        text = scrape(operator.metrics_port)
        done = sample(text, "modelviz_benchmark_passed", **ours, name="missed") == 0
        degraded = sample(text, "modelviz_condition", **ours, name="claims", type="Degraded", status="True") == 1
        return text if done and degraded else None

    text = wait_for(scraped, timeout=30, what="the alerts' series", explain=lambda: scrape(operator.metrics_port))
    assert sample(text, "modelviz_condition", **ours, name="claims", type="Degraded", status="False") == 0
    assert sample(text, "modelviz_condition", **ours, name="missed", type="Ready", status="True") == 1

    exported = exported_names(text)
    dash = dashboard()
    queries = {"rule": rule_exprs(), "dashboard": dashboard_exprs(dash)}
    variable_metrics = [
        m.group(1)
        for v in dash["templating"]["list"]
        if (m := re.fullmatch(r"label_values\((\w+), *\w+\)", v.get("definition", "")))
    ]
    assert variable_metrics, "the namespace variable reads its values from a metric"
    named = {(kind, name) for kind, exprs in queries.items() for expr in exprs for name in metric_names(expr)}
    named |= {("variable", name) for name in variable_metrics}
    unknown = sorted((kind, name) for kind, name in named if name not in exported and name not in SYNTHETIC)
    assert not unknown, f"not exported by the operator: {unknown}"
    assert {name for _, name in named} >= {
        "modelviz_benchmark_rps",
        "modelviz_benchmark_p99_ms",
        "modelviz_benchmark_passed",
        "modelviz_condition",
        "modelviz_reconciles_total",
        "modelviz_reconcile_errors_total",
        "modelviz_reconcile_duration_seconds_bucket",
    }

    # Deleted: its gauges go with it.
    kubectl("delete", "mviz", "claims", "-n", namespace)
    wait_for(
        lambda: sample(scrape(operator.metrics_port), "modelviz_condition", **ours, name="claims") is None,
        timeout=30,
        what="the deleted resource's gauges to go",
    )
