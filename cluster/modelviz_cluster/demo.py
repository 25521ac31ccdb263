"""``modelviz demo``: everything on this machine, end to end.

On a real node (the default when this machine can run one: root, the node's packages, the images built):
1. the local control plane with a real node (``modelviz cluster up --node real``), the images loaded into containerd,
2. the CRD and the operator, 3. ``examples/demo.yaml`` applied: the visualizers run as real pods of the visualizer
image, 4. the benchmark Jobs run as real pods of the operator image, calling each Service by its cluster DNS name,
5. ``kubectl get mviz -o wide`` with the in-cluster figures, and each Service forwarded to 127.0.0.1
(``kubectl port-forward``) to open in a browser.

On kwok (``--node kwok``, or when a real node cannot run here, which the demo says): the pods are kwok's fakes, so
each visualizer is served on 127.0.0.1 from the configuration the operator wrote into its ConfigMap and the benchmark
Jobs are run by the local executor against those servers.

Everything keeps running; ``modelviz demo --down`` stops it all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from modelviz_operator.constants import APP_PORT, HEALTH_PATH, config_map_name

from .binaries import cache_root
from .cluster import Cluster, ClusterError, default_state_dir

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[2]


def _spawn(cluster: Cluster, name: str, argv: list[str], env: dict[str, str]) -> int:
    log = (cluster.logs / f"{name}.log").open("ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    (cluster.pids / f"{name}.pid").write_text(f"{proc.pid} {Path(argv[0]).name}")
    return proc.pid


def _wait(what: str, check: Any, timeout: float, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log and log.exists() else ""
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def _get(cluster: Cluster, *args: str) -> Any:
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def choose_node(requested: str) -> tuple[str, list[Path]]:
    """The node kind to run on and, for a real node, the image archives to load; says why when it falls back."""
    if requested == "kwok":
        return "kwok", []
    from .images_node import engine_archives, node_images
    from .node import host_problems

    problems = host_problems()
    archives: list[Path] = []
    if not problems:
        archives, missing = engine_archives(list(node_images()), cache_root() / "images" / "node")
        if missing:
            problems.append(f"the images {', '.join(missing)} are not built (modelviz images build)")
    if problems:
        why = "; ".join(problems)
        if requested == "real":
            raise ClusterError(f"a real node cannot run here: {why}")
        print(f"[demo] FALLING BACK TO KWOK (fake nodes, the local Job executor): a real node cannot run here: {why}")
        return "kwok", []
    return "real", archives


def _start(cluster: Cluster) -> None:
    if cluster.running().get("kube-apiserver") and cluster.node_kind() != cluster.node:
        print(f"[demo] stopping the running demo cluster ({cluster.node_kind()} node)")
        cluster.stop()
    if not cluster.running().get("kube-apiserver"):
        # A fresh demo every time: runIds that ran in an earlier demo would not run again.
        shutil.rmtree(cluster.state_dir, ignore_errors=True)
        started = time.monotonic()
        cluster.start()
        print(
            f"[demo] local cluster ({cluster.node} node) up in {time.monotonic() - started:.1f}s ({cluster.state_dir})"
        )


def _start_operator(cluster: Cluster) -> dict[str, str]:
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "modelvisualizers.modelviz.io.yaml"))
    cluster.kubectl("wait", "--for=condition=Established", "crd/modelvisualizers.modelviz.io", "--timeout=60s")
    if not cluster.running_extra("operator"):
        _spawn(
            cluster,
            "operator",
            [sys.executable, "-m", "modelviz_operator", "--liveness=http://127.0.0.1:18080/healthz"],
            dict(env, MODELVIZ_METRICS_PORT="19090", MODELVIZ_METRICS_ADDRESS="127.0.0.1"),
        )
        _wait("the operator", lambda: _http_ok("http://127.0.0.1:18080/healthz"), 60, cluster.logs / "operator.log")
        print("[demo] operator running (metrics on http://127.0.0.1:19090/metrics)")
    return env


def _settled(cluster: Cluster, namespace: str, count: int) -> bool:
    items = (_get(cluster, "mviz", "-n", namespace) or {}).get("items", [])
    done = 0
    for item in items:
        status = item.get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
        bench = (status.get("benchmark") or {}).get("phase")
        done += ready and (bench in ("Succeeded", "Failed") or not item["spec"].get("benchmark"))
    return done == count


def _all_ready(cluster: Cluster, namespace: str, count: int) -> bool:
    items = (_get(cluster, "mviz", "-n", namespace) or {}).get("items", [])
    conditions = [(i.get("status") or {}).get("conditions") or [] for i in items]
    return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in conds) for conds in conditions) == count


def run(cluster: Cluster, manifest: Path, base_port: int, timeout: float) -> int:
    _start(cluster)
    env = _start_operator(cluster)
    if cluster.node == "real":
        return run_real(cluster, manifest, base_port, timeout)
    return run_kwok(cluster, env, manifest, base_port, timeout)


def run_kwok(cluster: Cluster, env: dict[str, str], manifest: Path, base_port: int, timeout: float) -> int:
    """Fake pods: the visualizers served locally from their ConfigMaps, the Jobs run by the local executor."""
    print("[demo] preparing models (converted once, then cached)")
    subprocess.run([sys.executable, "-m", "modelviz_cli", "app", "prepare"], check=True)
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    namespace = "default"
    # Register where each Service will answer before the benchmark Jobs can start.
    services_file = cluster.state_dir / "local-services.json"
    services = json.loads(services_file.read_text()) if services_file.exists() else {}
    ports = {doc["metadata"]["name"]: base_port + index for index, doc in enumerate(docs)}
    services.update({f"{name}.{namespace}": f"127.0.0.1:{port}" for name, port in ports.items()})
    services_file.write_text(json.dumps(services, indent=2))
    cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(manifest))
    urls: dict[str, str] = {}
    for name, port in ports.items():
        configmap = _wait(f"the ConfigMap of {name}", lambda n=name: _get(cluster, "configmap", config_map_name(n)), 60)
        config = yaml.safe_load(configmap["data"]["config.yaml"])
        config.pop("cacheDir", None)  # the pods' cache path; here the prepared cache under ~/.cache is used
        config_path = cluster.state_dir / f"{name}.config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        key = f"visualizer-{name}"
        if not cluster.running_extra(key):
            _spawn(
                cluster,
                key,
                [sys.executable, "-m", "modelviz_cli", "app", "serve", "--address", "127.0.0.1", "--port", str(port)],
                dict(env, MODELVIZ_CONFIG=str(config_path)),
            )
        url = f"http://127.0.0.1:{port}/"
        _wait(
            f"the visualizer {name}",
            lambda u=url: _http_ok(u + HEALTH_PATH.lstrip("/")),
            120,
            cluster.logs / f"{key}.log",
        )
        urls[name] = url

    _wait("the resources to be ready and benchmarked", lambda: _settled(cluster, namespace, len(docs)), timeout,
          cluster.logs / "operator.log")  # fmt: skip
    print(cluster.kubectl("get", "mviz", "-n", namespace, "-o", "wide").stdout)
    for name, url in urls.items():
        print(f"[demo] {name}: open {url}")
    print(f"[demo] export KUBECONFIG={cluster.kubeconfig}   # then: kubectl describe mviz")
    print("[demo] stop everything with: modelviz demo --down")
    return 0


def _host_ab(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "modelviz_bench", "--url", url, "-n", str(requests), "-c", str(concurrency),
         "--output", "/dev/null", "--wait", "60"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return dict(json.loads(out.stdout.strip().splitlines()[0]))
    except (ValueError, IndexError):
        return {"error": (out.stderr or out.stdout)[-300:]}


def _row(name: str, where: str, row: dict[str, Any]) -> str:
    failed = row.get("failedRequests", row.get("failed"))
    cells = [f"{row.get(k) or 0:>7.0f}" for k in ("p50Ms", "p90Ms", "p99Ms")]
    return (
        f"  {name:<12} {where:<27} {row.get('rps') or 0:>8.1f} {' '.join(cells)} {'?' if failed is None else failed:>6}"
    )


def run_real(cluster: Cluster, manifest: Path, base_port: int, timeout: float) -> int:
    """examples/demo.yaml on the real node: real pods, a real Job pod benchmarking each Service from inside."""
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    namespace = "default"
    started = time.monotonic()
    cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(manifest))
    print(f"[demo] applied {manifest.name}: {len(docs)} visualizers as real pods (loading the models takes a while)")
    _wait("the visualizers to be Ready", lambda: _all_ready(cluster, namespace, len(docs)), timeout,
          cluster.logs / "operator.log")  # fmt: skip
    print(f"[demo] every visualizer Ready {time.monotonic() - started:.0f}s after apply (real probes on real pods)")
    _wait("the in-cluster benchmarks", lambda: _settled(cluster, namespace, len(docs)), timeout,
          cluster.logs / "operator.log")  # fmt: skip
    print(f"[demo] benchmarked inside the cluster {time.monotonic() - started:.0f}s after apply")
    binary = cluster.info()["binaries"]["kubectl"]
    urls: dict[str, str] = {}
    for index, doc in enumerate(docs):
        name = doc["metadata"]["name"]
        port = base_port + index
        key = f"port-forward-{name}"
        if not cluster.running_extra(key):
            service_port = (doc["spec"].get("service") or {}).get("port", 80)
            _spawn(
                cluster,
                key,
                [binary, f"--kubeconfig={cluster.kubeconfig}", "port-forward", "-n", namespace, "--address=127.0.0.1",
                 f"svc/{name}", f"{port}:{service_port}"],
                dict(os.environ),
            )  # fmt: skip
        urls[name] = f"http://127.0.0.1:{port}/"
        _wait(f"the port-forward to {name}", lambda u=urls[name]: _http_ok(u + HEALTH_PATH.lstrip("/")), 60,
              cluster.logs / f"{key}.log")  # fmt: skip
    if os.environ.get("MODELVIZ_DEMO_COMPARE", "1") == "1":
        # For comparison only: every forwarded connection is a new stream through the API server and the kubelet.
        print("[demo] the same ab run from the host through the port-forward (API server -> kubelet -> pod):")
        print(f"  {'visualizer':<12} {'where':<27} {'rps':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'failed':>6}")
        for doc in docs:
            name = doc["metadata"]["name"]
            bench = ((_get(cluster, "mviz", name, "-n", namespace) or {}).get("status") or {}).get("benchmark") or {}
            spec = doc["spec"].get("benchmark") or {}
            host = _host_ab(urls[name], int(spec.get("requests", 5000)), int(spec.get("concurrency", 50)))
            print(_row(name, "in-cluster Job -> Service", bench))
            print(_row(name, "host -> port-forward", host))
    print("[demo] measured inside the cluster by the benchmark Jobs (real pods of the operator image):")
    print(cluster.kubectl("get", "mviz", "-n", namespace, "-o", "wide").stdout)
    for name, url in urls.items():
        print(f"[demo] {name}: open {url}  (kubectl port-forward svc/{name}: a real pod answers)")
    print(f"[demo] export KUBECONFIG={cluster.kubeconfig}   # then: kubectl get pods -o wide; kubectl logs ...")
    print("[demo] stop everything with: modelviz demo --down")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelviz demo", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir().parent / "demo")
    parser.add_argument("--manifest", type=Path, default=REPO / "examples" / "demo.yaml")
    parser.add_argument("--port", type=int, default=APP_PORT, help="first local port for the visualizers")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--down", action="store_true", help="stop the demo's processes")
    parser.add_argument(
        "--node",
        choices=("auto", "real", "kwok"),
        default=os.environ.get("MODELVIZ_DEMO_NODE", "auto"),
        help="auto (default): a real node when this machine can run one, else kwok, saying why",
    )
    args = parser.parse_args(argv)
    if args.down:
        cluster = Cluster(state_dir=args.state_dir)
        stopped = cluster.stop()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    try:
        kind, archives = choose_node(args.node)
        cluster = Cluster(state_dir=args.state_dir, node=kind, images=archives)
        return run(cluster, args.manifest, args.port, args.timeout)
    except ClusterError as exc:
        print(f"modelviz demo: {exc}", file=sys.stderr)
        return 1
