"""The local Job-pod executor: a development harness, not a node.

kwok fakes every pod's life except one kind whose work must really happen: pods carrying an opt-in label (the
benchmark Jobs' pods). For those, once the scheduler has bound them to a (fake) node, this process runs the pod's
container command as a local process with the pod's environment, then writes the pod's status through the API as a
kubelet would: phase, container state, exit code and the termination message.

Limits, on purpose: one container per pod (init containers are skipped), no image (the command runs from this
machine's PATH; ``python`` means this interpreter), no resource limits. Volumes: a ``configMap`` volume is written
into the pod's work directory, an ``emptyDir`` is a directory there, and a ``persistentVolumeClaim`` is one directory
per claim shared by every pod mounting it (read-only is not enforced); every path under such a volume's mountPath, in
the command line, the environment and the ConfigMap's own files, is rewritten to that directory (so the evaluation
Job's mounted configuration, and the cache directory it names, work as local files). Other volumes are not provided.
Environment from the downward API: the pod's name, namespace, labels and annotations.
In-cluster Service URLs in the command line or environment are rewritten to the local addresses listed in
``<state>/local-services.json`` (``{"<service>.<namespace>": "127.0.0.1:PORT"}``), which the demo and the tests write
for the visualizer they serve locally.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

__all__ = ["Executor", "main", "rewrite_paths", "rewrite_service_urls"]

log = logging.getLogger("modelviz.executor")
_MESSAGE_LIMIT = 4096  # the kubelet's cap on termination messages


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rewrite_service_urls(text: str, services: dict[str, str]) -> str:
    """Replace ``<svc>.<ns>.svc[.cluster.local][:port]`` with the local address registered for that Service."""

    def swap(match: re.Match[str]) -> str:
        key = f"{match.group(1)}.{match.group(2)}"
        return services.get(key, match.group(0))

    return re.sub(r"\b([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?(?::\d+)?", swap, text)


def rewrite_paths(text: str, mounts: dict[str, str], host_first: frozenset[str] = frozenset()) -> str:
    """Replace each mount path (as a whole path component) with its local directory, in one pass (a local directory
    under another mount path, say /tmp, is not rewritten again); the longest mount wins.

    Under a mount in ``host_first`` (scratch volumes such as an emptyDir at /tmp) a path below the mount that exists
    on this machine is kept: with no image, this machine's files stand for the image's (a model file in /tmp/...).
    """
    if not mounts:
        return text
    by_path = {m.rstrip("/") or "/": local for m, local in mounts.items()}
    hosted = {m.rstrip("/") or "/" for m in host_first}
    alternatives = "|".join(re.escape(m) for m in sorted(by_path, key=len, reverse=True))

    def local(match: re.Match[str]) -> str:
        mount, rest = match.group(1), match.group(2)
        if rest and mount in hosted and Path(mount + rest).exists():
            return match.group(0)
        return by_path[mount] + rest

    return re.sub(rf"(?<![\w.-])({alternatives})((?:/[^\s'\"]*)?)(?=$|[\s'\"])", local, text)


class Executor:
    def __init__(self, selector: str, work_dir: Path, services_file: Path | None) -> None:
        self.selector = selector
        self.work_dir = work_dir
        self.services_file = services_file
        self.core = client.CoreV1Api()
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        self.lock = threading.Lock()

    def services(self) -> dict[str, str]:
        if self.services_file and self.services_file.exists():
            try:
                data = json.loads(self.services_file.read_text())
                return {str(k): str(v) for k, v in data.items()}
            except (OSError, ValueError):
                log.warning("cannot read %s", self.services_file)
        return {}

    def run_forever(self) -> None:
        while True:
            try:
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces, label_selector=self.selector, timeout_seconds=300
                )
                for event in stream:
                    pod = self.core.api_client.sanitize_for_serialization(event["object"])
                    self.handle(event["type"], pod)
            except Exception:  # a dropped watch is re-established; the executor must outlive API hiccups
                log.exception("watch failed; retrying")
                time.sleep(1)

    def handle(self, kind: str, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        uid = meta["uid"]
        with self.lock:
            proc = self.started.get(uid)
        if kind == "DELETED" or meta.get("deletionTimestamp"):
            if proc is not None and proc.poll() is None:
                log.info("pod %s/%s deleted: stopping its process", meta["namespace"], meta["name"])
                _stop(proc, spec.get("terminationGracePeriodSeconds") or 30)
            return
        if proc is not None or not spec.get("nodeName") or status.get("phase", "Pending") != "Pending":
            return
        with self.lock:
            if uid in self.started:
                return
            proc = self._start(pod)
            if proc is not None:
                self.started[uid] = proc
        if proc is not None:
            threading.Thread(target=self._follow, args=(pod, proc), daemon=True).start()

    def _start(self, pod: dict[str, Any]) -> subprocess.Popen[bytes] | None:
        ns, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        containers = pod["spec"].get("containers") or []
        if len(containers) != 1 or not containers[0].get("command"):
            self._finish(pod, 127, "", "the local executor runs exactly one container with an explicit command")
            return None
        container = containers[0]
        workdir = self.work_dir / f"{ns}_{name}_{uid[:8]}"
        workdir.mkdir(parents=True, exist_ok=True)
        message_path = container.get("terminationMessagePath") or "/dev/termination-log"
        local_message = workdir / "termination-log"
        local_message.write_text("")
        services = self.services()
        try:
            mounts, host_first = self._volumes(pod, container, workdir)
        except ApiException as exc:
            self._finish(pod, 127, "", f"cannot provide the pod's volumes: {exc.reason}")
            return None
        argv = [*container["command"], *(container.get("args") or [])]
        argv = [
            str(local_message)
            if a == message_path
            else rewrite_paths(rewrite_service_urls(a, services), mounts, host_first)
            for a in argv
        ]
        if argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        # PYTHONPATH stands for the code the image holds: a checkout run with its own PYTHONPATH (a git worktree beside
        # the venv's editable install) runs its own runner in the Job, not the installed one.
        kept = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONPATH")
        env = {k: v for k, v in os.environ.items() if k in kept}
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = rewrite_paths(rewrite_service_urls(str(var["value"]), services), mounts, host_first)
            elif "fieldRef" in (var.get("valueFrom") or {}):
                env[var["name"]] = _field(pod, str(var["valueFrom"]["fieldRef"].get("fieldPath")))
        log_file = (workdir / "output.log").open("wb")
        try:
            proc = subprocess.Popen(
                argv, env=env, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            log_file.close()
            self._finish(pod, 127, "", f"cannot start {argv[0]}: {exc}")
            return None
        log_file.close()
        log.info("pod %s/%s: started pid %d: %s", ns, name, proc.pid, " ".join(argv))
        started = _now()
        self._patch(
            pod,
            {
                "phase": "Running",
                "startTime": started,
                "hostIP": "127.0.0.1",
                "podIP": "127.0.0.1",
                "conditions": _conditions(ready=True),
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container.get("image") or "local",
                        "imageID": "",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": started}},
                    }
                ],
            },
        )
        proc.modelviz_started = started  # type: ignore[attr-defined]
        proc.modelviz_workdir = workdir  # type: ignore[attr-defined]
        return proc

    def _volumes(
        self, pod: dict[str, Any], container: dict[str, Any], workdir: Path
    ) -> tuple[dict[str, str], frozenset[str]]:
        """Local directories standing for the container's mounts ({mountPath: directory}), and the mounts under which
        this machine's existing files are kept (all but configMaps)."""
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        mounts: dict[str, str] = {}
        configured: set[str] = set()
        files: list[Path] = []
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name"), {})
            local = workdir / "volumes" / str(mount["name"])
            if "emptyDir" in volume:
                local.mkdir(parents=True, exist_ok=True)
            elif "configMap" in volume:
                local.mkdir(parents=True, exist_ok=True)
                found = self.core.read_namespaced_config_map(volume["configMap"]["name"], pod["metadata"]["namespace"])
                for key, value in (found.data or {}).items():
                    (local / key).write_text(value)
                    files.append(local / key)
                configured.add(str(mount["mountPath"]))
            elif "persistentVolumeClaim" in volume:
                # One directory per claim, shared by every pod that mounts it (a ReadWriteMany volume, in effect).
                claim = volume["persistentVolumeClaim"]["claimName"]
                local = self.work_dir / "claims" / pod["metadata"]["namespace"] / str(claim)
                local.mkdir(parents=True, exist_ok=True)
            else:
                continue  # secrets, projected volumes and the like: not available to a local process
            mounts[str(mount["mountPath"])] = str(local)
        host_first = frozenset(m for m in mounts if m not in configured)
        # A configuration file names other mounts (the cache directory): those paths are local ones too.
        for path in files:
            path.write_text(rewrite_paths(path.read_text(), mounts, host_first))
        return mounts, host_first

    def _follow(self, pod: dict[str, Any], proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        workdir: Path = proc.modelviz_workdir  # type: ignore[attr-defined]
        message = (workdir / "termination-log").read_text(errors="replace")[:_MESSAGE_LIMIT]
        container = pod["spec"]["containers"][0]
        policy = container.get("terminationMessagePolicy")
        if not message.strip() and code != 0 and policy == "FallbackToLogsOnError":
            message = (workdir / "output.log").read_text(errors="replace")[-2048:]
        self._finish(pod, code, proc.modelviz_started, message)  # type: ignore[attr-defined]

    def _finish(self, pod: dict[str, Any], code: int, started: str, message: str) -> None:
        containers = pod["spec"].get("containers") or [{}]
        container = containers[0]
        # A process ended by a signal reports -N; a kubelet reports 128+N.
        exit_code = 128 - code if code < 0 else code
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": started or _now(),
            "finishedAt": _now(),
        }
        if message:
            terminated["message"] = message
        self._patch(
            pod,
            {
                "phase": "Succeeded" if exit_code == 0 else "Failed",
                "conditions": _conditions(ready=False),
                "containerStatuses": [
                    {
                        "name": container.get("name", "main"),
                        "image": container.get("image") or "local",
                        "imageID": "",
                        "ready": False,
                        "started": False,
                        "restartCount": 0,
                        "state": {"terminated": terminated},
                    }
                ],
            },
        )
        log.info("pod %s/%s: exit %d", pod["metadata"]["namespace"], pod["metadata"]["name"], exit_code)

    def _patch(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            self.core.patch_namespaced_pod_status(meta["name"], meta["namespace"], {"status": status})
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile
                log.warning("cannot write status of %s: %s", meta["name"], exc.reason)


def _field(pod: dict[str, Any], path: str) -> str:
    """A downward-API field: name, namespace, a label or an annotation (an Indexed Job's completion index is one);
    anything else reads as the local address."""
    meta = pod["metadata"]
    found = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if found:
        return str((meta.get(found.group(1)) or {}).get(found.group(2), ""))
    return {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"]}.get(path, "127.0.0.1")


def _conditions(ready: bool) -> list[dict[str, Any]]:
    now = _now()
    flag = "True" if ready else "False"
    return [
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "Ready", "status": flag, "lastTransitionTime": now},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
    ]


def _stop(proc: subprocess.Popen[bytes], grace: int) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=min(grace, 30))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelviz_cluster.executor", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--selector", required=True, help="label selector of the pods to run locally")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--services", type=Path, default=None, help="local-services.json (default: beside work-dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config.load_kube_config(config_file=args.kubeconfig)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    services = args.services or args.work_dir.parent / "local-services.json"
    executor = Executor(args.selector, args.work_dir, services)

    def stop_all(*_: object) -> None:
        with executor.lock:
            for proc in executor.started.values():
                if proc.poll() is None:
                    _stop(proc, 5)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop_all)
    executor.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
