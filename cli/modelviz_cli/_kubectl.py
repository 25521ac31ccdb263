"""kubectl as the plugin's API client: a kubectl plugin runs where kubectl does, with the user's kubeconfig,
contexts and credential plugins already working, and the plugin needs no Kubernetes library of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Kubectl", "KubectlError"]


class KubectlError(RuntimeError):
    """kubectl failed; the message is its stderr."""


@dataclass(frozen=True)
class Kubectl:
    """kubectl with the global flags the plugin was given (--kubeconfig, --context, -n)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    binary: str = field(default_factory=lambda: os.environ.get("MODELVIZ_KUBECTL") or shutil.which("kubectl") or "")

    def base(self, namespaced: bool = True) -> list[str]:
        if not self.binary:
            raise KubectlError("kubectl is not on PATH (or set MODELVIZ_KUBECTL to its path)")
        args = [self.binary]
        if self.kubeconfig:
            args.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            args.append(f"--context={self.context}")
        if namespaced and self.namespace:
            args.append(f"--namespace={self.namespace}")
        return args

    def run(self, *args: str, input_text: str | None = None, timeout: float = 60) -> str:
        proc = subprocess.run(
            [*self.base(), *args], capture_output=True, text=True, input=input_text, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise KubectlError(proc.stderr.strip() or f"kubectl {' '.join(args)} exited with {proc.returncode}")
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json"))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.base(), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )

    def current_namespace(self) -> str:
        if self.namespace:
            return self.namespace
        proc = subprocess.run(
            [*self.base(namespaced=False), "config", "view", "--minify", "-o", "jsonpath={..namespace}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return proc.stdout.strip() or "default"
