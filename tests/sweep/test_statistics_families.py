"""Which hypotheses share a Holm family, and that the published corrected interval and the verdict always
agree (with each other and with the Holm-adjusted p-value)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from balancelab.sweep import statistics as st
from tests.sweep.test_statistics import predictions_frame


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def jobs_frame(values, derived=None):
    """values: {experiment: {seed: macro_f1}}; derived: {derived experiment: (source, {seed: macro_f1})}."""
    rows = [{"job": f"{e}_seed{s}", "experiment": e, "seed": s, "status": "completed", "macro_f1": v,
             "row_kind": "trained", "source_experiment": None} for e, per_seed in values.items()
            for s, v in per_seed.items()]
    for name, (source, per_seed) in (derived or {}).items():
        rows += [{"job": f"{source}_seed{s}#x", "experiment": name, "seed": s, "status": "completed",
                  "macro_f1": v, "row_kind": "derived", "source_experiment": source} for s, v in per_seed.items()]
    return pd.DataFrame(rows)


TRAINED = {"baseline": {0: 0.60, 1: 0.62, 2: 0.61}, "ros": {0: 0.66, 1: 0.69, 2: 0.665}}


def test_derived_rows_do_not_enter_the_trained_family():
    """A 2-experiment sweep is one comparison (m = 1), however many post-hoc rows it carries."""
    alone = st.compare_to_baseline(jobs_frame(TRAINED), metrics=["macro_f1"]).set_index("experiment")
    derived = {f"{e} + {d}": (e, {s: v + 0.01 * k for s, v in TRAINED[e].items()})
               for e in TRAINED for k, d in enumerate(("posthoc_la", "posthoc_tau_norm", "cRT"), 1)}
    together = st.compare_to_baseline(jobs_frame(TRAINED, derived), metrics=["macro_f1"])
    trained = together[together["family"] == st.TRAINED_FAMILY].set_index("experiment")
    assert list(trained.index) == ["ros"] and trained.loc["ros", "n_comparisons"] == 1
    p = stats.ttest_rel([0.66, 0.69, 0.665], [0.60, 0.62, 0.61]).pvalue
    assert p < 0.05 and trained.loc["ros", "p_holm"] == pytest.approx(p)  # m = 1: Holm changes nothing
    for column in ("p_holm", "ci_corrected_low", "ci_corrected_high", "verdict", "n_comparisons"):
        assert trained.loc["ros", column] == alone.loc["ros", column], column
    assert trained.loc["ros", "verdict"] == st.BETTER


def test_derived_rows_are_compared_with_baseline_and_with_their_own_model_in_families_of_their_own():
    derived = {"baseline + posthoc_la": ("baseline", {0: 0.65, 1: 0.66, 2: 0.655}),
               "ros + posthoc_la": ("ros", {0: 0.67, 1: 0.70, 2: 0.68})}
    table = st.compare_to_baseline(jobs_frame(TRAINED, derived), metrics=["macro_f1"])
    vs_base = table[table["family"] == st.DERIVED_VS_BASELINE_FAMILY].set_index("experiment")
    vs_own = table[table["family"] == st.DERIVED_VS_SOURCE_FAMILY].set_index("experiment")
    assert set(vs_base.index) == set(vs_own.index) == set(derived)
    assert (vs_base["reference"] == "baseline").all()
    assert vs_own.loc["ros + posthoc_la", "reference"] == "ros"
    assert vs_own.loc["baseline + posthoc_la", "reference"] == "baseline"
    assert (vs_base["n_comparisons"] == 2).all() and (vs_own["n_comparisons"] == 2).all()
    assert vs_own.loc["ros + posthoc_la", "mean_difference"] == pytest.approx(np.mean([0.01, 0.01, 0.015]))
    raw = [stats.ttest_rel(list(derived[e][1].values()), list(TRAINED["baseline"].values())).pvalue
           for e in vs_base.index]
    assert np.allclose(vs_base["p_holm"], st.holm(raw))


def test_holm_levels_reject_exactly_what_holm_rejects():
    rng = np.random.default_rng(0)
    for _ in range(300):
        p = rng.uniform(0, 0.08, size=rng.integers(1, 9))
        p[rng.random(len(p)) < 0.15] = np.nan
        m = int(np.isfinite(p).sum()) + int(rng.integers(0, 3))
        levels = st.holm_levels(p, 0.05, n_tests=m)
        adjusted = st.holm(p, n_tests=m)
        finite = np.isfinite(p)
        assert np.array_equal(p[finite] < levels[finite], adjusted[finite] < 0.05)
        assert np.isnan(levels[~finite]).all()
        if m:
            assert (levels[finite] >= 0.05 / m - 1e-15).all() and (levels[finite] <= 0.05).all()


def sweep(plan, n=400, seed=3, seeds=(0, 1, 2)):
    """{experiment: share of the baseline's errors it corrects (negative: adds errors)} -> jobs, predictions."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.2, 0.4, 0.4])
    base = {s: np.where(rng.random(n) < 0.65, y, rng.integers(0, 3, n)) for s in seeds}
    rows, frames = [], {}
    for experiment, share in {"baseline": 0.0, **plan}.items():
        for s in seeds:
            if share >= 0:
                pred = np.where(rng.random(n) < share, y, base[s])
            else:
                pred = np.where(rng.random(n) < -share, (y + 1) % 3, base[s])
            frames[(experiment, s)] = predictions_frame(np.arange(n), y, pred)
            rows.append({"job": f"{experiment}_{s}", "experiment": experiment, "seed": s, "status": "completed",
                         **{m: st.metric_value(y, pred, m, 0) for m in st.METRICS}})
    return pd.DataFrame(rows), frames


def test_the_verdict_follows_the_published_corrected_interval_and_the_holm_p():
    rng = np.random.default_rng(7)
    for trial in range(6):
        plan = {f"e{i}": float(rng.choice([-0.05, 0.0, 0.02, 0.04, 0.1])) for i in range(6)}
        seeds = (0,) if trial % 3 == 0 else (0, 1, 2)  # one seed: the bootstrap decides
        jobs, frames = sweep(plan, seed=trial, seeds=seeds)
        table = st.compare_to_baseline(jobs, frames, minority_index=0, n_resamples=400)
        decided = table["verdict"].isin([st.BETTER, st.WORSE])
        excludes = (table["ci_corrected_low"] > 0) | (table["ci_corrected_high"] < 0)
        assert np.array_equal(decided, excludes)
        assert np.array_equal(decided, table["p_holm"] < 0.05)
        better = table["verdict"] == st.BETTER
        assert (table.loc[better, "ci_corrected_low"] > 0).all()
        assert (table.loc[table["verdict"] == st.WORSE, "ci_corrected_high"] < 0).all()
        # the corrected interval is the decisive test's interval at its Holm level, never narrower than 95 %
        low95 = np.where(table["test"] == "t-test", table["ci_low"], table["boot_ci_low"])
        high95 = np.where(table["test"] == "t-test", table["ci_high"], table["boot_ci_high"])
        assert (table["ci_corrected_low"] <= low95 + 1e-12).all() and (table["ci_corrected_high"] >= high95 - 1e-12).all()
        assert (table["corrected_level"].dropna() >= 0.95 - 1e-12).all()
        if seeds == (0,):
            assert set(table["test"]) == {"bootstrap"}
        else:  # e.g. share 0: the baseline's own predictions, the same (zero) difference in every seed
            assert set(table["test"]) <= {"t-test", "bootstrap"}
            assert table.loc[table["test"] == "bootstrap", "note"].str.contains("identical differences").all()


def test_bootstrap_interval_excludes_zero_exactly_when_its_p_is_below_the_level():
    rng = np.random.default_rng(1)
    for _ in range(500):
        d = np.round(rng.normal(rng.uniform(-0.02, 0.02), 0.01, rng.integers(20, 400)), 3)
        alpha = float(rng.choice([0.05, 0.01, 0.05 / 7, 0.1]))
        low, high = st.percentile_interval(d, alpha)
        assert (low > 0 or high < 0) == (st.bootstrap_p(d) < alpha)
        assert low == np.quantile(d, alpha / 2, method="inverted_cdf")
        assert high == -np.quantile(-d, alpha / 2, method="inverted_cdf")


def test_identical_differences_in_every_seed_are_decided_by_the_bootstrap():
    """Seed-to-seed identical predictions: the t statistic is undefined, the test-sample bootstrap is not."""
    rng = np.random.default_rng(2)
    n = 300
    y = rng.choice(3, size=n)
    base_pred = np.where(rng.random(n) < 0.5, y, (y + 1) % 3)
    better_pred = np.where(rng.random(n) < 0.6, y, base_pred)
    frames, rows = {}, []
    for e, pred in (("baseline", base_pred), ("same_gain", better_pred)):
        for s in (0, 1, 2):
            frames[(e, s)] = predictions_frame(np.arange(n), y, pred)
            rows.append({"job": f"{e}_{s}", "experiment": e, "seed": s, "status": "completed",
                         "macro_f1": st.metric_value(y, pred, "macro_f1")})
    jobs = pd.DataFrame(rows)
    with_boot = st.compare_to_baseline(jobs, frames, metrics=["macro_f1"], n_resamples=500).iloc[0]
    assert with_boot["n_pairs"] == 3 and np.isnan(with_boot["p_ttest"])
    assert with_boot["test"] == "bootstrap" and with_boot["verdict"] == st.BETTER
    assert "identical differences in every seed" in with_boot["note"]
    without = st.compare_to_baseline(jobs, metrics=["macro_f1"]).iloc[0]
    assert without["verdict"] == st.NOT_AVAILABLE and "predictions" in without["note"]
    zero = st.compare_to_baseline(jobs.assign(macro_f1=0.5), metrics=["macro_f1"]).iloc[0]
    assert zero["verdict"] == st.NO_DIFFERENCE and zero["mean_difference"] == 0


def test_a_zero_difference_beside_tested_comparisons_is_no_difference():
    """Mixed tests in one family (one comparison has nothing to test): the untested one gets no interval."""
    jobs = jobs_frame({"baseline": {0: 0.5, 1: 0.6}, "same": {0: 0.5, 1: 0.6}, "other": {0: 0.7, 1: 0.75}})
    table = st.compare_to_baseline(jobs, metrics=["macro_f1"]).set_index("experiment")
    assert table.loc["same", "verdict"] == st.NO_DIFFERENCE and np.isnan(table.loc["same", "ci_corrected_low"])
    assert table.loc["other", "test"] == st.T_TEST and table.loc["other", "n_comparisons"] == 2


def test_a_model_before_its_crt_stage_is_no_hypothesis_of_the_trained_family():
    """experiments=[baseline,ros,crt]: the crt row is trained as baseline (the same by construction); counting it
    made m = 2 and cost ros its verdict. Its result, "crt + cRT", is tested in the derived families."""
    values = {**TRAINED, "crt": dict(TRAINED["baseline"])}
    jobs = jobs_frame(values, {"crt + cRT": ("crt", {0: 0.70, 1: 0.71, 2: 0.705})})
    jobs["crt_epochs"] = np.where(jobs["experiment"].isin(["crt", "crt + cRT"]), 3, 0)
    table = st.compare_to_baseline(jobs, metrics=["macro_f1"])
    trained = table[table["family"] == st.TRAINED_FAMILY].set_index("experiment")
    assert list(trained.index) == ["ros"] and trained.loc["ros", "n_comparisons"] == 1
    assert "crt + cRT" in set(table.loc[table["family"] == st.DERIVED_VS_BASELINE_FAMILY, "experiment"])
    jobs["crt_epochs"] = 3  # every job ran cRT (trainer.crt_epochs on the command line): all are hypotheses
    table = st.compare_to_baseline(jobs, metrics=["macro_f1"])
    assert set(table.loc[table["family"] == st.TRAINED_FAMILY, "experiment"]) == {"ros", "crt"}
