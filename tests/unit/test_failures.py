"""How API refusals are classified, how a status patch replaces objects, and the kstatus conditions (no cluster).

The API errors here are built the way the kubernetes client builds them from a response; the cluster tests
(tests/cluster/test_failures.py) get the same ones from the real API server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from modelviz_operator.api import ModelVisualizerSpec
from modelviz_operator.failures import Backoff, Failure, classify
from modelviz_operator.reconcile import status_patch
from modelviz_operator.status import condition, failure_conditions, gitops_conditions

NOW = "2026-01-01T00:00:00Z"


def api_error(code: int, message: str, reason: str = "") -> ApiException:
    error = ApiException(status=code, reason=reason or "Error")
    error.body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "reason": reason, "code": code})
    return error


@pytest.mark.parametrize(
    ("code", "message", "api_reason", "reason", "transient"),
    [
        (422, 'Deployment.apps "x" is invalid: spec.template...: must be an integer', "Invalid", "ChildInvalid", False),
        (
            403,
            'services "x" is forbidden: exceeded quota: q, requested: services=1',
            "Forbidden",
            "QuotaExceeded",
            False,
        ),
        (403, 'User "op" cannot create resource "services"', "Forbidden", "Forbidden", False),
        (400, 'admission webhook "deny.example.com" denied the request: no', "BadRequest", "AdmissionDenied", False),
        (422, "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: no", "Invalid", "AdmissionDenied", False),
        (
            500,
            'Internal error occurred: failed calling webhook "w": connection refused',
            "",
            "AdmissionWebhookUnavailable",
            True,
        ),
        (409, "Operation cannot be fulfilled: the object has been modified", "Conflict", "Conflict", True),
        (429, "too many requests", "TooManyRequests", "TooManyRequests", True),
        (503, "service unavailable", "ServiceUnavailable", "ApiUnavailable", True),
        (500, "etcdserver: request timed out", "InternalError", "ApiError", True),
        (400, "bad", "BadRequest", "BadRequest", False),
        (
            403,
            'configmaps "x" is forbidden: unable to create new content in namespace t because it is being terminated',
            "Forbidden",
            "NamespaceTerminating",
            False,
        ),
    ],
)
def test_classify(code: int, message: str, api_reason: str, reason: str, transient: bool) -> None:
    failure = classify(api_error(code, message, api_reason), "Deployment x")
    assert failure.reason == reason and failure.transient is transient
    assert failure.message == f"Deployment x: {message}"


def test_a_connection_error_is_transient() -> None:
    failure = classify(MaxRetryError(None, "/api", "connection refused"), "ModelVisualizer a/b")  # type: ignore[arg-type]
    assert failure.reason == "ApiUnavailable" and failure.transient


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    backoff = Backoff(first=1, cap=8)
    key = ("n", "x")
    assert [backoff.delay(key) for _ in range(5)] == [1, 2, 4, 8, 8]
    backoff.reset(key)
    assert backoff.delay(key) == 1


def test_status_patch_replaces_an_object_whole_and_skips_what_is_equal() -> None:
    current = {
        "observedGeneration": 2,
        "benchmark": {"runId": "r1", "phase": "Succeeded", "rps": 900.0, "p99Ms": 80.0, "completedAt": "t"},
    }
    wanted = {
        "observedGeneration": 2,
        "benchmark": {"runId": "r2", "phase": "Running", "jobName": "j", "startedAt": "s"},
    }
    patch = status_patch(current, wanted)
    assert patch == {
        "benchmark": {
            "rps": None,
            "p99Ms": None,
            "completedAt": None,
            "runId": "r2",
            "phase": "Running",
            "jobName": "j",
            "startedAt": "s",
        }
    }
    assert status_patch(wanted, wanted) == {}


def spec(**extra: Any) -> ModelVisualizerSpec:
    body: dict[str, Any] = {"models": [{"name": "a", "catalog": "mobilenet_v2"}], "dataset": {"catalog": "x"}}
    body.update(extra)
    return ModelVisualizerSpec.model_validate(body)


def by_type(conditions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions}


READY = [
    condition("Ready", True, "Available", "1/1 replicas ready", 1),
    condition("Progressing", False, "Complete", "rollout complete", 1),
    condition("Degraded", False, "AsExpected", "", 1),
]


def gitops(conditions: list[dict[str, Any]], **kw: Any) -> dict[str, dict[str, Any]]:
    args: dict[str, Any] = {"spec": spec(), "benchmark": None, "failures": [], "generation": 1, "now": NOW}
    args.update(kw)
    return by_type(gitops_conditions(conditions, **args))


def test_ready_is_neither_stalled_nor_reconciling() -> None:
    c = gitops(READY)
    assert c["Stalled"]["status"] == "False" and c["Reconciling"]["status"] == "False"


def test_a_permanent_refusal_is_degraded_and_stalled_while_the_old_pods_serve() -> None:
    refused = Failure("ChildInvalid", "Deployment a: spec.template...: must be an integer", False, 422)
    folded = failure_conditions(READY, [refused], 1, NOW)
    c = gitops(folded, failures=[refused])
    assert c["Degraded"]["status"] == "True" and c["Degraded"]["reason"] == "ChildInvalid"
    assert c["Stalled"]["status"] == "True" and "must be an integer" in c["Stalled"]["message"]
    assert c["Reconciling"]["status"] == "False"
    assert c["Ready"]["status"] == "True" and "but Deployment a" in c["Ready"]["message"]


def test_a_transient_failure_is_reconciling() -> None:
    away = Failure("ApiUnavailable", "Service a: the API server did not answer", True)
    c = gitops(failure_conditions(READY, [away], 1, NOW), failures=[away])
    assert c["Degraded"]["status"] == "False" and c["Stalled"]["status"] == "False"
    assert c["Reconciling"]["status"] == "True" and c["Reconciling"]["reason"] == "ApiUnavailable"


def test_a_rollout_is_reconciling() -> None:
    rolling = [*READY[:1], condition("Progressing", True, "RollingOut", "1/2 replicas updated", 1), READY[2]]
    c = gitops(rolling)
    assert c["Reconciling"]["status"] == "True" and c["Reconciling"]["reason"] == "RollingOut"


def test_a_gating_run_is_reconciling_then_stalled_when_it_misses() -> None:
    gated = spec(benchmark={"runId": "r1", "targets": {"maxP99Ms": 100}})
    assert gated.benchmark is not None and gated.benchmark.gating
    running = gitops(READY, spec=gated, benchmark={"runId": "r1", "phase": "Running"})
    assert running["Reconciling"]["reason"] == "BenchmarkRunning"
    missed = [*READY, condition("BenchmarkPassed", False, "TargetMissed", "p99 300 ms above maxP99Ms 100", 1)]
    c = gitops(missed, spec=gated, benchmark={"runId": "r1", "phase": "Succeeded"})
    assert c["Stalled"]["status"] == "True" and c["Stalled"]["reason"] == "BenchmarkTargetMissed"
    assert "maxP99Ms 100" in c["Stalled"]["message"]
    # Gate off: the same result only informs.
    informing = spec(benchmark={"runId": "r1", "targets": {"maxP99Ms": 100}, "gate": False})
    assert (
        gitops(missed, spec=informing, benchmark={"runId": "r1", "phase": "Succeeded"})["Stalled"]["status"] == "False"
    )


def test_a_scheduled_retry_runs_once_in_the_callers_context() -> None:
    # kopf keeps what kopf.event needs in context variables: a retry from a timer thread must still see them.
    import contextvars
    import threading

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var")
    var.set("handler context")
    seen: list[str] = []
    done = threading.Event()

    def retry() -> None:
        seen.append(var.get("missing"))
        done.set()

    backoff = Backoff(first=0.05, cap=1)
    assert backoff.schedule(("n", "x"), retry) == 0.05
    assert backoff.schedule(("n", "x"), retry) is None  # one retry waiting is enough
    assert done.wait(5)
    assert seen == ["handler context"]
