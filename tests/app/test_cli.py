"""``modelviz app serve|prepare``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelviz_app.cli import ENTRY, main, serve_command

ROOT = Path(__file__).resolve().parents[2]


def test_serve_command_matches_the_deployment_contract():
    argv = serve_command(8601, "127.0.0.1", "/etc/modelviz/config.yaml")
    assert argv[1:3] == ["run", str(ENTRY)] and ENTRY.exists()
    flags = dict(zip(argv[3:-3:2], argv[4:-3:2], strict=True))
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.port"] == "8601"
    assert flags["--server.headless"] == "true"
    # What a served visualizer's users see: no developer menu, no tracebacks.
    assert flags["--client.toolbarMode"] == "viewer"
    assert flags["--client.showErrorDetails"] == "type"
    assert argv[-3:] == ["--", "--config", "/etc/modelviz/config.yaml"]
    assert "--" not in serve_command(8501, "127.0.0.1", None)


def test_serve_refuses_a_missing_config(tmp_path, capsys):
    assert main(["serve", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_subcommand_exits_with_usage():
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_prepare_is_idempotent_and_fast_when_cached():
    """The second run only loads what the first converted, trained and cached (CI's set-up already ran it once)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "visualizer"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "modelviz_app.cli", "prepare"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    start = time.monotonic()
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    elapsed = time.monotonic() - start
    assert second.returncode == 0, second.stderr[-2000:]
    assert "training" not in second.stdout
    for variant in ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"):
        assert f"{variant} ready (tflite)" in second.stdout
    assert elapsed < 90, second.stdout


def test_serve_refuses_bad_batching_settings(capsys, monkeypatch):
    # Set through monkeypatch first, so that what serve writes into the environment is undone afterwards.
    monkeypatch.setenv("MODELVIZ_BATCH_MAX_SIZE", "32")
    monkeypatch.setenv("MODELVIZ_BATCH_MAX_WAIT_MS", "5")
    assert main(["serve", "--batch-max-size", "0"]) == 2
    assert "MODELVIZ_BATCH_MAX_SIZE must be between 1 and 1024" in capsys.readouterr().err
    monkeypatch.setenv("MODELVIZ_BATCH_MAX_SIZE", "32")
    assert main(["serve", "--batch-max-wait-ms", "-1"]) == 2
    assert "MODELVIZ_BATCH_MAX_WAIT_MS" in capsys.readouterr().err
