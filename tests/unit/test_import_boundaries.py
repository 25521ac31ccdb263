"""What importing the operator does (nothing) and what its packages may import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.kube_helpers import REPO

OPERATOR = REPO / "operator" / "modelviz_operator"
BENCH = REPO / "bench" / "modelviz_bench"
# Harness, app, CLI and tests: none of them ships in the operator's image, and the operator must not depend on them.
NOT_FOR_THE_OPERATOR = ("modelviz_cluster", "modelviz_app", "modelviz_cli", "tests")

_IMPORT_EVERYTHING = r"""
import os, sys

class Watched(dict):
    # The environment, recording what reads a MODELVIZ_* variable (kubernetes' own import reads KUBECONFIG).
    read = []
    def __getitem__(self, key):
        if key.startswith("MODELVIZ_"):
            Watched.read.append(key)
        return dict.__getitem__(self, key)
    def get(self, key, default=None):
        if key.startswith("MODELVIZ_"):
            Watched.read.append(key)
        return dict.get(self, key, default)

os.environ = Watched(os.environ)
import pkgutil, importlib
import kopf

def registered():
    registry = kopf.get_default_registry()
    kinds = ("_activities", "_indexing", "_watching", "_spawning", "_changing", "_webhooks")
    return {name: [h.id for h in getattr(registry, name)._handlers] for name in kinds}

kopfs_own = registered()  # kopf's fallback login activities
import modelviz_operator, modelviz_operator.builders
for info in pkgutil.walk_packages(modelviz_operator.__path__, "modelviz_operator."):
    if info.name != "modelviz_operator.__main__":
        importlib.import_module(info.name)
assert registered() == kopfs_own, registered()
assert not Watched.read, Watched.read
"""


def test_importing_the_operator_registers_nothing_and_reads_no_environment() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PYTHONPATH": ":".join(str(REPO / p) for p in ("operator", "cluster", "bench", ".")),
            "MODELVIZ_RESYNC_SECONDS": "1",
            "PATH": "/usr/bin:/bin",
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute module names imported by a file, with their line numbers."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def test_the_operator_imports_neither_harness_nor_app() -> None:
    bad = [
        f"{path.relative_to(REPO)}:{line}: {name}"
        for path in sorted(OPERATOR.rglob("*.py"))
        for name, line in _imports(path)
        if name.split(".")[0] in NOT_FOR_THE_OPERATOR
    ]
    assert not bad, bad


def test_the_benchmark_runner_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__", "modelviz_bench"}
    bad = [
        f"{path.relative_to(REPO)}:{line}: {name}"
        for path in sorted(BENCH.rglob("*.py"))
        for name, line in _imports(path)
        if name.split(".")[0] not in allowed
    ]
    assert not bad, bad


def test_the_harness_takes_its_labels_from_the_operator() -> None:
    from modelviz_cluster.cluster import LOCAL_EXECUTOR_LABEL
    from modelviz_operator.api import ModelVisualizerSpec
    from modelviz_operator.builders import Owner
    from modelviz_operator.builders.job import build_benchmark_job

    spec = ModelVisualizerSpec.model_validate(
        {"models": [{"name": "a", "catalog": "mobilenet_v2"}], "dataset": {"catalog": "x"}, "benchmark": {"runId": "r"}}
    )
    assert spec.benchmark is not None
    job = build_benchmark_job(Owner("v", "n", "u"), spec, spec.benchmark, "r")
    key, value = LOCAL_EXECUTOR_LABEL
    assert job["spec"]["template"]["metadata"]["labels"][key] == value
