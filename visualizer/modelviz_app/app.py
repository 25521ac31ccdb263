"""Streamlit entry point: ``streamlit run app.py -- --config PATH`` (or ``MODELVIZ_CONFIG``)."""

from __future__ import annotations

import sys
from pathlib import Path

# Runs as a script: make the package importable when it is not installed (e.g. straight from a checkout).
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import logging  # noqa: E402

import streamlit as st  # noqa: E402

from modelviz_app._ui import describe_error  # noqa: E402

__all__ = ["PAGES"]

PAGES: list[tuple[str, str, str]] = [
    ("pages/overview.py", "Overview", ":material/dashboard:"),
    ("pages/per_class.py", "Per class", ":material/table_chart:"),
    ("pages/confusion.py", "Confusion", ":material/grid_on:"),
    ("pages/misclassified.py", "Misclassified", ":material/image_search:"),
    ("pages/hardest.py", "Hardest examples", ":material/priority_high:"),
    ("pages/compare.py", "Compare models", ":material/compare_arrows:"),
    ("pages/calibration.py", "Calibration", ":material/tune:"),
    ("pages/curves.py", "ROC & PR", ":material/show_chart:"),
    ("pages/upload.py", "Try an image", ":material/upload:"),
    ("pages/export.py", "Export", ":material/download:"),
]

_here = Path(__file__).parent
# A file the server serves itself: a :material/...: icon would make every browser fetch it from fonts.gstatic.com.
st.set_page_config(page_title="modelviz", page_icon=str(_here / "assets" / "favicon.png"), layout="wide")
# Users see what failed, never a stack trace; the traceback goes to the server log for whoever runs the pod.
st.set_option("client.showErrorDetails", "none")
navigation = st.navigation([st.Page(_here / path, title=title, icon=icon) for path, title, icon in PAGES])
try:
    navigation.run()
except Exception as exc:  # st.stop()/reruns are BaseExceptions and pass through
    logging.getLogger("modelviz_app").exception("page %s failed", navigation.title)
    st.error(f"This page could not be drawn: {describe_error(exc)}", icon=":material/error:")
