"""The product on a real node: examples/demo.yaml served by real pods of the images built here, benchmarked by a real
Job pod calling the Service by its cluster DNS name, in a namespace that enforces the ``restricted`` Pod Security
Standard; a real crash loop; logs, exec, port-forward, scaling; and ``cluster down`` leaving nothing on the host.

Nothing is simulated here: no kwok, no local executor. The tests run in file order and share one demo deployment.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kube_helpers import REPO, Kubectl, condition, visualizer, wait_for

from .conftest import PortForward, restricted_namespace

# The first test also waits for the node to come up (images imported) and for demo.yaml to load its models.
pytestmark = [pytest.mark.realnode, pytest.mark.slow, pytest.mark.timeout(1800)]

DEMO = REPO / "examples" / "demo.yaml"
NAMES = ("imagenet", "fashion")


def _pods(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=visualizer"
    items: list[dict[str, Any]] = kubectl.json("get", "pods", "-n", namespace, "-l", selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: dict[str, Any]) -> bool:
    return (condition(pod, "Ready") or {}).get("status") == "True"


def _explain(kubectl: Kubectl, namespace: str, operator: Any) -> Any:
    def explain() -> str:
        out = kubectl("get", "mviz,deploy,pods,jobs,events", "-n", namespace, "-o", "wide", check=False)
        return f"{out.stdout}\n{out.stderr}\n--- operator ---\n{operator.logs(40)}"

    return explain


def _settled(kubectl: Kubectl, namespace: str) -> bool:
    items = kubectl.json("get", "mviz", "-n", namespace)["items"]
    done = 0
    for item in items:
        status = item.get("status") or {}
        ready = (condition(item, "Ready") or {}).get("status") == "True"
        phase = (status.get("benchmark") or {}).get("phase")
        done += bool(ready and phase in ("Succeeded", "Failed"))
    return done == len(NAMES)


@pytest.fixture(scope="module")
def demo(kubectl: Kubectl, operator: Any) -> Iterator[str]:
    namespace = restricted_namespace(kubectl)
    started = time.monotonic()
    kubectl("apply", "--server-side", "-n", namespace, "-f", str(DEMO))

    def all_ready() -> bool:
        return all((condition(kubectl.get("mviz", n, namespace), "Ready") or {}).get("status") == "True" for n in NAMES)

    wait_for(all_ready, timeout=900, interval=2, what="demo.yaml Ready", explain=_explain(kubectl, namespace, operator))
    ready_seconds = time.monotonic() - started
    wait_for(
        lambda: _settled(kubectl, namespace),
        timeout=600,
        interval=2,
        what="demo.yaml benchmarked",
        explain=_explain(kubectl, namespace, operator),
    )
    sys.stderr.write(
        f"\n[real node] demo.yaml: Ready {ready_seconds:.0f}s after apply, benchmarked after "
        f"{time.monotonic() - started:.0f}s\n{kubectl('get', 'mviz', '-n', namespace, '-o', 'wide').stdout}\n"
    )
    yield namespace
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_demo_pods_are_ready_through_their_probes_after_seed_cache(kubectl: Kubectl, demo: str) -> None:
    from modelviz_cluster.node import NODE_NAME

    for name, replicas in (("imagenet", 2), ("fashion", 1)):
        pods = _pods(kubectl, demo, name)
        assert len(pods) == replicas, [p["metadata"]["name"] for p in pods]
        for pod in pods:
            assert pod["spec"]["nodeName"] == NODE_NAME
            assert pod["status"]["phase"] == "Running" and _ready(pod)
            assert pod["status"]["podIP"].startswith("10.88.0.")
            (main,) = pod["status"]["containerStatuses"]
            assert main["ready"] and main["started"] and "running" in main["state"]
            assert main["imageID"], "the kubelet reports the image it ran"
            (seed,) = pod["status"]["initContainerStatuses"]
            assert seed["name"] == "seed-cache"
            assert seed["state"]["terminated"]["exitCode"] == 0
            assert seed["state"]["terminated"]["reason"] == "Completed"


def test_services_route_to_the_ready_pods(kubectl: Kubectl, demo: str) -> None:
    for name in NAMES:
        pod_ips = sorted(p["status"]["podIP"] for p in _pods(kubectl, demo, name))
        slices = kubectl.json("get", "endpointslices", "-n", demo, "-l", f"kubernetes.io/service-name={name}")["items"]
        addresses = sorted(
            a for s in slices for e in s.get("endpoints") or [] if e["conditions"].get("ready") for a in e["addresses"]
        )
        assert addresses == pod_ips


def test_benchmark_ran_in_a_real_job_pod_by_cluster_dns_name(kubectl: Kubectl, demo: str) -> None:
    from modelviz_cluster.images_node import node_images
    from modelviz_cluster.node import NODE_NAME

    for name in NAMES:
        status = kubectl.get("mviz", name, demo)["status"]  # type: ignore[index]
        bench = status["benchmark"]
        assert bench["phase"] == "Succeeded", bench
        assert bench["rps"] > 0 and bench["p99Ms"] > 0
        assert bench["completeRequests"] == 2000 and bench["failedRequests"] < 20, bench
        job = kubectl.json("get", "job", bench["jobName"], "-n", demo)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["image"] == node_images()[0]
        assert f"{name}.{demo}.svc.cluster.local" in " ".join(container["command"])
        pods = kubectl.json("get", "pods", "-n", demo, "-l", f"job-name={bench['jobName']}")["items"]
        for pod in pods:
            assert pod["spec"]["nodeName"] == NODE_NAME
            terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
            assert terminated["exitCode"] == 0, terminated


def test_page_renders_in_chromium_through_the_service(
    kubectl: Kubectl, demo: str, browser: Any, tmp_path: Path
) -> None:
    from tests.app.browser import settle

    forward = PortForward(kubectl, "svc/imagenet", demo, 80, tmp_path / "port-forward.log")
    try:
        page = browser.new_page()
        page.goto(forward.url + "/", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Overview").first.wait_for(timeout=240_000)
        settle(page)
        assert "effnet-lite0" in page.content()  # the models the operator's ConfigMap gave the pod
        page.close()
    finally:
        forward.close()


def test_kubectl_logs_and_exec_reach_the_node(kubectl: Kubectl, demo: str) -> None:
    (pod,) = _pods(kubectl, demo, "fashion")
    name = pod["metadata"]["name"]
    logs = kubectl("logs", "-n", demo, name, "-c", "visualizer").stdout
    assert logs.strip(), "the container wrote nothing to its log"
    assert kubectl("exec", "-n", demo, name, "-c", "visualizer", "--", "id", "-u").stdout.strip() == "10001"
    touch = kubectl("exec", "-n", demo, name, "-c", "visualizer", "--", "touch", "/opt/x", check=False)
    assert touch.returncode != 0 and "Read-only file system" in touch.stderr


def test_restricted_namespace_refuses_a_privileged_pod(kubectl: Kubectl, demo: str) -> None:
    from modelviz_cluster.images_node import node_images

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged"},
        "spec": {"containers": [{"name": "c", "image": node_images()[0], "securityContext": {"privileged": True}}]},
    }
    result = kubectl("apply", "-n", demo, "-f", "-", input_text=json.dumps(pod), check=False)
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr


def test_scale_to_two_replace_a_deleted_pod_and_scale_to_zero(kubectl: Kubectl, demo: str, operator: Any) -> None:
    explain = _explain(kubectl, demo, operator)
    kubectl("scale", "mviz/fashion", "-n", demo, "--replicas=2")
    wait_for(lambda: sum(map(_ready, _pods(kubectl, demo, "fashion"))) == 2, timeout=600, interval=2,
             what="2 ready fashion pods", explain=explain)  # fmt: skip
    wait_for(lambda: (kubectl.get("mviz", "fashion", demo) or {}).get("status", {}).get("readyReplicas") == 2,
             timeout=120, what="status.readyReplicas 2", explain=explain)  # fmt: skip
    victim = _pods(kubectl, demo, "fashion")[0]["metadata"]["name"]
    kubectl("delete", "pod", victim, "-n", demo, "--wait=false")

    def replaced() -> bool:
        pods = _pods(kubectl, demo, "fashion")
        return len(pods) == 2 and victim not in {p["metadata"]["name"] for p in pods} and all(map(_ready, pods))

    wait_for(replaced, timeout=600, interval=2, what=f"a ready replacement for {victim}", explain=explain)
    kubectl("scale", "mviz/fashion", "-n", demo, "--replicas=0")
    wait_for(lambda: not kubectl.json("get", "pods", "-n", demo, "-l", "app.kubernetes.io/instance=fashion,"
                                      "app.kubernetes.io/component=visualizer")["items"],
             timeout=180, interval=2, what="no fashion pods", explain=explain)  # fmt: skip


def test_the_evaluation_job_runs_as_a_real_pod(kubectl: Kubectl, demo: str, operator: Any) -> None:
    from modelviz_cluster.images_node import node_images
    from modelviz_cluster.node import NODE_NAME

    # The visualizer image itself, its ConfigMap and volumes, in the namespace enforcing `restricted`.
    body = visualizer(
        "quality",
        models=[{"name": "small-cnn", "catalog": "fashion-cnn"}],
        dataset={"catalog": "fashion-mnist", "maxImages": 200},
        replicas=0,
        image=node_images()[1],
        evaluation={"targets": {"minTop1": 0.5}},
    )
    kubectl.apply(body, demo)

    def ended() -> dict[str, Any] | None:
        found = (kubectl.get("mviz", "quality", demo) or {}).get("status", {}).get("evaluation") or {}
        return found if found.get("phase") in ("Succeeded", "Failed") else None

    evaluation = wait_for(
        ended, timeout=900, interval=2, what="the evaluation", explain=_explain(kubectl, demo, operator)
    )
    assert evaluation["phase"] == "Succeeded", evaluation
    (model,) = evaluation["models"]
    assert model["images"] == 200 and model["top1"] > 0.5, model
    kubectl("wait", "--for=condition=QualityPassed", "mviz/quality", "-n", demo, "--timeout=60s")
    (pod,) = kubectl.json("get", "pods", "-n", demo, "-l", f"job-name={evaluation['jobName']}")["items"]
    assert pod["spec"]["nodeName"] == NODE_NAME
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    kubectl("delete", "mviz", "quality", "-n", demo)


def test_a_real_crash_loop_is_reported_then_recovers(kubectl: Kubectl, namespace: str, operator: Any) -> None:
    from modelviz_cluster.images_node import node_images

    operator_image, visualizer_image = node_images()
    # The operator image has no app: its entrypoint refuses the visualizer's arguments and exits, again and again.
    body = visualizer(
        "crashy",
        models=[{"name": "small-cnn", "catalog": "fashion-cnn"}],
        dataset={"catalog": "fashion-mnist", "maxImages": 200},
        image=operator_image,
        resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "3Gi"}},
    )
    kubectl.apply(body, namespace)
    explain = _explain(kubectl, namespace, operator)

    def degraded() -> dict[str, Any] | None:
        obj = kubectl.get("mviz", "crashy", namespace)
        cond = condition(obj, "Degraded")
        return cond if cond and cond["status"] == "True" else None

    cond = wait_for(degraded, timeout=300, interval=2, what="Degraded from the crash loop", explain=explain)
    assert cond["reason"] == "CrashLoopBackOff", cond
    ready = condition(kubectl.get("mviz", "crashy", namespace), "Ready")
    assert ready and ready["status"] == "False"
    (pod,) = _pods(kubectl, namespace, "crashy")
    (status,) = pod["status"]["containerStatuses"]
    assert status["restartCount"] >= 1 and status["lastState"]["terminated"]["exitCode"] != 0

    body["spec"]["image"] = visualizer_image
    kubectl.apply(body, namespace)

    def recovered() -> bool:
        obj = kubectl.get("mviz", "crashy", namespace)
        return (condition(obj, "Ready") or {}).get("status") == "True" and (condition(obj, "Degraded") or {}).get(
            "status"
        ) == "False"

    wait_for(recovered, timeout=600, interval=2, what="Ready again after the fix", explain=explain)


def test_a_second_real_node_is_refused_and_the_first_keeps_running(
    cluster: Any, kubectl: Kubectl, tmp_path: Path
) -> None:
    from modelviz_cluster.cluster import Cluster, ClusterError
    from modelviz_cluster.node import NODE_NAME, host_footprint

    paths = cluster._real_node().paths()
    before = host_footprint(paths)
    with pytest.raises(ClusterError, match=f"a real node already runs from {cluster.state_dir}"):
        Cluster(state_dir=tmp_path / "second", node="real").start()
    assert not (tmp_path / "second").exists()
    assert host_footprint(paths).iptables == before.iptables
    assert (condition(kubectl.get("node", NODE_NAME, "default"), "Ready") or {}).get("status") == "True"


def test_cluster_down_leaves_nothing_on_the_host(cluster: Any, kubectl: Kubectl) -> None:
    from modelviz_cluster.node import host_footprint

    node = cluster._real_node()
    during = host_footprint(node.paths())
    assert during.processes and during.mounts and during.iptables and during.links and during.cgroups
    cluster.stop()
    after = host_footprint(node.paths())
    assert after.empty(), after
