"""Scraping the operator's Prometheus endpoint and reading samples from it."""

from __future__ import annotations

import re
import urllib.request


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        return str(response.read().decode())


def sample(text: str, metric: str, **labels: str) -> float | None:
    """The value of the first sample of ``metric`` carrying all of ``labels``."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(metric)}\{{(.*)\}} (\S+)", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.items() <= found.items():
            return float(match.group(2))
    return None
