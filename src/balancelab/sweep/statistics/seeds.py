"""Paired statistics over seeds alone: the per-seed metric table of a sweep, and the paired t-test and
Wilcoxon signed-rank test of one comparison. Informative columns beside the decisive two-level test: they
measure training randomness on this one test set and say nothing about test-sampling noise."""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import pandas as pd
from scipy import stats

from balancelab.errors import DataError
from balancelab.output.contract import FINISHED

# Below 6 pairs the smallest two-sided Wilcoxon p, 2 / 2^n, cannot reach 0.05: not reported.
MIN_PAIRS_WILCOXON = 6


def all_equal(differences: np.ndarray) -> bool:
    """Metric differences such as 0.6-0.5 and 0.7-0.6 differ in the last bits; a t statistic from that
    "variance" would be noise (scipy warns of catastrophic cancellation). Metrics are ratios of counts, so two
    genuinely different differences are much further apart than 1e-12."""
    return len(differences) > 0 and float(np.ptp(differences)) <= 1e-12 * max(1.0, float(np.abs(differences).max()))


def paired_seeds(values: pd.Series, reference_values: pd.Series) -> Tuple[List, List]:
    """(seeds both sides finished, seeds of ``values`` without a reference partner), values indexed by seed."""
    a, b = values.dropna(), reference_values.dropna()
    return sorted(set(a.index) & set(b.index)), sorted(set(a.index) - set(b.index))


def seed_tests(x: np.ndarray, y: np.ndarray, alpha: float = 0.05) -> Dict[str, float]:
    """The paired t-test (its 1 - alpha interval and p) and, from 6 pairs, the Wilcoxon p of x - y."""
    out = {"ci_low": np.nan, "ci_high": np.nan, "p_ttest": np.nan, "p_wilcoxon": np.nan}
    d = x - y
    if len(d) >= 2 and not all_equal(d):
        test = stats.ttest_rel(x, y)
        out["p_ttest"] = float(test.pvalue)
        out["ci_low"], out["ci_high"] = map(float, test.confidence_interval(1 - alpha))
        if len(d) >= MIN_PAIRS_WILCOXON:
            out["p_wilcoxon"] = float(stats.wilcoxon(x, y).pvalue)
    return out


def finished_values(jobs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """experiment x seed table of ``metric`` over finished jobs (NaN where missing)."""
    for column in ("experiment", "seed", "status", metric):
        if column not in jobs:
            raise DataError(f"The jobs table has no column {column!r} (has {list(jobs.columns)}); build it "
                            "with balancelab.sweep.jobs.jobs_table.")
    done = jobs[jobs["status"].isin(FINISHED)]
    duplicated = done[done.duplicated(["experiment", "seed"], keep=False)]
    if len(duplicated):
        pairs = sorted({f"{e} seed {s}" for e, s in zip(duplicated["experiment"], duplicated["seed"])})
        raise DataError(f"Several finished jobs for the same experiment and seed: {', '.join(pairs)}. A sweep runs "
                        "each (experiment, seed) once, so these jobs differ in some other setting (compare their "
                        "config.yaml, or the comparison's settings column): give each its own sweep (name=...), or "
                        "move the jobs that do not belong in this comparison to another folder.")
    return done.pivot(index="experiment", columns="seed", values=metric).astype(float)


def row_of(table: pd.DataFrame, experiment: str) -> pd.Series:
    return table.loc[experiment] if experiment in table.index else pd.Series(dtype=float)
