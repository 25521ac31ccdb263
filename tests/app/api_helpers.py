"""The visualizer served for the API tests, and calls to it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .browser import free_port, wait_healthy


@dataclass(frozen=True)
class Served:
    url: str
    log: Path


def models_with_a_broken_one(tiny: Any) -> list[dict[str, str]]:
    """The tiny models of ``tiny`` (a TinyEnv) plus "broken", whose file does not exist: the contract tests' set."""
    models = [{"name": n, "path": str(p), "labels": str(tiny.labels)} for n, p in tiny.models.items()]
    models.append({"name": "broken", "path": str(tiny.root / "missing.keras"), "labels": str(tiny.labels)})
    return models


def serve(tmp: Path, config: Path | None, env: dict[str, str] | None = None, health_path: str = ""):
    port = free_port()
    log = tmp / f"server-{port}.log"
    command = [sys.executable, "-m", "modelviz_cli", "app", "serve", "--address", "127.0.0.1", "--port", str(port)]
    command += ["--config", str(config)] if config else []
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    full_env.pop("MODELVIZ_CONFIG", None) if config is None else None
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + health_path, proc, log)
    return proc, Served(url, log)


def call(url: str, body: bytes | None = None, content_type: str | None = None, method: str | None = None,
         headers: dict[str, str] | None = None):  # fmt: skip
    """(status, headers, parsed JSON or raw bytes)."""
    request = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"),
                                     headers=headers or {})  # fmt: skip
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, answered, data = response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        status, answered, data = err.code, err.headers, err.read()
    if answered.get("Content-Type", "").startswith("application/json"):
        return status, answered, json.loads(data)
    return status, answered, data


def png(color: tuple[int, int, int], size: tuple[int, int] = (24, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def _metric(text: str, name: str, labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} " if labels else f"{name} "):
            return float(line.split()[-1])
    return 0.0
