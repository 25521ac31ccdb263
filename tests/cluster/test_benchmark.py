"""Benchmarks end to end: spec.benchmark -> Job -> local executor runs the real runner and real ab -> status.

The Job's pod is run by the cluster harness's local executor; the Service's in-cluster URL is mapped to the
visualizer served locally by ``streamlit run`` (or, for fault cases, to a local server that misbehaves).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench.servers import serve
from tests.cluster.helpers import finished, jobs
from tests.kube_helpers import REPO, Kubectl, condition, map_service, reconciles, visualizer, wait_for, wait_reconciled
from tests.operator_helpers import OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="session")
def streamlit_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The visualizer served locally by ``modelviz app serve`` (the same command the pods run)."""
    from modelviz_cluster.cluster import free_port

    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = dict(os.environ, MODELVIZ_CONFIG=str(REPO / "examples" / "app-config" / "demo.yaml"))
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelviz_cli", "app", "serve", "--address", "127.0.0.1", "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return proc.poll() is not None

    try:
        # The models load before the server listens (converted weights come from `modelviz app prepare`'s cache).
        wait_for(healthy, timeout=180, what="streamlit to serve", explain=lambda: log.read_text(errors="replace"))
        assert proc.poll() is None, log.read_text(errors="replace")
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_benchmark_run_lands_in_status_columns_and_events(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str, streamlit_url: str
) -> None:
    map_service(cluster, "bench", namespace, streamlit_url)
    spec = {"runId": "r1", "requests": 400, "concurrency": 8, "targets": {"minRps": 1, "maxP99Ms": 60000}}
    kubectl.apply(visualizer("bench", benchmark=spec), namespace)
    obj = finished(kubectl, namespace, "bench", "r1", operator)
    bench = obj["status"]["benchmark"]
    assert bench["phase"] == "Succeeded", bench
    assert bench["rps"] > 0 and bench["p99Ms"] >= bench["p50Ms"] > 0
    assert bench["completeRequests"] == 400 and bench["failedRequests"] == 0
    assert bench["passed"] is True
    passed = condition(obj, "BenchmarkPassed")
    assert passed["status"] == "True" and passed["reason"] == "TargetsMet"
    assert obj["status"]["benchmarkHistory"][0]["runId"] == "r1"
    (job,) = jobs(kubectl, namespace)
    assert job["spec"]["backoffLimit"] == 0
    assert job["metadata"]["labels"]["modelviz.io/run-id"] == "r1"
    assert job["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    table = kubectl("get", "mviz", "bench", "-n", namespace, "-o", "wide").stdout
    assert str(round(bench["rps"])) in table.replace(".", " ").split() or str(bench["rps"]) in table
    assert "Succeeded" in table and "r1" in table
    described = kubectl("describe", "mviz", "bench", "-n", namespace).stdout
    assert "BenchmarkSucceeded" in described and "BenchmarkStarted" in described

    # The same runId never runs again, also across an operator restart; a new runId runs exactly once.
    passes = reconciles(operator, namespace, "bench")
    kubectl("annotate", "mviz", "bench", "-n", namespace, "poke=1")
    wait_reconciled(operator, namespace, "bench", after=passes)
    assert len(jobs(kubectl, namespace)) == 1
    kubectl.apply(visualizer("bench", benchmark={**spec, "runId": "r2", "keepJobs": 1}), namespace)
    obj = finished(kubectl, namespace, "bench", "r2", operator)
    assert [h["runId"] for h in obj["status"]["benchmarkHistory"]] == ["r2", "r1"]
    wait_for(lambda: len(jobs(kubectl, namespace)) == 1, timeout=30, what="the older Job to be pruned (keepJobs 1)")


def _predicted_images(base: str) -> float:
    with urllib.request.urlopen(f"http://{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    name = "modelviz_app_predicted_images_total{"
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_predict_scenario_measures_inference_into_status(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str, streamlit_url: str
) -> None:
    """scenario predict: the Job POSTs the runner's sample photo to /api/v1/predict; every request is a real
    inference by the app's models, and status, columns and events name the scenario."""
    map_service(cluster, "infer", namespace, streamlit_url)
    before = _predicted_images(streamlit_url)
    spec = {"runId": "p1", "scenario": "predict", "requests": 200, "concurrency": 8, "targets": {"maxP99Ms": 60000}}
    kubectl.apply(visualizer("infer", benchmark=spec), namespace)
    obj = finished(kubectl, namespace, "infer", "p1", operator)
    bench = obj["status"]["benchmark"]
    assert bench["phase"] == "Succeeded", bench
    assert bench["scenario"] == "predict" and bench["message"].startswith("predict: ")
    assert bench["completeRequests"] == 200 and bench["failedRequests"] == 0 and bench["rps"] > 0
    assert bench["p99Ms"] >= bench["p50Ms"] > 0 and bench["passed"] is True
    # demo.yaml has two models and the request names none: each request ran both (plus the runner's warm-up probe
    # is a GET, which predicts nothing).
    assert _predicted_images(streamlit_url) - before >= 2 * 200
    (job,) = jobs(kubectl, namespace)
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--scenario") + 1] == "predict"
    table = kubectl("get", "mviz", "infer", "-n", namespace).stdout
    assert "SCENARIO" in table.splitlines()[0] and "predict" in table.split()
    described = kubectl("describe", "mviz", "infer", "-n", namespace).stdout
    assert "p1: predict: " in described


def test_missed_target_flips_benchmark_passed(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str, streamlit_url: str
) -> None:
    map_service(cluster, "slow", namespace, streamlit_url)
    spec = {"runId": "strict", "requests": 200, "concurrency": 4, "targets": {"minRps": 1000000, "maxP99Ms": 0.001}}
    kubectl.apply(visualizer("slow", benchmark=spec), namespace)
    obj = finished(kubectl, namespace, "slow", "strict", operator)
    cond = condition(obj, "BenchmarkPassed")
    assert cond["status"] == "False" and cond["reason"] == "TargetMissed"
    assert "below minRps 1e+06" in cond["message"] and "above maxP99Ms 0.001" in cond["message"]
    warnings = kubectl("get", "events", "-n", namespace, "--field-selector", "type=Warning").stdout
    assert "BenchmarkSucceeded" in warnings  # succeeded as a run, but a Warning since it missed its targets


def test_non_2xx_responses_fail_the_run(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    with serve("error500") as url:
        map_service(cluster, "errors", namespace, url.split("//", 1)[1].rstrip("/"))
        kubectl.apply(visualizer("errors", benchmark={"runId": "e1", "requests": 100, "concurrency": 4}), namespace)
        obj = finished(kubectl, namespace, "errors", "e1", operator)
    bench = obj["status"]["benchmark"]
    assert bench["phase"] == "Failed" and bench["reason"] == "Non2xxResponses"
    assert bench["non2xxResponses"] == 100
    assert condition(obj, "BenchmarkPassed")["status"] == "False"


def test_service_never_ready_fails_with_a_reason(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    from modelviz_cluster.cluster import free_port

    map_service(cluster, "nobody", namespace, f"127.0.0.1:{free_port()}")
    kubectl.apply(
        visualizer("nobody", benchmark={"runId": "n1", "requests": 10, "concurrency": 1, "timeoutSeconds": 30}),
        namespace,
    )
    obj = finished(kubectl, namespace, "nobody", "n1", operator)
    assert obj["status"]["benchmark"]["reason"] == "ServiceNotReady"


def test_job_deleted_mid_run_fails_and_cr_deletion_takes_the_job(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    with serve("hang") as url:
        map_service(cluster, "hung", namespace, url.split("//", 1)[1].rstrip("/"))
        spec = {"runId": "h1", "requests": 10, "concurrency": 1, "requestTimeoutSeconds": 600}
        kubectl.apply(visualizer("hung", benchmark=spec), namespace)
        wait_for(
            lambda: (
                ((kubectl.get("mviz", "hung", namespace) or {}).get("status", {}).get("benchmark") or {}).get("phase")
                == "Running"
            ),
            timeout=60,
            what="the run to start",
        )
        (job,) = jobs(kubectl, namespace)
        kubectl("delete", "job", job["metadata"]["name"], "-n", namespace, "--cascade=background")
        obj = finished(kubectl, namespace, "hung", "h1", operator)
        assert obj["status"]["benchmark"]["reason"] in ("JobDeleted", "PodDeleted"), obj["status"]["benchmark"]

        kubectl.apply(visualizer("hung", benchmark={**spec, "runId": "h2"}), namespace)
        wait_for(
            lambda: any(j["metadata"]["labels"]["modelviz.io/run-id"] == "h2" for j in jobs(kubectl, namespace)),
            timeout=60,
            what="the second run's Job",
        )
        kubectl("delete", "mviz", "hung", "-n", namespace)
        wait_for(lambda: not jobs(kubectl, namespace), timeout=60, what="the Job to go with its resource")


def test_a_restarted_operator_does_not_run_a_run_again(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    from tests.operator_helpers import start_operator, stop_operator

    with serve("ok") as url:
        map_service(cluster, "again", namespace, url.split("//", 1)[1].rstrip("/"))
        kubectl.apply(visualizer("again", benchmark={"runId": "once", "requests": 50, "concurrency": 2}), namespace)
        finished(kubectl, namespace, "again", "once", operator)
        # A second operator process (as after a restart) sees the recorded run and starts nothing.
        second = start_operator(cluster, tmp_path / "second.log", {"MODELVIZ_NAMESPACES": namespace})
        try:
            # It has reconciled the resource (on start, and again for the poke) before the count is checked.
            wait_reconciled(second, namespace, "again", after=0)
            kubectl("annotate", "mviz", "again", "-n", namespace, "poke=2")
            wait_reconciled(second, namespace, "again", after=reconciles(second, namespace, "again"))
            assert len(jobs(kubectl, namespace)) == 1
            assert "BenchmarkStarted" not in second.logs(500)
        finally:
            stop_operator(second)


def test_on_rollout_runs_again_after_each_completed_rollout(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    with serve("ok") as url:
        map_service(cluster, "rolling", namespace, url.split("//", 1)[1].rstrip("/"))
        bench = {"runId": "r", "requests": 50, "concurrency": 2, "onRollout": True}
        kubectl.apply(visualizer("rolling", benchmark=bench), namespace)
        finished(kubectl, namespace, "rolling", "r.rev1", operator)
        # A configuration change rolls the pods; once the rollout completes, the benchmark runs again.
        models = [{"name": "effnet-lite1", "catalog": "efficientnet-lite1"}]
        kubectl.apply(visualizer("rolling", benchmark=bench, models=models), namespace)
        obj = finished(kubectl, namespace, "rolling", "r.rev2", operator)
        assert [h["runId"] for h in obj["status"]["benchmarkHistory"]] == ["r.rev2", "r.rev1"]
        # Scaling is not a rollout: no third run.
        passes = reconciles(operator, namespace, "rolling")
        kubectl("scale", "mviz/rolling", "--replicas=2", "-n", namespace)
        wait_for(
            lambda: (
                (o := kubectl.get("mviz", "rolling", namespace))
                and o["status"].get("observedGeneration") == o["metadata"]["generation"]
                and condition(o, "Reconciling")["status"] == "False"
            ),
            timeout=60,
            what="the scaled resource reconciled and settled",
        )
        wait_reconciled(operator, namespace, "rolling", after=passes)
        assert len(jobs(kubectl, namespace)) == 2
