"""metrics.py against scikit-learn on random data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from modelviz_app import metrics


@pytest.fixture(params=[0, 1, 2])
def data(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(request.param)
    n, c = 400, 7
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 2.0 * np.eye(c)[y] * rng.uniform(0, 1.5)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_confusion_and_prf(data):
    y, probs = data
    pred = probs.argmax(axis=1)
    cm = metrics.confusion_matrix(y, pred, probs.shape[1])
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, pred, labels=range(probs.shape[1])))
    p, r, f, s = metrics.per_class_prf(cm)
    sp, sr, sf, ss = skm.precision_recall_fscore_support(y, pred, labels=range(probs.shape[1]), zero_division=0)
    np.testing.assert_allclose(p, sp)
    np.testing.assert_allclose(r, sr)
    np.testing.assert_allclose(f, sf)
    np.testing.assert_array_equal(s, ss)


def test_prf_with_absent_classes():
    y, pred = np.array([0, 0, 1, 1]), np.array([0, 3, 1, 3])
    p, r, f, _ = metrics.per_class_prf(metrics.confusion_matrix(y, pred, 5))
    sp, sr, sf, _ = skm.precision_recall_fscore_support(y, pred, labels=range(5), zero_division=0)
    np.testing.assert_allclose(np.c_[p, r, f], np.c_[sp, sr, sf])


@pytest.mark.parametrize("k", [1, 3, 5])
def test_topk(data, k):
    y, probs = data
    assert metrics.topk_accuracy(y, probs, k) == pytest.approx(
        skm.top_k_accuracy_score(y, probs, k=k, labels=range(probs.shape[1]))
    )


def test_roc_pr_per_class(data):
    y, probs = data
    for c in range(probs.shape[1]):
        target, scores = y == c, probs[:, c]
        fpr, tpr, thr = metrics.roc_curve(target, scores)
        sfpr, stpr, sthr = skm.roc_curve(target, scores, drop_intermediate=False)
        np.testing.assert_allclose(fpr, sfpr)
        np.testing.assert_allclose(tpr, stpr)
        np.testing.assert_allclose(thr[1:], sthr[1:])
        assert metrics.roc_auc(target, scores) == pytest.approx(skm.roc_auc_score(target, scores))
        precision, recall, pthr = metrics.pr_curve(target, scores)
        sp, sr, spthr = skm.precision_recall_curve(target, scores)
        np.testing.assert_allclose(precision, sp)
        np.testing.assert_allclose(recall, sr)
        np.testing.assert_allclose(pthr, spthr)
        assert metrics.average_precision(target, scores) == pytest.approx(skm.average_precision_score(target, scores))


def test_roc_with_ties():
    target = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.5, 0.5, 0.2, 0.2, 0.9, 0.1])
    assert metrics.roc_auc(target, scores) == pytest.approx(skm.roc_auc_score(target, scores))
    assert metrics.average_precision(target, scores) == pytest.approx(skm.average_precision_score(target, scores))


def test_reliability_and_ece(data):
    y, probs = data
    rel = metrics.reliability(y, probs, bins=10)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    # Independent computation of ECE with explicit bin loops.
    ece = 0.0
    for lo, hi in zip(np.linspace(0, 1, 11)[:-1], np.linspace(0, 1, 11)[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    assert rel.ece == pytest.approx(ece)
    assert rel.counts.sum() == len(y)
    # scikit-learn's calibration_curve bins the same way for the binary "is top-1 correct" problem.
    from sklearn.calibration import calibration_curve

    acc, mean_conf = calibration_curve(correct, conf, n_bins=10, strategy="uniform")
    filled = rel.counts > 0
    np.testing.assert_allclose(rel.accuracy[filled], acc)
    np.testing.assert_allclose(rel.confidence[filled], mean_conf)


def test_most_confused():
    cm = np.array([[5, 3, 0], [1, 4, 7], [0, 0, 9]])
    assert metrics.most_confused(cm, 5) == [(1, 2, 7), (0, 1, 3), (1, 0, 1)]


def test_mcnemar_and_paired_difference():
    rng = np.random.default_rng(3)
    a = rng.random(300) < 0.8
    b = rng.random(300) < 0.7
    test = metrics.mcnemar(a, b)
    assert (test.only_a, test.only_b) == (int(np.sum(a & ~b)), int(np.sum(~a & b)))
    # Cross-check the chi-squared p-value with scipy.
    from scipy.stats import binomtest, chi2

    assert test.p_value == pytest.approx(chi2.sf(test.statistic, 1))
    small = metrics.mcnemar(np.array([1, 1, 1, 0, 1], bool), np.array([0, 0, 1, 1, 0], bool))
    assert small.p_value == pytest.approx(binomtest(1, 4, 0.5).pvalue)
    diff, low, high = metrics.paired_accuracy_difference(a, b)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert low < diff < high
    assert metrics.mcnemar(a, a).p_value == 1.0
