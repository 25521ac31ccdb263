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


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_averaged_prf(data, average):
    y, probs = data
    pred = probs.argmax(axis=1)
    pred[:20] = 9  # predictions outside the true classes, as ImageNet models make
    cm = metrics.confusion_matrix(y, pred, 10)
    got = metrics.averaged_prf(cm, np.arange(7))[average]
    p, r, f, _ = skm.precision_recall_fscore_support(y, pred, labels=range(7), average=average, zero_division=0)
    assert (got["precision"], got["recall"], got["F1"]) == pytest.approx((p, r, f))


def test_true_class_rank_and_topk_with_ties():
    probs = np.array([[0.2, 0.2, 0.6], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])
    y = np.array([1, 2, 0, 2])
    # Equal scores: the lower index first, so the top-1 is argmax (scikit-learn's accuracy on argmax agrees;
    # its top_k_accuracy_score breaks exact ties the other way, so it is compared on tie-free data in test_topk).
    np.testing.assert_array_equal(metrics.true_class_rank(y, probs), [2, 2, 1, 2])
    assert metrics.topk_accuracy(y, probs, 1) == skm.accuracy_score(y, probs.argmax(axis=1))
    assert metrics.topk_accuracy(y, probs, 3) == 1.0


def test_operating_point(data):
    y, probs = data
    target, scores = y == 2, probs[:, 2]
    for threshold in (0.1, 0.4, 0.9):
        op = metrics.operating_point(target, scores, threshold)
        hit = scores >= threshold
        assert op.precision == pytest.approx(skm.precision_score(target, hit, zero_division=0))
        assert op.recall == pytest.approx(skm.recall_score(target, hit, zero_division=0))
        assert op.f1 == pytest.approx(skm.f1_score(target, hit, zero_division=0))
        tn, fp, fn, tp = skm.confusion_matrix(target, hit, labels=[False, True]).ravel()
        assert (op.tp, op.fp, op.fn, op.tn) == (tp, fp, fn, tn)


def test_grouped_interval_counts_each_source_once():
    rng = np.random.default_rng(5)
    photo = rng.random(10) < 0.6
    values = np.repeat(photo, 4).astype(float)  # four identical variants of each of 10 photos
    groups = np.repeat(np.arange(10), 4)
    mean, low, high, count = metrics.grouped_mean_interval(values, groups)
    ref_mean, ref_low, ref_high, _ = metrics.grouped_mean_interval(photo.astype(float))
    assert count == 10 and mean == pytest.approx(ref_mean)
    # Variants add no information: the interval is as wide as the photos' own (up to the n/(n-1) factors).
    assert (high - low) == pytest.approx(ref_high - ref_low, rel=0.05)
    naive = metrics.grouped_mean_interval(values)
    assert naive[2] - naive[1] < (high - low) * 0.6  # treating variants as independent is overconfident
    d, lo, hi = metrics.paired_accuracy_difference(values > 0, np.zeros(40, bool), groups=groups)
    assert (d, lo, hi) == pytest.approx((mean, low, high))


def test_model_view_top5_matches_a_stable_sort():
    from modelviz_app._classes import model_view
    from modelviz_app.evaluation import Evaluation

    rng = np.random.default_rng(1)
    probs = rng.random((300, 40)).astype(np.float32)
    probs[::7, :6] = 0.5  # ties at the top and at the 5th place
    probs /= probs.sum(axis=1, keepdims=True)
    y = rng.integers(0, 40, 300)
    view = model_view(Evaluation("m", [str(i) for i in range(40)], y, probs, 0.0, "keras", False), np.arange(40), y)
    np.testing.assert_array_equal(view.top, np.argsort(-probs, axis=1, kind="stable")[:, :5])
    np.testing.assert_array_equal(view.pred, probs.argmax(axis=1))
    assert view.correct.mean() == pytest.approx(skm.accuracy_score(y, probs.argmax(axis=1)))
    assert view.loss.mean() == pytest.approx(skm.log_loss(y, probs, labels=range(40)), rel=1e-5)


def test_most_confused_matches_a_full_sort_with_ties():
    rng = np.random.default_rng(4)
    cm = rng.integers(0, 4, (60, 60))
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:25]
    want = [(int(i // 60), int(i % 60), int(off.flat[i])) for i in order if off.flat[i] > 0]
    assert metrics.most_confused(cm, 25) == want
