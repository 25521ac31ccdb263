"""The visualizer's entry: ``streamlit run asgi.py -- --config PATH`` (what ``modelviz app serve`` runs).

An ``st.App`` serving the pages (``app.py``) beside the prediction API, ``/metrics`` and the in-memory page shell;
the configured models load once, at startup, and the pages share them. ``MODELVIZ_PAGE_SHELL=0`` turns the
in-memory shell off (Streamlit's own static route then serves ``/``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run by path: make the package importable when it is not installed (e.g. straight from a checkout).
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from modelviz_app.serving._app import UI_SCRIPT, app_parts, with_page_shell  # noqa: E402

__all__ = ["app"]

# Literally ``app = st.App(...)``: `streamlit run` finds the ASGI app by reading this assignment, then imports
# ``asgi:app``, which by then is the page shell wrapped around it (outermost, before any middleware).
app = st.App(str(UI_SCRIPT), **app_parts())
app = with_page_shell(app, os.environ.get("MODELVIZ_PAGE_SHELL", "1") != "0")  # type: ignore[assignment]
