"""modelviz."""

import os

# TensorFlow reads this when it is first imported: its C++ INFO/WARNING/ERROR lines about CUDA and oneDNN on a
# CPU-only machine drown the app's own output. A TF_CPP_MIN_LOG_LEVEL set by whoever runs us wins (0 shows all).
TF_LOGS_ASKED = "TF_CPP_MIN_LOG_LEVEL" in os.environ
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
