"""Import TensorFlow without the C++ log lines it prints before its log level applies.

TensorFlow 2.21 writes "oneDNN custom operations are on", "Could not find cuda drivers" and cuInit errors through absl
before ``absl::InitializeLog()``, so TF_CPP_MIN_LOG_LEVEL does not hide them. For the import (and the first device
lookup, which is where cuInit runs) file descriptor 2 goes to a temporary file; afterwards every line that is not an
absl log line (``I0000 ...``, ``W0000 ...``, ``E0000 ...``) is written back, so nothing else is lost.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading

import modelviz_app

__all__ = ["import_tensorflow"]

_ABSL_LINE = re.compile(rb"^([IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]|WARNING: All log messages before absl)")
_LOCK = threading.Lock()
_DONE = False


def import_tensorflow() -> None:
    """Import tensorflow (and keras) once, quietly unless TF_CPP_MIN_LOG_LEVEL was set by the user."""
    global _DONE
    with _LOCK:
        if _DONE or "tensorflow" in sys.modules:
            _DONE = True
            return
        if modelviz_app.TF_LOGS_ASKED:
            import keras
            import tensorflow as tf

            tf.config.list_physical_devices()
            _DONE = True
            return
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                import absl.logging
                import keras  # noqa: F401
                import tensorflow as tf

                absl.logging.set_verbosity(absl.logging.ERROR)
                tf.config.list_physical_devices()
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                kept = [line for line in captured.read().splitlines(keepends=True) if not _ABSL_LINE.match(line)]
                if kept:
                    os.write(2, b"".join(kept))
        _DONE = True
