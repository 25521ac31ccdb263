"""Streamlit entry point: ``streamlit run app.py -- --config PATH`` (or ``MODELVIZ_CONFIG``)."""

from __future__ import annotations

import sys
from pathlib import Path

# Runs as a script: make the package importable when it is not installed (e.g. straight from a checkout).
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

__all__ = ["PAGES"]

PAGES: list[tuple[str, str, str]] = [
    ("pages/overview.py", "Overview", ":material/dashboard:"),
    ("pages/per_class.py", "Per class", ":material/table_chart:"),
    ("pages/confusion.py", "Confusion", ":material/grid_on:"),
    ("pages/misclassified.py", "Misclassified", ":material/image_search:"),
    ("pages/compare.py", "Compare models", ":material/compare_arrows:"),
    ("pages/calibration.py", "Calibration", ":material/tune:"),
    ("pages/curves.py", "ROC & PR", ":material/show_chart:"),
    ("pages/upload.py", "Try an image", ":material/upload:"),
]

st.set_page_config(page_title="modelviz", page_icon=":material/insights:", layout="wide")
_here = Path(__file__).parent
navigation = st.navigation([st.Page(_here / path, title=title, icon=icon) for path, title, icon in PAGES])
navigation.run()
