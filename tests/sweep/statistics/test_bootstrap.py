"""The paired bootstrap over test images, and the metrics it scores from class counts."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

from balancelab.evaluation.metrics import headline_metrics
from balancelab.sweep import statistics as st
from balancelab.sweep.statistics.bootstrap import score_resamples


def synthetic(n=300, k=4, accuracies=(0.6, 0.75), seed=5):
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=np.r_[0.05, np.full(k - 1, 0.95 / (k - 1))])
    preds = [np.where(rng.random(n) < a, y, rng.integers(0, k, n)) for a in accuracies]
    return y, preds


def test_metrics_match_sklearn_with_absent_and_extra_classes():
    rng = np.random.default_rng(3)
    for _ in range(15):
        y = rng.choice([0, 2, 3, 5], size=40)  # classes 1 and 4 absent from the truth
        p = np.where(rng.random(40) < 0.6, y, rng.integers(0, 6, 40))  # ...but sometimes predicted
        present = np.unique(y)
        assert st.metric_value(y, p, "macro_f1") == pytest.approx(
            f1_score(y, p, labels=present, average="macro", zero_division=0), abs=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn: "y_pred contains classes not in y_true"
            expected = balanced_accuracy_score(y, p)
        assert st.metric_value(y, p, "balanced_accuracy") == pytest.approx(expected, abs=1e-12)
        assert st.metric_value(y, p, "minority_class_recall", 3) == pytest.approx(
            recall_score(y, p, labels=[3], average=None, zero_division=0)[0], abs=1e-12)
    assert np.isnan(st.metric_value([0, 0, 2], [0, 1, 2], "minority_class_recall", minority_index=1))


def test_metrics_equal_the_runs_headline_metrics():
    rng = np.random.default_rng(4)
    y = np.repeat(np.arange(5), [30, 20, 10, 5, 3])
    p = np.where(rng.random(len(y)) < 0.7, y, rng.integers(0, 5, len(y)))
    runs = headline_metrics(y, p, list("abcde"), [300, 200, 100, 50, 30], 100, 20)
    for metric in ("macro_f1", "balanced_accuracy"):
        assert st.metric_value(y, p, metric) == pytest.approx(runs[metric], abs=1e-12)
    assert runs["minority_class"] == "e"
    assert st.metric_value(y, p, "minority_class_recall", 4) == pytest.approx(runs["minority_class_recall"], abs=1e-12)


def test_each_resample_scores_every_row_on_the_same_indices():
    y, (base, other) = synthetic()
    resamples = score_resamples(y, {("baseline", 0): base, ("a", 0): other}, st.TESTED_METRICS, minority_index=0,
                                n_resamples=300, seed=11)
    indices = np.concatenate(list(st.resample_indices(len(y), 300, seed=11)))
    _, macro = resamples.mean_difference("macro_f1", [("a", 0)], [("baseline", 0)])
    _, bacc = resamples.mean_difference("balanced_accuracy", [("a", 0)], [("baseline", 0)])
    _, minority = resamples.mean_difference("minority_class_recall", [("a", 0)], [("baseline", 0)])
    for b in (0, 1, 2, 257, 299):  # the second block too
        yb, base_b, other_b = y[indices[b]], base[indices[b]], other[indices[b]]
        labels = np.unique(yb)
        f1 = lambda p: f1_score(yb, p, labels=labels, average="macro", zero_division=0)  # noqa: E731
        assert macro[b] == pytest.approx(f1(other_b) - f1(base_b), abs=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = balanced_accuracy_score(yb, other_b) - balanced_accuracy_score(yb, base_b)
        assert bacc[b] == pytest.approx(expected, abs=1e-12)
        if (yb == 0).any():
            recall = [recall_score(yb, p, labels=[0], average=None)[0] for p in (other_b, base_b)]
            assert minority[b] == pytest.approx(recall[0] - recall[1], abs=1e-12)
        else:
            assert np.isnan(minority[b])


def test_several_seeds_average_their_paired_differences():
    y, (base, other) = synthetic()
    resamples = score_resamples(y, {("b", 0): base, ("a", 0): other, ("b", 1): other, ("a", 1): base},
                                ["macro_f1"], n_resamples=200)
    observed, mean = resamples.mean_difference("macro_f1", [("a", 0), ("a", 1)], [("b", 0), ("b", 1)])
    assert observed == pytest.approx(0.0) and np.allclose(mean, 0.0)  # +d in seed 0, -d in seed 1
    per_seed = resamples.per_seed_differences("macro_f1", [("a", 0), ("a", 1)], [("b", 0), ("b", 1)])
    assert per_seed[0] == pytest.approx(-per_seed[1]) and per_seed[0] > 0


def test_bootstrap_seeding():
    y, (base, other) = synthetic()
    draw = lambda seed: score_resamples(y, {("b", 0): base, ("a", 0): other}, ["macro_f1"],  # noqa: E731
                                        n_resamples=300, seed=seed).replicates["macro_f1"]
    assert np.array_equal(draw(7), draw(7)) and not np.array_equal(draw(7), draw(8))


def test_percentile_interval_is_the_order_statistics_and_agrees_with_its_p():
    rng = np.random.default_rng(1)
    for _ in range(500):
        d = np.round(rng.normal(rng.uniform(-0.02, 0.02), 0.01, rng.integers(20, 400)), 3)
        alpha = float(rng.choice([0.05, 0.01, 0.05 / 7, 0.1]))
        low, high = st.percentile_interval(d, alpha)
        assert (low > 0 or high < 0) == (st.bootstrap_p(d) < alpha)
        assert low == np.quantile(d, alpha / 2, method="inverted_cdf")
        assert high == -np.quantile(-d, alpha / 2, method="inverted_cdf")


def test_the_variance_error_is_the_spread_of_variances_over_bootstrap_seeds():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.01, 2000)
    variance, error = st.variance_with_error(x)
    assert variance == pytest.approx(np.var(x, ddof=1))
    spread = np.std([np.var(rng.normal(0, 0.01, 2000), ddof=1) for _ in range(400)])
    assert error == pytest.approx(spread, rel=0.15)
