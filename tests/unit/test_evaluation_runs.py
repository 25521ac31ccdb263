"""Evaluations through the reconcile, over the in-memory API: start, follow, figures, verdict, a new hash stopping
the outdated Job (its pods collected with it), a deleted Job, switching off, and the Job read from the watch cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from modelviz_operator import reconcile as reconcile_module
from modelviz_operator.api import ModelVisualizerSpec
from modelviz_operator.builders import Owner
from modelviz_operator.builders.evaluation import evaluation_hash, evaluation_job_name
from modelviz_operator.cache import CachedApi
from modelviz_operator.evaluation import extra_status
from modelviz_operator.ports import KubeApi
from modelviz_operator.reconcile import reconcile
from tests.unit.fake_kube import CHILD_KINDS, FakeKube
from tests.unit.test_reconcile import NS, SPEC, Events, condition

IMAGE = "registry.example/operator:1"
FIGURES = [
    {"name": "a", "images": 100, "top1": 0.8, "top5": 0.95, "ece": 0.04, "worstClass": "cat", "worstClassRecall": 0.5}
]


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    api = FakeKube()
    yield api
    reconcile_module.forget(NS, "viz")


def eval_spec(**evaluation: Any) -> dict[str, Any]:
    return {**SPEC, "evaluation": evaluation}


def run(api: KubeApi, fake: FakeKube, events: Events) -> dict[str, Any]:
    def extra(**kwargs: Any) -> dict[str, Any]:
        return extra_status(**kwargs, image=IMAGE)

    reconcile(NS, "viz", events, extra, api=api)
    return fake.status_of(NS, "viz")


def jobs(fake: FakeKube) -> list[dict[str, Any]]:
    return [obj for (kind, _, _), obj in sorted(fake.objects.items()) if kind == "Job"]


def pods_of(fake: FakeKube, job_name: str) -> list[dict[str, Any]]:
    return [
        obj
        for (kind, _, _), obj in fake.objects.items()
        if kind == "Pod" and (obj["metadata"].get("labels") or {}).get("job-name") == job_name
    ]


def job_name(fake: FakeKube) -> str:
    body = fake.objects[("ModelVisualizer", NS, "viz")]
    spec = ModelVisualizerSpec.model_validate(body["spec"])
    return evaluation_job_name(Owner.from_body(body), evaluation_hash(spec))


def start_pod(fake: FakeKube, name: str) -> None:
    """The Job controller's pod: labelled with the Job's name and owned by the Job (the garbage collector's link)."""
    job = fake.objects[("Job", NS, name)]
    fake.add(
        {
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-x",
                "namespace": NS,
                "labels": {"job-name": name},
                "ownerReferences": [{"kind": "Job", "name": name, "uid": job["metadata"]["uid"]}],
            },
            "status": {"phase": "Running"},
        }
    )


def finish(fake: FakeKube, name: str, result: dict[str, Any], succeeded: bool = True) -> None:
    """The Job ends; its pod's termination message holds the figures (``modelviz app evaluate``)."""
    kind = "Complete" if succeeded else "Failed"
    fake.edit("Pod", NS, f"{name}-x", lambda p: p.update(status={"containerStatuses": [
        {"state": {"terminated": {"exitCode": 0 if succeeded else 1, "message": json.dumps(result)}}}
    ]}))  # fmt: skip
    fake.edit("Job", NS, name, lambda j: j.update(status={"conditions": [{"type": kind, "status": "True"}]}))


def test_an_evaluation_runs_once_and_its_figures_reach_the_status(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", eval_spec(targets={"minTop1": 0.5}))
    status = run(fake, fake, events)
    (job,) = jobs(fake)
    name = job["metadata"]["name"]
    assert name == job_name(fake)
    assert status["evaluation"]["phase"] == "Running" and status["evaluation"]["jobName"] == name
    assert condition(status, "QualityPassed")["status"] == "Unknown"
    assert "EvaluationStarted" in events.reasons()
    start_pod(fake, name)
    # Following a Job that still runs writes nothing and reads no pod (the figures are there only at the end).
    fake.reset_calls()
    run(fake, fake, events)
    assert fake.writes() == []
    assert not [c for c in fake.calls if c[:2] == ("list", "Pod") and c[2] == f"job-name={name}"]

    finish(fake, name, {"ok": True, "eceBins": 15, "models": FIGURES})
    status = run(fake, fake, events)
    evaluation = status["evaluation"]
    assert (evaluation["phase"], evaluation["passed"], evaluation["bestModel"]) == ("Succeeded", True, "a")
    assert evaluation["models"][0]["top1"] == 0.8 and evaluation["eceBins"] == 15
    assert condition(status, "QualityPassed")["reason"] == "TargetsMet"
    assert "EvaluationSucceeded" in events.reasons()
    # The same hash never runs again.
    run(fake, fake, events)
    assert len(jobs(fake)) == 1


def test_a_missed_target_is_a_warning_and_stalls_the_gate(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", eval_spec(targets={"minTop1": 0.9}))
    run(fake, fake, events)
    name = job_name(fake)
    start_pod(fake, name)
    finish(fake, name, {"ok": True, "models": FIGURES})
    status = run(fake, fake, events)
    assert status["evaluation"]["passed"] is False and status["evaluation"]["models"][0]["passed"] is False
    assert condition(status, "QualityPassed")["reason"] == "TargetMissed"
    assert condition(status, "Stalled")["reason"] == "QualityTargetMissed"
    assert events.reasons().count("QualityTargetMissed") == 1
    run(fake, fake, events)
    assert events.reasons().count("QualityTargetMissed") == 1  # once per verdict, not per reconcile


def test_a_new_hash_stops_the_outdated_job_and_its_pods_go_with_it(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", eval_spec(runId="e1"))
    run(fake, fake, events)
    old = job_name(fake)
    start_pod(fake, old)
    fake.set_spec(NS, "viz", eval_spec(runId="e2"))
    fake.reset_calls()
    status = run(fake, fake, events)
    new = job_name(fake)
    assert new != old and [j["metadata"]["name"] for j in jobs(fake)] == [new]
    assert status["evaluation"]["jobName"] == new and status["evaluation"]["runId"] == "e2"
    # One delete, of the Job: its pods are the garbage collector's (a background propagation), not deleted one by one.
    assert [c for c in fake.calls if c[0] == "delete"] == [("delete", "Job", old)]
    assert pods_of(fake, old) == []


def test_a_job_deleted_mid_run_fails_the_evaluation(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", eval_spec())
    run(fake, fake, events)
    fake.remove("Job", NS, job_name(fake))
    evaluation = run(fake, fake, events)["evaluation"]
    assert (evaluation["phase"], evaluation["reason"]) == ("Failed", "JobDeleted")


def test_switching_the_evaluation_off_clears_its_status(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", eval_spec(targets={"minTop1": 0.5}))
    run(fake, fake, events)
    name = job_name(fake)
    start_pod(fake, name)
    finish(fake, name, {"ok": True, "models": FIGURES})
    assert "evaluation" in run(fake, fake, events)
    fake.set_spec(NS, "viz", SPEC)
    status = run(fake, fake, events)
    assert "evaluation" not in status
    assert "QualityPassed" not in {c["type"] for c in status["conditions"]}


def test_a_running_evaluation_is_followed_from_the_watch_cache(fake: FakeKube) -> None:
    api = CachedApi(fake, CHILD_KINDS)
    fake.watchers.append(api.observe)
    events = Events()
    fake.add_visualizer(NS, "viz", eval_spec())
    run(api, fake, events)
    name = job_name(fake)
    start_pod(fake, name)
    fake.settle_deployment(NS, "viz")
    run(api, fake, events)
    fake.reset_calls()
    run(api, fake, events)
    # Neither the Job nor the pods are read from the API: the watch events keep them.
    assert fake.calls == [("get", "ModelVisualizer", "viz")]
    finish(fake, name, {"ok": True, "models": FIGURES})
    fake.reset_calls()
    assert run(api, fake, events)["evaluation"]["phase"] == "Succeeded"
    assert not [c for c in fake.calls if c[1] in ("Job", "Pod") and c[0] in ("get", "list")]


def test_a_document_with_unknown_keys_or_wrong_types_still_gives_a_status(fake: FakeKube) -> None:
    events = Events()
    fake.add_visualizer(NS, "viz", eval_spec())
    run(fake, fake, events)
    name = job_name(fake)
    start_pod(fake, name)
    # The pod's output, not the operator's: the status is strict (typed_status), so what it cannot hold is dropped.
    finish(fake, name, {"ok": True, "models": [{"name": "a", "top1": 0.8, "top5": "high", "perClass": [1, 2]}]})
    evaluation = run(fake, fake, events)["evaluation"]
    assert evaluation["phase"] == "Succeeded"
    assert evaluation["models"] == [{"name": "a", "top1": 0.8}]
