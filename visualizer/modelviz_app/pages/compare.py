"""Model comparison of two chosen models: whether their accuracy differs beyond noise (intervals that count each
source photo once), per-class deltas and the images whose verdict flips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from modelviz_app._gallery import gallery
from modelviz_app._tables import matrices
from modelviz_app._ui import page_header
from modelviz_app.metrics import SMALL_SAMPLE, mcnemar, paired_accuracy_difference, per_class_prf

state = page_header("Compare models")
assert state.dataset is not None and state.space is not None
names, views, space = state.names, state.views, state.space
if len(names) < 2:
    st.info("Configure two or more models to compare them; the other pages show this one.")
    st.stop()
c1, c2 = st.columns(2)
a = c1.selectbox("Model A", names, index=0, key="compare-a")
# B is chosen among the others: comparing a model with itself is refused by construction.
b = c2.selectbox("Model B", [n for n in names if n != a], index=0, key="compare-b")
va, vb = views[a], views[b]
groups = state.groups
sources = state.dataset.sources

diff, low, high = paired_accuracy_difference(va.correct, vb.correct, groups=groups)
test = mcnemar(va.correct, vb.correct)
agreement = float(np.mean(va.pred == vb.pred))
m = st.columns(4)
m[0].metric(f"top-1 {a}", f"{va.correct.mean():.1%}")
m[1].metric(f"top-1 {b}", f"{vb.correct.mean():.1%}")
interval = f"{low:+.1%} … {high:+.1%}" if np.isfinite(low) else "no interval from one source image"
m[2].metric("A - B (95% CI)", f"{diff:+.1%}", help=interval, delta=interval, delta_color="off")
m[3].metric("Same prediction", f"{agreement:.0%}", help="Share of images where A and B predict the same class")
st.caption(
    f"Interval: normal approximation over {sources:,} independent source images"
    + (" (variants of one photo count once)" if groups is not None else "")
    + f". McNemar's test (images where exactly one model is right: A {test.only_a}, B {test.only_b}): "
    f"p = {test.p_value:.4f}; a small p means the error rates differ beyond chance on this dataset."
)
if sources < SMALL_SAMPLE:
    st.warning(
        f"Only {sources} independent source images: this comparison cannot tell models apart unless they differ "
        "by a wide margin; evaluate on more data before deciding.",
        icon=":material/warning:",
    )

left, right = st.columns(2)
cms = matrices(state)
_, rec_a, f1_a, support = per_class_prf(cms[a])
_, rec_b, f1_b, _ = per_class_prf(cms[b])
classes = np.flatnonzero(support > 0)
metric = left.radio("Per-class delta of", ["F1", "recall"], horizontal=True)
delta = (f1_a - f1_b) if metric == "F1" else (rec_a - rec_b)
frame = pd.DataFrame({"class": [space.names[c] for c in classes], "delta": delta[classes], "support": support[classes]})
frame = frame[frame["delta"] != 0].sort_values("delta")
if len(frame) > 40:  # the largest differences either way
    frame = pd.concat([frame.head(20), frame.tail(20)])
fig = px.bar(
    frame,
    x="delta",
    y="class",
    orientation="h",
    color=np.where(frame["delta"] > 0, f"{a} better", f"{b} better"),
    hover_data=["support"],
    title=f"{metric} of {a} minus {b}, per class",
)
fig.update_layout(height=max(300, 22 * len(frame) + 120), legend_title_text="", yaxis_title="")
if frame.empty:
    left.success(f"{a} and {b} have the same per-class {metric}.")
else:
    left.plotly_chart(fig)

verdict = pd.DataFrame(
    {
        "class": [space.names[c] for c in state.dataset.labels],
        f"only {a} right": va.correct & ~vb.correct,
        f"only {b} right": ~va.correct & vb.correct,
        "both wrong": ~va.correct & ~vb.correct,
    }
)
by_class = verdict.groupby("class").sum().reset_index()
by_class = by_class[by_class.iloc[:, 1:].sum(axis=1) > 0]
if by_class.empty:
    right.success(f"{a} and {b} are right on the same images.")
else:
    by_class = by_class.sort_values(f"only {a} right", ascending=False).head(40)
    melted = by_class.melt(id_vars="class", var_name="outcome", value_name="images")
    right.plotly_chart(
        px.bar(melted, x="class", y="images", color="outcome", barmode="stack", title="Images where A or B is wrong")
    )

st.subheader("Flipped verdicts")
f1c, f2c = st.columns(2)
which = f1c.radio("Images", [f"{a} right, {b} wrong", f"{b} right, {a} wrong"], horizontal=True)
flipped = (va.correct & ~vb.correct) if which.startswith(a) else (~va.correct & vb.correct)
flip_classes = np.unique(state.dataset.labels[flipped]).tolist()
cls = f2c.multiselect("True class", flip_classes, format_func=space.name_of, key="compare-class")
mask = flipped & (np.isin(state.dataset.labels, cls) if cls else True)
picked = np.flatnonzero(mask)
loser = vb if which.startswith(a) else va
picked = picked[np.argsort(-loser.confidence[picked], kind="stable")]  # the most confident mistakes first
gallery(state, picked, key="compare-gallery")

with st.expander("All pairs of models"):
    rows = []
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            d, lo, hi = paired_accuracy_difference(views[x].correct, views[y].correct, groups=groups)
            t = mcnemar(views[x].correct, views[y].correct)
            rows.append(
                {
                    "A": x,
                    "B": y,
                    "accuracy A - B": d,
                    "95% CI low": lo,
                    "95% CI high": hi,
                    "only A right": t.only_a,
                    "only B right": t.only_b,
                    "McNemar p": t.p_value,
                }
            )
    pairs = pd.DataFrame(rows)
    st.dataframe(
        pairs,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="percent") for c in ("accuracy A - B", "95% CI low", "95% CI high")
        }
        | {"McNemar p": st.column_config.NumberColumn(format="%.4f")},
    )
    agreement_m = np.array([[float(np.mean(views[x].pred == views[y].pred)) for y in names] for x in names])
    st.plotly_chart(
        go.Figure(
            go.Heatmap(z=agreement_m, x=names, y=names, zmin=0, zmax=1, colorscale="Greens", texttemplate="%{z:.0%}")
        ).update_layout(title="Share of images with the same prediction"),
    )
