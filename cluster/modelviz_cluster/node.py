"""A real node for the local cluster: containerd + runc, kubelet, kube-proxy (iptables), the CNI bridge and CoreDNS.

Everything it starts is a process of the harness, like the control plane, with its files under the cluster's state
directory. What it changes on the host, and takes back on ``stop()``:

- a bridge ``mviz0`` holding the node address 10.88.0.1/24 (pods get 10.88.0.10-250 on it) with forwarding enabled on
  that interface only (``net.ipv4.conf.mviz0.forwarding``; the host-wide ``ip_forward`` is left as it is); pods get
  no default route, only the pod subnet and the Service range, and a ``MODELVIZ-FORWARD`` chain drops anything
  forwarded into or out of the bridge from another interface, so no pod packet can leave the machine; nothing is
  masqueraded;
- kube-proxy's ``KUBE-*`` chains (filter, nat, mangle; IPv4 and IPv6), removed with ``kube-proxy --cleanup``;
- one veth per pod and one network namespace per pod (mounted under the state directory);
- mounts under the state directory (pod volumes, container root filesystems) and under containerd's root;
- cgroups under ``/sys/fs/cgroup/<controller>/modelviz-node``;
- containerd's shim sockets under ``/run/modelviz-node``; kubelet's symlinks in ``/var/log/containers``.

containerd's root (images and their unpacked layers) lives in the cache, keyed by containerd's version, so images are
imported once; everything else is per cluster. One real node runs per host at a time: the bridge, the subnet and the
iptables chains are host-wide (``/run/modelviz-node.json`` names the state directory that owns them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .binaries import cache_root
from .images_node import ensure_pause_image, load_images, pause_ref
from .pki import Pki, make_node_pki
from .ports import free_port
from .versions import CONTAINERD_VERSION

__all__ = [
    "BRIDGE",
    "NODE_IP",
    "NODE_NAME",
    "NODE_PROCESSES",
    "POD_CIDR",
    "HostFootprint",
    "NodeError",
    "RealNode",
    "host_footprint",
    "host_problems",
]

NODE_NAME = "modelviz-node"
BRIDGE = "mviz0"
POD_CIDR = "10.88.0.0/24"
NODE_IP = "10.88.0.1"
CLUSTER_DOMAIN = "cluster.local"
CGROUP_PARENT = "modelviz-node"
FORWARD_CHAIN = "MODELVIZ-FORWARD"
CNI_NETWORK = "modelviz-node"
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian containernetworking-plugins
REGISTRY = Path("/run/modelviz-node.json")
RUN_DIR = Path("/run/modelviz-node")  # short: unix socket paths are limited to 108 bytes
CONTAINER_LOGS = Path("/var/log/containers")  # kubelet's fixed path for its log symlinks
CNI_CACHE = Path("/var/lib/cni/results")  # libcni's fixed cache of ADD results (emptied by each DEL)
NODE_PROCESSES = ("containerd", "coredns", "kubelet", "kube-proxy")
_TABLES = ("filter", "nat", "mangle", "raw")
_OWN_CHAIN_PREFIXES = ("KUBE-", "MODELVIZ-")


class NodeError(RuntimeError):
    pass


def host_problems() -> list[str]:
    """Why a real node cannot run on this machine (empty when it can)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not root (containerd, kubelet and the CNI bridge need root)")
    for tool in ("iptables", "ip", "mount", "umount", "nsenter"):
        if not shutil.which(tool):
            problems.append(f"{tool} is not installed")
    if not shutil.which("conntrack"):
        problems.append("conntrack is not installed (apt-get install conntrack)")
    for plugin in ("bridge", "host-local", "loopback"):
        if not (CNI_BIN_DIR / plugin).exists():
            problems.append(f"CNI plugin {CNI_BIN_DIR / plugin} missing (apt-get install containernetworking-plugins)")
    if not shutil.which("catatonit"):
        problems.append("catatonit is not installed (the pause image is made from it: apt-get install catatonit)")
    try:
        filesystems = Path("/proc/filesystems").read_text()
    except OSError:
        filesystems = ""
    if "overlay" not in filesystems:
        problems.append("the kernel has no overlayfs")
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        problems.append("no memory cgroup at /sys/fs/cgroup")
    return problems


def _run(*argv: str, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, input=input_text, timeout=120)
    if check and proc.returncode != 0:
        raise NodeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _cgroup_roots() -> list[Path]:
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        return [base]
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink())


@dataclass(frozen=True)
class HostFootprint:
    """What a real node leaves on the host, for the check that ``stop()`` removed all of it."""

    processes: tuple[str, ...]
    mounts: tuple[str, ...]
    iptables: tuple[str, ...]
    links: tuple[str, ...]
    cgroups: tuple[str, ...]
    files: tuple[str, ...]

    def empty(self) -> bool:
        return not any(vars(self).values())


def _iptables_tools() -> list[str]:
    """The iptables front ends with tables in the kernel: nft's always, legacy's only where its tables exist."""
    tools = [t for t in ("iptables", "ip6tables") if shutil.which(t)]
    for tool, names in (("iptables-legacy", "ip_tables_names"), ("ip6tables-legacy", "ip6_tables_names")):
        try:
            present = bool(Path("/proc/net", names).read_text().strip())
        except OSError:
            present = False
        if present and shutil.which(tool):
            tools.append(tool)
    return tools


def _tables(tool: str) -> tuple[str, ...]:
    """Tables to look at; for legacy iptables only those that exist (listing one would create it)."""
    if not tool.endswith("-legacy"):
        return _TABLES
    names = "ip6_tables_names" if tool.startswith("ip6") else "ip_tables_names"
    try:
        return tuple(Path("/proc/net", names).read_text().split())
    except OSError:
        return ()


def _own_rules() -> list[str]:
    rules = []
    for tool in _iptables_tools():
        for table in _tables(tool):
            out = _run(tool, "-w", "-t", table, "-S", check=False).stdout
            rules += [
                f"{tool} {table} {line}" for line in out.splitlines() if any(p in line for p in _OWN_CHAIN_PREFIXES)
            ]
    return rules


def host_footprint(paths: tuple[Path, ...]) -> HostFootprint:
    """Processes, mounts, iptables rules, links, cgroups and files of a real node (any, when ``paths`` is empty)."""
    own = tuple(str(p) for p in paths)
    processes = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if (own and any(p in cmdline for p in own)) or (
            "containerd-shim-runc-v2" in cmdline and str(RUN_DIR) in cmdline
        ):
            processes.append(f"{proc.name} {cmdline[:200]}")
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if (own and any(point.startswith(p) for p in own)) or point.startswith(str(RUN_DIR)):
            mounts.append(point)
    links = [
        line.split(":")[1].strip().split("@")[0]
        for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines()
        if f" {BRIDGE}:" in line or f"master {BRIDGE} " in line
    ]
    cgroups = [str(root / CGROUP_PARENT) for root in _cgroup_roots() if (root / CGROUP_PARENT).exists()]
    files = [str(p) for p in (REGISTRY, RUN_DIR) if p.exists()]
    if CNI_CACHE.is_dir():
        files += [str(p) for p in CNI_CACHE.iterdir() if p.name.startswith(CNI_NETWORK)]
    if own and CONTAINER_LOGS.is_dir():
        for link in CONTAINER_LOGS.iterdir():
            if link.is_symlink() and any(os.readlink(link).startswith(p) for p in own):
                files.append(str(link))
    return HostFootprint(
        tuple(processes), tuple(mounts), tuple(_own_rules()), tuple(links), tuple(cgroups), tuple(sorted(files))
    )


class RealNode:
    """The node's processes and host changes for one cluster state directory.

    ``spawn(name, argv)`` starts a process the way the cluster starts its own (pid file, log file); ``kubectl`` runs
    against the cluster as admin.
    """

    def __init__(
        self,
        state_dir: Path,
        spawn: Callable[..., None],
        pid_of: Callable[[str], int | None],
        terminate: Callable[[str], None],
        kubectl: Callable[..., subprocess.CompletedProcess[str]],
        say: Callable[[str], None] = print,
    ) -> None:
        self.state_dir = state_dir
        self.dir = state_dir / "node"
        self.spawn = spawn
        self.pid_of = pid_of
        self.terminate = terminate
        self.kubectl = kubectl
        self.say = say
        self.containerd_root = cache_root() / f"containerd-{CONTAINERD_VERSION}" / "root"
        self.containerd_state = self.dir / "containerd-state"
        self.socket = RUN_DIR / "containerd.sock"
        self.runc_root = RUN_DIR / "runc"
        self._binaries: dict[str, str] = {}

    # -- paths the footprint check looks under ---------------------------------------------------------------------

    def paths(self) -> tuple[Path, ...]:
        return (self.dir, self.containerd_root, RUN_DIR)

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        binary = self._binaries.get("ctr", "ctr")
        return _run(str(binary), f"--address={self.socket}", "--namespace=k8s.io", *args, check=check)

    # -- start -----------------------------------------------------------------------------------------------------

    def start(self, binaries: dict[str, Path], pki: Pki, server: str, images: list[Path] | None = None) -> None:
        self._claim()
        self._binaries = {k: str(v) for k, v in binaries.items()}
        for sub in ("cni", "kubelet", "pod-logs", "ipam", "netns", "containerd-state"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        self.containerd_root.mkdir(parents=True, exist_ok=True)
        certs = make_node_pki(self.dir / "pki", pki, NODE_NAME, (NODE_IP, "127.0.0.1"))
        self._cgroups()
        self._network()
        started = time.monotonic()
        pause = pause_ref()
        self._write_containerd_config(binaries, pause)
        self._containerd(binaries)
        self.say(f"[node] containerd up in {time.monotonic() - started:.1f}s")
        ensure_pause_image(self.ctr, cache_root() / "images", self.say)
        load_images(self.ctr, self.containerd_root, images or [], self.say)
        self._cni()
        kubeconfig = self.dir / "kubelet.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(_kubeconfig(server, pki, certs.kubelet_cert, certs.kubelet_key)))
        proxy_kubeconfig = self.dir / "kube-proxy.kubeconfig"
        proxy_kubeconfig.write_text(yaml.safe_dump(_kubeconfig(server, pki, certs.proxy_cert, certs.proxy_key)))
        self._coredns(binaries)
        self._kubelet(binaries, pki, certs.kubelet_serving_cert, certs.kubelet_serving_key, kubeconfig)
        self._kube_proxy(binaries, proxy_kubeconfig)

    def _claim(self) -> None:
        self.preflight()
        if REGISTRY.exists():
            try:
                owner = json.loads(REGISTRY.read_text())
            except ValueError:
                owner = {}
            other = Path(owner.get("stateDir", "/nonexistent"))
            if other != self.state_dir:
                # Left by a node that died without stop(): take back what it changed before starting.
                self.say(f"[node] cleaning up after the node of {other}, which is gone")
                RealNode(other, self.spawn, lambda _: None, self.terminate, self.kubectl, self.say).teardown()
        created_logs = not CONTAINER_LOGS.exists()
        REGISTRY.write_text(json.dumps({"stateDir": str(self.state_dir), "createdLogs": created_logs}))

    def _cgroups(self) -> None:
        for root in _cgroup_roots():
            group = root / CGROUP_PARENT
            group.mkdir(exist_ok=True)
            # A cpuset child starts with no CPUs and no memory nodes; it gets its parent's.
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (root / name).exists() and not (group / name).read_text().strip():
                    (group / name).write_text((root / name).read_text())

    def _network(self) -> None:
        if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
            _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "replace", f"{NODE_IP}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        # Forwarding only for packets entering on the bridge (pod -> Service -> pod), not host-wide.
        Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/forwarding").write_text("1")
        _run("iptables", "-w", "-N", FORWARD_CHAIN, check=False)
        _run("iptables", "-w", "-F", FORWARD_CHAIN)
        for rule in (
            ["-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"],
            ["-i", BRIDGE, "-j", "DROP"],
            ["-o", BRIDGE, "-j", "DROP"],
        ):
            _run("iptables", "-w", "-A", FORWARD_CHAIN, *rule)
        if _run("iptables", "-w", "-C", "FORWARD", "-j", FORWARD_CHAIN, check=False).returncode != 0:
            _run("iptables", "-w", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN)

    def _write_containerd_config(self, binaries: dict[str, Path], sandbox_image: str) -> Path:
        config = self.dir / "containerd.toml"
        config.write_text(
            f"""version = 3
root = "{self.containerd_root}"
state = "{self.containerd_state}"

[grpc]
  address = "{self.socket}"

[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "{RUN_DIR / "s"}"

[plugins."io.containerd.cri.v1.runtime"]
  # root here lacks CAP_SYS_RESOURCE: the sandbox's oom_score_adj -998 would make runc fail.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  BinaryName = "{binaries["runc"]}"
  Root = "{self.runc_root}"
  SystemdCgroup = false

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["{CNI_BIN_DIR}"]
  conf_dir = "{self.dir / "cni"}"
  max_conf_num = 1

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{sandbox_image}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""
        )
        return config

    def _containerd(self, binaries: dict[str, Path]) -> None:
        config = self.dir / "containerd.toml"
        # containerd finds its shim on PATH.
        path = f"{Path(binaries['containerd-shim-runc-v2']).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        self.spawn(
            "containerd", [str(binaries["containerd"]), f"--config={config}", "--log-level=warn"], {"PATH": path}
        )
        self._wait("containerd", lambda: self.ctr("version", check=False).returncode == 0, 30)

    def _cni(self) -> None:
        conflist = {
            "cniVersion": "1.0.0",
            "name": CNI_NETWORK,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    # The bridge and its address are made by the harness: the plugin's isGateway would also switch
                    # on host-wide ip_forward, and ipMasq would NAT pod traffic towards the outside.
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.dir / "ipam"),
                        "ranges": [
                            [
                                {
                                    "subnet": POD_CIDR,
                                    "rangeStart": "10.88.0.10",
                                    "rangeEnd": "10.88.0.250",
                                    "gateway": NODE_IP,
                                }
                            ]
                        ],
                        # No default route: a pod reaches its subnet and the Services (the cluster's service range,
                        # SERVICE_CIDR in cluster.py), nothing else.
                        "routes": [{"dst": "10.0.0.0/16"}],
                    },
                },
                {"type": "loopback"},
            ],
        }
        (self.dir / "cni" / "10-modelviz.conflist").write_text(json.dumps(conflist, indent=2))

    def _coredns(self, binaries: dict[str, Path]) -> None:
        ready = free_port()
        corefile = self.dir / "Corefile"
        admin = self.state_dir / "admin.kubeconfig"
        corefile.write_text(
            f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {NODE_IP}
    errors
    ready 127.0.0.1:{ready}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {admin} modelviz
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
.:53 {{
    bind {NODE_IP}
    # Pods never resolve names outside the cluster: nothing is forwarded off the machine.
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""
        )
        self.spawn("coredns", [str(binaries["coredns"]), "-conf", str(corefile)])
        self._wait("CoreDNS", lambda: _http_ok(f"http://127.0.0.1:{ready}/ready"), 60)

    def _kubelet(self, binaries: dict[str, Path], pki: Pki, cert: Path, key: Path, kubeconfig: Path) -> None:
        port, healthz = free_port(), free_port()
        resolv = self.dir / "resolv.conf"
        resolv.write_text(f"nameserver {NODE_IP}\n")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": NODE_IP,
            "port": port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz,
            "authentication": {
                "x509": {"clientCAFile": str(pki.ca_cert)},
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
            },
            # Only the API server holds a client certificate of the cluster's CA that reaches this port.
            "authorization": {"mode": "AlwaysAllow"},
            "tlsCertFile": str(cert),
            "tlsPrivateKeyFile": str(key),
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            # cgroup v1 hosts without systemd as PID 1.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_PARENT}",
            "failSwapOn": False,
            "enforceNodeAllocatable": [],
            "makeIPTablesUtilChains": False,
            "clusterDNS": [NODE_IP],
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": str(resolv),
            "podLogsDir": str(self.dir / "pod-logs"),
            # The images are preloaded and cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "serializeImagePulls": False,
            "registerNode": True,
            "nodeStatusReportFrequency": "10s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "0s",
            "volumeStatsAggPeriod": "0s",
        }
        config_file = self.dir / "kubelet.yaml"
        config_file.write_text(yaml.safe_dump(config))
        self.spawn(
            "kubelet",
            [
                str(binaries["kubelet"]),
                f"--config={config_file}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.dir / 'kubelet'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--node-labels=modelviz.io/node=real",
                "--v=1",
            ],
        )

        def ready() -> bool:
            out = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
            if out.returncode != 0:
                return False
            conditions = json.loads(out.stdout).get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        self._wait("the kubelet's node to be Ready", ready, 120)

    def _kube_proxy(self, binaries: dict[str, Path], kubeconfig: Path) -> None:
        healthz, metrics = free_port(), free_port()
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": NODE_NAME,
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "healthzBindAddress": f"127.0.0.1:{healthz}",
            "metricsBindAddress": f"127.0.0.1:{metrics}",
            "nodePortAddresses": [f"{NODE_IP}/32"],
            # 0 leaves the host's conntrack sysctls as they are.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        }
        config_file = self.dir / "kube-proxy.yaml"
        config_file.write_text(yaml.safe_dump(config))
        self.spawn("kube-proxy", [str(binaries["kube-proxy"]), f"--config={config_file}", "--v=1"])
        self._wait("kube-proxy", lambda: _http_ok(f"http://127.0.0.1:{healthz}/healthz"), 60)

    def _wait(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.3)
        raise NodeError(f"timed out after {timeout:.0f}s waiting for {what}")

    # -- stop ------------------------------------------------------------------------------------------------------

    def drain(self, timeout: float = 60.0) -> None:
        """Delete every pod bound to the node and wait until the kubelet has stopped them (network torn down)."""
        self.kubectl(
            "delete", "pods", "--all-namespaces", f"--field-selector=spec.nodeName={NODE_NAME}",
            "--grace-period=1", "--wait=false", check=False,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.ctr("tasks", "ls", "-q", check=False).stdout.split() and not _veths():
                return
            time.sleep(0.5)

    def other_owner(self) -> Path | None:
        """The state directory of another real node that runs on this host now, if any."""
        try:
            owner = Path(json.loads(REGISTRY.read_text()).get("stateDir", ""))
        except (OSError, ValueError):
            return None
        return owner if owner != self.state_dir and _node_alive(owner) else None

    def preflight(self) -> None:
        """Refuse before anything starts when the host cannot run the node or another node holds it."""
        problems = host_problems()
        if problems:
            raise NodeError("a real node cannot run here: " + "; ".join(problems))
        other = self.other_owner()
        if other is not None:
            raise NodeError(
                f"a real node already runs from {other} (one per host: the bridge {BRIDGE}, the subnet {POD_CIDR} "
                f"and the iptables chains are host-wide); stop it with: modelviz cluster --state-dir {other} down"
            )

    def teardown(self) -> list[str]:
        """Stop the node's processes and take back every host change; returns what was stopped.

        The host-wide changes (bridge, chains, cgroups) are left alone while another state directory's node runs.
        """
        if self.other_owner() is not None:
            stopped = []
            for name in NODE_PROCESSES:
                if self.pid_of(name):
                    self.terminate(name)
                    stopped.append(name)
            return stopped
        binaries: dict[str, str] = {}
        info = self.state_dir / "cluster.json"
        if info.exists():
            binaries = json.loads(info.read_text()).get("binaries", {})
        self._binaries = binaries
        stopped = []
        if self.pid_of("kubelet") and self.pid_of("containerd"):
            self.drain()
        for name in ("kube-proxy", "coredns", "kubelet"):
            if self.pid_of(name):
                self.terminate(name)
                stopped.append(name)
        if "kube-proxy" in binaries:
            _run(binaries["kube-proxy"], "--cleanup", check=False)
        if self.pid_of("containerd"):
            # Containers left over (a kubelet that did not finish) are removed with their tasks and snapshots.
            for task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
                self.ctr("tasks", "kill", "--signal", "SIGKILL", task, check=False)
            time.sleep(0.5)
            for task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
                self.ctr("tasks", "delete", "--force", task, check=False)
            containers = self.ctr("containers", "ls", "-q", check=False).stdout.split()
            if containers:
                self.ctr("containers", "delete", *containers, check=False)
            self.terminate("containerd")
            stopped.append("containerd")
        self._kill_leftovers(binaries)
        self._unmount()
        for veth in _veths():
            _run("ip", "link", "delete", veth, check=False)
        _run("ip", "link", "delete", BRIDGE, check=False)
        _remove_own_rules()
        self._remove_cgroups()
        if CONTAINER_LOGS.is_dir():
            for link in CONTAINER_LOGS.iterdir():
                if link.is_symlink() and os.readlink(link).startswith(str(self.dir)):
                    link.unlink()
        owner: dict[str, Any] = {}
        if REGISTRY.exists():
            try:
                owner = json.loads(REGISTRY.read_text())
            except ValueError:
                owner = {}
        if owner.get("createdLogs") and CONTAINER_LOGS.is_dir() and not any(CONTAINER_LOGS.iterdir()):
            CONTAINER_LOGS.rmdir()
        if CNI_CACHE.is_dir():
            for result in CNI_CACHE.glob(f"{CNI_NETWORK}-*"):
                result.unlink()
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        if not owner or owner.get("stateDir") == str(self.state_dir):
            REGISTRY.unlink(missing_ok=True)
        return stopped

    def _kill_leftovers(self, binaries: dict[str, str]) -> None:
        runc = binaries.get("runc")
        root = self.runc_root / "k8s.io"
        if runc and root.is_dir():
            for container in _run(runc, f"--root={root}", "list", "-q", check=False).stdout.split():
                _run(runc, f"--root={root}", "delete", "--force", container, check=False)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "containerd-shim-runc-v2" in cmdline and str(self.socket) in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), 9)

    def _unmount(self) -> None:
        prefixes = tuple(str(p) for p in self.paths())
        for _ in range(3):
            points = [
                line.split()[4]
                for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith(prefixes)
            ]
            if not points:
                return
            for point in sorted(points, key=len, reverse=True):
                _run("umount", "-l", point, check=False)

    def _remove_cgroups(self) -> None:
        for root in _cgroup_roots():
            group = root / CGROUP_PARENT
            if not group.exists():
                continue
            for path in sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                _rmdir_cgroup(path)
            _rmdir_cgroup(group)


def _rmdir_cgroup(path: Path) -> None:
    for _ in range(20):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            # Processes still leaving: move any stragglers' pids up and retry.
            time.sleep(0.1)


def _veths() -> list[str]:
    out = _run("ip", "-o", "link", "show", "master", BRIDGE, check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def _remove_own_rules() -> None:
    for tool in _iptables_tools():
        for table in _tables(tool):
            lines = _run(tool, "-w", "-t", table, "-S", check=False).stdout.splitlines()
            own_chains = [
                line.split()[1]
                for line in lines
                if line.startswith("-N ") and line.split()[1].startswith(_OWN_CHAIN_PREFIXES)
            ]
            for line in lines:
                words = line.split()
                if (
                    words[:1] == ["-A"]
                    and not words[1].startswith(_OWN_CHAIN_PREFIXES)
                    and any(w in own_chains for w in words)
                ):
                    _run(tool, "-w", "-t", table, "-D", *words[1:], check=False)
            for chain in own_chains:
                _run(tool, "-w", "-t", table, "-F", chain, check=False)
            for chain in own_chains:
                _run(tool, "-w", "-t", table, "-X", chain, check=False)


def _node_alive(state_dir: Path) -> bool:
    """Whether the node of ``state_dir`` still runs (its containerd or kubelet pid runs that program)."""
    for name in ("containerd", "kubelet"):
        try:
            pid = (state_dir / "pids" / f"{name}.pid").read_text().split()[0]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if name.encode() in cmdline:
            return True
    return False


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def _kubeconfig(server: str, pki: Pki, cert: Path, key: Path) -> dict[str, Any]:
    from .cluster import kubeconfig_for

    return kubeconfig_for(server, pki, cert, key, "node")
