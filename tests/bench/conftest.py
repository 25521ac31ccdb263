"""Helpers for driving ``python -m modelviz_bench`` as a real process with the real ``ab``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

requires_ab = pytest.mark.skipif(
    shutil.which("ab") is None, reason="needs ab from Debian apache2-utils (apt-get install apache2-utils)"
)


def bench_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    # Importable from the source tree even without the editable install.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bench"), env.get("PYTHONPATH", "")]))
    env.update(overrides)
    return env


def run_bench(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, dict[str, Any], str]:
    """Run the runner to completion; return (exit code, the JSON result from stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelviz_bench", *args],
        capture_output=True,
        text=True,
        env=env or bench_env(),
        timeout=timeout,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    return proc.returncode, json.loads(lines[0]), proc.stderr


class RunningBench:
    """The runner started in the background, for tests that signal it (or ab) mid-run."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelviz_bench", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=bench_env(),
        )
        self.stderr_lines: list[str] = []

    def wait_for_log(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.stderr_lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no log line matching {pattern!r}; got {self.stderr_lines}")

    def finish(self, timeout: float = 30) -> tuple[int, dict[str, Any]]:
        stdout, stderr = self.proc.communicate(timeout=timeout)
        self.stderr_lines.append(stderr)
        return self.proc.returncode, json.loads(stdout)


@pytest.fixture
def running_bench() -> Iterator[list[RunningBench]]:
    started: list[RunningBench] = []
    yield started
    for bench in started:
        if bench.proc.poll() is None:
            bench.proc.kill()
            bench.proc.communicate()
