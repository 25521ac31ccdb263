"""The evaluation's pure parts: the Job builder, the verdict, the Job's outcome, and the gate it shares with the
benchmark (kstatus' Reconciling/Stalled)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from modelviz_operator.api import ModelVisualizerSpec
from modelviz_operator.builders import Owner, build_deployment
from modelviz_operator.builders.evaluation import build_evaluation_job, evaluation_hash, evaluation_job_name
from modelviz_operator.builders.job import build_benchmark_job
from modelviz_operator.evaluation import judge_quality, quality_outcome
from modelviz_operator.status import condition, gitops_conditions

OWNER = Owner(name="viz", namespace="team", uid="1")
NOW = "2026-01-01T00:00:00Z"


def spec(**extra: Any) -> ModelVisualizerSpec:
    body: dict[str, Any] = {
        "models": [{"name": "a", "catalog": "efficientnet-lite0"}, {"name": "b", "catalog": "efficientnet-lite1"}],
        "dataset": {"catalog": "imagenet-sample"},
    }
    body.update(extra)
    return ModelVisualizerSpec.model_validate(body)


FIGURES = [
    {"name": "a", "images": 100, "top1": 0.8, "top5": 0.95, "ece": 0.04, "worstClass": "cat", "worstClassRecall": 0.5},
    {"name": "b", "images": 100, "top1": 0.7, "top5": 0.9, "ece": 0.09, "worstClass": "dog", "worstClassRecall": 0.2},
]


def test_the_job_mounts_what_the_deployment_mounts_and_is_hardened_like_the_benchmark() -> None:
    s = spec(
        evaluation={"targets": {"minTop1": 0.5}},
        dataset={"path": "images", "claimName": "data"},
        benchmark={"runId": "r1"},
    )
    digest = evaluation_hash(s)
    job = build_evaluation_job(OWNER, s, digest)
    pod = job["spec"]["template"]["spec"]
    deployment_pod = build_deployment(OWNER, s)["spec"]["template"]["spec"]
    bench_pod = build_benchmark_job(OWNER, s, s.benchmark, "r1")["spec"]["template"]["spec"]  # type: ignore[arg-type]
    assert job["spec"]["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    assert pod["volumes"] == deployment_pod["volumes"]
    container = pod["containers"][0]
    assert container["volumeMounts"] == deployment_pod["containers"][0]["volumeMounts"]
    assert container["image"] == s.image and container["env"] == deployment_pod["containers"][0]["env"]
    assert container["command"][-4:] == ["--config", "/etc/modelviz/config.yaml", "--output", "/dev/termination-log"]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    bench_container = bench_pod["containers"][0]
    for key, value in bench_container["securityContext"].items():
        assert container["securityContext"][key] == value
    for key, value in bench_pod["securityContext"].items():
        assert pod["securityContext"][key] == value
    assert pod["automountServiceAccountToken"] is False
    assert job["metadata"]["name"] == evaluation_job_name(OWNER, digest)
    assert job["metadata"]["labels"]["modelviz.io/evaluation-hash"] == digest


def test_the_hash_follows_models_dataset_and_run_id_only() -> None:
    base = spec(evaluation={})
    assert evaluation_hash(spec(evaluation={}, replicas=5, title="other")) == evaluation_hash(base)
    assert evaluation_hash(spec(evaluation={"runId": "again"})) != evaluation_hash(base)
    assert evaluation_hash(spec(evaluation={}, dataset={"catalog": "fashion-mnist"})) != evaluation_hash(base)
    # Only the targets changed: the same evaluation, judged again.
    assert evaluation_hash(spec(evaluation={"targets": {"minTop1": 0.9}})) == evaluation_hash(base)


def test_per_model_targets_override_the_common_ones_and_name_model_and_target() -> None:
    s = spec(
        evaluation={"targets": {"minTop1": 0.75, "perModel": [{"model": "b", "minTop1": 0.6, "minClassRecall": 0.3}]}}
    )
    passed, reason, message, per_model = judge_quality(s.evaluation.targets, {"phase": "Succeeded", "models": FIGURES})  # type: ignore[union-attr]
    assert passed is False and reason == "TargetMissed"
    assert message == "model b: worst-class recall 0.2 (dog) below minClassRecall 0.3"
    assert per_model == {"a": True, "b": False}
    s = spec(evaluation={"targets": {"maxECE": 0.1, "minTop5": 0.9}})
    assert judge_quality(s.evaluation.targets, {"phase": "Succeeded", "models": FIGURES})[:2] == (True, "TargetsMet")  # type: ignore[union-attr]
    failed = judge_quality(None, {"phase": "Failed", "message": "model b: model file x does not exist"})
    assert failed[:3] == (False, "EvaluationFailed", "evaluation failed: model b: model file x does not exist")


def test_per_model_targets_must_name_a_model() -> None:
    with pytest.raises(ValidationError, match="perModel"):
        spec(evaluation={"targets": {"perModel": [{"model": "zzz", "minTop1": 0.5}]}})


def _job(kind: str = "Complete") -> dict[str, Any]:
    return {"status": {"conditions": [{"type": kind, "status": "True", "reason": "x"}]}}


def _pod(message: str) -> dict[str, Any]:
    return {"status": {"containerStatuses": [{"state": {"terminated": {"message": message}}}]}}


def test_outcome_of_a_finished_job() -> None:
    doc = {"ok": True, "eceBins": 15, "models": FIGURES}
    result = quality_outcome(_job(), [_pod(json.dumps(doc))])
    assert result is not None and result["phase"] == "Succeeded"
    assert (result["bestModel"], result["bestTop1"], result["eceBins"]) == ("a", 0.8, 15)
    broken = {"ok": False, "models": [FIGURES[0], {"name": "b", "error": "model file /m/b.keras does not exist"}]}
    result = quality_outcome(_job("Failed"), [_pod(json.dumps(broken))])
    assert result is not None and result["phase"] == "Failed" and result["reason"] == "ModelNotLoaded"
    assert result["message"] == "model b: model file /m/b.keras does not exist"
    assert quality_outcome({"status": {}}, []) is None
    assert quality_outcome(None, []) == {
        "phase": "Failed",
        "reason": "JobDeleted",
        "message": "the evaluation Job was deleted mid-run",
    }


def _conditions(quality: dict[str, Any] | None) -> list[dict[str, Any]]:
    conds = [
        {**condition("Ready", True, "Available", "1/1 ready", 1), "lastTransitionTime": NOW},
        {**condition("Progressing", False, "Complete", "rollout complete", 1), "lastTransitionTime": NOW},
        {**condition("Degraded", False, "AsExpected", "", 1), "lastTransitionTime": NOW},
    ]
    if quality is not None:
        conds.append({**quality, "lastTransitionTime": NOW})
    return conds


def _by_type(conds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conds}


def test_the_evaluation_gates_like_the_benchmark() -> None:
    s = spec(evaluation={"targets": {"minTop1": 0.9}})
    digest = evaluation_hash(s)

    def gitops(evaluation: dict[str, Any] | None, quality: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        conds = gitops_conditions(
            _conditions(quality), spec=s, benchmark=None, failures=[], generation=1, now=NOW, evaluation=evaluation
        )
        return _by_type(conds)

    # Nothing recorded yet, or an older hash's figures: pending.
    for recorded in (None, {"hash": "old", "phase": "Succeeded"}):
        found = gitops(recorded, condition("QualityPassed", True, "TargetsMet", "", 1))
        assert found["Reconciling"]["status"] == "True" and found["Reconciling"]["reason"] == "EvaluationPending"
    running = gitops({"hash": digest, "phase": "Running"}, condition("QualityPassed", None, "Running", "", 1))
    assert running["Reconciling"]["reason"] == "EvaluationRunning" and running["Stalled"]["status"] == "False"
    missed = condition("QualityPassed", False, "TargetMissed", "model a: top-1 0.8 below minTop1 0.9", 1)
    found = gitops({"hash": digest, "phase": "Succeeded"}, missed)
    assert found["Stalled"]["status"] == "True" and found["Stalled"]["reason"] == "QualityTargetMissed"
    assert "model a: top-1 0.8 below minTop1 0.9" in found["Stalled"]["message"]
    assert found["Reconciling"]["status"] == "False"
    met = gitops({"hash": digest, "phase": "Succeeded"}, condition("QualityPassed", True, "TargetsMet", "", 1))
    assert met["Stalled"]["status"] == "False" and met["Reconciling"]["status"] == "False"
    failed = gitops({"hash": digest, "phase": "Failed"}, condition("QualityPassed", False, "EvaluationFailed", "x", 1))
    assert failed["Stalled"]["reason"] == "EvaluationFailed"
    # gate: false informs only.
    s = spec(evaluation={"targets": {"minTop1": 0.9}, "gate": False})
    found = gitops({"hash": digest, "phase": "Succeeded"}, missed)
    assert found["Stalled"]["status"] == "False"


def test_an_indexed_job_reports_through_the_index_that_joined_the_slices() -> None:
    waiting = {"ok": True, "eceBins": 15, "models": [], "shard": "0/2", "complete": False}
    joined = {"ok": True, "eceBins": 15, "models": FIGURES, "shard": "1/2", "complete": True}
    for pods in (
        [_pod(json.dumps(waiting)), _pod(json.dumps(joined))],
        [_pod(json.dumps(joined)), _pod(json.dumps(waiting))],
    ):
        result = quality_outcome(_job(), pods)
        assert result is not None and result["phase"] == "Succeeded" and result["bestModel"] == "a"


def test_parallelism_builds_an_indexed_job_writing_the_claim_the_visualizer_reads() -> None:
    s = spec(evaluation={"parallelism": 3, "predictionsClaim": "preds"})
    job = build_evaluation_job(OWNER, s, evaluation_hash(s))
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["spec"]["parallelism"]) == ("Indexed", 3, 3)
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"][-2:] == ["--shards", "3"]
    claim = next(v for v in pod["volumes"] if v["name"] == "predictions")
    assert claim["persistentVolumeClaim"] == {"claimName": "preds", "readOnly": False}
    deployment = build_deployment(OWNER, s)["spec"]["template"]["spec"]
    served = next(v for v in deployment["volumes"] if v["name"] == "predictions")
    assert served["persistentVolumeClaim"] == {"claimName": "preds", "readOnly": True}
    mount = next(m for m in deployment["containers"][0]["volumeMounts"] if m["name"] == "predictions")
    assert mount["readOnly"] is True
    # Without a claim: one pod, as before.
    plain = build_evaluation_job(OWNER, spec(evaluation={}), "0" * 16)
    assert (
        "completionMode" not in plain["spec"]
        and "--shards" not in plain["spec"]["template"]["spec"]["containers"][0]["command"]
    )
    with pytest.raises(ValidationError, match="predictionsClaim"):
        spec(evaluation={"parallelism": 2})
