"""A small but real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and its node(s), each a process of its own: either kwok (fake nodes) with the local Job-pod executor
(``node="kwok"``), or one real node (``node="real"``: containerd, kubelet, kube-proxy, CNI, CoreDNS; see ``node.py``).

Everything lives in a state directory: certificates, kubeconfigs, etcd data, logs and pid files. ``stop`` ends every
process it started by pid (checking that the pid still runs the same program), so nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from modelviz_operator.constants import BENCHMARK_COMPONENT, COMPONENT_LABEL

from .binaries import BINARIES, NODE_BINARIES, ensure_binaries
from .node import NODE_PROCESSES, NodeError, RealNode
from .pki import Pki, make_pki
from .ports import free_port

__all__ = [
    "LOCAL_EXECUTOR_LABEL",
    "NODE_KINDS",
    "Cluster",
    "ClusterError",
    "default_state_dir",
    "free_port",
    "kubeconfig_for",
]

# Pods with this label are run by the local executor instead of being faked by kwok.
LOCAL_EXECUTOR_LABEL = (COMPONENT_LABEL, BENCHMARK_COMPONENT)
# Room for a Service per resource at the load benchmark's 1,000 and beyond (a /24 ends at 254 Services).
SERVICE_CIDR = "10.0.0.0/16"
_CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
_KWOK = ("kwok", "executor")
NODE_KINDS = ("kwok", "real")


class ClusterError(RuntimeError):
    pass


def default_state_dir() -> Path:
    env = os.environ.get("MODELVIZ_STATE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "modelviz" / "cluster"


def kubeconfig_for(server: str, pki: Pki, cert: Path, key: Path, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "modelviz", "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "modelviz", "context": {"cluster": "modelviz", "user": user, "namespace": "default"}}],
        "current-context": "modelviz",
    }


@dataclass
class Cluster:
    """A local control plane rooted at ``state_dir``; ``start()`` / ``stop()``; ``kubeconfig`` for clients."""

    state_dir: Path = field(default_factory=default_state_dir)
    nodes: int = 2
    node: str = "kwok"
    # Image archives (docker-archive tarballs) the real node imports into containerd.
    images: list[Path] = field(default_factory=list)
    # Write an audit log (one JSON line per request, metadata only) to ``audit_file``: who called what, for
    # counting a client's requests (the load benchmark).
    audit: bool = False

    def __post_init__(self) -> None:
        if self.node not in NODE_KINDS:
            raise ClusterError(f"node must be one of {', '.join(NODE_KINDS)}, not {self.node!r}")
        self.state_dir = Path(self.state_dir).resolve()
        self.logs = self.state_dir / "logs"
        self.pids = self.state_dir / "pids"
        self.kubeconfig = self.state_dir / "admin.kubeconfig"
        self.info_file = self.state_dir / "cluster.json"
        self.audit_file = self.logs / "audit.jsonl"

    # -- queries -------------------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return json.loads(self.info_file.read_text()) if self.info_file.exists() else {}

    def _pid(self, name: str) -> int | None:
        path = self.pids / f"{name}.pid"
        if not path.exists():
            return None
        try:
            pid = int(path.read_text().split()[0])
        except (ValueError, IndexError):
            return None
        return pid if _alive(pid, path.read_text().split(maxsplit=1)[1:]) else None

    def pki(self) -> Pki:
        """The cluster's certificates (its CA signs the API server's serving certificate for 127.0.0.1)."""
        return make_pki(self.state_dir / "pki")

    def node_kind(self) -> str:
        """The kind of node of the cluster in the state directory (the one asked for if none runs yet)."""
        return str(self.info().get("node", self.node))

    def _order(self) -> tuple[str, ...]:
        return _CONTROL_PLANE + (NODE_PROCESSES if self.node_kind() == "real" else _KWOK)

    def running(self) -> dict[str, int | None]:
        return {name: self._pid(name) for name in self._order()}

    def running_extra(self, name: str) -> int | None:
        """A process started beside the cluster (the demo's operator and visualizers), if it still runs."""
        return self._pid(name)

    def kubectl(
        self, *args: str, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        binary = self.info().get("binaries", {}).get("kubectl") or "kubectl"
        return subprocess.run(
            [binary, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            input=input_text,
            timeout=120,
        )

    def log_tails(self, lines: int = 40) -> str:
        out = []
        for name in self._order():
            path = self.logs / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"----- {name} ({path}) -----\n" + "\n".join(tail))
        return "\n".join(out)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        if any(self.running().values()):
            raise ClusterError(f"a cluster already runs from {self.state_dir}; stop it first")
        if self.node == "real":
            try:
                self._real_node().preflight()
            except NodeError as exc:
                raise ClusterError(str(exc)) from exc
        real = (*(b for b in BINARIES if b != "kwok"), *NODE_BINARIES)
        binaries = ensure_binaries(real if self.node == "real" else BINARIES)
        for directory in (self.logs, self.pids):
            directory.mkdir(parents=True, exist_ok=True)
        pki = make_pki(self.state_dir / "pki")
        ports = {name: free_port() for name in ("etcd", "etcd-peer", "apiserver", "kwok")}
        server = f"https://127.0.0.1:{ports['apiserver']}"
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig_for(server, pki, pki.admin_cert, pki.admin_key, "admin")))
        kcm_config = self.state_dir / "controller-manager.kubeconfig"
        kcm_config.write_text(
            yaml.safe_dump(
                kubeconfig_for(
                    server, pki, pki.controller_manager_cert, pki.controller_manager_key, "kube-controller-manager"
                )
            )
        )
        sched_config = self.state_dir / "scheduler.kubeconfig"
        sched_config.write_text(
            yaml.safe_dump(kubeconfig_for(server, pki, pki.scheduler_cert, pki.scheduler_key, "kube-scheduler"))
        )
        self.info_file.write_text(
            json.dumps(
                {
                    "server": server,
                    "ports": ports,
                    "node": self.node,
                    "binaries": {k: str(v) for k, v in binaries.items()},
                },
                indent=2,
            )
        )
        etcd_url = f"http://127.0.0.1:{ports['etcd']}"
        peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
        try:
            self._spawn(
                "etcd",
                [
                    str(binaries["etcd"]),
                    f"--data-dir={self.state_dir / 'etcd'}",
                    "--name=default",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls={peer_url}",
                    f"--initial-advertise-peer-urls={peer_url}",
                    f"--initial-cluster=default={peer_url}",
                    "--unsafe-no-fsync=true",  # as envtest: test data need no durability
                    "--log-level=warn",
                ],
            )
            self._wait_http(f"{etcd_url}/health", timeout, "etcd")
            self._spawn(
                "kube-apiserver",
                [
                    str(binaries["kube-apiserver"]),
                    f"--etcd-servers={etcd_url}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={ports['apiserver']}",
                    f"--cert-dir={self.state_dir / 'pki'}",
                    f"--tls-cert-file={pki.serving_cert}",
                    f"--tls-private-key-file={pki.serving_key}",
                    f"--client-ca-file={pki.ca_cert}",
                    f"--service-account-key-file={pki.sa_pub}",
                    f"--service-account-signing-key-file={pki.sa_key}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    # Node: what a kubelet may read and write (its pods' secrets, its node and lease).
                    "--authorization-mode=Node,RBAC",
                    f"--kubelet-client-certificate={pki.kubelet_client_cert}",
                    f"--kubelet-client-key={pki.kubelet_client_key}",
                    # A real kubelet's serving certificate comes from the harness's CA; kwok serves its own.
                    *([f"--kubelet-certificate-authority={pki.ca_cert}"] if self.node == "real" else []),
                    # A real node registers its address, not a resolvable name; fake nodes' names do not resolve
                    # either (port-forward and logs reach kwok's server by address).
                    "--kubelet-preferred-address-types=InternalIP,Hostname",
                    "--allow-privileged=true",
                    "--enable-priority-and-fairness=false",
                    # Loopback is not a valid endpoint for the "kubernetes" Service; nothing in-cluster needs it.
                    "--endpoint-reconciler-type=none",
                    "--profiling=false",
                    *self._audit_flags(),
                    "--v=1",
                ],
            )
            self._wait_readyz(server, pki, timeout)
            self._spawn(
                "kube-controller-manager",
                [
                    str(binaries["kube-controller-manager"]),
                    f"--kubeconfig={kcm_config}",
                    f"--authentication-kubeconfig={kcm_config}",
                    f"--authorization-kubeconfig={kcm_config}",
                    "--bind-address=127.0.0.1",
                    "--secure-port=0",
                    "--leader-elect=false",
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={pki.sa_key}",
                    f"--root-ca-file={pki.ca_cert}",
                    f"--cluster-signing-cert-file={pki.ca_cert}",
                    f"--cluster-signing-key-file={pki.ca_key}",
                    # Pod IPs come from kwok, so node CIDR allocation is off; kwok renews the node leases that the
                    # node-lifecycle controller watches (it also lifts the not-ready taint).
                    "--controllers=*,-node-ipam-controller",
                    "--concurrent-gc-syncs=5",
                    "--v=1",
                ],
            )
            self._spawn(
                "kube-scheduler",
                [
                    str(binaries["kube-scheduler"]),
                    f"--kubeconfig={sched_config}",
                    f"--authentication-kubeconfig={sched_config}",
                    f"--authorization-kubeconfig={sched_config}",
                    "--bind-address=127.0.0.1",
                    "--secure-port=0",
                    "--leader-elect=false",
                    "--v=1",
                ],
            )
            if self.node == "real":
                self._real_node().start(binaries, pki, server, self.images)
            else:
                self._start_kwok(binaries, ports, timeout)
            self._wait_default_service_account(timeout)
        except BaseException:
            sys.stderr.write(self.log_tails())
            self.stop()
            raise

    def _audit_flags(self) -> list[str]:
        if not self.audit:
            return []
        policy = self.state_dir / "audit-policy.yaml"
        # One event per request, when it completes (a watch's when it ends); no bodies.
        policy.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "audit.k8s.io/v1",
                    "kind": "Policy",
                    "omitStages": ["RequestReceived", "ResponseStarted"],
                    "rules": [{"level": "Metadata"}],
                }
            )
        )
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_file}",
            "--audit-log-format=json",
            "--audit-log-maxsize=0",  # no rotation: the whole run stays in one file
        ]

    def _real_node(self) -> RealNode:
        return RealNode(
            self.state_dir,
            self._spawn,
            self._pid,
            self._terminate_named,
            self.kubectl,
            lambda text: print(text, flush=True),
        )

    def _terminate_named(self, name: str, timeout: float = 20.0) -> None:
        pid = self._pid(name)
        if pid is not None:
            _terminate(pid, timeout)
        (self.pids / f"{name}.pid").unlink(missing_ok=True)

    def _start_kwok(self, binaries: dict[str, Path], ports: dict[str, int], timeout: float) -> None:
        # kwok manages only nodes whose lease it holds: a lease left by an earlier run would stall it until expiry.
        self.kubectl("delete", "leases", "--all", "-n", "kube-node-lease", "--ignore-not-found", check=False)
        # kubectl port-forward to a fake node's pod goes to kwok's server, which forwards as a PortForward in the
        # pod's namespace says (tests point them at local servers); kwok watches them once the CRD exists.
        crd = resources.files("modelviz_cluster").joinpath("kwok-portforward-crd.yaml").read_text()
        self.kubectl("apply", "--server-side", "-f", "-", input_text=crd)
        self.kubectl("wait", "--for=condition=Established", "crd/portforwards.kwok.x-k8s.io", "--timeout=60s")
        kwok_config = self.state_dir / "kwok.yaml"
        stages = resources.files("modelviz_cluster").joinpath("kwok.yaml").read_text()
        kwok_config.write_text(
            stages.replace("LOCAL_EXECUTOR_KEY", LOCAL_EXECUTOR_LABEL[0]).replace(
                "LOCAL_EXECUTOR_VALUE", LOCAL_EXECUTOR_LABEL[1]
            )
        )
        self._spawn(
            "kwok",
            [
                str(binaries["kwok"]),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={kwok_config}",
                f"--server-address=127.0.0.1:{ports['kwok']}",
                f"--node-port={ports['kwok']}",  # the nodes' kubelet endpoint: kwok's server
                "--enable-crds=PortForward",
            ],
        )
        self._spawn(
            "executor",
            [
                sys.executable,
                "-m",
                "modelviz_cluster.executor",
                f"--kubeconfig={self.kubeconfig}",
                f"--selector={LOCAL_EXECUTOR_LABEL[0]}={LOCAL_EXECUTOR_LABEL[1]}",
                f"--work-dir={self.state_dir / 'executor'}",
            ],
        )
        self._create_nodes()
        self._wait_nodes_ready(timeout)

    def stop(self, timeout: float = 20.0) -> list[str]:
        """Stop every process this state directory started, newest first; returns their names."""
        stopped = []
        order = self._order()
        # Processes started beside the cluster (operator, visualizers) go first, then the controllers (so that no
        # pod is recreated), then the node (a real one drains and takes back its host changes), then the API.
        extras = sorted(p.stem for p in self.pids.glob("*.pid") if p.stem not in order) if self.pids.exists() else []
        for name in [*extras, "kube-controller-manager", "kube-scheduler"]:
            if self._pid(name) is not None:
                self._terminate_named(name, timeout)
                stopped.append(name)
            (self.pids / f"{name}.pid").unlink(missing_ok=True)
        if self.node_kind() == "real":
            try:
                stopped += self._real_node().teardown()
            except NodeError as exc:
                sys.stderr.write(f"real node: {exc}\n")
        for name in reversed(order):
            if self._pid(name) is not None:
                self._terminate_named(name, timeout)
                stopped.append(name)
            (self.pids / f"{name}.pid").unlink(missing_ok=True)
        if self.pids.exists():
            for recorded in self.pids.glob("*.argv.json"):
                recorded.unlink()
        return stopped

    # -- faults: one control-plane process down and up again ----------------------------------------------------

    def stop_process(self, name: str, kill: bool = False, timeout: float = 20.0) -> None:
        """Stop one control-plane process (SIGKILL when ``kill``); ``start_process`` brings it back as it was."""
        if name not in _CONTROL_PLANE:
            raise ClusterError(f"only {', '.join(_CONTROL_PLANE)} can be stopped on their own, not {name!r}")
        pid = self._pid(name)
        if pid is None:
            raise ClusterError(f"{name} does not run")
        if kill:
            os.killpg(pid, signal.SIGKILL)
            _terminate(pid, timeout)  # waits for it to be gone
            (self.pids / f"{name}.pid").unlink(missing_ok=True)
        else:
            self._terminate_named(name, timeout)

    def start_process(self, name: str, timeout: float = 120.0) -> None:
        """Start a process stopped by ``stop_process`` with its recorded command line; returns once it serves."""
        recorded = self.pids / f"{name}.argv.json"
        if name not in _CONTROL_PLANE or not recorded.exists():
            raise ClusterError(f"{name} was not started by this cluster")
        if self._pid(name) is not None:
            raise ClusterError(f"{name} runs already")
        spec = json.loads(recorded.read_text())
        self._spawn(name, list(spec["argv"]), dict(spec["env"]) or None)
        ports = self.info()["ports"]
        if name == "etcd":
            self._wait_http(f"http://127.0.0.1:{ports['etcd']}/health", timeout, "etcd")
        elif name == "kube-apiserver":
            self._wait_readyz(self.info()["server"], self.pki(), timeout)

    def restart_process(self, name: str, down_seconds: float = 0.0, kill: bool = False) -> None:
        """Stop one control-plane process, keep it down ``down_seconds``, start it again and wait until it serves."""
        self.stop_process(name, kill=kill)
        time.sleep(down_seconds)
        self.start_process(name)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        # The command line is kept so that a control-plane process can be stopped and started again as it was.
        (self.pids / f"{name}.argv.json").write_text(json.dumps({"argv": argv, "env": extra_env or {}}))
        log = (self.logs / f"{name}.log").open("ab")
        env = dict(os.environ, **(extra_env or {}))
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
        log.close()
        (self.pids / f"{name}.pid").write_text(f"{proc.pid} {Path(argv[0]).name}")
        time.sleep(0.2)
        if proc.poll() is not None:
            raise ClusterError(f"{name} exited at once with {proc.returncode}; see {self.logs / (name + '.log')}")

    def _wait_http(self, url: str, timeout: float, what: str, context: ssl.SSLContext | None = None) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5, context=context) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.25)
        raise ClusterError(f"{what} not ready at {url} after {timeout:.0f}s: {last}")

    def _wait_readyz(self, server: str, pki: Pki, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        self._wait_http(f"{server}/readyz", timeout, "kube-apiserver", context)

    def _create_nodes(self) -> None:
        nodes = []
        for index in range(self.nodes):
            nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": f"kwok-node-{index}",
                        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                        "labels": {
                            "kubernetes.io/hostname": f"kwok-node-{index}",
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "type": "kwok",
                        },
                    },
                    "spec": {},
                }
            )
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(nodes))

    def _wait_nodes_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.kubectl("get", "nodes", "-o", "json", check=False)
            if out.returncode == 0:
                items = json.loads(out.stdout)["items"]
                ready = [
                    n
                    for n in items
                    if any(
                        c["type"] == "Ready" and c["status"] == "True"
                        for c in n.get("status", {}).get("conditions", [])
                    )
                ]
                if len(ready) >= self.nodes:
                    return
            time.sleep(0.5)
        raise ClusterError(f"kwok nodes not Ready after {timeout:.0f}s")

    def _wait_default_service_account(self, timeout: float) -> None:
        # Pods are refused until the controller-manager has created the namespace's default ServiceAccount.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0:
                return
            time.sleep(0.5)
        raise ClusterError("the controller-manager did not create the default ServiceAccount")


def _alive(pid: int, expected: list[str]) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not expected:
        return True
    # The pid may have been reused by another program since it was written.
    return any(expected[0].encode() in part for part in cmdline[:3])


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _exists(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        if not _exists(pid):
            return
        time.sleep(0.1)


def _exists(pid: int) -> bool:
    try:
        # A zombie child of ours has exited already; reap it.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return False
    return status != "Z"
