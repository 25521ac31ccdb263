"""``modelviz cluster build|tools|up|down|env|status``: the local control plane from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .binaries import (
    BINARIES,
    NODE_BINARIES,
    BinaryError,
    build_binaries,
    build_lock,
    cache_root,
    ensure_binaries,
    find_binaries,
)
from .cluster import Cluster, ClusterError, default_state_dir
from .node import NodeError
from .tools import ensure_helm

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelviz cluster", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="find or build the pinned binaries (cached by version)")
    build.add_argument(
        "--control-plane-only", action="store_true", help="skip the real node's binaries (kubelet, containerd, ...)"
    )
    up = sub.add_parser("up", help="start etcd, kube-apiserver, controller-manager, scheduler and the node(s)")
    up.add_argument(
        "--node",
        choices=("kwok", "real"),
        default="kwok",
        help="kwok: fake nodes and the local Job executor (fast); real: kubelet, containerd, kube-proxy, CNI, CoreDNS",
    )
    up.add_argument("--nodes", type=int, default=2, help="how many kwok nodes (--node kwok)")
    up.add_argument(
        "--images",
        type=Path,
        action="append",
        default=[],
        help="docker archive to import into the real node (repeatable); the operator's and the visualizer's images "
        "are exported from the build engine's storage (modelviz images build)",
    )
    sub.add_parser("tools", help="find or build helm (cached by version), which the chart's tests run")
    sub.add_parser("down", help="stop every process the state directory started")
    sub.add_parser("env", help="print shell exports (KUBECONFIG, PATH) for the running cluster")
    sub.add_parser("status", help="show the processes and the nodes")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (BinaryError, ClusterError, NodeError) as exc:
        print(f"modelviz cluster: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "build":
        return _build(() if args.control_plane_only else NODE_BINARIES)
    if args.command == "tools":
        print(f"{'helm':<24} {ensure_helm()}")
        return 0
    node = getattr(args, "node", "kwok")
    images = list(getattr(args, "images", []))
    if args.command == "up" and node == "real":
        images = _node_images(images)
    cluster = Cluster(state_dir=args.state_dir, nodes=getattr(args, "nodes", 2), node=node, images=images)
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
    if not cluster.info():
        running = {}
    for name, pid in running.items():
        print(f"{name:<24} {'pid ' + str(pid) if pid else 'not running'}")
    if running.get("kube-apiserver"):
        print(cluster.kubectl("get", "nodes", "-o", "wide", check=False).stdout)
    return 0 if all(running.values()) else 3


def _build(extra: tuple[str, ...]) -> int:
    names = (*BINARIES, *extra)
    started = time.monotonic()
    _, missing = find_binaries(names)
    steps: tuple[tuple[str, float], ...] = ()
    if missing:
        with build_lock():
            missing = find_binaries(names)[1]  # another session may have built them meanwhile
            if missing:
                print(
                    f"building {', '.join(missing)} from Go modules (cold: ~15 minutes on 2 cores; cached by version)"
                )
                report = build_binaries(missing)
                steps = report.steps
                print(f"built in {report.seconds:.0f}s, {report.disk_bytes / 2**20:.0f} MiB of binaries")
    found = ensure_binaries(names)
    print("binaries:")
    for name, path in found.items():
        print(f"  {name:<24} {'built' if name in missing else 'reused'}  {path}")
    for what, seconds in steps:
        print(f"  go build {what}: {seconds:.0f}s")
    reused = len(found) - len(missing)
    print(f"binaries ready in {time.monotonic() - started:.0f}s ({len(missing)} built, {reused} reused)")
    return 0


def _node_images(extra: list[Path]) -> list[Path]:
    from .images_node import engine_archives, node_images

    archives, missing = engine_archives(list(node_images()), cache_root() / "images" / "node")
    if missing:
        print(f"note: {', '.join(missing)} not built (modelviz images build): pods using them cannot start")
    return [*archives, *extra]
