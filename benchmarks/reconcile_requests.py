"""API requests per reconcile and what a burst of events costs, this tree against a baseline revision.

Both run the real reconcile code over the in-memory API of tests/unit/fake_kube.py (each call takes ``--latency``
milliseconds, as a round trip to an API server would), so the counts are the code's, not a cluster's:

    .venv/bin/python benchmarks/reconcile_requests.py [--baseline 5f6e171] [--burst 50] [--latency 2]

- steady state: requests and writes of one pass over a settled resource (a resync or an unrelated event);
- burst: ``--burst`` threads ask for a reconcile of one resource at once (a rollout's pod events): passes run,
  wall time, and how long the requesting threads (kopf's workers) were held.

The baseline's ``operator/`` is taken from git (``git archive``) and run in its own process. Writes a Markdown table
to benchmarks/reconcile_requests.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NS, NAME = "team", "viz"
SPEC: dict[str, Any] = {"models": [{"name": "a", "catalog": "mobilenet_v2"}], "dataset": {"catalog": "imagenet-sample"}}


def _worker(variant: str, burst: int, latency_ms: float) -> dict[str, Any]:
    """Runs inside the variant's process (its modelviz_operator first on sys.path)."""
    import modelviz_operator.reconcile as rec
    from tests.unit.fake_kube import CHILD_KINDS, FakeKube

    fake = FakeKube()
    fake.on_call = lambda verb, kind, name: time.sleep(latency_ms / 1000)

    def emit(*_: Any) -> None:
        return None

    if variant == "baseline":
        from modelviz_operator import kube

        for attr in ("get", "list_objects", "apply", "delete_owned", "get_visualizer", "patch_status", "pvc_exists"):
            setattr(kube, attr, getattr(fake, attr))

        def run() -> Any:
            return rec.reconcile(NS, NAME, emit)  # type: ignore[call-arg]  # the older revision: no api argument
    else:
        from modelviz_operator.cache import CachedApi

        api: Any = fake
        if variant == "watch caches":
            api = CachedApi(fake, CHILD_KINDS)
            fake.watchers.append(api.observe)

        def run() -> Any:
            return rec.reconcile(NS, NAME, emit, api=api)

    fake.add_visualizer(NS, NAME, SPEC)
    run()
    fake.settle_deployment(NS, NAME)
    run()
    run()
    fake.reset_calls()
    passes = 10
    for _ in range(passes):
        run()
    steady = list(fake.calls)

    fake.reset_calls()
    held: list[float] = []
    go = threading.Event()

    def request() -> None:
        go.wait()
        started = time.monotonic()
        run()
        held.append(time.monotonic() - started)

    threads = [threading.Thread(target=request) for _ in range(burst)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    go.set()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    return {
        "requests_per_pass": len(steady) / passes,
        "writes_per_pass": sum(1 for c in steady if c[0] in ("apply", "delete", "patch-status")) / passes,
        "applies_per_pass": sum(1 for c in steady if c[0] == "apply") / passes,
        "burst_passes": sum(1 for c in fake.calls if c[:2] == ("get", "ModelVisualizer")),
        "burst_requests": len(fake.calls),
        "burst_wall_s": wall,
        "held_sum_s": sum(held),
        "held_max_s": max(held),
    }


def _run_variant(variant: str, operator_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(operator_dir), str(ROOT)]))
    out = subprocess.run(
        [sys.executable, __file__, "--worker", variant, "--burst", str(args.burst), "--latency", str(args.latency)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="5f6e171", help="git revision to compare with")
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--latency", type=float, default=2.0, help="milliseconds per API call")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "reconcile_requests.md")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.burst, args.latency)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "baseline.tar"
        subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), args.baseline, "operator"], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        results = {
            f"baseline ({args.baseline})": _run_variant("baseline", Path(tmp) / "operator", args),
            "this tree, API reads": _run_variant("api", ROOT / "operator", args),
            "this tree, watch caches": _run_variant("watch caches", ROOT / "operator", args),
        }
    load = os.getloadavg()[0]
    lines = [
        "# API requests per reconcile",
        "",
        f"`benchmarks/reconcile_requests.py --baseline {args.baseline} --burst {args.burst} --latency {args.latency}`:"
        f" the reconcile code over tests/unit/fake_kube.py, {args.latency:g} ms per API call, load average"
        f" {load:.1f} on {os.cpu_count()} cores. Steady state: one pass over a settled resource (mean of 10). Burst:"
        f" {args.burst} threads request a reconcile of one resource at once; held = time a requesting thread (a kopf"
        " worker) spent in the call.",
        "",
        "| variant | requests/pass | writes/pass | applies/pass | burst passes | burst requests | burst wall (s) |"
        " held, sum (s) | held, max (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['requests_per_pass']:.1f} | {r['writes_per_pass']:.1f} | {r['applies_per_pass']:.1f} |"
            f" {r['burst_passes']} | {r['burst_requests']} | {r['burst_wall_s']:.2f} | {r['held_sum_s']:.2f} |"
            f" {r['held_max_s']:.2f} |"
        )
    base = results[f"baseline ({args.baseline})"]
    new = results["this tree, watch caches"]
    lines += [
        "",
        f"Ratios (baseline / watch caches): requests per steady pass"
        f" {base['requests_per_pass'] / max(new['requests_per_pass'], 1e-9):.1f}x, burst passes"
        f" {base['burst_passes'] / max(new['burst_passes'], 1):.1f}x, burst wall time"
        f" {base['burst_wall_s'] / max(new['burst_wall_s'], 1e-9):.1f}x, worker time held"
        f" {base['held_sum_s'] / max(new['held_sum_s'], 1e-9):.1f}x.",
        "",
        "Burst passes: requests that arrive while a pass runs fold into one more; a request after a pass has ended",
        "starts a new one, so a fast pass may see a burst in two or three groups (never one pass per request).",
        "",
        "Writes per steady pass count server-side applies as writes (the API server persists nothing for an unchanged",
        "manifest, but each is a PATCH request): the baseline sends them every pass; this tree skips a child whose",
        "cached version is the one it last applied.",
    ]
    text = "\n".join(lines) + "\n"
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
