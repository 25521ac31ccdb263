"""Classify one image with every model: top-5 with probabilities and latency."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from modelviz_app._ui import model_colors, page_header
from modelviz_app.datasets import decode_image

MAX_UPLOAD_BYTES = 10 * 1024 * 1024

state = page_header("Try an image", need_evaluations=False)
if not state.models:
    st.info("No model could be loaded.")
    st.stop()
colors = model_colors(list(state.models))
upload = st.file_uploader(
    "Image (JPEG, PNG, WebP, BMP, GIF; at most 10 MB)", type=["jpg", "jpeg", "png", "webp", "bmp", "gif"]
)
image: np.ndarray | None = None
caption = ""
if upload is not None:
    data = upload.getvalue()
    if len(data) > MAX_UPLOAD_BYTES:
        st.error(f"{upload.name} is {len(data) / 1e6:.1f} MB; the limit is 10 MB.")
    else:
        try:
            image, caption = decode_image(data), upload.name
        except Exception as exc:  # any undecodable upload is the user's file, not a crash
            st.error(f"{upload.name} is not an image this app can read: {exc}")
elif state.dataset is not None and len(state.dataset):
    dataset = state.dataset
    pick = st.selectbox("…or a dataset image", list(range(len(dataset))), format_func=lambda i: dataset.ids[i])
    image, caption = dataset.image(int(pick or 0)), dataset.ids[int(pick or 0)]
if image is None:
    st.stop()

left, right = st.columns([1, 3])
left.image(image, caption=caption, width="stretch")
with right:
    columns = st.columns(min(len(state.models), 3))
    for n, (name, model) in enumerate(state.models.items()):
        batch = model.preprocess(model.fit(image)[None])
        start = time.perf_counter()
        probs = state.predictors[name].predict(batch)[0]
        latency = (time.perf_counter() - start) * 1000
        top = np.argsort(-probs, kind="stable")[:5]
        frame = pd.DataFrame({"class": [model.labels[i] for i in top], "probability": probs[top]})
        with columns[n % len(columns)].container(border=True):
            st.markdown(f"**{name}** · {latency:.1f} ms")
            fig = px.bar(
                frame[::-1],
                x="probability",
                y="class",
                orientation="h",
                range_x=[0, 1],
                color_discrete_sequence=[colors[name]],
                text_auto=".1%",
            )
            fig.update_layout(height=260, margin={"l": 0, "r": 0, "t": 10, "b": 0}, yaxis_title="")
            st.plotly_chart(fig, key=f"top5-{name}")
            st.dataframe(
                frame, hide_index=True, column_config={"probability": st.column_config.NumberColumn(format="percent")}
            )
