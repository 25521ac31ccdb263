"""Benchmark runs through the reconcile, over the in-memory API: start, follow, result, verdict, history, pruning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from modelviz_operator import reconcile as reconcile_module
from modelviz_operator.benchmark import benchmark_status
from modelviz_operator.builders.job import benchmark_job_name
from modelviz_operator.reconcile import reconcile
from tests.unit.fake_kube import FakeKube, refusal
from tests.unit.test_reconcile import NS, SPEC, Events, condition

IMAGE = "registry.example/operator:1"


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    api = FakeKube()
    yield api
    reconcile_module.forget(NS, "viz")


def bench_spec(run_id: str = "r1", **extra: Any) -> dict[str, Any]:
    return {**SPEC, "benchmark": {"runId": run_id, "requests": 100, "concurrency": 2, **extra}}


def run(fake: FakeKube, events: Events) -> dict[str, Any]:
    def extra(**kwargs: Any) -> dict[str, Any]:
        return benchmark_status(**kwargs, image=IMAGE)

    reconcile(NS, "viz", events, extra, api=fake)
    return fake.status_of(NS, "viz")


def jobs(fake: FakeKube) -> list[dict[str, Any]]:
    return [obj for (kind, _, _), obj in sorted(fake.objects.items()) if kind == "Job"]


def finish(fake: FakeKube, run_id: str, result: dict[str, Any] | None, succeeded: bool = True) -> None:
    """The Job controller and the runner: the Job's condition and its pod's termination message."""
    name = benchmark_job_name(reconcile_owner(fake), run_id)
    kind = "Complete" if succeeded else "Failed"
    fake.edit("Job", NS, name, lambda j: j.update(status={"conditions": [{"type": kind, "status": "True"}]}))
    state: dict[str, Any] = {"exitCode": 0 if succeeded else 1}
    if result is not None:
        state["message"] = json.dumps(result)
    fake.add(
        {
            "kind": "Pod",
            "metadata": {"name": f"{name}-x", "namespace": NS, "labels": {"job-name": name}},
            "status": {"containerStatuses": [{"state": {"terminated": state}}]},
        }
    )


def reconcile_owner(fake: FakeKube) -> Any:
    from modelviz_operator.builders import Owner

    return Owner.from_body(fake.objects[("ModelVisualizer", NS, "viz")])


OK = {"ok": True, "rps": 250.5, "p50Ms": 4.0, "p90Ms": 7.0, "p99Ms": 12.5, "complete": 100, "failed": 0}


def test_a_run_waits_for_the_visualizer_then_runs_once(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", bench_spec(targets={"minRps": 100}))
    status = run(fake, events)
    assert status["benchmark"]["phase"] == "Pending" and not jobs(fake)
    fake.settle_deployment(NS, "viz")
    status = run(fake, events)
    (job,) = jobs(fake)
    assert status["benchmark"] == {
        "runId": "r1",
        "scenario": "page",
        "phase": "Running",
        "jobName": job["metadata"]["name"],
        "startedAt": status["benchmark"]["startedAt"],
    }
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE  # Config.bench_image
    assert condition(status, "Reconciling")["reason"] == "BenchmarkRunning"  # targets gate by default
    assert "BenchmarkStarted" in events.reasons()
    # Following a Job that still runs writes nothing.
    fake.reset_calls()
    run(fake, events)
    assert fake.writes() == []

    finish(fake, "r1", OK)
    status = run(fake, events)
    bench = status["benchmark"]
    assert bench["phase"] == "Succeeded" and bench["rps"] == 250.5 and bench["passed"] is True
    assert bench["completeRequests"] == 100
    assert [h["runId"] for h in status["benchmarkHistory"]] == ["r1"]
    assert condition(status, "BenchmarkPassed")["reason"] == "TargetsMet"
    assert condition(status, "Reconciling")["status"] == "False"
    assert "BenchmarkSucceeded" in events.reasons()
    # The same runId never runs again.
    run(fake, events)
    assert len(jobs(fake)) == 1


def test_a_missed_target_stalls_a_gating_run(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", bench_spec(targets={"minRps": 1000}))
    fake_ready(fake, events)
    finish(fake, "r1", OK)
    status = run(fake, events)
    assert status["benchmark"]["passed"] is False
    assert condition(status, "BenchmarkPassed")["reason"] == "TargetMissed"
    assert condition(status, "Stalled")["reason"] == "BenchmarkTargetMissed"


def fake_ready(fake: FakeKube, events: Events) -> None:
    run(fake, events)
    fake.settle_deployment(NS, "viz")
    run(fake, events)
    assert jobs(fake)


def test_a_new_run_id_runs_again_and_old_jobs_are_pruned(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", bench_spec(keepJobs=1))
    fake_ready(fake, events)
    finish(fake, "r1", OK)
    run(fake, events)
    fake.set_spec(NS, "viz", bench_spec("r2", keepJobs=1))
    status = run(fake, events)
    assert status["benchmark"]["runId"] == "r2" and status["benchmark"]["phase"] == "Running"
    # A new run replaces the object whole: no figure of r1 beside r2's runId.
    assert "rps" not in status["benchmark"]
    finish(fake, "r2", OK)
    status = run(fake, events)
    assert [h["runId"] for h in status["benchmarkHistory"]] == ["r2", "r1"]
    assert [j["metadata"]["labels"]["modelviz.io/run-id"] for j in jobs(fake)] == ["r2"]


def test_a_failed_run_says_why(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", bench_spec())
    fake_ready(fake, events)
    finish(fake, "r1", {"ok": False, "reason": "ServiceUnreachable", "message": "no answer"}, succeeded=False)
    bench = run(fake, events)["benchmark"]
    assert (bench["phase"], bench["reason"], bench["message"]) == ("Failed", "ServiceUnreachable", "no answer")
    assert "BenchmarkFailed" in events.reasons()


def test_a_job_deleted_mid_run_fails_the_run(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", bench_spec())
    fake_ready(fake, events)
    (job,) = jobs(fake)
    fake.remove("Job", NS, job["metadata"]["name"])
    bench = run(fake, events)["benchmark"]
    assert (bench["phase"], bench["reason"]) == ("Failed", "JobDeleted")


def test_a_job_refused_for_good_fails_the_run_with_the_servers_words(fake: FakeKube) -> None:
    events = Events()
    fake.refuse[("apply", "Job")] = refusal(403, "jobs.batch is forbidden: exceeded quota: no-jobs")
    fake.add_visualizer(NS, "viz", bench_spec())
    run(fake, events)
    fake.settle_deployment(NS, "viz")
    bench = run(fake, events)["benchmark"]
    assert (bench["phase"], bench["reason"]) == ("Failed", "QuotaExceeded")
    assert "exceeded quota: no-jobs" in bench["message"]
    # Not tried again for the same runId.
    del fake.refuse[("apply", "Job")]
    run(fake, events)
    assert not jobs(fake)


def test_a_transient_refusal_of_the_job_is_retried(fake: FakeKube) -> None:
    events = Events()
    fake.refuse[("apply", "Job")] = refusal(500, "etcdserver: request timed out")
    fake.add_visualizer(NS, "viz", bench_spec())
    run(fake, events)
    fake.settle_deployment(NS, "viz")
    status = run(fake, events)
    assert condition(status, "Reconciling")["status"] == "True"
    assert reconcile_module._backoff.pending((NS, "viz"))
    del fake.refuse[("apply", "Job")]
    status = run(fake, events)
    assert status["benchmark"]["phase"] == "Running" and len(jobs(fake)) == 1
