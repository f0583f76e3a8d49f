"""Ranks across datasets (Demšar 2006): the arithmetic, and that the post-hoc test is made only when the
omnibus test rejects, and two experiments get the Wilcoxon signed-rank test instead."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from balancelab.errors import DataError
from balancelab.sweep import statistics as st

# Demšar (2006), Table 5(a): critical values of the two-tailed Nemenyi test, k = 2..10. They were computed from
# studentized range tables rounded to 2-3 decimals, so the last digit can be off by one.
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
    assert result.ranks.loc["a", "rank_d2"] == result.ranks.loc["b", "rank_d2"] == 1.5  # d2 ties a and b
    assert result.average_ranks.to_dict() == pytest.approx({"a": (1 + 1.5 + 1 + 2) / 4, "b": (2 + 1.5 + 2 + 1) / 4,
                                                            "c": 3.0})
    untied = scores.assign(b=[0.8, 0.75, 0.6, 0.7])  # scipy corrects for ties; Demšar's formula has none
    r = st.rank_comparison(untied)
    n, k, ranks = 4, 3, r.average_ranks.to_numpy()
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(ranks ** 2) - k * (k + 1) ** 2 / 4)
    assert r.friedman_statistic == pytest.approx(chi2) and r.friedman_p == pytest.approx(stats.chi2.sf(chi2, k - 1))
    f = (n - 1) * chi2 / (n * (k - 1) - chi2)
    assert r.iman_davenport_statistic == pytest.approx(f)
    assert r.iman_davenport_p == pytest.approx(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


def test_the_post_hoc_test_is_made_only_when_the_omnibus_test_rejects():
    """Demšar runs Nemenyi after Friedman rejects; the old report drew groups whatever Friedman's p."""
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.normal(0.7, 0.05, (12, 4)), columns=list("abcd"))  # no experiment is better
    r = st.rank_comparison(noise)
    assert r.omnibus_p >= 0.05 and not r.post_hoc
    assert np.isnan(r.critical_difference) and r.groups == [] and "no post-hoc test" in r.note
    clear = noise.assign(a=noise["a"] + 0.5)  # a wins on every dataset
    r = st.rank_comparison(clear)
    assert r.omnibus_p == pytest.approx(r.iman_davenport_p) and r.omnibus_p < 0.05 and r.post_hoc
    assert r.critical_difference == pytest.approx(st.critical_difference(4, 12))
    assert not any("a" in g for g in r.groups)  # a stands apart from the rest


def test_two_experiments_get_the_wilcoxon_and_sign_tests_not_nemenyi():
    """smote better than baseline on 4 of 4 sweeps: the exact sign test gives p = 0.125, so no difference can be
    shown with four datasets (the old report drew a significant critical difference)."""
    scores = pd.DataFrame({"baseline": [0.6, 0.7, 0.5, 0.8], "smote": [0.65, 0.72, 0.58, 0.81]})
    r = st.rank_comparison(scores)
    assert (r.wins, r.losses, r.ties) == (4, 0, 0) and list(r.ranks.index[:2]) == ["smote", "baseline"]
    assert r.sign_p == pytest.approx(0.125) and r.wilcoxon_p == pytest.approx(0.125)
    assert np.isnan(r.critical_difference) and r.groups == [] and not r.post_hoc
    assert "2/2^N" in r.note
    many = pd.DataFrame({"baseline": np.linspace(0.5, 0.8, 12), "smote": np.linspace(0.5, 0.8, 12) + 0.02})
    r = st.rank_comparison(many)
    assert r.wilcoxon_p == pytest.approx(stats.wilcoxon(many["smote"] - many["baseline"]).pvalue)
    assert r.wilcoxon_p < 0.05 and r.note == ""


def test_identical_rankings_everywhere_gate_on_the_friedman_p():
    scores = pd.DataFrame({"a": [3.0, 3.0], "b": [2.0, 2.0], "c": [1.0, 1.0]}, index=["x", "y"])
    r = st.rank_comparison(scores)
    assert r.n_datasets == 2 and r.friedman_statistic == pytest.approx(4.0)  # N (k - 1): perfect agreement
    assert np.isnan(r.iman_davenport_statistic) and np.isnan(r.iman_davenport_p)
    assert "Iman-Davenport F is not computable" in r.note and r.omnibus_p == pytest.approx(r.friedman_p)
    assert not r.post_hoc  # chi2(2) = 4 gives p = 0.135


def test_incomplete_datasets_are_left_out_and_one_dataset_gets_no_test():
    scores = pd.DataFrame({"a": [0.9, 0.8, np.nan], "b": [0.8, 0.9, 0.7], "c": [0.7, 0.7, 0.7]},
                          index=["d1", "d2", "d3"])
    r = st.rank_comparison(scores)
    assert r.dropped_datasets == ["d3"] and r.n_datasets == 2
    r = st.rank_comparison(scores.iloc[:1])
    assert np.isnan(r.friedman_p) and "at least 2 datasets" in r.note
    with pytest.raises(DataError, match="at least 2 experiments"):
        st.rank_comparison(scores[["a"]])


def test_nemenyi_groups_are_maximal_runs_closer_than_cd():
    ranks = pd.Series({"a": 1.0, "b": 2.0, "c": 2.5, "d": 3.4})
    assert st.nemenyi_groups(ranks, 1.5) == [["a", "b"], ["b", "c", "d"]]  # a-c differ by exactly CD: apart
    assert st.nemenyi_groups(ranks.sample(frac=1, random_state=0), 1.5) == [["a", "b"], ["b", "c", "d"]]
    assert st.nemenyi_groups(ranks, 10) == [["a", "b", "c", "d"]]
    assert st.nemenyi_groups(ranks, 0.4) == [] and st.nemenyi_groups(ranks, np.nan) == []


def test_two_experiments_over_blocks_on_different_scales_are_decided_by_the_sign_test():
    """A block of sweeps that share a test set is scored by minus its average rank (a magnitude of 1), the others
    by the metric (differences of about 0.001): the Wilcoxon signed-rank test would rank the block's difference
    first whatever the raw ones say. With such blocks only the sign test (wins and losses) decides."""
    import pandas as pd

    from balancelab.sweep.statistics.ranks import rank_comparison

    raw = pd.DataFrame({"x": [0.900] * 6, "y": [0.901, 0.902, 0.901, 0.903, 0.901, 0.902]},
                       index=[f"d{i}" for i in range(6)])
    blocks = pd.concat([raw, pd.DataFrame({"x": [-1.0], "y": [-2.0]}, index=["a + b"])])
    result = rank_comparison(blocks, commensurable=False)
    assert np.isnan(result.wilcoxon_p)
    assert result.sign_p == pytest.approx(0.125)  # y ahead on 6 of 7: binomial two-sided
    assert "sign test" in result.note
    plain = rank_comparison(raw)
    assert plain.wilcoxon_p < 0.05
