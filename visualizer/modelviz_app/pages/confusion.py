"""Confusion matrices by class id: most-confused pairs and a heatmap zoomed to chosen classes; a pair row or a cell
opens the images behind it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from modelviz_app._gallery import gallery
from modelviz_app._tables import matrices
from modelviz_app._ui import md, page_header
from modelviz_app.metrics import most_confused

DRILL = "confusion-drill"  # session key: {"model", "true", "pred"} of the opened cell
state = page_header("Confusion")
assert state.space is not None and state.dataset is not None
space = state.space
cms = matrices(state)


def _open(model: str, true: int, pred: int) -> None:
    st.session_state[DRILL] = {"model": model, "true": int(true), "pred": int(pred)}


st.subheader("Most-confused pairs")
rows = []
for name, cm in cms.items():
    support = cm.sum(axis=1)
    for t, p, count in most_confused(cm, 15):
        rows.append(
            {
                "model": name,
                "true": space.names[t],
                "predicted as": space.names[p],
                "images": count,
                "share of true class": count / max(int(support[t]), 1),
                "_t": t,
                "_p": p,
            }
        )
pairs = pd.DataFrame(rows, columns=["model", "true", "predicted as", "images", "share of true class", "_t", "_p"])
pairs = pairs.sort_values("images", ascending=False, kind="stable").reset_index(drop=True)


def _pair_selected() -> None:
    selected = st.session_state["confusion-pairs"].selection.rows
    if selected:
        row = pairs.iloc[selected[0]]
        _open(str(row["model"]), int(row["_t"]), int(row["_p"]))


if pairs.empty:
    st.success("No confusions: every image is classified correctly.")
else:
    st.caption("Select a row to see its images.")
    st.dataframe(
        pairs,
        hide_index=True,
        key="confusion-pairs",
        on_select=_pair_selected,
        selection_mode="single-row",
        column_order=["model", "true", "predicted as", "images", "share of true class"],
        column_config={"share of true class": st.column_config.ProgressColumn(min_value=0, max_value=1)},
    )

st.subheader("Matrix")
# Default view: the classes most confusions involve plus the largest true classes, at most 25.
support_all = sum(cm.sum(axis=1) for cm in cms.values())
involved: dict[int, int] = {}
for cm in cms.values():
    for t, p, count in most_confused(cm, 25):
        involved[t] = involved.get(t, 0) + count
        involved[p] = involved.get(p, 0) + count
default = sorted(involved, key=lambda c: -involved[c])[:25]
for c in np.argsort(-support_all, kind="stable"):
    if len(default) >= min(25, space.n_dataset) or support_all[c] == 0:
        break
    if int(c) not in default:
        default.append(int(c))
choices = sorted({*range(space.n_dataset), *involved}, key=lambda c: space.names[c].lower())
c1, c2, c3 = st.columns([3, 1, 1])
chosen = c1.multiselect(
    "Classes shown (zoom)",
    choices,
    default=sorted(default, key=lambda c: space.names[c].lower()),
    format_func=space.name_of,
    help="Rows are true classes, columns predictions; predictions outside the chosen classes go to 'other'",
)
normalize = c2.toggle("Row-normalised (recall)", value=True)
hide_diagonal = c3.toggle("Hide diagonal", value=False, help="Leave out correct predictions to see the mistakes")
if not chosen:
    st.info("Pick at least one class.")
    st.stop()

idx = list(chosen)
subs: dict[str, np.ndarray] = {}
for name, cm in cms.items():
    rows_cm = cm[idx].astype(float)
    inside = rows_cm[:, idx]
    other = rows_cm.sum(axis=1) - inside.sum(axis=1)
    sub = np.c_[inside, other]
    if normalize:
        totals = rows_cm.sum(axis=1, keepdims=True)
        sub = np.divide(sub, totals, out=np.zeros_like(sub), where=totals > 0)
    if hide_diagonal:
        sub[np.arange(len(idx)), np.arange(len(idx))] = np.nan
    subs[name] = sub
# One colour scale across models, so the same shade means the same share (or count) everywhere.
zmax = max(float(np.nanmax(s)) if np.isfinite(s).any() else 0.0 for s in subs.values()) or 1.0
ylabels = [space.names[c] for c in idx]
xlabels = [*ylabels, "other"]
xcodes = [*idx, -1]
columns = st.columns(min(len(cms), 2))


def _cell_selected(name: str) -> None:
    points = st.session_state[f"cm-{name}"].selection.points
    if points:
        t, p = points[0]["customdata"][:2]
        if int(p) >= 0:
            _open(name, int(t), int(p))


for i, (name, sub) in enumerate(subs.items()):
    fig = go.Figure(
        go.Heatmap(
            z=sub,
            x=xlabels,
            y=ylabels,
            zmin=0,
            zmax=zmax,
            colorscale="Blues",
            texttemplate="%{z:.2f}" if normalize else "%{z:.0f}",
            hoverinfo="skip",
            colorbar={"title": "share" if normalize else "images"},
        )
    )
    # Invisible markers on the cells make them clickable (heatmaps have no selectable points).
    xs, ys, custom, hover = [], [], [], []
    counts = cms[name]
    for r, t in enumerate(idx):
        for col, p in enumerate(xcodes):
            n = int(counts[t, p]) if p >= 0 else int(counts[t].sum() - counts[t, idx].sum())
            xs.append(xlabels[col])
            ys.append(ylabels[r])
            custom.append([t, p])
            hover.append(f"true {ylabels[r]}<br>predicted {xlabels[col]}<br>{n} images")
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker={"size": 18, "opacity": 0.01, "symbol": "square", "color": "black"},
            customdata=custom,
            hovertext=hover,
            hoverinfo="text",
            showlegend=False,
        )
    )
    fig.update_layout(
        title=name,
        height=max(400, 28 * len(ylabels) + 150),
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        clickmode="event+select",
        dragmode=False,
    )
    columns[i % len(columns)].plotly_chart(
        fig,
        key=f"cm-{name}",
        on_select=lambda name=name: _cell_selected(name),
        selection_mode="points",
    )


def _still_valid(drill: dict[str, Any]) -> bool:
    """An opened cell can outlive what it names: the configuration (models, dataset) may change under a session."""
    cells = [drill.get("true"), drill.get("pred")]
    return drill.get("model") in state.views and all(isinstance(c, int) and 0 <= c < len(space) for c in cells)


drill: dict[str, Any] | None = st.session_state.get(DRILL)
if drill and not _still_valid(drill):
    st.info(
        f"The images opened before (model `{drill.get('model')}`) are no longer here: the models or the dataset "
        "changed. Select a pair or a cell again.",
        icon=":material/info:",
    )
    del st.session_state[DRILL]
elif drill:
    view = state.views[drill["model"]]
    t, p = drill["true"], drill["pred"]
    st.subheader(f"True {md(space.names[t])}, predicted {md(space.names[p])} by {drill['model']}")
    if st.button("Close", icon=":material/close:"):
        del st.session_state[DRILL]
        st.rerun()
    matches = np.flatnonzero((view.y_true == t) & (view.pred == p))
    matches = matches[np.argsort(-view.confidence[matches], kind="stable")]
    gallery(state, matches, key="confusion-gallery")
