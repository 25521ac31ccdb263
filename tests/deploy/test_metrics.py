"""Observability of the operator as deployed: Prometheus metrics after reconciles and a benchmark, JSON logs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.bench.servers import serve
from tests.deploy.scrape import sample, scrape
from tests.kube_helpers import Kubectl, map_service, visualizer, wait_for
from tests.operator_helpers import OperatorProcess, start_operator, stop_operator

pytestmark = pytest.mark.cluster


def test_metrics_after_reconciles_and_a_benchmark(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    with serve("ok") as url:
        map_service(cluster, "metered", namespace, url.split("//", 1)[1].rstrip("/"))
        bench = {"runId": "m1", "requests": 20, "concurrency": 2}
        kubectl.apply(visualizer("metered", benchmark=bench), namespace)

        def benchmarked() -> bool:
            obj = kubectl.get("mviz", "metered", namespace) or {}
            return ((obj.get("status") or {}).get("benchmark") or {}).get("phase") == "Succeeded"

        wait_for(benchmarked, timeout=90, what="benchmark m1", explain=operator.logs)
    ours = {"namespace": namespace, "name": "metered"}

    def with_benchmark() -> str | None:
        text = scrape(operator.metrics_port)
        return text if sample(text, "modelviz_benchmark_rps", **ours) is not None else None

    explain = lambda: scrape(operator.metrics_port)  # noqa: E731
    text = wait_for(with_benchmark, timeout=20, what="modelviz_benchmark_rps", explain=explain)
    assert (sample(text, "modelviz_reconciles_total", **ours, result="ok") or 0) >= 1
    assert (sample(text, "modelviz_reconcile_duration_seconds_bucket", **ours, le="+Inf") or 0) >= 1
    assert (sample(text, "modelviz_reconcile_duration_seconds_count", **ours) or 0) >= 1
    assert (sample(text, "modelviz_benchmark_rps", **ours) or 0) > 0
    assert sample(text, "modelviz_benchmark_p99_ms", **ours) is not None
    for metric in ("modelviz_reconciles_total", "modelviz_reconcile_duration_seconds", "modelviz_benchmark_rps"):
        assert f"# HELP {metric} " in text and f"# TYPE {metric} " in text


def test_json_logs_carry_the_resource(cluster: Any, crd: str, kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    # The resource exists before the operator starts, so this operator's resume handler runs for it even when the
    # session operator has already handled it.
    kubectl.apply(visualizer("logged"), namespace)
    log = tmp_path / "operator.log"
    env = {"MODELVIZ_NAMESPACES": namespace, "MODELVIZ_FIELD_MANAGER": f"modelviz-json-{uuid.uuid4().hex[:6]}"}
    running = start_operator(cluster, log, env, extra_args=["--log-format=json"])
    try:

        def about_it() -> list[dict[str, Any]]:
            records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
            return [r for r in records if (r.get("object") or {}).get("name") == "logged"]

        # The resume handler's own line (child handlers, which never wait for a running reconcile, may come first).
        wait_for(
            lambda: any("Handler 'on_change' succeeded" in r.get("message", "") for r in about_it()),
            timeout=60,
            what="the resource's handler to succeed",
            explain=running.logs,
        )
    finally:
        stop_operator(running)

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert records and all({"message", "severity", "timestamp"} <= r.keys() for r in records), records[:3]
    # kopf binds its per-object loggers to the object: {"apiVersion", "kind", "name", "uid", "namespace"}.
    about = [r for r in records if "logged" in r["message"] or (r.get("object") or {}).get("name") == "logged"]
    for record in about:
        obj = record.get("object") or {}
        assert obj.get("namespace") == namespace and obj.get("name") == "logged" and obj.get("uid"), record
    handled = [r for r in about if r["object"]["kind"] == "ModelVisualizer"]
    assert any("Handler 'on_change' succeeded" in r["message"] for r in handled), about
    # The child watches log against the child (the Service shares the resource's name).
    assert {r["object"]["kind"] for r in about} <= {"ModelVisualizer", "Service", "Deployment", "ConfigMap", "Pod"}
