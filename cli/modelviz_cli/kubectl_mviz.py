"""``kubectl mviz``: benchmark, inspect and open ModelVisualizers (the ``kubectl-mviz`` executable).

Follows krew's conventions: --kubeconfig, --context, -n/--namespace and -A/--all-namespaces mean what they mean to
kubectl, anywhere on the command line; kubectl itself talks to the cluster.

Exit codes of ``bench --wait``: 0 the run succeeded and met its targets (or had none), 1 it missed its targets,
3 it failed or did not finish in time; 2 is any other error (usage, not found, API).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import signal
import sys
import time
import webbrowser
from datetime import UTC, datetime
from typing import Any

from ._kubectl import Kubectl, KubectlError
from ._tables import (
    QUALITY_HEADER,
    RUN_HEADER,
    age,
    condition,
    fmt,
    pct,
    quality_rows,
    quality_text,
    run_row,
    table,
    targets_text,
)

__all__ = ["main"]

RESOURCE = "modelvisualizers.modelviz.io"
PASSED, MISSED, ERROR, FAILED = 0, 1, 2, 3
_FINISHED = ("Succeeded", "Failed")


def _globals(parser: argparse.ArgumentParser, default: Any) -> None:
    # Given before or after the subcommand; the subcommand's copy must not reset what the top level read.
    parser.add_argument("--kubeconfig", default=default, help="path to the kubeconfig file")
    parser.add_argument("--context", default=default, help="kubeconfig context to use")
    parser.add_argument("-n", "--namespace", default=default, help="namespace (default: the context's)")
    parser.add_argument(
        "-A", "--all-namespaces", action="store_true", default=default or False, help="every namespace (status)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl mviz", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _globals(parser, None)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="start a benchmark run (a fresh runId); --wait follows it to the result")
    bench.add_argument("name")
    bench.add_argument("--scenario", help="spec.benchmark.scenario of the run")
    bench.add_argument("--wait", action="store_true", help="follow the run; the exit code tells the result")
    bench.add_argument("--run-id", help="the runId to use (default: a fresh one from the time)")
    bench.add_argument("--timeout", type=float, help="seconds to wait (default: the run's timeoutSeconds + 120)")
    bench.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)
    status = sub.add_parser("status", help="conditions, URL, models, latest run and history")
    status.add_argument("name", nargs="?")
    status.add_argument("-o", "--output", choices=("table", "json"), default="table")
    opener = sub.add_parser("open", help="port-forward the Service to 127.0.0.1 and print the URL")
    opener.add_argument("name")
    opener.add_argument("--port", type=int, default=0, help="local port (default: a free one)")
    opener.add_argument("--browser", action="store_true", help="also open the URL in a browser")
    for child in (bench, status, opener):
        _globals(child, argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    kubectl = Kubectl(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)
    try:
        if args.command == "bench":
            return _bench(kubectl, args)
        if args.command == "status":
            return _status(kubectl, args)
        return _open(kubectl, args)
    except KubectlError as exc:
        print(f"kubectl mviz: {exc}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        return 130


# --- bench -------------------------------------------------------------------------------------------------------


def fresh_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time plus a random suffix (spec.benchmark.runId's pattern, 63 characters at most)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def _ours(run: dict[str, Any] | None, run_id: str) -> bool:
    # With onRollout, runs are named <runId>.rev<revision>.
    found = (run or {}).get("runId") or ""
    return found == run_id or found.startswith(f"{run_id}.rev")


def _bench(kubectl: Kubectl, args: argparse.Namespace) -> int:
    obj = kubectl.json("get", RESOURCE, args.name)
    run_id = args.run_id or fresh_run_id()
    benchmark: dict[str, Any] = {"runId": run_id}
    if args.scenario:
        benchmark["scenario"] = args.scenario
    patch = json.dumps({"spec": {"benchmark": benchmark}})
    if args.scenario:
        # Checked first (nothing persisted): a CRD without the field would prune it and run the default scenario.
        tried = json.loads(
            kubectl.run("patch", RESOURCE, args.name, "--type=merge", "-p", patch, "--dry-run=server", "-o", "json")
        )
        if (tried["spec"].get("benchmark") or {}).get("scenario") != args.scenario:
            print(
                "kubectl mviz: this cluster's ModelVisualizer CRD has no spec.benchmark.scenario: upgrade the CRD",
                file=sys.stderr,
            )
            return ERROR
    kubectl.run("patch", RESOURCE, args.name, "--type=merge", "-p", patch)
    namespace = obj["metadata"]["namespace"]
    scenario = f", scenario {args.scenario}" if args.scenario else ""
    print(f"benchmark {run_id} of {namespace}/{args.name} started{scenario}", flush=True)
    if not args.wait:
        print(f"follow it with: kubectl mviz status {args.name} -n {namespace}")
        return PASSED
    spec_timeout = float(((obj.get("spec") or {}).get("benchmark") or {}).get("timeoutSeconds") or 900)
    return _follow(kubectl, args.name, run_id, args.timeout or spec_timeout + 120, args.interval)


def _follow(kubectl: Kubectl, name: str, run_id: str, timeout: float, interval: float) -> int:
    started = time.monotonic()
    last = ("", "")
    obj: dict[str, Any] = {}
    while True:
        elapsed = time.monotonic() - started
        obj = kubectl.json("get", RESOURCE, name)
        run = (obj.get("status") or {}).get("benchmark")
        if _ours(run, run_id):
            assert run is not None
            now = (run.get("phase") or "", run.get("message") or "")
            if now != last:
                print(f"[{elapsed:5.0f}s] {run['runId']}: {now[0]}" + (f" ({now[1]})" if now[1] else ""), flush=True)
                last = now
            if run.get("phase") in _FINISHED:
                break
        if elapsed > timeout:
            print(f"kubectl mviz: benchmark {run_id} did not finish within {timeout:.0f}s", file=sys.stderr)
            return FAILED
        time.sleep(interval)
    print()
    print(_run_report(obj))
    assert run is not None
    if run.get("phase") == "Failed":
        return FAILED
    return MISSED if run.get("passed") is False else PASSED


def _run_report(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    run = status.get("benchmark") or {}
    lines = [table(RUN_HEADER, [run_row(run)])]
    if run.get("message"):
        lines.append(f"\n{run['message']}")
    passed = condition(obj, "BenchmarkPassed")
    lines.append(f"targets: {targets_text(obj.get('spec') or {})}; {passed.get('message') or passed.get('reason', '')}")
    history = status.get("benchmarkHistory") or []
    if history:
        lines += ["", "history (newest first):", table(RUN_HEADER, [run_row(r) for r in history])]
    return "\n".join(lines)


# --- status ------------------------------------------------------------------------------------------------------


def _status(kubectl: Kubectl, args: argparse.Namespace) -> int:
    if args.name:
        obj = kubectl.json("get", RESOURCE, args.name)
        print(json.dumps(obj.get("status") or {}, indent=2) if args.output == "json" else _detail(obj))
        return PASSED
    scope = ["--all-namespaces"] if args.all_namespaces else []
    items = kubectl.json("get", RESOURCE, *scope)["items"]
    if args.output == "json":
        print(json.dumps([{"metadata": i["metadata"], "status": i.get("status") or {}} for i in items], indent=2))
        return PASSED
    if not items:
        print("No ModelVisualizers found.", file=sys.stderr)
        return PASSED
    header = ["NAME", "READY", "STATUS", "URL", "MODELS", "LAST RUN", "RPS", "P99", "RESULT", "TOP1", "QUALITY", "AGE"]
    if args.all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = []
    for obj in items:
        status = obj.get("status") or {}
        run = run_row(status.get("benchmark") or {})
        row = [
            obj["metadata"]["name"],
            f"{status.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}",
            _summary(obj),
            fmt(status.get("url")),
            fmt(status.get("models")),
            run[0],
            run[2],
            run[5],
            run[7],
            pct((status.get("evaluation") or {}).get("bestTop1")),
            quality_text(status.get("evaluation") or {}),
            age(obj["metadata"].get("creationTimestamp")),
        ]
        if args.all_namespaces:
            row.insert(0, obj["metadata"]["namespace"])
        rows.append(row)
    print(table(header, rows))
    return PASSED


def _summary(obj: dict[str, Any]) -> str:
    """One word, as kubectl get mviz's STATUS column: the Degraded reason, else Ready's."""
    degraded = condition(obj, "Degraded")
    if degraded.get("status") == "True":
        return str(degraded.get("reason") or "Degraded")
    return str(condition(obj, "Ready").get("reason") or "Unknown")


def _detail(obj: dict[str, Any]) -> str:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    replicas = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)} ready"
    lines = [
        f"{meta['name']} (namespace {meta['namespace']}, generation {meta.get('generation')}, "
        f"observed {fmt(status.get('observedGeneration'))})",
        f"URL:       {fmt(status.get('url'))}",
        f"Internal:  {fmt(status.get('internalUrl'))}",
        f"Models:    {fmt(status.get('models'))}",
        f"Replicas:  {replicas}",
        "",
        "Conditions:",
    ]
    conditions = status.get("conditions") or []
    rows = [
        [c.get("type", ""), c.get("status", ""), c.get("reason", ""), age(c.get("lastTransitionTime")),
         _short(c.get("message", ""))]
        for c in conditions
    ]  # fmt: skip
    lines.append(_indent(table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows)) if rows else "  (none yet)")
    lines += ["", f"Benchmark (targets: {targets_text(spec)}):"]
    run = status.get("benchmark")
    if run:
        lines.append(_indent(table(RUN_HEADER, [run_row(run)])))
        if run.get("message"):
            lines.append(f"  {_short(run['message'], 200)}")
    else:
        lines.append("  no run yet: kubectl mviz bench " + meta["name"])
    history = status.get("benchmarkHistory") or []
    if history:
        lines += ["", "History (newest first):", _indent(table(RUN_HEADER, [run_row(r) for r in history]))]
    lines += ["", _quality_section(obj)]
    return "\n".join(lines)


def _quality_section(obj: dict[str, Any]) -> str:
    evaluation = (obj.get("status") or {}).get("evaluation") or {}
    if not evaluation:
        wanted = (obj.get("spec") or {}).get("evaluation")
        return "Quality:\n  " + ("no evaluation yet" if wanted else "not evaluated (spec.evaluation is not set)")
    bins = evaluation.get("eceBins")
    lines = [
        f"Quality ({quality_text(evaluation)}; ECE over {bins} bins):"
        if bins
        else f"Quality ({quality_text(evaluation)}):"
    ]
    rows = quality_rows(evaluation)
    if rows:
        lines.append(_indent(table(QUALITY_HEADER, rows)))
    for model in evaluation.get("models") or []:
        if model.get("error"):
            lines.append(f"  {model.get('name')}: {_short(str(model['error']), 200)}")
    passed = condition(obj, "QualityPassed")
    if passed.get("message"):
        lines.append(f"  {_short(str(passed['message']), 200)}")
    elif evaluation.get("message"):
        lines.append(f"  {_short(str(evaluation['message']), 200)}")
    return "\n".join(lines)


def _short(text: str, width: int = 100) -> str:
    text = re.sub(r"\s+", " ", text or "")
    return text if len(text) <= width else text[: width - 3] + "..."


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


# --- open --------------------------------------------------------------------------------------------------------


def _open(kubectl: Kubectl, args: argparse.Namespace) -> int:
    obj = kubectl.json("get", RESOURCE, args.name)
    port = int(((obj.get("spec") or {}).get("service") or {}).get("port") or 80)
    # The Service has the resource's name; kubectl picks one of its ready pods.
    proc = kubectl.popen("port-forward", "--address=127.0.0.1", f"service/{args.name}", f"{args.port}:{port}")
    stop = lambda *_: proc.terminate()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    assert proc.stdout is not None
    url = None
    for line in proc.stdout:
        match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
        if match:
            url = f"http://127.0.0.1:{match.group(1)}/"
            break
        print(line, end="", file=sys.stderr)
    if url is None:
        proc.wait()
        print(f"kubectl mviz: port-forward to service/{args.name} ended ({proc.returncode})", file=sys.stderr)
        return ERROR
    print(f"{obj['metadata']['namespace']}/{args.name} is at {url} (Ctrl-C to stop)", flush=True)
    if args.browser:
        webbrowser.open(url)
    try:
        for line in proc.stdout:  # kubectl's "Handling connection" lines
            if "error" in line.lower():
                print(line, end="", file=sys.stderr)
    except KeyboardInterrupt:
        proc.terminate()
    proc.wait()
    return PASSED if proc.returncode in (0, -signal.SIGTERM) else ERROR


if __name__ == "__main__":
    sys.exit(main())
