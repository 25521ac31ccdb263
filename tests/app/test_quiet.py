"""TensorFlow's import-time C++ log lines stay out of the output unless TF_CPP_MIN_LOG_LEVEL asks for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from modelviz_app.models._quiet import import_tensorflow
print("before", file=sys.stderr)
import_tensorflow()
import keras, numpy
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
model.predict_on_batch(numpy.zeros((1, 4)))
print("after", file=sys.stderr)
"""


def _stderr(env: dict[str, str]) -> str:
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stderr


@pytest.mark.slow
def test_tensorflow_is_quiet_unless_asked() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "ABSL"))}
    env["PYTHONPATH"] = str(ROOT / "visualizer")
    quiet = _stderr(env)
    assert quiet.split() == ["before", "after"], quiet
    loud = _stderr({**env, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert "before" in loud and len(loud.splitlines()) > 2, loud
