"""The status gauges the alerts and the dashboard read (deploy/monitoring): set from the status, dropped on delete."""

from __future__ import annotations

from prometheus_client import REGISTRY

from modelviz_operator import metrics


def value(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


def test_conditions_and_benchmark_result_become_gauges() -> None:
    ours = {"namespace": "unit", "name": "gauged"}
    status = {
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Degraded", "status": "False"},
            {"type": "BenchmarkPassed", "status": "False"},
        ],
        "benchmark": {"runId": "r1", "phase": "Succeeded", "rps": 120.5, "p99Ms": 80.0, "passed": False},
    }
    metrics.observe_status("unit", "gauged", status)
    assert value("modelviz_condition", **ours, type="Ready", status="True") == 1
    assert value("modelviz_condition", **ours, type="Ready", status="False") == 0
    assert value("modelviz_condition", **ours, type="Degraded", status="True") == 0
    assert value("modelviz_benchmark_passed", **ours) == 0
    assert value("modelviz_benchmark_rps", **ours) == 120.5
    assert value("modelviz_benchmark_p99_ms", **ours) == 80.0

    # A later run that failed has no verdict on the targets: the gauge goes rather than keep the old one.
    status["benchmark"] = {"runId": "r2", "phase": "Failed", "passed": None}
    metrics.observe_status("unit", "gauged", status)
    assert value("modelviz_benchmark_passed", **ours) is None

    metrics.forget("unit", "gauged")
    for metric in ("modelviz_benchmark_rps", "modelviz_benchmark_p99_ms"):
        assert value(metric, **ours) is None
    assert value("modelviz_condition", **ours, type="Ready", status="True") is None
    metrics.forget("unit", "gauged")  # twice is harmless
