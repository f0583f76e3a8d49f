"""Comparing experiments across datasets by their ranks (Demšar, JMLR 7, 2006).

* k >= 3 experiments: average ranks, the Friedman test and the Iman-Davenport F (which Demšar prefers, the
  Friedman chi-square being conservative). The Nemenyi post-hoc test - its critical difference and the groups
  of experiments it cannot tell apart - is made only when that omnibus test rejects at alpha, as Demšar runs
  it: without a rejection no pair may be called different.
* k = 2: Demšar §3.1 - the Wilcoxon signed-rank test over the datasets' paired scores (exact for small N), with
  the sign test beside it. No Nemenyi: with two experiments a critical difference only restates this test, and
  badly (4 wins of 4 datasets is p = 0.125 by the exact sign test).

The blocks must be independent datasets: seeds are not (they share a test set), and neither are two sweeps on
one test set (balancelab.sweep.across merges those before ranking).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np
import pandas as pd
from scipy import stats

from balancelab.errors import DataError


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Demšar's q_alpha: the studentized range quantile for k groups and infinite df, over sqrt(2)."""
    if k < 2:
        raise ValueError(f"The Nemenyi test compares at least 2 experiments; received k={k}.")
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2))


def critical_difference(k: int, n_datasets: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks: q_alpha sqrt(k (k+1) / (6 N))."""
    if n_datasets < 1:
        raise ValueError(f"The critical difference needs at least one dataset; received N={n_datasets}.")
    return nemenyi_q(k, alpha) * float(np.sqrt(k * (k + 1) / (6.0 * n_datasets)))


def nemenyi_groups(average_ranks: pd.Series, cd: float) -> List[List[str]]:
    """Maximal runs of experiments (sorted by average rank) whose ranks differ by less than ``cd``.

    These are the thick bars of Demšar's diagrams: two experiments in one group are not significantly
    different. Groups of one are left out.
    """
    ranks = average_ranks.sort_values(kind="stable")
    values, names = ranks.to_numpy(float), list(ranks.index)
    groups, reach = [], -1
    if not np.isfinite(cd):
        return groups
    for start in range(len(values)):
        end = start
        while end + 1 < len(values) and values[end + 1] - values[start] < cd:
            end += 1
        # Ends never decrease with the start, so a run ending where an earlier one ended lies inside it.
        if end > start and end > reach:
            groups.append(names[start:end + 1])
        reach = max(reach, end)
    return groups


@dataclass
class RankComparison:
    """Average ranks and the tests of a score table (module docstring)."""

    ranks: pd.DataFrame  # one row per experiment: average_rank, then its rank on each dataset
    n_datasets: int
    n_experiments: int
    alpha: float
    friedman_statistic: float = np.nan
    friedman_p: float = np.nan
    iman_davenport_statistic: float = np.nan
    iman_davenport_p: float = np.nan
    omnibus_p: float = np.nan          # the p that gates the post-hoc test (Iman-Davenport, else Friedman)
    post_hoc: bool = False             # the Nemenyi test was made (the omnibus test rejected)
    q_alpha: float = np.nan
    critical_difference: float = np.nan
    groups: List[List[str]] = field(default_factory=list)
    wilcoxon_p: float = np.nan         # k = 2
    sign_p: float = np.nan             # k = 2
    wins: int = 0                      # k = 2: datasets where the first experiment (best average rank) scores higher
    losses: int = 0
    ties: int = 0
    dropped_datasets: List[str] = field(default_factory=list)
    note: str = ""

    @property
    def average_ranks(self) -> pd.Series:
        return self.ranks["average_rank"]


def _two_experiments(result: RankComparison, complete: pd.DataFrame, notes: List[str],
                     commensurable: bool = True) -> None:
    first, second = list(result.ranks.index[:2])
    d = complete[first].to_numpy(float) - complete[second].to_numpy(float)
    result.wins, result.losses, result.ties = int((d > 0).sum()), int((d < 0).sum()), int((d == 0).sum())
    if result.wins + result.losses:
        result.sign_p = float(stats.binomtest(result.wins, result.wins + result.losses).pvalue)
    if not commensurable:  # the signed-rank test ranks |d| across datasets: only one scale may be ranked
        notes.append("the datasets' scores are not on one scale (sweeps that share a test set are scored by their "
                     "ranks): the sign test decides, the Wilcoxon signed-rank test is not computed")
    elif np.any(d != 0):
        result.wilcoxon_p = float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
    smallest = 2.0 / 2 ** result.n_datasets
    if smallest >= result.alpha:
        notes.append(f"k=2, N={result.n_datasets}: the smallest p-value the Wilcoxon signed-rank and sign tests can "
                     f"give is 2/2^N = {smallest:.3g}, not below alpha = {result.alpha}: no difference can be shown "
                     "with this few datasets")


def _omnibus(result: RankComparison, complete: pd.DataFrame, notes: List[str]) -> None:
    n, k = result.n_datasets, result.n_experiments
    chi2, p = stats.friedmanchisquare(*(complete[c].to_numpy(float) for c in complete.columns))
    result.friedman_statistic, result.friedman_p = float(chi2), float(p)
    denominator = n * (k - 1) - chi2
    if denominator > 0:
        f = (n - 1) * chi2 / denominator
        result.iman_davenport_statistic = float(f)
        result.iman_davenport_p = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
        result.omnibus_p = result.iman_davenport_p
    else:  # every dataset ranks the experiments identically: F divides by zero
        result.omnibus_p = result.friedman_p
        notes.append("every dataset ranks the experiments identically (Friedman chi-square at its maximum N(k-1)): "
                     "the Iman-Davenport F is not computable (its denominator is 0); the Friedman p-value gates the "
                     "post-hoc test")
    if n <= 10 or k <= 5:
        notes.append(f"k={k}, N={n}: the Friedman p-value is a chi-square approximation; Demšar advises N > 10 and "
                     "k > 5 for it to be reliable")


def rank_comparison(scores: pd.DataFrame, alpha: float = 0.05, commensurable: bool = True) -> RankComparison:
    """Demšar's comparison of k experiments over N datasets from ``scores`` (rows = datasets, columns =
    experiments, higher is better). ``commensurable=False``: the rows' scores are not on one scale (some are
    ranks), so with k = 2 only the sign test is computed.

    Rank 1 is best; ties share the average rank. Datasets missing any score are left out (and listed): the
    Friedman test needs complete blocks.
    """
    if scores.shape[1] < 2:
        raise DataError(f"Ranking needs at least 2 experiments (columns); received {list(scores.columns)}.")
    complete = scores.dropna(how="any")
    dropped = [str(d) for d in scores.index.difference(complete.index, sort=False)]
    n, k = len(complete), scores.shape[1]
    per_dataset = complete.rank(axis=1, ascending=False, method="average")
    ranks = pd.DataFrame({"average_rank": per_dataset.mean(axis=0), "n_datasets": n})
    ranks = pd.concat([ranks, per_dataset.T.add_prefix("rank_")], axis=1)
    ranks = ranks.rename_axis("experiment").sort_values("average_rank", kind="stable")
    result = RankComparison(ranks=ranks, n_datasets=n, n_experiments=k, alpha=alpha, dropped_datasets=dropped)
    notes = [f"datasets with missing scores left out: {', '.join(dropped)}"] if dropped else []
    if n == 0:
        result.note = "; ".join(notes + ["no dataset has a score for every experiment"])
        return result
    if k == 2:
        _two_experiments(result, complete, notes, commensurable)
    elif n >= 2:
        _omnibus(result, complete, notes)
        if result.omnibus_p < alpha:
            result.post_hoc = True
            result.q_alpha = nemenyi_q(k, alpha)
            result.critical_difference = critical_difference(k, n, alpha)
            result.groups = nemenyi_groups(ranks["average_rank"], result.critical_difference)
        else:
            notes.append(f"the omnibus test does not reject (p = {result.omnibus_p:.3g} >= {alpha}): no post-hoc "
                         "test, so no pair of experiments is shown as different (Demšar 2006)")
    else:
        notes.append(f"the Friedman test needs at least 2 datasets (have N={n}): no test")
    result.note = "; ".join(notes)
    return result
