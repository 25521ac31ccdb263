"""``modelviz cluster build|tools|up|down|env|status``: the local control plane from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .binaries import BINARIES, BinaryError, build_binaries, cache_dir, ensure_binaries, find_binaries
from .cluster import Cluster, ClusterError, default_state_dir
from .tools import ensure_helm

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelviz cluster", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="find or build the pinned binaries (cached by version)")
    sub.add_parser("tools", help="find or build helm (cached by version), which the chart's tests run")
    up = sub.add_parser("up", help="start etcd, kube-apiserver, controller-manager, scheduler, kwok, executor")
    up.add_argument("--nodes", type=int, default=2)
    sub.add_parser("down", help="stop every process the state directory started")
    sub.add_parser("env", help="print shell exports (KUBECONFIG, PATH) for the running cluster")
    sub.add_parser("status", help="show the processes and the nodes")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (BinaryError, ClusterError) as exc:
        print(f"modelviz cluster: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "build":
        _, missing = find_binaries()
        if missing:
            print(f"building {', '.join(missing)} into {cache_dir()} (a cold build takes ~10-15 minutes)")
            report = build_binaries(missing)
            print(f"built in {report.seconds:.0f}s, {report.disk_bytes / 2**20:.0f} MiB of binaries")
        for name, path in ensure_binaries(BINARIES).items():
            print(f"{name:<24} {path}")
        return 0
    if args.command == "tools":
        print(f"{'helm':<24} {ensure_helm()}")
        return 0
    cluster = Cluster(state_dir=args.state_dir, nodes=getattr(args, "nodes", 2))
    if args.command == "up":
        started = time.monotonic()
        cluster.start()
        print(f"cluster up in {time.monotonic() - started:.1f}s; state in {cluster.state_dir}")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        return 0
    if args.command == "down":
        stopped = cluster.stop()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.command == "env":
        info = cluster.info()
        if not info:
            print("no cluster in " + str(cluster.state_dir), file=sys.stderr)
            return 1
        bindir = Path(info["binaries"]["kubectl"]).parent
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        print(f'export PATH="{bindir}:$PATH"')
        return 0
    running = cluster.running()
    for name, pid in running.items():
        print(f"{name:<24} {'pid ' + str(pid) if pid else 'not running'}")
    if running.get("kube-apiserver"):
        print(cluster.kubectl("get", "nodes", "-o", "wide", check=False).stdout)
    return 0 if all(running.values()) else 3
