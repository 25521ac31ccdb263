"""Prometheus metrics of the operator, served on their own port (Config.metrics_port, default 9090)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "API_REQUESTS",
    "BENCHMARK_P99",
    "BENCHMARK_PASSED",
    "BENCHMARK_RPS",
    "COALESCED",
    "CONDITION",
    "IN_FLIGHT",
    "RECONCILES",
    "RECONCILE_ERRORS",
    "RECONCILE_SECONDS",
    "forget",
    "observe_status",
    "serve",
]

log = logging.getLogger(__name__)

RECONCILES = Counter(
    "modelviz_reconciles_total", "Reconciles of a ModelVisualizer, by outcome.", ["namespace", "name", "result"]
)
# Reconcile requests that found one already running for their resource: marked dirty, run once after it instead.
COALESCED = Counter(
    "modelviz_reconciles_coalesced_total",
    "Reconcile requests folded into the one running for the same resource.",
    ["namespace", "name"],
)
IN_FLIGHT = Gauge("modelviz_reconciles_in_flight", "Resources with a reconcile running now (the work-queue table).")
API_REQUESTS = Counter(
    "modelviz_api_requests_total", "Requests the reconciles sent to the API server, by verb and kind.", ["verb", "kind"]
)
RECONCILE_ERRORS = Counter(
    "modelviz_reconcile_errors_total", "Reconciles that failed with an error.", ["namespace", "name", "reason"]
)
RECONCILE_SECONDS = Histogram(
    "modelviz_reconcile_duration_seconds",
    "Time one reconcile took.",
    ["namespace", "name"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BENCHMARK_RPS = Gauge("modelviz_benchmark_rps", "Requests/s of the latest benchmark.", ["namespace", "name"])
BENCHMARK_P99 = Gauge("modelviz_benchmark_p99_ms", "p99 latency (ms) of the latest benchmark.", ["namespace", "name"])
BENCHMARK_PASSED = Gauge(
    "modelviz_benchmark_passed",
    "1 when the latest benchmark met its targets, 0 when it missed them (absent without targets or result).",
    ["namespace", "name"],
)
# One series per condition type and status, 1 for the current status (kube-state-metrics' style), so alerts can say
# "Degraded for 10 minutes" without parsing the status.
CONDITION = Gauge(
    "modelviz_condition",
    "1 when the ModelVisualizer's condition has this status, else 0.",
    ["namespace", "name", "type", "status"],
)
_STATUSES = ("True", "False", "Unknown")
_GAUGES = (BENCHMARK_RPS, BENCHMARK_P99, BENCHMARK_PASSED)
_condition_types: dict[tuple[str, str], set[str]] = {}  # what forget() must remove


def observe_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    """Gauges from the status as written, so they are right after an operator restart too."""
    for cond in status.get("conditions") or []:
        _condition_types.setdefault((namespace, name), set()).add(cond["type"])
        for value in _STATUSES:
            CONDITION.labels(namespace, name, cond["type"], value).set(1 if cond.get("status") == value else 0)
    bench = status.get("benchmark") or {}
    if bench.get("rps") is not None:
        BENCHMARK_RPS.labels(namespace, name).set(bench["rps"])
    if bench.get("p99Ms") is not None:
        BENCHMARK_P99.labels(namespace, name).set(bench["p99Ms"])
    if isinstance(bench.get("passed"), bool):
        BENCHMARK_PASSED.labels(namespace, name).set(1 if bench["passed"] else 0)
    elif bench.get("phase") in ("Succeeded", "Failed"):
        _remove(BENCHMARK_PASSED, (namespace, name))


def forget(namespace: str, name: str) -> None:
    """Drop a deleted resource's gauges (counters stay: Prometheus expects them not to vanish mid-series)."""
    for gauge in _GAUGES:
        _remove(gauge, (namespace, name))
    for kind in _condition_types.pop((namespace, name), set()):
        for value in _STATUSES:
            _remove(CONDITION, (namespace, name, kind, value))


def _remove(gauge: Gauge, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):  # never set
        gauge.remove(*labels)


def serve(port: int, address: str) -> int | None:
    """Start the metrics endpoint; returns its port (0 disables it)."""
    if port <= 0:
        return None
    start_http_server(port, addr=address)
    log.info("metrics served on %s:%d/metrics", address, port)
    return port
