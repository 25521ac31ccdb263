"""Fixed-size interpreters: any batch runs as calls of the allocated sizes (split or zero-padded), never re-allocating,
and every row of the answer is that input's own (checked against Keras on the same rows, one at a time)."""

from __future__ import annotations

import numpy as np
import pytest

from modelviz_app.models import Predictor, load_file_model
from modelviz_app.models._runner import BATCH_SIZES, FixedBatches, batch_plan

from .conftest import TinyEnv


@pytest.mark.parametrize("sizes", [BATCH_SIZES, (1, 2, 4, 8), (1, 4, 16)])
@pytest.mark.parametrize("n", [*range(1, 20), 31, 32, 33, 64])
def test_plan_covers_every_image_once_with_allocated_sizes(n: int, sizes: tuple[int, ...]) -> None:
    plan = batch_plan(n, sizes)
    assert [start for start, _, _ in plan] == list(np.cumsum([0] + [c for _, c, _ in plan[:-1]]))
    assert sum(count for _, count, _ in plan) == n
    assert all(size in sizes and 1 <= count <= size for _, count, size in plan)
    # Padding only where it wastes at most a quarter of the call.
    assert all((size - count) * 4 <= size for _, count, size in plan)


def test_plan_pads_near_sizes_and_splits_the_rest() -> None:
    sizes = (1, 2, 4, 8)
    assert batch_plan(7, sizes) == [(0, 7, 8)]
    assert batch_plan(3, sizes) == [(0, 3, 4)]
    assert batch_plan(5, sizes) == [(0, 4, 4), (4, 1, 1)]
    assert batch_plan(19, sizes) == [(0, 8, 8), (8, 8, 8), (16, 3, 4)]
    assert batch_plan(22, (1, 8)) == [(0, 8, 8), (8, 8, 8), (16, 6, 8)]


def test_padded_and_split_batches_give_each_row_its_own_answer(tiny: TinyEnv, tmp_path) -> None:
    model = load_file_model("tiny-conv", tiny.models["tiny-conv"], tiny.labels)
    predictor = Predictor(model, tmp_path)
    assert predictor.backend == "tflite"
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, size=(40, *model.input_size, model.channels)).astype(np.float32)
    want = np.concatenate([np.asarray(model.keras_model.predict_on_batch(images[i : i + 1])) for i in range(40)])
    predictor.warm()
    fixed = predictor._fixed
    assert fixed is not None and fixed.allocations == len(BATCH_SIZES)
    for n in (1, 3, 5, 7, 13, 40):
        got = predictor.predict(images[:n])
        assert got.shape == (n, len(model.labels))
        np.testing.assert_allclose(got, want[:n], atol=1e-5)
    assert fixed.allocations == len(BATCH_SIZES)  # every size was already there: nothing re-allocated
    # A worker's own set (evaluation threads) allocates each size once, on first use.
    worker = FixedBatches(tmp_path / "tflite" / f"{model.key}.tflite", 1, (1, 2, 4, 8))
    for n in (7, 7, 16, 2):
        np.testing.assert_allclose(worker.run(images[:n]), want[:n], atol=1e-5)
    assert worker.allocations == 2  # 8 and 2
    assert worker.run(images[:0]).shape == (0, len(model.labels))
