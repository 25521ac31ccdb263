"""Datasets: image folders, the ImageNet photo sample, Fashion-MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from modelviz_app.datasets import DatasetLoadError, load_dataset, stratified_sample
from modelviz_app.models._imagenet import imagenet_labels


def test_folder_dataset(tiny, tmp_path):
    dataset = load_dataset(None, tiny.dataset)
    assert dataset.class_ids == ["blue", "green", "red"]
    assert len(dataset) == 24 and np.bincount(dataset.labels).tolist() == [8, 8, 8]
    assert dataset.image(0).shape == (20, 24, 3)
    again = load_dataset(None, tiny.dataset)
    assert again.key == dataset.key
    capped = load_dataset(None, tiny.dataset, limit=6)
    assert np.bincount(capped.labels).tolist() == [2, 2, 2]
    assert capped.key != dataset.key


def test_folder_skips_unreadable_files(tiny, tmp_path):
    import shutil

    copy = tmp_path / "images"
    shutil.copytree(tiny.dataset, copy)
    (copy / "red" / "broken.png").write_bytes(b"\x89PNG garbage")
    dataset = load_dataset(None, copy)
    assert len(dataset) == 24
    assert any("broken.png" in s for s in dataset.skipped)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetLoadError, match="does not exist"):
        load_dataset(None, tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetLoadError, match="no images"):
        load_dataset(None, tmp_path / "empty")


def test_stratified_sample_is_deterministic():
    labels = np.repeat(np.arange(5), [50, 3, 20, 20, 7])
    a, b = stratified_sample(labels, 20), stratified_sample(labels, 20)
    np.testing.assert_array_equal(a, b)
    assert set(labels[a]) == set(range(5))
    assert len(a) == 20


def test_imagenet_sample_is_labelled_with_imagenet_classes():
    dataset = load_dataset("imagenet-sample", None)
    _, wnids, _ = imagenet_labels()
    assert set(dataset.class_ids) <= set(wnids)
    assert "espresso" in dataset.class_names
    assert len(dataset) >= 24
    assert all(dataset.image(i).dtype == np.uint8 for i in range(len(dataset)))


def test_fashion_test_split():
    dataset = load_dataset("fashion-mnist", None)
    assert len(dataset) == 10000
    assert np.bincount(dataset.labels).tolist() == [1000] * 10
    assert dataset.image(0).shape == (28, 28)
    small = load_dataset("fashion-mnist", None, limit=50)
    assert np.bincount(small.labels).tolist() == [5] * 10


def test_dataset_context_says_sample_size_split_and_sources(tiny):
    fashion = load_dataset("fashion-mnist", None, limit=2000)
    assert fashion.total == 10000 and fashion.sources == 2000
    assert "a 2,000-image stratified sample of 10,000" in fashion.context()
    assert "test split" in fashion.context()
    sample = load_dataset("imagenet-sample", None)
    assert sample.sources == 7 and len(sample) == 28
    assert "7 distinct photos" in sample.context()
    # All variants of one photo share its group, and each group holds one class.
    for g in np.unique(sample.group_ids):
        assert len(set(sample.labels[sample.group_ids == g])) == 1
    folder = load_dataset(None, tiny.dataset)
    assert folder.name == "images" and "/" not in folder.context()


def test_imagenet_names_are_unique_and_short():
    names, wnids, aliases = imagenet_labels()
    assert len({n.lower() for n in names}) == 1000
    assert all(len(n) <= 40 for n in names)
    assert names[282] == "tiger cat"  # the clean name is a description: "a cat having a striped coat"
    assert {names[657], names[744]} == {"missile", "projectile"}
    assert {names[836], names[837]} == {"sunglass", "dark glasses"}
    assert len(set(wnids)) == 1000 and "missile" in aliases[744]
