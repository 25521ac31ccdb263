"""The benchmark's pure parts: the Job builder, when to start, how a finished Job reads, targets."""

from __future__ import annotations

import json
from typing import Any

from modelviz_operator.api import BenchmarkStatus, BenchmarkTargets, ModelVisualizerSpec
from modelviz_operator.benchmark import judge, next_step, outcome
from modelviz_operator.builders import Owner
from modelviz_operator.builders.job import benchmark_job_name, build_benchmark_job

OWNER = Owner(name="viz", namespace="team", uid="u1")


def spec(**bench: Any) -> ModelVisualizerSpec:
    return ModelVisualizerSpec.model_validate(
        {
            "models": [{"name": "a", "catalog": "mobilenet_v2"}],
            "dataset": {"catalog": "imagenet-sample"},
            "service": {"port": 8080},
            "benchmark": {"runId": "r1", **bench},
        }
    )


def test_job_runs_the_runner_once_with_a_deadline() -> None:
    s = spec(requests=1000, concurrency=20, keepAlive=True, path="/_stcore/health", timeoutSeconds=120)
    assert s.benchmark is not None
    job = build_benchmark_job(OWNER, s, s.benchmark, "r1", image="img:1")
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 120
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    command = pod["containers"][0]["command"]
    assert command[:3] == ["python", "-m", "modelviz_bench"]
    assert command[command.index("--url") + 1] == "http://viz.team.svc.cluster.local:8080/_stcore/health"
    assert command[command.index("--requests") + 1] == "1000" and "--keep-alive" in command
    assert command[command.index("--output") + 1] == pod["containers"][0]["terminationMessagePath"]
    assert job["metadata"]["labels"]["modelviz.io/run-id"] == "r1"
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "benchmark"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert benchmark_job_name(OWNER, "r1") == job["metadata"]["name"] != benchmark_job_name(OWNER, "r2")
    assert len(benchmark_job_name(Owner("x" * 63, "n", "u"), "y" * 63)) <= 63
    assert command[command.index("--scenario") + 1] == "page"


def test_scenarios_point_the_runner_at_the_app_root() -> None:
    for scenario in ("predict", "health"):
        s = spec(scenario=scenario, path="/ignored")
        assert s.benchmark is not None
        command = build_benchmark_job(OWNER, s, s.benchmark, "r1")["spec"]["template"]["spec"]["containers"][0][
            "command"
        ]
        # The runner adds /api/v1/predict (POSTing its sample photo) or /_stcore/health to the app's root.
        assert command[command.index("--url") + 1] == "http://viz.team.svc.cluster.local:8080/"
        assert command[command.index("--scenario") + 1] == scenario
    default = spec()
    assert default.benchmark is not None and default.benchmark.scenario == "page"
    ok = json.dumps({"ok": True, "scenario": "predict", "rps": 210.5, "p50Ms": 40, "p99Ms": 90, "complete": 500})
    result = outcome(job("Complete"), pod(ok), was_running=True)
    assert result is not None and result["scenario"] == "predict" and result["message"].startswith("predict: 210.5")


def test_each_run_id_starts_once() -> None:
    assert next_step(spec(), None, [], ready=True).action == "start"
    assert next_step(spec(), None, [], ready=False).action == "wait"
    pending = {"runId": "r1", "phase": "Pending"}
    assert next_step(spec(), pending, [], ready=True).action == "start"
    running = {"runId": "r1", "phase": "Running", "jobName": "viz-bench-x"}
    assert next_step(spec(), running, [], ready=True).action == "follow"
    done = {"runId": "r1", "phase": "Succeeded", "jobName": "viz-bench-x"}
    assert next_step(spec(), done, [done], ready=True).action == "none"
    # An old runId set again does not run again.
    assert next_step(spec(), {"runId": "r2", "phase": "Failed"}, [done], ready=True).action == "none"
    assert next_step(spec(runId="r3"), done, [done], ready=True).run_id == "r3"
    suspended = ModelVisualizerSpec.model_validate({**spec().model_dump(by_alias=True), "suspend": True})
    assert next_step(suspended, None, [], ready=True).action == "none"


def test_on_rollout_runs_once_per_revision() -> None:
    s = spec(onRollout=True)
    assert next_step(s, None, [], ready=True, revision=None).action == "none"  # rollout not complete yet
    first = next_step(s, None, [], ready=True, revision="1")
    assert first.run_id == "r1.rev1"
    done = {"runId": "r1.rev1", "phase": "Succeeded", "jobName": "j"}
    assert next_step(s, done, [done], ready=True, revision="1").action == "none"
    assert next_step(s, done, [done], ready=True, revision="2").run_id == "r1.rev2"


def job(kind: str, reason: str = "") -> dict[str, Any]:
    return {"status": {"conditions": [{"type": kind, "status": "True", "reason": reason, "message": reason}]}}


def pod(message: str) -> dict[str, Any]:
    return {"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 0, "message": message}}}]}}


def test_outcome_of_finished_jobs() -> None:
    ok = json.dumps({"ok": True, "rps": 812.5, "p50Ms": 40, "p90Ms": 70, "p99Ms": 150, "complete": 5000, "failed": 0})
    result = outcome(job("Complete"), pod(ok), was_running=True)
    assert result is not None
    assert result["phase"] == "Succeeded" and result["rps"] == 812.5 and result["completeRequests"] == 5000
    bad = json.dumps({"ok": False, "reason": "Non2xxResponses", "message": "500s", "non2xx": 10, "rps": 5})
    result = outcome(job("Failed", "BackoffLimitExceeded"), pod(bad), was_running=True)
    assert result == {
        "phase": "Failed",
        "reason": "Non2xxResponses",
        "message": "500s",
        "non2xxResponses": 10,
        "rps": 5,
    }
    deadline = outcome(job("Failed", "DeadlineExceeded"), None, was_running=True)
    assert deadline is not None and deadline["reason"] == "DeadlineExceeded"
    garbage = outcome(job("Failed", "BackoffLimitExceeded"), pod("Traceback: ab not found"), was_running=True)
    assert garbage is not None and garbage["reason"] == "UnparsableResult"
    assert outcome(None, None, was_running=True) == {
        "phase": "Failed",
        "reason": "JobDeleted",
        "message": "the benchmark Job was deleted mid-run",
    }
    assert outcome({"status": {"active": 1}}, None, was_running=True) is None


def test_judge_against_targets() -> None:
    result = {"runId": "r", "phase": "Succeeded", "rps": 850.0, "p99Ms": 175.0}
    assert judge(None, result)[0] is None
    assert judge(BenchmarkTargets(min_rps=800, max_p99_ms=200), result) == (
        True,
        "TargetsMet",
        "850.0 requests/s >= 800, p99 175.0 ms <= 200",
    )
    passed, reason, message = judge(BenchmarkTargets(min_rps=900, max_p99_ms=150), result)
    assert (passed, reason) == (False, "TargetMissed")
    assert "below minRps 900" in message and "above maxP99Ms 150" in message
    assert judge(BenchmarkTargets(min_rps=1), {"runId": "r", "phase": "Failed", "reason": "Timeout"})[1] == "RunFailed"


def test_a_result_document_with_bad_figures_still_gives_a_writable_status() -> None:
    # The termination message is the pod's output: wrong types, NaN (Python's json reads it), negative counts and
    # unknown keys are left out, the rest kept, so the strict status model still accepts the result.
    doc = (
        '{"ok": true, "rps": "fast", "p50Ms": NaN, "p90Ms": -3, "p99Ms": 120.5, "complete": true, "failed": 0, "x": 1}'
    )
    result = outcome(job("Complete"), pod(doc), was_running=True)
    assert result is not None
    assert result["phase"] == "Succeeded"
    assert {k: v for k, v in result.items() if k not in ("phase", "reason", "message")} == {
        "p99Ms": 120.5,
        "failedRequests": 0,
    }
    BenchmarkStatus.model_validate({"runId": "r1", **result})
