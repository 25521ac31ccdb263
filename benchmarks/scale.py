"""The operator at scale on the local cluster: N ModelVisualizers applied at once, edited once, deleted at once.

    .venv/bin/python benchmarks/scale.py [--count 200 --count 1000] [--per-namespace 50] [--json out.json]

Each count gets a fresh local control plane (kwok nodes, enough of them for one pod per resource; the API server
writes an audit log) and a fresh operator process. Phases, one after the other:

- create: every resource created by 16 client threads at once; per resource, seconds from its create returning
  to the operator's status saying Ready for its generation with nothing left in progress (Reconciling not True);
- steady: a quiet window of ``--steady-seconds`` (the resync timer fires once per resource in 60 s);
- rollout: every spec edited once (another catalog model: a new ConfigMap hash, so the pods roll);
- delete: every resource deleted at once; seconds until it and every child are gone.

Per phase: p50/p99/max per resource, the time until all are done, stuck ones (not done in ``--timeout``), the
operator's API requests per resource by verb (from the audit log: requests whose user agent is the operator's,
kopf's and the Kubernetes client's), its CPU seconds and peak RSS, and the load average. Prints Markdown; with
``--json`` also writes the figures for comparison with another run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _part in ("operator", "cluster", "bench", "cli"):
    sys.path.insert(0, str(ROOT / _part))

from kubernetes import client, config, watch  # noqa: E402

from modelviz_cluster.cluster import Cluster  # noqa: E402
from modelviz_cluster.ports import free_port  # noqa: E402

GROUP, VERSION, PLURAL = "modelviz.io", "v1alpha1", "modelvisualizers"
BENCH_AGENT = "modelviz-scale-benchmark"
# The operator's two HTTP clients: kopf's (watches, its own patches, Events) and the Kubernetes client's.
OPERATOR_AGENTS = ("kopf/", "OpenAPI-Generator/")
WRITES = ("create", "update", "patch", "delete", "deletecollection")
PODS_PER_NODE = 100  # kwok nodes allow 110
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def visualizer(name: str, model: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelVisualizer",
        "metadata": {"name": name},
        "spec": {
            "models": [{"name": "m", "catalog": model}],
            "dataset": {"catalog": "imagenet-sample"},
            # Small requests: a fake node's 16 CPUs hold its 110 pods.
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        },
    }


def settled(obj: dict[str, Any]) -> bool:
    """Ready for the current generation with nothing in progress (what kstatus calls Current)."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return conditions.get("Ready") == "True" and conditions.get("Reconciling") != "True"


# -- the operator process ----------------------------------------------------------------------------------------


class Operator:
    """The operator as a subprocess, with its CPU time and RSS read from /proc."""

    def __init__(self, cluster: Cluster, log_path: Path) -> None:
        self.health = free_port()
        env = dict(
            os.environ,
            KUBECONFIG=str(cluster.kubeconfig),
            MODELVIZ_METRICS_PORT=str(free_port()),
            MODELVIZ_METRICS_ADDRESS="127.0.0.1",
            PYTHONPATH=os.pathsep.join(str(ROOT / p) for p in ("operator", "cluster", "bench", "cli")),
        )
        with log_path.open("wb") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelviz_operator", f"--liveness=http://127.0.0.1:{self.health}/healthz"],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.log_path = log_path
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.proc.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"the operator did not start; see {log_path}")
        self._sampler.start()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def hwm_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())
            except OSError:
                return

    def reset_peak(self) -> None:
        self.peak_rss_mb = self.rss_mb()

    def stop(self) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# -- watching the resources ----------------------------------------------------------------------------------------


class Tracker:
    """One watch over every ModelVisualizer: when each first became settled, or was deleted, since ``arm``."""

    def __init__(self, api: client.CustomObjectsApi) -> None:
        self.api = api
        self.lock = threading.Lock()
        self.done: dict[tuple[str, str], float] = {}
        self.gone: dict[tuple[str, str], float] = {}
        self.generation: dict[tuple[str, str], int] = {}  # the generation a key must reach to count as done
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def arm(self) -> None:
        with self.lock:
            self.done.clear()
            self.gone.clear()

    def expect(self, key: tuple[str, str], generation: int) -> None:
        with self.lock:
            self.generation[key] = generation

    def _run(self) -> None:
        version = ""
        while not self._stop.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    self.api.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    PLURAL,
                    resource_version=version or None,
                    timeout_seconds=60,
                    allow_watch_bookmarks=True,
                ):
                    obj = event["object"]
                    meta = obj.get("metadata") or {}
                    version = meta.get("resourceVersion") or version
                    if event["type"] == "BOOKMARK":
                        continue
                    key = (meta["namespace"], meta["name"])
                    now = time.monotonic()
                    with self.lock:
                        if event["type"] == "DELETED":
                            self.gone.setdefault(key, now)
                        elif (
                            settled(obj)
                            and meta.get("generation", 0) >= self.generation.get(key, 1)
                            and key not in self.done
                        ):
                            self.done[key] = now
                    if self._stop.is_set():
                        return
            except client.ApiException as exc:
                if exc.status == 410:
                    version = ""
                else:
                    time.sleep(1)
            except Exception:  # a dropped connection: resume from the last version seen
                time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()


# -- audit log ---------------------------------------------------------------------------------------------------


class Audit:
    """The operator's requests in the API server's audit log, read phase by phase."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self) -> Counter[str]:
        """Operator requests by verb since the last mark (a watch counts when it ends, as the log records it)."""
        verbs: Counter[str] = Counter()
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        for line in data.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            agent = str(event.get("userAgent") or "")
            if agent.startswith(OPERATOR_AGENTS):
                resource = (event.get("objectRef") or {}).get("resource", "")
                verbs[event.get("verb", "?")] += 1
                sub = (event.get("objectRef") or {}).get("subresource")
                verbs[f"resource:{event.get('verb', '?')} {resource}{'/' + sub if sub else ''}"] += 1
        return verbs


# -- phases ------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


@contextmanager
def phase(name: str, operator: Operator, audit: Audit, count: int, results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    audit.mark()
    operator.reset_peak()
    cpu = operator.cpu_seconds()
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    row: dict[str, Any] = {}
    log(f"{name}: start")
    yield row
    row["seconds"] = row.get("seconds", time.monotonic() - started)
    row["cpu_seconds"] = operator.cpu_seconds() - cpu
    row["peak_rss_mb"] = max(operator.peak_rss_mb, operator.rss_mb())
    verbs = audit.since_mark()
    calls = {k: v for k, v in verbs.items() if not k.startswith("resource:")}
    row["requests"] = sum(calls.values())
    row["requests_per_resource"] = row["requests"] / count
    row["writes_per_resource"] = sum(v for k, v in calls.items() if k in WRITES) / count
    row["by_verb_per_resource"] = {k: round(v / count, 2) for k, v in sorted(calls.items())}
    row["by_call_per_resource"] = {
        k.split(":", 1)[1]: round(v / count, 2) for k, v in verbs.most_common() if k.startswith("resource:")
    }
    row["load"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    results[name] = row
    log(
        f"{name}: {row['seconds']:.1f} s, {row['requests_per_resource']:.1f} requests/resource "
        f"({row['by_verb_per_resource']}), cpu {row['cpu_seconds']:.1f} s, rss {row['peak_rss_mb']:.0f} MB"
    )


def wait_all(
    keys: list[tuple[str, str]],
    seen: Callable[[], dict[tuple[str, str], float]],
    timeout: float,
    what: str,
    operator: Operator | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    last, said = -1, 0.0
    while time.monotonic() < deadline:
        done = sum(1 for k in keys if k in seen())
        if done != last or time.monotonic() - said > 30:
            # The operator's figures too, so that a run cut short still tells its throughput and memory.
            extra = (
                f" (operator cpu {operator.cpu_seconds():.0f} s, rss {operator.rss_mb():.0f} MB)" if operator else ""
            )
            log(f"{what}: {done}/{len(keys)}{extra}")
            last, said = done, time.monotonic()
        if done == len(keys):
            return
        time.sleep(1)


def timings(keys: list[tuple[str, str]], began: dict[tuple[str, str], float], ended: dict[tuple[str, str], float],
            phase_start: float, row: dict[str, Any]) -> None:  # fmt: skip
    per = [ended[k] - began[k] for k in keys if k in ended and k in began]
    row["p50"] = percentile(per, 0.50)
    row["p99"] = percentile(per, 0.99)
    row["max"] = max(per) if per else math.nan
    row["stuck"] = [f"{k[0]}/{k[1]}" for k in keys if k not in ended]
    row["all_done_seconds"] = (max(ended[k] for k in keys) - phase_start) if not row["stuck"] else math.nan


def run(
    count: int, per_namespace: int, steady_seconds: float, timeout: float, workdir: Path, phases: tuple[str, ...]
) -> dict[str, Any]:
    nodes = max(2, math.ceil(count / PODS_PER_NODE) + 1)
    cluster = Cluster(state_dir=workdir / f"cluster-{count}", nodes=nodes, audit=True)
    log(f"{count} resources: starting a cluster with {nodes} kwok nodes in {cluster.state_dir}")
    cluster.start()
    operator: Operator | None = None
    tracker: Tracker | None = None
    results: dict[str, Any] = {"count": count, "nodes": nodes, "cpus": os.cpu_count()}
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds" / "modelvisualizers.modelviz.io.yaml"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/modelvisualizers.modelviz.io", "--timeout=60s")
        namespaces = [f"scale-{i:03d}" for i in range(math.ceil(count / per_namespace))]
        for ns in namespaces:
            cluster.kubectl("create", "namespace", ns)
        for ns in namespaces:  # pods are refused until the namespace's default ServiceAccount exists
            while cluster.kubectl("get", "serviceaccount", "default", "-n", ns, check=False).returncode != 0:
                time.sleep(0.5)
        keys = [(namespaces[i // per_namespace], f"viz-{i:04d}") for i in range(count)]

        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        api_client.user_agent = BENCH_AGENT
        api_client.configuration.connection_pool_maxsize = 32  # type: ignore[attr-defined]
        custom = client.CustomObjectsApi(api_client)
        apps = client.AppsV1Api(api_client)
        core = client.CoreV1Api(api_client)
        tracker = Tracker(custom)
        audit = Audit(cluster.audit_file)
        operator = Operator(cluster, workdir / f"operator-{count}.log")
        results["idle_rss_mb"] = operator.rss_mb()
        pool = ThreadPoolExecutor(16)

        # create
        began: dict[tuple[str, str], float] = {}

        def create(key: tuple[str, str]) -> None:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, key[0], PLURAL, visualizer(key[1], "efficientnet-lite0")
            )
            began[key] = time.monotonic()

        with phase("create", operator, audit, count, results) as row:
            start = time.monotonic()
            list(pool.map(create, keys))
            row["submit_seconds"] = time.monotonic() - start
            wait_all(keys, lambda: tracker.done if tracker else {}, timeout, "Ready", operator)
            with tracker.lock:
                done = dict(tracker.done)
            timings(keys, began, done, start, row)

        # steady: nothing changes; the operator's resync and its watches are all that should run
        time.sleep(5)
        with phase("steady", operator, audit, count, results) as row:
            time.sleep(steady_seconds)

        if "rollout" not in phases:
            return results
        # rollout: each spec edited once
        tracker.arm()
        for key in keys:
            tracker.expect(key, 2)
        began.clear()

        def edit(key: tuple[str, str]) -> None:
            custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                key[0],
                PLURAL,
                key[1],
                {"spec": {"models": [{"name": "m", "catalog": "efficientnet-lite1"}]}},
            )
            began[key] = time.monotonic()

        with phase("rollout", operator, audit, count, results) as row:
            start = time.monotonic()
            list(pool.map(edit, keys))
            row["submit_seconds"] = time.monotonic() - start
            wait_all(keys, lambda: tracker.done if tracker else {}, timeout, "rolled out", operator)
            with tracker.lock:
                done = dict(tracker.done)
            timings(keys, began, done, start, row)
        rolled = [
            (apps.read_namespaced_deployment(k[1], k[0]).to_dict()["metadata"].get("annotations") or {}).get(
                "deployment.kubernetes.io/revision"
            )
            for k in keys[:: max(1, count // 20)]
        ]
        results["rollout"]["sampled_revisions"] = dict(Counter(rolled))

        if "delete" not in phases:
            return results
        # delete
        began.clear()

        def delete(key: tuple[str, str]) -> None:
            custom.delete_namespaced_custom_object(GROUP, VERSION, key[0], PLURAL, key[1])
            began[key] = time.monotonic()

        def children_left() -> int:
            selector = "app.kubernetes.io/managed-by=modelviz-operator"
            deployments = apps.list_deployment_for_all_namespaces(label_selector=selector, limit=1)
            pods = core.list_pod_for_all_namespaces(label_selector=selector, limit=1)
            return len(deployments.items) + len(pods.items)

        with phase("delete", operator, audit, count, results) as row:
            start = time.monotonic()
            list(pool.map(delete, keys))
            row["submit_seconds"] = time.monotonic() - start
            wait_all(keys, lambda: tracker.gone if tracker else {}, timeout, "deleted")
            with tracker.lock:
                gone = dict(tracker.gone)
            timings(keys, began, gone, start, row)
            deadline = time.monotonic() + timeout
            while children_left() and time.monotonic() < deadline:
                time.sleep(2)
            row["children_gone_seconds"] = time.monotonic() - start
            row["children_left"] = children_left()
            row["seconds"] = time.monotonic() - start
        pool.shutdown()
    finally:
        if tracker is not None:
            tracker.stop()
        if operator is not None:
            if operator.proc.poll() is None:
                results["final_rss_mb"] = operator.rss_mb()
                results["peak_rss_mb"] = operator.hwm_mb()
                results["operator_cpu_seconds"] = operator.cpu_seconds()
            operator.stop()
            results["operator_exit"] = operator.proc.returncode
        cluster.stop()
    return results


def _fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def done_seconds(name: str, row: dict[str, Any]) -> float:
    """Seconds until the phase's last resource was done (for delete: its children gone too)."""
    if name == "steady":
        return float(row["seconds"])
    done = float(row.get("all_done_seconds", row["seconds"]))
    return max(done, float(row.get("children_gone_seconds", done))) if name == "delete" else done


def markdown(runs: list[dict[str, Any]], title: str) -> str:
    out = [
        f"### {title}",
        "",
        "| resources | phase | all done (s) | p50 (s) | p99 (s) | max (s) | stuck | API requests / resource | "
        "writes / resource | by verb / resource | operator CPU (s) | peak RSS (MB) | load avg (1 min) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for result in runs:
        for name in ("create", "steady", "rollout", "delete"):
            row = result.get(name)
            if not row:
                continue
            verbs = ", ".join(f"{k} {v:g}" for k, v in row["by_verb_per_resource"].items())
            stuck = len(row["stuck"]) if "stuck" in row else ""
            done = done_seconds(name, row)
            out.append(
                f"| {result['count']} | {name} | {_fmt(done)} | {_fmt(row.get('p50', ''))} | "
                f"{_fmt(row.get('p99', ''))} | {_fmt(row.get('max', ''))} | {stuck} | "
                f"{row['requests_per_resource']:.1f} | {row['writes_per_resource']:.2f} | {verbs} | "
                f"{row['cpu_seconds']:.1f} | {row['peak_rss_mb']:.0f} | {row['load'][0]} -> {row['load'][1]} |"
            )
        out.append(
            f"| {result['count']} | whole run | | | | | | | | | {result.get('operator_cpu_seconds', math.nan):.1f} | "
            f"{result.get('peak_rss_mb', math.nan):.0f} (idle {result.get('idle_rss_mb', math.nan):.0f}) | |"
        )
    return "\n".join(out)


def ratios(baseline: dict[str, Any], other: dict[str, Any]) -> str:
    """How ``other`` compares with ``baseline`` for the counts both measured (baseline / other: above 1 is better)."""
    out = [
        f"### {other['title']} against {baseline['title']} (baseline / this: above 1 is better)",
        "",
        "| resources | phase | all done | p99 | API requests / resource | operator CPU |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    base = {r["count"]: r for r in baseline["runs"]}
    for result in other["runs"]:
        if result["count"] not in base:
            continue
        for name in ("create", "steady", "rollout", "delete"):
            b, o = base[result["count"]].get(name), result.get(name)
            if not b or not o:
                continue

            def ratio(key: str, b: dict[str, Any] = b, o: dict[str, Any] = o, name: str = name) -> str:
                x, y = (done_seconds(name, b), done_seconds(name, o)) if key == "done" else (b.get(key), o.get(key))
                if not isinstance(x, float | int) or not isinstance(y, float | int) or not y or math.isnan(y):
                    return ""
                return f"{x / y:.1f}x"

            out.append(
                f"| {result['count']} | {name} | {ratio('done') if name != 'steady' else ''} | {ratio('p99')} | "
                f"{ratio('requests_per_resource')} | {ratio('cpu_seconds')} |"
            )
    return "\n".join(out)


def render(paths: list[Path]) -> str:
    """Markdown of saved runs (``--json``), each against the first."""
    docs = [json.loads(p.read_text()) for p in paths]
    parts = [markdown(d["runs"], f"{d['title']} ({d['at'][:16]})") for d in docs]
    parts += [ratios(docs[0], d) for d in docs[1:]]
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, action="append", help="resources per run (repeatable; default 200)")
    parser.add_argument("--per-namespace", type=int, default=50)
    parser.add_argument("--steady-seconds", type=float, default=65.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase")
    parser.add_argument("--title", default="scale")
    parser.add_argument(
        "--phases", default="create,steady,rollout,delete", help="create and steady always run; rollout, delete"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path, help="state directories and logs (default: a temporary directory)")
    parser.add_argument("--render", type=Path, nargs="+", help="print saved runs (--json files), no new run")
    args = parser.parse_args(argv)
    if args.render:
        print(render(args.render))
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="modelviz-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for count in args.count or [200]:
        phases = tuple(args.phases.split(","))
        runs.append(run(count, args.per_namespace, args.steady_seconds, args.timeout, workdir, phases))
        if args.json:
            args.json.write_text(json.dumps({"title": args.title, "at": datetime.now().isoformat(), "runs": runs}))
    print(markdown(runs, args.title))
    failed = any(r[p].get("stuck") for r in runs for p in ("create", "rollout", "delete") if p in r)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
