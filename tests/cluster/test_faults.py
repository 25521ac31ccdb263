"""Faults against the real control plane: the API server restarted, etcd away, the operator killed, conflicts, an
expired watch, hand edits during a rollout, a resource deleted mid-benchmark.

These tests stop and start control-plane processes, so they get a cluster of their own (the module's ``cluster``
fixture overrides the session's) and a fresh operator per test. Each ends with every resource either settled (Ready
for its generation, nothing in progress) or honestly failed (Stalled with a reason), and the operator still running.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelviz_cluster.ports import free_port
from tests.bench.servers import serve
from tests.cluster.helpers import explain, finished, jobs, validating_webhook
from tests.kube_helpers import REPO, Kubectl, condition, map_service, visualizer, wait_for
from tests.operator_helpers import OperatorProcess, start_operator, stop_operator

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if os.environ.get("MODELVIZ_SKIP_CLUSTER") == "1":
        pytest.skip("MODELVIZ_SKIP_CLUSTER=1: tests needing the local control plane are switched off on request")
    from modelviz_cluster.cluster import Cluster

    local = Cluster(state_dir=tmp_path_factory.mktemp("faults-cluster"), nodes=2)
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def kubectl(cluster: Any) -> Kubectl:
    return Kubectl(cluster.info()["binaries"]["kubectl"], cluster.kubeconfig)


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl) -> str:
    kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "modelvisualizers.modelviz.io.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/modelvisualizers.modelviz.io", "--timeout=60s")
    return "modelvisualizers.modelviz.io"


@pytest.fixture
def operator(cluster: Any, crd: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    # --debug: kopf logs the restarts of its watch streams (the 410 test reads them) only at debug level.
    running = start_operator(cluster, tmp_path / "operator.log", extra_args=["--debug"])
    try:
        yield running
    finally:
        stop_operator(running)


# -- what every test ends with -----------------------------------------------------------------------------------


def verdict(obj: dict[str, Any]) -> str:
    """'settled', 'failed' (Stalled True, with its reason) or 'pending'."""
    status = obj.get("status") or {}
    stalled = condition(obj, "Stalled")
    if stalled and stalled["status"] == "True":
        return f"failed: {stalled['reason']}"
    ready, reconciling = condition(obj, "Ready"), condition(obj, "Reconciling")
    fresh = status.get("observedGeneration") == obj["metadata"].get("generation")
    if fresh and ready and ready["status"] == "True" and not (reconciling and reconciling["status"] == "True"):
        return "settled"
    return "pending"


def all_resolved(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, count: int, timeout: float = 120
) -> dict[str, str]:
    """Wait until each of the ``count`` resources in ``namespace`` is settled or failed; the operator still runs."""

    def resolved() -> dict[str, str] | None:
        items = kubectl.json("get", "mviz", "-n", namespace)["items"]
        verdicts = {o["metadata"]["name"]: verdict(o) for o in items}
        return verdicts if len(verdicts) == count and "pending" not in verdicts.values() else None

    verdicts = wait_for(
        resolved,
        timeout=timeout,
        interval=1,
        what=f"{count} resources settled",
        explain=explain(kubectl, namespace, operator),
    )
    assert operator.proc.poll() is None, f"the operator exited with {operator.proc.returncode}:\n{operator.logs(200)}"
    return verdicts


def apply_many(kubectl: Kubectl, namespace: str, names: list[str], **spec: Any) -> None:
    docs = [json.dumps(visualizer(name, **spec)) for name in names]
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input_text="\n---\n".join(docs))


def settles_after_edit(kubectl: Kubectl, namespace: str, name: str, operator: OperatorProcess) -> None:
    """An edit made now is reconciled: the operator's watch of the resources works."""
    kubectl("patch", "mviz", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":2}}')
    wait_for(
        lambda: (d := kubectl.get("deployment", name, namespace)) and d["spec"]["replicas"] == 2,
        timeout=60,
        what=f"the edit of {name} to reach its Deployment",
        explain=explain(kubectl, namespace, operator),
    )


# -- the control plane goes away ---------------------------------------------------------------------------------


def test_api_server_restarted_during_reconciles(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    names = [f"r{i}" for i in range(12)]
    apply_many(kubectl, namespace, names)
    cluster.restart_process("kube-apiserver", down_seconds=3)  # while the first reconciles run
    verdicts = all_resolved(kubectl, namespace, operator, len(names))
    assert set(verdicts.values()) == {"settled"}, verdicts
    settles_after_edit(kubectl, namespace, "r0", operator)
    apply_many(kubectl, namespace, ["late"])  # created after the restart: the watch of new objects resumed too
    assert all_resolved(kubectl, namespace, operator, len(names) + 1)["late"] == "settled"


def test_etcd_stopped_for_ten_seconds(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    apply_many(kubectl, namespace, ["before"])
    all_resolved(kubectl, namespace, operator, 1)
    names = [f"e{i}" for i in range(8)]
    apply_many(kubectl, namespace, names)
    cluster.restart_process("etcd", down_seconds=10)
    verdicts = all_resolved(kubectl, namespace, operator, len(names) + 1, timeout=180)
    assert set(verdicts.values()) == {"settled"}, verdicts
    settles_after_edit(kubectl, namespace, "before", operator)


# -- the operator killed mid-benchmark ---------------------------------------------------------------------------


def test_operator_killed_mid_benchmark_runs_the_job_once_and_records_it(
    cluster: Any, kubectl: Kubectl, crd: str, namespace: str, tmp_path: Path
) -> None:
    first = start_operator(cluster, tmp_path / "first.log")
    second: OperatorProcess | None = None
    try:
        with serve("ok") as url:
            map_service(cluster, "killed", namespace, url.split("//", 1)[1].rstrip("/"))
            # Enough requests that the run lasts seconds: the operator dies while the Job runs.
            bench = {"runId": "k1", "requests": 20000, "concurrency": 4}
            kubectl.apply(visualizer("killed", benchmark=bench), namespace)
            wait_for(
                lambda: (
                    (((kubectl.get("mviz", "killed", namespace) or {}).get("status") or {}).get("benchmark") or {}).get(
                        "phase"
                    )
                    == "Running"
                ),
                timeout=90,
                what="the run to start",
                explain=first.logs,
            )
            os.killpg(first.proc.pid, signal.SIGKILL)
            first.proc.wait(timeout=10)
            assert url.requests < 20000, "the run ended before the operator was killed: make it longer"
            second = start_operator(cluster, tmp_path / "second.log")
            obj = finished(kubectl, namespace, "killed", "k1", second)
        bench_status = obj["status"]["benchmark"]
        assert bench_status["phase"] == "Succeeded", bench_status
        assert bench_status["completeRequests"] == 20000
        (job,) = jobs(kubectl, namespace)
        assert bench_status["jobName"] == job["metadata"]["name"]
        started = kubectl.json("get", "events", "-n", namespace, "--field-selector", "reason=BenchmarkStarted")
        assert len(started["items"]) == 1, started["items"]
        assert [h["runId"] for h in obj["status"]["benchmarkHistory"]] == ["k1"]
        assert all_resolved(kubectl, namespace, second, 1) == {"killed": "settled"}
    finally:
        stop_operator(first)
        if second is not None:
            stop_operator(second)


def test_resource_deleted_during_benchmark_takes_its_job(
    cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    with serve("hang") as url:
        map_service(cluster, "doomed", namespace, url.split("//", 1)[1].rstrip("/"))
        bench = {"runId": "d1", "requests": 10, "concurrency": 1, "requestTimeoutSeconds": 600}
        kubectl.apply(visualizer("doomed", benchmark=bench), namespace)
        kubectl.apply(visualizer("bystander"), namespace)
        wait_for(lambda: jobs(kubectl, namespace), timeout=90, what="the benchmark Job", explain=operator.logs)
        url.wait_for_requests(1, timeout=60)  # ab is running against the hung server
        kubectl("delete", "mviz", "doomed", "-n", namespace)
        wait_for(lambda: not jobs(kubectl, namespace), timeout=60, what="the Job to go with its resource")
        selector = "app.kubernetes.io/instance=doomed"
        wait_for(
            lambda: (
                not kubectl.json("get", "pods,deployments,services,configmaps", "-n", namespace, "-l", selector)[
                    "items"
                ]
            ),
            timeout=60,
            what="every child of the deleted resource to go",
        )
    assert all_resolved(kubectl, namespace, operator, 1) == {"bystander": "settled"}
    assert "Traceback" not in operator.logs(5000)


# -- conflicts, expired watches, hand edits ----------------------------------------------------------------------


class _ConflictWebhook(BaseHTTPRequestHandler):
    """A validating webhook answering 409 Conflict to the first ``conflicts`` reviews of Deployments it sees."""

    conflicts = 0
    seen: list[str] = []
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        with self.lock:
            self.seen.append(f"{request['operation']} {request['userInfo'].get('username')}")
            deny = type(self).conflicts > 0
            if deny:
                type(self).conflicts -= 1
        response: dict[str, Any] = {"uid": request["uid"], "allowed": not deny}
        if deny:
            response["status"] = {"code": 409, "reason": "Conflict", "message": "the object has been modified"}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


@pytest.fixture
def conflict_webhook(cluster: Any, kubectl: Kubectl, namespace: str) -> Iterator[type[_ConflictWebhook]]:
    """Served over TLS with the API server's own certificate (issued for 127.0.0.1 by the cluster's CA)."""
    pki = cluster.pki()
    handler = type("Handler", (_ConflictWebhook,), {"conflicts": 3, "seen": [], "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki.serving_cert), str(pki.serving_key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    name = f"conflict-{namespace}.modelviz.io"
    url = f"https://127.0.0.1:{server.server_address[1]}/validate"
    config = validating_webhook(name, namespace, url, ("apps", "deployments"), 5, pki.ca_cert.read_bytes())
    kubectl.apply(config, namespace)
    try:
        yield handler
    finally:
        kubectl("delete", "validatingwebhookconfiguration", name, check=False)
        server.shutdown()


def test_conflicts_are_retried_until_the_write_lands(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, conflict_webhook: type[_ConflictWebhook]
) -> None:
    """409 Conflict on the operator's own writes.

    The operator writes children with server-side apply and patches status without a resourceVersion, so the API
    server resolves concurrent writers itself (it retries a conflicting patch internally) and never answers 409 to
    them. A 409 still reaches the operator from admission (a webhook or policy engine reporting a conflict of its
    own): the real API server returns the webhook's code to the client, which is what this test makes happen.
    """
    kubectl.apply(visualizer("contested"), namespace)
    verdicts = all_resolved(kubectl, namespace, operator, 1)
    assert verdicts == {"contested": "settled"}
    assert conflict_webhook.conflicts == 0 and len(conflict_webhook.seen) >= 4, conflict_webhook.seen
    log = operator.logs(5000)
    assert log.count("Conflict (transient, retrying with backoff)") == 1, log
    events = kubectl.json("get", "events", "-n", namespace, "--field-selector", "reason=Conflict")["items"]
    assert len(events) == 1 and events[0]["type"] == "Warning"
    assert "Deployment contested" in events[0]["message"]


def test_concurrent_spec_edits_end_in_the_last_one(kubectl: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    """Users editing one resource at once: each edit is a new generation; the children end as the last one says."""
    kubectl.apply(visualizer("busy"), namespace)
    all_resolved(kubectl, namespace, operator, 1)

    def edit(replicas: int) -> None:
        kubectl(
            "patch", "mviz", "busy", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"replicas": replicas}})
        )

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    last = kubectl.get("mviz", "busy", namespace)["spec"]["replicas"]
    assert all_resolved(kubectl, namespace, operator, 1) == {"busy": "settled"}
    assert kubectl.get("deployment", "busy", namespace)["spec"]["replicas"] == last
    assert kubectl.get("mviz", "busy", namespace)["status"]["replicas"] == last


def _etcd_revision(cluster: Any) -> int:
    port = cluster.info()["ports"]["etcd"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v3/kv/range",
        data=json.dumps({"key": base64.b64encode(b"/registry").decode(), "limit": 1}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.loads(response.read())["header"]["revision"])


def _etcd_compact(cluster: Any, revision: int) -> None:
    port = cluster.info()["ports"]["etcd"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v3/kv/compaction",
        data=json.dumps({"revision": str(revision), "physical": True}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def test_an_expired_watch_is_resumed(cluster: Any, kubectl: Kubectl, operator: OperatorProcess, namespace: str) -> None:
    """410 Gone: the operator's watch continues from a resourceVersion the server no longer has.

    Made real: the watch's last resourceVersion is compacted away in etcd and the API server restarts (its watch
    cache starts anew), so the operator's reconnecting watch gets "too old resource version"; kopf lists again.
    """
    kubectl.apply(visualizer("watched"), namespace)
    all_resolved(kubectl, namespace, operator, 1)
    stale = kubectl.get("mviz", "watched", namespace)["metadata"]["resourceVersion"]
    for i in range(5):  # move etcd's revision on, past what the watch last saw
        kubectl("annotate", "configmap", "kube-root-ca.crt", "-n", namespace, f"tick={i}", "--overwrite")
    _etcd_compact(cluster, _etcd_revision(cluster))
    cluster.restart_process("kube-apiserver", down_seconds=2)
    # The real server answers a watch from that version with 410 Gone.
    raw = kubectl(
        "get",
        "--raw",
        f"/apis/modelviz.io/v1alpha1/namespaces/{namespace}/modelvisualizers?watch=1&resourceVersion={stale}"
        "&timeoutSeconds=2",
        check=False,
    )
    assert '"code":410' in raw.stdout.replace(" ", ""), raw.stdout + raw.stderr
    wait_for(
        lambda: "Restarting the watch-stream for modelvisualizers" in operator.logs(20000),
        timeout=60,
        what="the operator's watch to be restarted after 410 Gone",
        explain=operator.logs,
    )
    settles_after_edit(kubectl, namespace, "watched", operator)
    apply_many(kubectl, namespace, ["after"])
    assert all_resolved(kubectl, namespace, operator, 2) == {"watched": "settled", "after": "settled"}


def test_a_child_edited_by_hand_during_a_rollout_is_repaired(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    from modelviz_operator.api import spec_from
    from modelviz_operator.builders import Owner, build_children

    kubectl.apply(visualizer("rolling"), namespace)
    all_resolved(kubectl, namespace, operator, 1)
    # A new model: a new configuration hash in the pod template, so the pods roll.
    kubectl.apply(visualizer("rolling", models=[{"name": "effnet-lite1", "catalog": "efficientnet-lite1"}]), namespace)
    template = '{"spec":{"template":{"metadata":{"annotations":{"modelviz.io/config-hash":"by-hand"}}}}}'
    kubectl("patch", "deployment", "rolling", "-n", namespace, "--type=merge", "-p", template)
    kubectl("scale", "deployment", "rolling", "-n", namespace, "--replicas=3")
    kubectl(
        "patch", "configmap", "rolling-config", "-n", namespace, "--type=merge", "-p", '{"data":{"config.yaml":"x"}}'
    )
    assert all_resolved(kubectl, namespace, operator, 1) == {"rolling": "settled"}

    body = kubectl.get("mviz", "rolling", namespace)
    wanted = {m["kind"]: m for m in build_children(Owner.from_body(body), spec_from(body)).apply}

    def repaired() -> bool:
        deployment = kubectl.get("deployment", "rolling", namespace)
        configmap = kubectl.get("configmap", "rolling-config", namespace)
        want = wanted["Deployment"]["spec"]
        status = deployment["status"]
        return bool(
            deployment["spec"]["template"]["metadata"]["annotations"] == want["template"]["metadata"]["annotations"]
            and deployment["spec"]["replicas"] == want["replicas"]
            and configmap["data"] == wanted["ConfigMap"]["data"]
            and status.get("updatedReplicas") == want["replicas"] == status.get("readyReplicas")
            and status.get("replicas") == want["replicas"]
        )

    wait_for(
        repaired,
        timeout=60,
        what="the hand edits reverted and the rollout done",
        explain=explain(kubectl, namespace, operator),
    )
    assert all_resolved(kubectl, namespace, operator, 1) == {"rolling": "settled"}


def test_stop_and_start_keep_the_recorded_command_line(cluster: Any) -> None:
    """The harness's own fault controls: a stopped process comes back as it was, serving on its old port."""
    before = cluster.running()["kube-scheduler"]
    cluster.stop_process("kube-scheduler")
    assert cluster.running()["kube-scheduler"] is None
    cluster.start_process("kube-scheduler")
    after = cluster.running()["kube-scheduler"]
    assert after is not None and after != before
    argv = Path(f"/proc/{after}/cmdline").read_bytes().split(b"\0")
    assert any(a.startswith(b"--kubeconfig=") for a in argv)
    with pytest.raises(Exception, match="runs already"):
        cluster.start_process("kube-scheduler")
