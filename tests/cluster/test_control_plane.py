"""Proof that the local cluster is a real one: CEL in the API server, scheduling, garbage collection, Job pods."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kube_helpers import Kubectl, wait_for

pytestmark = pytest.mark.cluster


def test_versions_are_the_pinned_release(kubectl: Kubectl) -> None:
    from modelviz_cluster.versions import KUBERNETES_VERSION

    version = kubectl.json("version")
    assert version["serverVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert version["clientVersion"]["gitVersion"] == KUBERNETES_VERSION


def test_nodes_are_ready_kwok_nodes(kubectl: Kubectl) -> None:
    nodes = kubectl.json("get", "nodes")["items"]
    assert len(nodes) >= 2
    for node in nodes:
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"


def test_cel_rule_rejects_with_the_api_servers_message(kubectl: Kubectl, crd: str, namespace: str) -> None:
    bad = {
        "apiVersion": "modelviz.io/v1alpha1",
        "kind": "ModelVisualizer",
        "metadata": {"name": "bad"},
        "spec": {
            "models": [{"name": "m", "catalog": "mobilenet_v2"}],
            "dataset": {"catalog": "imagenet-sample"},
            "autoscaling": {"minReplicas": 5, "maxReplicas": 2},
        },
    }
    result = kubectl("apply", "-n", namespace, "-f", "-", input_text=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert "spec.autoscaling.minReplicas" in result.stderr
    assert "minReplicas must be less than or equal to maxReplicas" in result.stderr


def test_deployment_gets_ready_pods_on_kwok_nodes(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "deployment", "web", "--image=registry.invalid/web:1", "--replicas=3", "-n", namespace)
    deployment = wait_for(
        lambda: (d := kubectl.get("deployment", "web", namespace)) and d["status"].get("readyReplicas") == 3 and d,
        timeout=60,
        what="3 ready replicas",
        explain=lambda: kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout,
    )
    assert deployment["status"]["availableReplicas"] == 3
    pods = kubectl.json("get", "pods", "-n", namespace)["items"]
    assert {p["spec"]["nodeName"] for p in pods} <= {"kwok-node-0", "kwok-node-1"}
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_deleting_an_owner_garbage_collects_its_children(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "owner", "-n", namespace)
    owner = kubectl.get("configmap", "owner", namespace)
    assert owner is not None
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            ],
        },
    }
    kubectl.apply(child, namespace)
    kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_for(
        lambda: kubectl.get("configmap", "child", namespace) is None,
        timeout=60,
        what="the garbage collector to delete the child",
    )


def local_job(name: str, command: list[str], **container: str) -> dict[str, object]:
    """A Job whose pod the local executor runs (it carries the benchmark component label)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/component": "benchmark"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "local", "command": command, **container}],
                },
            },
        },
    }


def test_job_pod_runs_through_the_local_executor(kubectl: Kubectl, namespace: str) -> None:
    script = 'import pathlib,sys; pathlib.Path(sys.argv[1]).write_text(\'{"ok": true, "answer": 42}\')'
    kubectl.apply(local_job("work", ["python", "-c", script, "/dev/termination-log"]), namespace)
    done = wait_for(
        lambda: (j := kubectl.get("job", "work", namespace)) and j["status"].get("succeeded") == 1 and j,
        timeout=90,
        what="the Job to succeed",
        explain=lambda: kubectl("get", "pods", "-n", namespace, "-o", "yaml", check=False).stdout,
    )
    assert done["status"]["succeeded"] == 1
    pods = kubectl.json("get", "pods", "-n", namespace, "-l", "job-name=work")["items"]
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert json.loads(terminated["message"]) == {"ok": True, "answer": 42}


def test_failing_job_pod_reports_its_exit_code(kubectl: Kubectl, namespace: str) -> None:
    command = ["python", "-c", "import sys; print('boom'); sys.exit(3)"]
    job = local_job("fails", command, terminationMessagePolicy="FallbackToLogsOnError")
    kubectl.apply(job, namespace)
    wait_for(
        lambda: (j := kubectl.get("job", "fails", namespace)) and j["status"].get("failed") == 1,
        timeout=90,
        what="the Job to fail",
    )
    pods = kubectl.json("get", "pods", "-n", namespace, "-l", "job-name=fails")["items"]
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert "boom" in terminated["message"]


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    from modelviz_cluster.cluster import Cluster

    local = Cluster(state_dir=tmp_path / "second", nodes=1)
    local.start()
    pids = [pid for pid in local.running().values() if pid]
    assert len(pids) == 6, local.running()
    assert local.kubectl("get", "nodes").returncode == 0
    stopped = local.stop()
    assert set(stopped) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "executor"}
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split()[2] == "Z", f"pid {pid} still runs"
    assert not any(local.running().values())
    assert (local.logs / "kube-apiserver.log").stat().st_size > 0  # logs are kept
