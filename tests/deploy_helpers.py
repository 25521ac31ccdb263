"""Helpers for tests of the deploy/ manifests: kustomize rendering, picking objects, service-account kubeconfigs."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.kube_helpers import REPO, Kubectl

DEPLOY = REPO / "deploy"
BASE = DEPLOY / "base"
NAMESPACED = DEPLOY / "overlays" / "namespaced"

# The `render` fixture: (kustomization directory, namespace to move it to or None) -> documents.
Render = Callable[..., list[dict[str, Any]]]


def render_with(kubectl_binary: str, path: Path, namespace: str | None = None) -> list[dict[str, Any]]:
    """``kubectl kustomize path``; with ``namespace``, through a wrapping kustomization that moves everything there."""
    with tempfile.TemporaryDirectory() as tmp:
        target = path
        if namespace is not None:
            wrapper = Path(tmp)
            relative = os.path.relpath(path, wrapper)  # kustomize takes no absolute paths to other kustomizations
            (wrapper / "kustomization.yaml").write_text(
                yaml.safe_dump({"namespace": namespace, "resources": [relative]})
            )
            target = wrapper
        result = subprocess.run(
            [kubectl_binary, "kustomize", str(target)], capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs)


def service_account_kubeconfig(kubectl: Kubectl, namespace: str, name: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount with a real (TokenRequest) token, nothing else."""
    token = kubectl("create", "token", name, "-n", namespace, "--duration=1h").stdout.strip()
    assert token.count(".") == 2, f"not a JWT: {token[:40]}"
    admin = yaml.safe_load(Path(kubectl.kubeconfig).read_text())
    user = f"system:serviceaccount:{namespace}:{name}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": admin["clusters"][0]["name"], "user": user}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
