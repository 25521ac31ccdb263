"""The evaluation end to end: spec.evaluation -> Job -> the local executor runs the real ``modelviz app evaluate`` on
two small Keras models -> status.evaluation, QualityPassed, the gate (kstatus and Argo CD), Events, gauges.

The Job's pod runs as a local process (the cluster harness's executor: its ConfigMap and emptyDir volumes become
local directories); the models are real Keras files on this machine, named by absolute path in the spec.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import TinyEnv, _models, _write_images
from tests.cluster.test_gitops_status import verdicts
from tests.cluster.test_operator import explain
from tests.conftest import OperatorProcess, start_operator, stop_operator
from tests.deploy.test_metrics import scrape
from tests.kube_helpers import Kubectl, condition, visualizer, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
# Outside any mount of the Job's pod (a path under /tmp would be taken as the pod's scratch volume by the harness).
MISSING = "/srv/modelviz-missing/nowhere.keras"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyEnv:
    root = tmp_path_factory.mktemp("tiny-eval")
    _write_images(root / "images")
    labels = root / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    return TinyEnv(root, root / "images", labels, _models(root), root / "cache")


def models(tiny: TinyEnv, broken: bool = False) -> list[dict[str, str]]:
    entries = [{"name": n, "path": str(p), "labels": str(tiny.labels)} for n, p in tiny.models.items()]
    if broken:
        entries[1]["path"] = MISSING
    return entries


def evaluated(
    tiny: TinyEnv, name: str, evaluation: dict[str, Any], broken: bool = False, **spec: Any
) -> dict[str, Any]:
    return visualizer(
        name, models=models(tiny, broken), dataset={"path": str(tiny.dataset)}, evaluation=evaluation, **spec
    )


def cond(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found = condition(obj, kind)
    assert found is not None, f"no {kind} condition: {obj.get('status')}"
    return found


def jobs(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    found = kubectl.json("get", "jobs", "-n", namespace, "-l", "app.kubernetes.io/component=evaluation")
    return list(found["items"])


def ended(
    kubectl: Kubectl, namespace: str, name: str, operator: OperatorProcess, run_id: str | None = None
) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = kubectl.get("mviz", name, namespace) or {}
        found = obj.get("status", {}).get("evaluation") or {}
        fresh = obj.get("status", {}).get("observedGeneration") == obj.get("metadata", {}).get("generation")
        right_run = run_id is None or found.get("runId") == run_id
        return obj if fresh and right_run and found.get("phase") in ("Succeeded", "Failed") else None

    return wait_for(
        done, timeout=240, interval=1, what=f"{name}'s evaluation to end", explain=explain(kubectl, namespace, operator)
    )


def test_a_missed_target_fails_the_gate_and_a_spec_change_meets_it(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, kstatus: Path, tiny: TinyEnv
) -> None:
    # tiny-conv has random weights: only colour-mean is held to an accuracy target.
    strict: dict[str, Any] = {
        "targets": {"minTop1": 0.9, "perModel": [{"model": "tiny-conv", "minTop1": 0.0}]},
        "keepJobs": 1,
    }
    kubectl.apply(evaluated(tiny, "quality", strict), namespace)
    obj = ended(kubectl, namespace, "quality", operator)
    evaluation = obj["status"]["evaluation"]
    assert evaluation["phase"] == "Succeeded", (evaluation.get("reason"), evaluation.get("message"))
    by_name = {m["name"]: m for m in evaluation["models"]}
    assert by_name["colour-mean"]["top1"] == 0.75 and by_name["colour-mean"]["images"] == 24
    assert by_name["colour-mean"]["passed"] is False and by_name["tiny-conv"]["passed"] is True
    assert {"top5", "ece", "macroF1", "worstClass", "worstClassRecall"} <= set(by_name["colour-mean"])
    assert evaluation["eceBins"] == 15 and evaluation["bestModel"] == "colour-mean" and evaluation["bestTop1"] == 0.75
    quality = cond(obj, "QualityPassed")
    assert quality["status"] == "False" and quality["reason"] == "TargetMissed"
    assert quality["message"] == "model colour-mean: top-1 0.75 below minTop1 0.9"

    def verdict(want: tuple[str, str]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        def matches() -> tuple[str, dict[str, Any], dict[str, Any]] | None:
            seen = verdicts(kstatus, kubectl, namespace, "quality")
            return seen if (seen[0], seen[1]["status"]) == want else None

        return wait_for(
            matches, timeout=90, what=f"kstatus/Argo CD {want}", explain=explain(kubectl, namespace, operator)
        )

    _state, health, obj = verdict(("Failed", "Degraded"))
    assert cond(obj, "Stalled")["reason"] == "QualityTargetMissed"
    assert "model colour-mean: top-1 0.75 below minTop1 0.9" in health["message"]
    events = kubectl("get", "events", "-n", namespace, "--field-selector", "reason=QualityTargetMissed").stdout
    assert "colour-mean" in events
    text = scrape(operator.metrics_port)
    assert (
        f'modelviz_model_quality{{metric="top1",model="colour-mean",name="quality",namespace="{namespace}"}} 0.75'
        in text
    )
    assert f'modelviz_quality_passed{{name="quality",namespace="{namespace}"}} 0.0' in text
    row = kubectl("get", "mviz", "quality", "-n", namespace).stdout.splitlines()
    assert row[0].split()[-2] == "TOP1" and row[1].split()[-2] == "0.75", row

    # Only the target changes: judged again from the stored figures, no second Job; kubectl wait sees it pass.
    kubectl.apply(evaluated(tiny, "quality", {**strict, "targets": {**strict["targets"], "minTop1": 0.7}}), namespace)
    kubectl("wait", "--for=condition=QualityPassed", "mviz/quality", "-n", namespace, "--timeout=90s")
    _state, health, obj = verdict(("Current", "Healthy"))
    assert health["message"].endswith("evaluation passed (best top-1 0.75: colour-mean)"), health
    assert len(jobs(kubectl, namespace)) == 1

    # Replicas are not what the figures depend on: no new evaluation.
    kubectl("scale", "mviz/quality", "--replicas=2", "-n", namespace)
    time.sleep(5)
    assert len(jobs(kubectl, namespace)) == 1
    # A new runId evaluates again (one Job more, the older pruned to keepJobs: 1).
    kubectl.apply(
        evaluated(
            tiny, "quality", {**strict, "targets": {**strict["targets"], "minTop1": 0.7}, "runId": "again"}, replicas=2
        ),
        namespace,
    )
    obj = ended(kubectl, namespace, "quality", operator, run_id="again")
    assert obj["status"]["evaluation"]["phase"] == "Succeeded"
    wait_for(lambda: len(jobs(kubectl, namespace)) == 1, timeout=60, what="the older evaluation Job to be pruned")


def test_a_model_that_cannot_be_loaded_fails_the_evaluation_with_the_loaders_message(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, kstatus: Path, tiny: TinyEnv
) -> None:
    kubectl.apply(evaluated(tiny, "broken", {"targets": {"minTop1": 0.1}}, broken=True), namespace)
    obj = ended(kubectl, namespace, "broken", operator)
    evaluation = obj["status"]["evaluation"]
    assert evaluation["phase"] == "Failed" and evaluation["reason"] == "ModelNotLoaded", evaluation
    assert evaluation["message"] == f"model tiny-conv: model file {MISSING} does not exist"
    # The model that loaded still has its figures.
    assert {m["name"]: m for m in evaluation["models"]}["colour-mean"]["top1"] == 0.75
    assert cond(obj, "QualityPassed")["reason"] == "EvaluationFailed"
    _state, health, _ = wait_for(
        lambda: seen if (seen := verdicts(kstatus, kubectl, namespace, "broken"))[0] == "Failed" else None,
        timeout=60,
        what="kstatus Failed",
    )
    assert health["status"] == "Degraded" and "does not exist" in health["message"]


def test_a_restarted_operator_never_starts_a_second_job_for_one_hash(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str, tiny: TinyEnv, tmp_path: Path
) -> None:
    kubectl.apply(evaluated(tiny, "restart", {"targets": {"minTop1": 0.1}}), namespace)
    wait_for(lambda: jobs(kubectl, namespace) or None, timeout=60, what="the evaluation Job")
    # A second operator process (as after a restart) while the evaluation runs: it adopts the Job it finds.
    second = start_operator(cluster, tmp_path / "second.log", {"MODELVIZ_NAMESPACES": namespace})
    try:
        kubectl("annotate", "mviz", "restart", "-n", namespace, "poke=1")
        obj = ended(kubectl, namespace, "restart", operator)
        assert obj["status"]["evaluation"]["phase"] == "Succeeded"
        kubectl("annotate", "mviz", "restart", "-n", namespace, "poke=2", "--overwrite")
        time.sleep(5)
        assert len(jobs(kubectl, namespace)) == 1
        assert "EvaluationStarted" not in second.logs(500)
    finally:
        stop_operator(second)
    started = kubectl("get", "events", "-n", namespace, "--field-selector", "reason=EvaluationStarted", "-o", "name")
    assert len(started.stdout.split()) == 1


def test_parallelism_shards_the_images_over_an_indexed_job_into_the_claim(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str, tiny: TinyEnv
) -> None:
    # A statically bound volume: the harness's executor stands for it with one directory per claim.
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"preds-{namespace}"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "manual",
            "hostPath": {"path": f"/srv/{namespace}"},
            "claimRef": {"namespace": namespace, "name": "preds"},
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "preds"},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "manual",
            "volumeName": f"preds-{namespace}",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    kubectl.apply(volume, namespace)  # cluster-scoped: the namespace is ignored
    try:
        kubectl.apply(claim, namespace)
        spec = {"targets": {"minTop1": 0.5, "perModel": [{"model": "tiny-conv", "minTop1": 0.0}]}}
        kubectl.apply(evaluated(tiny, "sharded", {**spec, "parallelism": 2, "predictionsClaim": "preds"}), namespace)
        obj = ended(kubectl, namespace, "sharded", operator)
        evaluation = obj["status"]["evaluation"]
        assert evaluation["phase"] == "Succeeded", (evaluation.get("reason"), evaluation.get("message"))
        by_name = {m["name"]: m for m in evaluation["models"]}
        assert by_name["colour-mean"]["top1"] == 0.75 and by_name["colour-mean"]["images"] == 24
        assert cond(obj, "QualityPassed")["status"] == "True"
        (job,) = jobs(kubectl, namespace)
        assert job["spec"]["completionMode"] == "Indexed" and job["status"].get("succeeded") == 2
        pods = kubectl.json("get", "pods", "-n", namespace, "-l", f"job-name={job['metadata']['name']}")["items"]
        indices = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods)
        assert indices == ["0", "1"]
        shared = cluster.state_dir / "executor" / "claims" / namespace / "preds" / "predictions"
        assert len(list(shared.glob("*.npz"))) == 2  # one joined file per model, for the visualizer to load
        assert len(list((shared / "shards").glob("*.npz"))) == 4  # two slices per model
        deployment = kubectl.get("deployment", "sharded", namespace)
        assert deployment is not None
        mounts = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert {"name": "predictions", "mountPath": "/var/lib/modelviz/predictions", "readOnly": True} in mounts
    finally:
        kubectl("delete", "pv", f"preds-{namespace}", "--wait=false", check=False)


def test_new_models_mid_evaluation_stop_the_old_job_and_switching_off_clears_the_status(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, tiny: TinyEnv
) -> None:
    kubectl.apply(evaluated(tiny, "moving", {}), namespace)
    (first,) = wait_for(lambda: jobs(kubectl, namespace) or None, timeout=60, what="the first evaluation Job")
    # Other models while the first Job may still run: their figures would answer a question no longer asked.
    one = visualizer("moving", models=models(tiny)[:1], dataset={"path": str(tiny.dataset)}, evaluation={})
    kubectl.apply(one, namespace)
    obj = ended(kubectl, namespace, "moving", operator)
    assert [m["name"] for m in obj["status"]["evaluation"]["models"]] == ["colour-mean"]
    current = obj["status"]["evaluation"]["jobName"]
    assert current != first["metadata"]["name"]

    def unfinished_others() -> list[str]:
        return [
            j["metadata"]["name"]
            for j in jobs(kubectl, namespace)
            if j["metadata"]["name"] != current
            and not any(c.get("status") == "True" for c in (j.get("status") or {}).get("conditions") or [])
        ]

    # The first Job was stopped if it still ran (or had finished before the change: then it is kept, keepJobs 3).
    assert unfinished_others() == []
    first_name = first["metadata"]["name"]
    if first_name not in {j["metadata"]["name"] for j in jobs(kubectl, namespace)}:
        # Stopped: its pods go with it (the delete propagates in the background; a Job's default orphans them).
        wait_for(
            lambda: not kubectl.json("get", "pods", "-n", namespace, "-l", f"job-name={first_name}")["items"],
            timeout=60,
            what="the stopped Job's pods to go",
        )
    # No evaluation asked for: the figures and the verdict leave the status.
    kubectl.apply(visualizer("moving", models=models(tiny)[:1], dataset={"path": str(tiny.dataset)}), namespace)
    wait_for(
        lambda: (
            (o := kubectl.get("mviz", "moving", namespace)) is not None
            and "evaluation" not in o["status"]
            and condition(o, "QualityPassed") is None
        ),
        timeout=60,
        what="status.evaluation to go",
    )
