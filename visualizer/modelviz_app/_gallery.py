"""The image gallery every drill-down opens: paginated cards with the true class and each model's top-5."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from modelviz_app._ui import AppState, describe_error, md

__all__ = ["PER_PAGE", "gallery"]

PER_PAGE = 16
_COLUMNS = 4


def gallery(state: AppState, indices: np.ndarray, key: str, per_page: int = PER_PAGE) -> list[int]:
    """Cards for ``indices`` (in that order), one page at a time; returns the indices shown."""
    assert state.dataset is not None and state.space is not None
    total = len(indices)
    if total == 0:
        st.success("No image matches.")
        return []
    pages = math.ceil(total / per_page)
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, key=f"{key}-page"))
    shown = [int(i) for i in indices[(page - 1) * per_page : page * per_page]]
    first = (page - 1) * per_page + 1
    st.caption(f"{total:,} images · showing {first:,}-{first + len(shown) - 1:,}")
    names = state.space.names
    grid = st.columns(_COLUMNS)
    for slot, i in enumerate(shown):
        with grid[slot % _COLUMNS].container(border=True):
            try:
                st.image(state.dataset.image(i), caption=state.dataset.ids[i], width="stretch")
            except Exception as exc:  # a file changed on disk since it was read: this card says so, the rest draw
                st.warning(f"{md(state.dataset.ids[i])} cannot be shown: {md(describe_error(exc))}")
            st.markdown(f"**true: {md(names[int(state.dataset.labels[i])])}**")
            for name, view in state.views.items():
                mark = "✓" if view.correct[i] else "✗"
                top = " · ".join(f"{md(names[c])} {p:.0%}" for c, p in zip(view.top[i], view.top_p[i], strict=True))
                st.markdown(f"{mark} **{name}**: {top}")
    return shown
