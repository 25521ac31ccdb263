"""The operator as a subprocess of the tests (``python -m modelviz_operator``), started against a local cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.kube_helpers import tail, wait_for

__all__ = ["OperatorProcess", "start_operator", "stop_operator"]


class OperatorProcess:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path, metrics_port: int) -> None:
        self.proc = proc
        self.log = log
        self.metrics_port = metrics_port

    def logs(self, lines: int = 80) -> str:
        return tail(self.log, lines)


def start_operator(
    cluster: object, log: Path, extra_env: dict[str, str] | None = None, extra_args: list[str] | None = None
) -> OperatorProcess:
    from modelviz_cluster.ports import free_port

    port, health = free_port(), free_port()
    env = dict(
        os.environ,
        KUBECONFIG=str(cluster.kubeconfig),  # type: ignore[attr-defined]
        MODELVIZ_METRICS_PORT=str(port),
        MODELVIZ_METRICS_ADDRESS="127.0.0.1",
        MODELVIZ_RESYNC_SECONDS="20",
    )
    env.update(extra_env or {})  # may replace any of the above, KUBECONFIG included
    handle = log.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelviz_operator",
            f"--liveness=http://127.0.0.1:{health}/healthz",
            *(extra_args or []),
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    handle.close()
    operator = OperatorProcess(proc, log, port)

    def healthy() -> bool:
        if proc.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_for(
        healthy,
        timeout=60,
        what="the operator to start",
        explain=operator.logs,
    )
    if proc.poll() is not None:
        raise AssertionError(f"the operator exited with {proc.returncode}:\n{operator.logs()}")
    return operator


def stop_operator(operator: OperatorProcess) -> None:
    if operator.proc.poll() is None:
        os.killpg(operator.proc.pid, signal.SIGTERM)
        try:
            operator.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(operator.proc.pid, signal.SIGKILL)
            operator.proc.wait()
