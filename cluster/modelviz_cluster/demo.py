"""``modelviz demo``: everything on this machine, end to end.

1. the local control plane (``modelviz cluster up``), 2. the CRD and the operator, 3. ``examples/demo.yaml``
applied, 4. each visualizer served on 127.0.0.1 from the configuration the operator wrote into its ConfigMap (the
pods themselves are kwok's fakes), 5. the benchmark Jobs run by the local executor against those servers, 6. the
result shown with ``kubectl get mviz -o wide``. Everything keeps running; ``modelviz demo --down`` stops it all.
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

from .cluster import Cluster, ClusterError, default_state_dir

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[2]


def _spawn(cluster: Cluster, name: str, argv: list[str], env: dict[str, str]) -> int:
    log = (cluster.logs / f"{name}.log").open("ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    (cluster.pids / f"{name}.pid").write_text(f"{proc.pid} python")
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


def run(cluster: Cluster, manifest: Path, base_port: int, timeout: float) -> int:
    if not cluster.running().get("kube-apiserver"):
        # A fresh demo every time: runIds that ran in an earlier demo would not run again.
        shutil.rmtree(cluster.state_dir, ignore_errors=True)
        started = time.monotonic()
        cluster.start()
        print(f"[demo] local control plane up in {time.monotonic() - started:.1f}s ({cluster.state_dir})")
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
        configmap = _wait(f"the ConfigMap of {name}", lambda n=name: _get(cluster, "configmap", f"{n}-config"), 60)
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
        _wait(f"the visualizer {name}", lambda u=url: _http_ok(u + "_stcore/health"), 120, cluster.logs / f"{key}.log")
        urls[name] = url

    def settled() -> bool:
        items = (_get(cluster, "mviz", "-n", namespace) or {}).get("items", [])
        done = 0
        for item in items:
            status = item.get("status") or {}
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
            bench = (status.get("benchmark") or {}).get("phase")
            done += ready and (bench in ("Succeeded", "Failed") or not item["spec"].get("benchmark"))
        return done == len(docs)

    _wait("the resources to be ready and benchmarked", settled, timeout, cluster.logs / "operator.log")
    print(cluster.kubectl("get", "mviz", "-n", namespace, "-o", "wide").stdout)
    for name, url in urls.items():
        print(f"[demo] {name}: open {url}")
    print(f"[demo] export KUBECONFIG={cluster.kubeconfig}   # then: kubectl describe mviz")
    print("[demo] stop everything with: modelviz demo --down")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelviz demo", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir().parent / "demo")
    parser.add_argument("--manifest", type=Path, default=REPO / "examples" / "demo.yaml")
    parser.add_argument("--port", type=int, default=8501, help="first local port for the visualizers")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--down", action="store_true", help="stop the demo's processes")
    args = parser.parse_args(argv)
    cluster = Cluster(state_dir=args.state_dir)
    if args.down:
        stopped = cluster.stop()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    try:
        return run(cluster, args.manifest, args.port, args.timeout)
    except ClusterError as exc:
        print(f"modelviz demo: {exc}", file=sys.stderr)
        return 1
