"""Run a Kubernetes container spec with podman (or docker) as a kubelet would, and look at it from the host.

``pod_args`` turns a pod's and a container's securityContext, env, command/args and volumeMounts into ``run`` flags:
read-only root without the engine's extra tmpfs mounts (Kubernetes adds none), the pod's uid/gid with the fsGroup as
a supplementary group, all capabilities dropped, no_new_privs, the engine's default seccomp profile
(RuntimeDefault), and each volume from a host directory. Containers get no network (only loopback) unless a test
asks for the host's; a browser or probe reaches them from inside their network namespace (``nsenter``).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Container", "Runner", "pod_args"]


def pod_args(
    pod_security: Mapping[str, Any],
    container: Mapping[str, Any],
    volumes: Mapping[str, Path],
    env: Mapping[str, str] | None = None,
) -> list[str]:
    security = {**pod_security, **(container.get("securityContext") or {})}
    args: list[str] = []
    if security.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]
    if "runAsUser" in security:
        args += ["--user", f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}"]
    if "fsGroup" in pod_security:
        args += ["--group-add", str(pod_security["fsGroup"])]
    drop = (security.get("capabilities") or {}).get("drop") or []
    if "ALL" in drop:
        args += ["--cap-drop", "ALL"]
    if security.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    for mount in container.get("volumeMounts") or []:
        source = volumes[mount["name"]]
        mode = "ro" if mount.get("readOnly") else "rw"
        args += ["-v", f"{source}:{mount['mountPath']}:{mode}"]
    for entry in container.get("env") or []:
        args += ["-e", f"{entry['name']}={entry['value']}"]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    return args


@dataclass
class Container:
    runner: Runner
    name: str

    def inspect(self) -> dict[str, Any]:
        out = self.runner.run("inspect", self.name)
        return dict(json.loads(out.stdout)[0])

    @property
    def pid(self) -> int:
        return int(self.inspect()["State"]["Pid"])

    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    def logs(self) -> str:
        out = self.runner.run("logs", self.name, check=False)
        return out.stdout + out.stderr

    def in_netns(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.pid}/ns/net", *argv]

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.runner.run("exec", self.name, *argv, check=False)

    def get(self, port: int, path: str, timeout: float = 5) -> tuple[int, str]:
        """An HTTP GET to 127.0.0.1:port inside the container's network namespace, from the host's Python."""
        code = (
            "import sys, urllib.request, urllib.error\n"
            "try:\n"
            f"    r = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout={timeout})\n"
            "    print(r.status); print(r.read().decode(errors='replace'))\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(e.code)\n"
            "except OSError as e:\n"
            "    print(0); print(e)\n"
        )
        out = subprocess.run(
            self.in_netns("python3", "-c", code), capture_output=True, text=True, timeout=timeout + 10, check=False
        )
        status, _, body = out.stdout.partition("\n")
        return int(status or 0), body

    def wait_healthy(self, port: int = 8501, timeout: float = 240) -> float:
        """Seconds until /_stcore/health answers ``ok``; fails with the logs when the container exits first."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.running():
                raise AssertionError(f"{self.name} exited:\n{self.logs()[-4000:]}")
            status, body = self.get(port, "/_stcore/health", timeout=3)
            if status == 200 and body.strip() == "ok":
                return time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not healthy in {timeout}s:\n{self.logs()[-4000:]}")

    def stop(self, timeout: int = 30) -> tuple[int, float]:
        """SIGTERM (the engine's stop), SIGKILL after ``timeout``: the exit code and the seconds it took."""
        started = time.monotonic()
        self.runner.run("stop", "--time", str(timeout), self.name, check=False, timeout=timeout + 60)
        took = time.monotonic() - started
        return int(self.inspect()["State"]["ExitCode"]), took

    def remove(self) -> None:
        self.runner.run("rm", "--force", self.name, check=False)


@dataclass
class Runner:
    builder: Any  # modelviz_cluster.images.Engine that built the images
    engine: Any  # the Engine that runs containers (podman for buildah's images)

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        argv = self.engine.command(*args)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    def inspect_image(self, ref: str) -> dict[str, Any]:
        return dict(json.loads(self.run("image", "inspect", ref).stdout)[0])

    def once(
        self, image: str, *command: str, flags: Sequence[str] = (), network: str = "none", timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``run --rm``: the finished process (not checked)."""
        argv = ["run", "--rm", "--network", network, *self.engine.run_args(), *flags, image, *command]
        return self.run(*argv, check=False, timeout=timeout)

    @contextlib.contextmanager
    def detached(
        self, image: str, *command: str, flags: Sequence[str] = (), network: str = "none"
    ) -> Iterator[Container]:
        name = f"modelviz-test-{uuid.uuid4().hex[:10]}"
        argv = ["run", "-d", "--name", name, "--network", network, *self.engine.run_args(), *flags, image, *command]
        self.run(*argv)
        container = Container(self, name)
        try:
            yield container
        finally:
            container.remove()
