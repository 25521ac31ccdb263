"""Helpers for the tests that serve the app and drive Debian's headless Chromium (no browser download)."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelviz_cluster.ports import free_port

__all__ = ["CHART", "CHROMIUM", "FLAGS", "free_port", "launch_browser", "settle", "stop", "wait_healthy"]

CHROMIUM = Path("/usr/bin/chromium")
# A drawn chart: plotly's, or Vega-Lite's canvas/svg (the Overview uses Vega-Lite, lighter to load).
CHART = '.js-plotly-plot, [data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]  # fmt: skip


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not become healthy in {timeout} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a served app, then kill it if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def settle(page, timeout: float = 240) -> None:
    """Wait until Streamlit's "running" indicator has been gone for a second."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            return
        time.sleep(0.25)
    pytest.fail("the page kept running")


def launch_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A persistent Chromium context with a fresh profile (the tests' ``browser`` fixture)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
