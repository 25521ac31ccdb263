"""Misclassified images: filter by true class, predicted class, confidence and disagreement; every model's top-5."""

from __future__ import annotations

import numpy as np
import streamlit as st

from modelviz_app._ui import page_header, true_class_names

state = page_header("Misclassified images")
assert state.dataset is not None
names = state.names
evs = list(state.evaluations.values())
truth = true_class_names(state)
predicted = np.stack([np.array(ev.labels)[ev.pred] for ev in evs])  # (models, N) class names
wrong = np.stack([~ev.correct for ev in evs])
confidence = np.stack([ev.confidence for ev in evs])
disagree = (predicted != predicted[:1]).any(axis=0)

c1, c2, c3 = st.columns(3)
scope = c1.selectbox("Wrong for", ["any model", "every model", *names, "any (include correct)"])
true_filter = c2.multiselect("True class", sorted(set(truth)))
pred_filter = c3.multiselect("Predicted class (by any model)", sorted(set(predicted.ravel())))
c4, c5, c6 = st.columns(3)
low, high = c4.slider("Top-1 confidence of some model", 0.0, 1.0, (0.0, 1.0), 0.05)
only_disagree = c5.checkbox("Only where models disagree", value=False)
limit = c6.slider("Images shown", 4, 60, 16, 4)

if scope == "any model":
    mask = wrong.any(axis=0)
elif scope == "every model":
    mask = wrong.all(axis=0)
elif scope in names:
    mask = wrong[names.index(scope)]
else:
    mask = np.ones(len(truth), dtype=bool)
if true_filter:
    mask &= np.isin(truth, true_filter)
if pred_filter:
    mask &= np.isin(predicted, pred_filter).any(axis=0)
mask &= ((confidence >= low) & (confidence <= high)).any(axis=0)
if only_disagree:
    mask &= disagree
selected = np.flatnonzero(mask)
# Most confident mistakes first: those are the surprising ones.
mistake_confidence = np.where(wrong, confidence, 0.0).max(axis=0)
selected = selected[np.argsort(-mistake_confidence[selected], kind="stable")]
st.caption(f"{len(selected)} of {len(truth)} images match; showing {min(limit, len(selected))}")
if not len(selected):
    st.success("No image matches these filters.")
    st.stop()
grid = st.columns(4)
for slot, i in enumerate(selected[:limit]):
    with grid[slot % 4].container(border=True):
        st.image(state.dataset.image(int(i)), caption=state.dataset.ids[i], width="stretch")
        st.markdown(f"**true: {truth[i]}**")
        for m, ev in enumerate(evs):
            mark = "✗" if wrong[m, i] else "✓"
            top = ev.topk(5)[i]
            lines = " · ".join(f"{ev.labels[j]} {ev.probs[i, j]:.0%}" for j in top)
            st.markdown(f"{mark} **{names[m]}**: {lines}")
