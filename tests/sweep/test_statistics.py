import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

from balancelab.errors import DataError
from balancelab.evaluation.metrics import headline_metrics
from balancelab.sweep import statistics as st


@pytest.fixture(autouse=True)
def no_warnings():
    """A degenerate case must give a note, not a warning storm."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def jobs_frame(values, metric="macro_f1", failed=()):
    """values: {experiment: {seed: value}} -> a jobs table like report.jobs_table's."""
    rows = [{"job": f"{e}_seed{s}", "experiment": e, "seed": s, "status": "completed", metric: v}
            for e, per_seed in values.items() for s, v in per_seed.items()]
    rows += [{"job": f"{e}_seed{s}", "experiment": e, "seed": s, "status": "failed", metric: np.nan} for e, s in failed]
    return pd.DataFrame(rows)


# --- Holm -------------------------------------------------------------------------------------------

def test_holm_hand_computed_with_monotonicity_fix():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> raised to 0.06 by the running max
    assert np.allclose(st.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert np.allclose(st.holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1


def test_holm_nan_stays_nan_and_family_size_counts_untestable_hypotheses():
    assert np.allclose(st.holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04], equal_nan=True)
    assert np.allclose(st.holm([0.01, np.nan, 0.04], n_tests=3), [0.03, np.nan, 0.08], equal_nan=True)
    with pytest.raises(ValueError, match="n_tests"):
        st.holm([0.01, 0.02], n_tests=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        st.holm([1.5])


def test_holm_rejects_exactly_what_the_textbook_step_down_rejects():
    rng = np.random.default_rng(0)
    alpha = 0.05
    for _ in range(200):
        p = rng.uniform(0, 0.08, size=rng.integers(1, 9))
        rejected = np.zeros(len(p), bool)
        for j, i in enumerate(np.argsort(p)):  # step down, stop at the first acceptance
            if p[i] > alpha / (len(p) - j):
                break
            rejected[i] = True
        adjusted = st.holm(p)
        assert np.array_equal(adjusted <= alpha, rejected)
        assert np.all(adjusted >= p) and np.all(adjusted <= np.minimum(1, len(p) * p) + 1e-15)


# --- paired statistics over seeds -------------------------------------------------------------------

def test_paired_difference_known_answer_df2():
    # d = 1, 2, 3: mean 2, sd 1, t = 2 sqrt(3), df 2. Student t with 2 df has closed forms:
    # two-sided p = 1 - t / sqrt(2 + t^2); quantile(q) = (2q - 1) / sqrt(2 q (1 - q)).
    x, base = pd.Series([1.5, 2.5, 3.5]), pd.Series([0.5, 0.5, 0.5])
    row = st.paired_difference(x, base, alpha=0.05)
    t = 2 * math.sqrt(3)
    assert row["n_pairs"] == 3 and row["mean_difference"] == pytest.approx(2.0)
    assert row["p_ttest"] == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-10)  # 0.07418
    quantile = lambda q: (2 * q - 1) / math.sqrt(2 * q * (1 - q))  # noqa: E731
    half = quantile(0.975) / math.sqrt(3)  # 4.3027 / sqrt(3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((2 - half, 2 + half), rel=1e-10)
    half = quantile(1 - 0.05 / 4 / 2) / math.sqrt(3)  # e.g. Holm's first level with m = 4: 1 - alpha/4
    assert st.t_interval(x.to_numpy(), base.to_numpy(), 1 - 0.05 / 4) == pytest.approx((2 - half, 2 + half), rel=1e-10)
    assert np.isnan(row["p_wilcoxon"])  # fewer than 6 pairs


def test_paired_difference_matches_scipy_and_wilcoxon_from_six_pairs():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.7, 0.02, 6), rng.normal(0.68, 0.02, 6)
    row = st.paired_difference(pd.Series(x), pd.Series(y))
    assert row["p_ttest"] == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(x - y).pvalue)
    # all six differences positive: exact two-sided p = 2 / 2^6
    assert st.paired_difference(pd.Series(np.arange(6) + 1.0), pd.Series(np.zeros(6)))["p_wilcoxon"] == 0.03125


@pytest.mark.parametrize("x, y, expected", [([0.7, 0.8, 0.9], [0.6, 0.7, 0.8], st.NOT_AVAILABLE),  # equal up to rounding
                                            ([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], st.NO_DIFFERENCE),  # all zero
                                            ([0.5] * 6, [0.4] * 6, st.NOT_AVAILABLE)])
def test_identical_differences_give_no_t_test_and_no_warning(x, y, expected):
    """Without predictions no bootstrap can stand in: a non-zero difference is untested, a zero one is none."""
    jobs = jobs_frame({"baseline": dict(enumerate(y)), "a": dict(enumerate(x))})
    row = st.compare_to_baseline(jobs, metrics=["macro_f1"]).iloc[0]
    assert np.isnan(row["p_ttest"]) and np.isnan(row["ci_low"]) and np.isnan(row["ci_corrected_low"])
    assert "t-test undefined" in row["note"] and row["verdict"] == expected


def test_missing_baseline_seeds_are_left_out_and_named():
    jobs = jobs_frame({"baseline": {0: 0.5, 1: 0.6}, "a": {0: 0.7, 1: 0.9, 2: 0.1}}, failed=[("baseline", 2)])
    row = st.seed_statistics(jobs, "macro_f1").iloc[0]
    assert row["n_pairs"] == 2 and row["seeds"] == "0 1" and row["mean_difference"] == pytest.approx(0.25)
    assert "without a reference partner left out: 2" in row["note"]


def test_one_seed_and_no_pairs():
    jobs = jobs_frame({"baseline": {0: 0.5}, "a": {0: 0.7}, "b": {1: 0.9}}, failed=[("c", 0)])
    table = st.compare_to_baseline(jobs, metrics=["macro_f1"]).set_index("experiment")
    assert table.loc["a", "n_pairs"] == 1 and table.loc["a", "mean_difference"] == pytest.approx(0.2)
    assert np.isnan(table.loc["a", "p_ttest"]) and np.isnan(table.loc["a", "ci_low"])
    assert table.loc["a", "verdict"] == st.NOT_AVAILABLE and "no test-set predictions" in table.loc["a", "note"]
    assert (table.loc[["b", "c"], "n_pairs"] == 0).all()
    assert (table.loc[["b", "c"], "verdict"] == st.NOT_AVAILABLE).all()
    assert (table["n_comparisons"] == 1).all()  # only `a` can make a claim


def test_no_baseline_means_nothing_is_available():
    table = st.compare_to_baseline(jobs_frame({"a": {0: 0.7, 1: 0.8}, "b": {0: 0.7, 1: 0.6}}), metrics=["macro_f1"])
    assert (table["verdict"] == st.NOT_AVAILABLE).all() and (table["n_comparisons"] == 0).all()


def test_duplicate_jobs_for_one_seed_are_an_error():
    jobs = pd.concat([jobs_frame({"baseline": {0: 0.5}, "a": {0: 0.7}})] * 2, ignore_index=True)
    with pytest.raises(DataError, match="baseline seed 0"):
        st.seed_statistics(jobs, "macro_f1")


def test_seed_family_holm_and_its_corrected_intervals_agree():
    """Holm over the family of m experiments (one-seed ones count, untested); each corrected interval is the
    t-interval at the level Holm tested it at, so it excludes 0 exactly when Holm rejects."""
    rng = np.random.default_rng(2)
    alpha = 0.05
    for trial in range(10):
        values = {"baseline": dict(enumerate(rng.normal(0.7, 0.01, 4)))}
        for e in range(6):
            values[f"e{e}"] = dict(enumerate(rng.normal(0.7 + rng.choice([0, 0.01, 0.03]), 0.01, 4)))
        values["one_seed"] = {0: 0.9}
        table = st.compare_to_baseline(jobs_frame(values), metrics=["macro_f1"], alpha=alpha).set_index("experiment")
        m = 7
        assert (table["n_comparisons"] == m).all()
        tested = table.drop(index="one_seed")
        assert np.allclose(tested["p_holm"], st.holm(list(tested["p_ttest"]) + [np.nan], n_tests=m)[:-1])
        excludes = (tested["ci_corrected_low"] > 0) | (tested["ci_corrected_high"] < 0)
        assert np.array_equal(excludes, tested["p_holm"] < alpha)
        levels = st.holm_levels(list(tested["p_ttest"]) + [np.nan], alpha, n_tests=m)[:-1]
        assert np.allclose(tested["corrected_level"], 1 - levels)
        plain = (tested["ci_low"] > 0) | (tested["ci_high"] < 0)
        assert np.array_equal(plain, tested["p_ttest"] < alpha)
        assert table.loc["one_seed", "verdict"] == st.NOT_AVAILABLE


def test_verdict_rule():
    v = st.verdict
    assert v(np.nan, np.nan) == st.NOT_AVAILABLE
    assert v(0.001, 0.03) == st.BETTER
    assert v(-0.03, -0.001) == st.WORSE
    assert v(-0.001, 0.03) == st.NO_DIFFERENCE
    assert v(0.0, 0.03) == st.NO_DIFFERENCE  # an end on 0 does not exclude it


# --- metrics from counts, as the runs compute them --------------------------------------------------

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


# --- paired bootstrap -------------------------------------------------------------------------------

def synthetic(n=300, k=4, accuracies=(0.6, 0.75), seed=5):
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=np.r_[0.05, np.full(k - 1, 0.95 / (k - 1))])
    preds = [np.where(rng.random(n) < a, y, rng.integers(0, k, n)) for a in accuracies]
    return y, preds


def test_each_resample_scores_both_experiments_on_the_same_indices():
    y, (base, other) = synthetic()
    _, dist = st.paired_bootstrap(y, {"baseline": {0: base}, "a": {0: other}}, minority_index=0, n_resamples=300,
                                  seed=11, return_distributions=True)
    indices = np.concatenate(list(st.resample_indices(len(y), 300, seed=11)))
    for b in (0, 1, 2, 257, 299):  # the second block too
        yb, base_b, other_b = y[indices[b]], base[indices[b]], other[indices[b]]
        labels = np.unique(yb)
        f1 = lambda p: f1_score(yb, p, labels=labels, average="macro", zero_division=0)  # noqa: E731
        assert dist[("a", "macro_f1")][b] == pytest.approx(f1(other_b) - f1(base_b), abs=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bacc = balanced_accuracy_score(yb, other_b) - balanced_accuracy_score(yb, base_b)
        assert dist[("a", "balanced_accuracy")][b] == pytest.approx(bacc, abs=1e-12)
        if (yb == 0).any():
            recall = [recall_score(yb, p, labels=[0], average=None)[0] for p in (other_b, base_b)]
            assert dist[("a", "minority_class_recall")][b] == pytest.approx(recall[0] - recall[1], abs=1e-12)
        else:
            assert np.isnan(dist[("a", "minority_class_recall")][b])


def test_identical_predictions_give_exactly_zero():
    y, (base, _) = synthetic()
    table = st.paired_bootstrap(y, {"baseline": {0: base, 1: base[::-1]}, "same": {0: base.copy(), 1: base[::-1]}},
                                minority_index=0, n_resamples=200)
    assert (table[["observed_difference", "boot_ci_low", "boot_ci_high"]].to_numpy() == 0).all()
    assert (table["boot_p"] == 1).all()


def test_bootstrap_seeding():
    y, (base, other) = synthetic()
    preds = {"baseline": {0: base}, "a": {0: other}}
    first = st.paired_bootstrap(y, preds, minority_index=0, n_resamples=300, seed=7)
    pd.testing.assert_frame_equal(first, st.paired_bootstrap(y, preds, minority_index=0, n_resamples=300, seed=7))
    assert not first["boot_ci_low"].equals(st.paired_bootstrap(y, preds, minority_index=0, n_resamples=300,
                                                               seed=8)["boot_ci_low"])


def test_bootstrap_interval_is_the_percentile_interval_of_order_statistics():
    y, (base, other) = synthetic(n=500)
    preds = {"baseline": {0: base}, "a": {0: other}, "b": {0: base}, "c": {0: other}}
    table, dist = st.paired_bootstrap(y, preds, metrics=["macro_f1"], n_resamples=1000, return_distributions=True)
    row = table.set_index("experiment").loc["a"]
    assert row["n_resamples_used"] == 1000 and row["note"] == ""
    d = dist[("a", "macro_f1")]
    # the 25th smallest and the 25th largest of 1000: numpy's inverted_cdf quantile at 2.5 %, mirrored
    assert (row["boot_ci_low"], row["boot_ci_high"]) == (np.sort(d)[24], np.sort(d)[-25])
    assert row["boot_ci_low"] == np.quantile(d, 0.025, method="inverted_cdf")
    assert row["boot_ci_low"] < row["observed_difference"] < row["boot_ci_high"]
    assert row["observed_difference"] == pytest.approx(
        f1_score(y, other, average="macro") - f1_score(y, base, average="macro"), abs=1e-12)
    assert row["boot_ci_low"] > 0 and row["boot_p"] == 0  # 75 % vs 60 % correct on 500 samples is no noise


def test_a_rough_corrected_bootstrap_interval_is_flagged():
    jobs, frames = sweep_from_predictions({"baseline": (0, [0]), "a": (0.5, [0]), "b": (0.5, [0]), "c": (0.5, [0])})
    rough = st.compare_to_baseline(jobs, frames, metrics=["macro_f1"], n_resamples=100)
    assert rough["note"].str.contains("raise n_resamples").all()  # 100 * 0.05 / 3 / 2 < 5 beyond each end


def test_several_seeds_average_the_paired_differences_and_ignore_unpaired_seeds():
    y, (base, other) = synthetic()
    one = st.paired_bootstrap(y, {"baseline": {0: base}, "a": {0: other}}, metrics=["macro_f1"], n_resamples=200,
                              return_distributions=True)[1][("a", "macro_f1")]
    # seed 1 repeats seed 0 (the mean of two equal differences is that difference); seed 2 has no partner.
    table, dist = st.paired_bootstrap(y, {"baseline": {0: base, 1: base}, "a": {0: other, 1: other, 2: base}},
                                      metrics=["macro_f1"], n_resamples=200, return_distributions=True)
    assert table["n_pairs"].iloc[0] == 2
    assert np.allclose(dist[("a", "macro_f1")], one, atol=1e-12)


def test_resamples_without_the_minority_class_are_left_out():
    y = np.r_[np.zeros(1, int), np.ones(19, int)]
    base, other = y.copy(), np.ones(20, int)
    row = st.paired_bootstrap(y, {"baseline": {0: base}, "a": {0: other}}, metrics=["minority_class_recall"],
                              minority_index=0, n_resamples=500).iloc[0]
    assert 250 < row["n_resamples_used"] < 400  # P(sample 0 not drawn) = 0.95^20 = 0.36
    assert "without the class left out" in row["note"]
    assert row["boot_ci_low"] == row["boot_ci_high"] == row["observed_difference"] == -1.0


def predictions_frame(ids, y, pred):
    return pd.DataFrame({"source_id": ids, "true_index": y, "true_class": [f"c{v}" for v in y], "pred_index": pred,
                         "pred_class": [f"c{v}" for v in pred], "confidence": 0.5})


def test_align_predictions_matches_by_source_id():
    ids, y = np.array(["s3", "s1", "s2"]), np.array([2, 0, 1])
    shuffled = [2, 0, 1]
    y_true, preds = st.align_predictions({
        ("baseline", 0): predictions_frame(ids, y, [2, 0, 0]),
        ("a", 0): predictions_frame(ids[shuffled], y[shuffled], np.array([2, 1, 1])[shuffled])})
    assert y_true.tolist() == [0, 1, 2]  # s1, s2, s3
    assert preds["baseline"][0].tolist() == [0, 0, 2] and preds["a"][0].tolist() == [1, 1, 2]


@pytest.mark.parametrize("other, message", [
    (predictions_frame(["s1", "s2", "s4"], [0, 1, 2], [0, 1, 2]), "different test samples"),
    (predictions_frame(["s1", "s2", "s3"], [0, 1, 1], [0, 1, 2]), "disagree on the true class"),
    (predictions_frame(["s1", "s1", "s3"], [0, 0, 2], [0, 1, 2]), "more than once"),
    (pd.DataFrame({"source_id": ["s1"], "pred_index": [0]}), "lack the columns"),
])
def test_align_predictions_rejects_unpaired_tables(other, message):
    frames = {("baseline", 0): predictions_frame(["s1", "s2", "s3"], [0, 1, 2], [0, 1, 2]), ("a", 0): other}
    with pytest.raises(DataError, match=message):
        st.align_predictions(frames)


# --- everything together ----------------------------------------------------------------------------

def sweep_from_predictions(plan, n=600, seed=6):
    """plan: {experiment: (share of the baseline's errors it corrects, seeds)} -> (jobs table, predictions)
    that agree with each other; the baseline is right on about 70 % of the samples."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.1, 0.45, 0.45])
    baseline = {s: np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, n)) for s in range(10)}
    rows, frames = [], {}
    for experiment, (corrected, seeds) in plan.items():
        for s in seeds:
            pred = np.where(rng.random(n) < corrected, y, baseline[s])
            frames[(experiment, s)] = predictions_frame(np.arange(n), y, pred)
            rows.append({"job": f"{experiment}_seed{s}", "experiment": experiment, "seed": s, "status": "completed",
                         **{m: st.metric_value(y, pred, m, 0) for m in st.METRICS}})
    return pd.DataFrame(rows), frames


def test_compare_to_baseline_verdicts():
    jobs, frames = sweep_from_predictions({"baseline": (0, [0, 1, 2]), "much_better": (0.6, [0, 1, 2]),
                                           "one_seed_better": (0.6, [0]), "one_seed_same": (0.01, [1]),
                                           "never_paired": (0.6, [7])})
    table = st.compare_to_baseline(jobs, frames, minority_index=0, n_resamples=1000)
    verdicts = table.pivot(index="experiment", columns="metric", values="verdict")
    assert (verdicts.loc["much_better"] == st.BETTER).all()
    assert (verdicts.loc["one_seed_better"] == st.BETTER).all()  # by the bootstrap
    assert (verdicts.loc["one_seed_same"] == st.NO_DIFFERENCE).all()
    assert (verdicts.loc["never_paired"] == st.NOT_AVAILABLE).all()
    assert (table["n_comparisons"] == 3).all()
    paired = table[table["n_pairs"] > 0]
    assert np.allclose(paired["observed_difference"], paired["mean_difference"], atol=1e-12)
    assert not table["boot_note"].fillna("").str.contains("another difference").any()


def test_compare_to_baseline_flags_predictions_that_do_not_match_the_runs():
    jobs, frames = sweep_from_predictions({"baseline": (0, [0]), "a": (0.5, [0])})
    jobs.loc[jobs["experiment"] == "a", "macro_f1"] += 0.1
    row = st.compare_to_baseline(jobs, frames, metrics=["macro_f1"], n_resamples=50).iloc[0]
    assert "another difference" in row["boot_note"]


def test_read_predictions_from_job_folders(tmp_path):
    jobs, frames = sweep_from_predictions({"baseline": (0, [0]), "a": (0.5, [0])}, n=20)
    for (experiment, seed), frame in frames.items():
        (tmp_path / f"{experiment}_seed{seed}").mkdir()
        frame.to_csv(tmp_path / f"{experiment}_seed{seed}" / "predictions.csv", index=False)
    read = st.read_predictions(tmp_path, jobs)
    assert set(read) == {("baseline", 0), ("a", 0)}
    assert read[("a", 0)]["pred_index"].tolist() == frames[("a", 0)]["pred_index"].tolist()


def test_minority_class_index_from_the_summaries(tmp_path):
    jobs, frames = sweep_from_predictions({"baseline": (0, [0]), "a": (0.5, [0])}, n=30)
    for job in jobs["job"]:
        (tmp_path / job).mkdir()
        (tmp_path / job / "experiment_summary.json").write_text('{"test": {"minority_class": "c0"}}')
    assert st.minority_class_index(tmp_path, jobs, frames) == 0
    (tmp_path / "a_seed0" / "experiment_summary.json").write_text('{"test": {"minority_class": "c2"}}')
    with pytest.raises(DataError, match="different minority classes"):
        st.minority_class_index(tmp_path, jobs, frames)


# --- across datasets (Demšar 2006) ------------------------------------------------------------------

# Demšar (2006), Table 5(a): critical values of the two-tailed Nemenyi test, k = 2..10. They were
# computed from studentized range tables rounded to 2-3 decimals, so the last digit can be off by one.
DEMSAR_Q = {0.05: [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164],
            0.10: [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]}


@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_nemenyi_q_reproduces_demsar_table(alpha):
    assert [st.nemenyi_q(k, alpha) for k in range(2, 11)] == pytest.approx(DEMSAR_Q[alpha], abs=1e-3)


def test_critical_difference_demsar_example():
    # Demšar section 3.2.4: four classifiers on 14 data sets, CD = 2.569 sqrt(4*5/(6*14)) = 1.25
    assert st.critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)


def test_average_ranks_with_ties_and_friedman_against_demsar_formulas():
    scores = pd.DataFrame({"a": [0.9, 0.8, 0.7, 0.6], "b": [0.8, 0.8, 0.6, 0.7], "c": [0.7, 0.5, 0.5, 0.5]},
                          index=["d1", "d2", "d3", "d4"])
    result = st.rank_comparison(scores)
    # d2 ties a and b for first: both get 1.5
    assert result.ranks.loc["a", "rank_d2"] == result.ranks.loc["b", "rank_d2"] == 1.5
    assert result.average_ranks.to_dict() == pytest.approx({"a": (1 + 1.5 + 1 + 2) / 4, "b": (2 + 1.5 + 2 + 1) / 4,
                                                            "c": 3.0})
    assert list(result.ranks.index) == ["a", "b", "c"] and result.ranks["n_datasets"].eq(4).all()
    # scipy corrects for ties; the untied Demšar formula on data without ties:
    untied = scores.assign(b=[0.8, 0.75, 0.6, 0.7])
    r = st.rank_comparison(untied)
    n, k, ranks = 4, 3, r.average_ranks.to_numpy()
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(ranks ** 2) - k * (k + 1) ** 2 / 4)
    assert r.friedman_statistic == pytest.approx(chi2)
    assert r.friedman_p == pytest.approx(stats.chi2.sf(chi2, k - 1))
    f = (n - 1) * chi2 / (n * (k - 1) - chi2)
    assert r.iman_davenport_statistic == pytest.approx(f)
    assert r.critical_difference == pytest.approx(2.343 * math.sqrt(k * (k + 1) / (6 * n)), abs=1e-3)


def test_identical_rankings_everywhere_and_two_datasets():
    scores = pd.DataFrame({"a": [3.0, 3.0], "b": [2.0, 2.0], "c": [1.0, 1.0]}, index=["x", "y"])
    r = st.rank_comparison(scores)
    assert r.n_datasets == 2 and r.friedman_statistic == pytest.approx(4.0)  # N (k - 1): perfect agreement
    # F = (N-1) chi2 / (N(k-1) - chi2) divides by zero: not computable, and p = 0 would overstate the evidence
    assert np.isnan(r.iman_davenport_statistic) and np.isnan(r.iman_davenport_p)
    assert "Iman-Davenport F is not computable" in r.note
    assert "Demšar advises" in r.note


def test_rank_comparison_leaves_out_incomplete_datasets_and_needs_three_experiments_for_friedman():
    scores = pd.DataFrame({"a": [0.9, 0.8, np.nan], "b": [0.8, 0.9, 0.7]}, index=["d1", "d2", "d3"])
    r = st.rank_comparison(scores)
    assert r.dropped_datasets == ["d3"] and r.n_datasets == 2 and np.isnan(r.friedman_p)
    assert "needs >= 3 experiments" in r.note and r.critical_difference == pytest.approx(1.960 * math.sqrt(1 / 2),
                                                                                         abs=1e-3)
    with pytest.raises(DataError, match="at least 2 experiments"):
        st.rank_comparison(scores[["a"]])


def test_nemenyi_groups_are_maximal_runs_closer_than_cd():
    ranks = pd.Series({"a": 1.0, "b": 2.0, "c": 2.5, "d": 3.4})
    assert st.nemenyi_groups(ranks, 1.5) == [["a", "b"], ["b", "c", "d"]]  # a-c differ by exactly CD: apart
    assert st.nemenyi_groups(ranks.sample(frac=1, random_state=0), 1.5) == [["a", "b"], ["b", "c", "d"]]
    assert st.nemenyi_groups(ranks, 10) == [["a", "b", "c", "d"]]
    assert st.nemenyi_groups(ranks, 0.4) == []
    assert st.nemenyi_groups(ranks, np.nan) == []
