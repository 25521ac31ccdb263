"""Debian's Chromium started inside a container's network namespace: the page is served to it over the container's
loopback, while the container itself has no other network at all (``--network none``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.browser import CHART, CHROMIUM, FLAGS, settle

from .containers import Container

__all__ = ["overview_text"]


@contextlib.contextmanager
def _browser(container: Container, profile: Path) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright talks to Chromium over pipes (--remote-debugging-pipe), so the browser may live in another netns.
    wrapper = profile.parent / f"chromium-in-{container.name}"
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/proc/{container.pid}/ns/net {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(wrapper),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


def overview_text(container: Container, profile: Path, port: int = 8501) -> tuple[str, float]:
    """The Overview page's text once its first chart is drawn, and the seconds that took."""
    with _browser(container, profile) as context:
        page = context.new_page()  # type: ignore[attr-defined]
        started = time.monotonic()
        page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Overview").first.wait_for(timeout=240_000)
        settle(page)
        page.locator(CHART).first.wait_for(timeout=120_000)
        took = time.monotonic() - started
        body = str(page.locator("body").inner_text())
        page.close()
        return body, took
