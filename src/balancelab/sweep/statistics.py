"""Is an experiment really better than the baseline? Paired tests over seeds, a paired bootstrap over
test samples, and rank statistics across datasets (Demšar, JMLR 7, 2006). Plain functions over
pandas/NumPy; writing files is left to the sweep report.

What is compared
----------------
Higher is better for every metric here: ``macro_f1`` (averaged over the classes present in the true
labels), ``balanced_accuracy`` and ``minority_class_recall``. Seed s of an experiment is paired with
seed s of its reference: the test split is fixed by ``dataset.split_seed``, so both were scored on the
same test samples. The two tools answer different questions:

* the paired test over seeds asks whether the difference survives *training* randomness on this test
  set (the test set is fixed, so it says nothing about test-sampling noise);
* the paired bootstrap over test samples asks whether it survives *test-sampling* noise (each resample
  draws the test indices once and scores every experiment and seed on them).

Families (Holm's correction is applied within one family and one metric)
------------------------------------------------------------------------
* ``trained vs baseline``: every trained experiment of the sweep against ``baseline``: the question the
  sweep was run for. Its size m is the number of trained experiments with a paired seed, whatever else
  the sweep reports, so adding post-hoc rows never changes a trained row's corrected p or verdict.
* ``derived vs baseline``: every derived row (a post-hoc correction or cRT of a trained model, rows of
  ``row_kind == "derived"``) against ``baseline``: does the corrected model beat the plain baseline?
* ``derived vs its trained model``: every derived row against the trained experiment it was derived from
  (``source_experiment``): does the correction help that model? (For ``baseline + …`` rows the two
  derived questions are the same comparison, answered in both families.)

Hypotheses without a paired seed are left out of m; those with a paired seed whose test is undefined
stay in it as hypotheses that are not rejected (ranked last), which keeps the correction conservative.

The decisive test of one comparison
-----------------------------------
* >= 2 paired seeds whose differences vary: the paired t-test (``scipy.stats.ttest_rel``) over seeds.
* one paired seed, or the same difference in every seed (the t statistic is undefined): the paired
  bootstrap, p = 2 min(share of resampled differences <= 0, share >= 0), capped at 1.
* neither (one seed, or identical differences, and no test-set predictions): no test, ``not available``;
  differences that are exactly 0 in every seed give ``no detectable difference`` (p = 1) without one.

Verdict rule (``alpha`` = 0.05 unless told)
-------------------------------------------
Holm's step-down over the family's decisive p-values gives each comparison the level at which it is
tested: alpha/m for the smallest p, alpha/(m-1) for the next while they are rejected, and from the first
non-rejected one on, that one's level for it and every later one. The published corrected interval is
the decisive test's interval at confidence 1 - that level (t-interval, or the bootstrap's percentile
interval taken as order statistics). The verdict is ``better``/``worse`` when that interval lies above /
below 0 and ``no detectable difference`` otherwise. By the duality of each test with its interval, this
is exactly the Holm decision: the interval excludes 0 if and only if the Holm-adjusted p < alpha. The
interval is Holm-consistent, not a simultaneous confidence interval (for that, Bonferroni's level
1 - alpha/m would be needed).

The Wilcoxon signed-rank p-value is reported from 6 pairs on (below that its smallest possible
two-sided p, 2/2^n, can not reach 0.05) and is informative only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Hashable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import sparse, stats

from balancelab.errors import DataError

METRICS = ("macro_f1", "balanced_accuracy", "minority_class_recall")
BASELINE = "baseline"
FINISHED = ("completed", "early_stopped")
BETTER, WORSE, NO_DIFFERENCE, NOT_AVAILABLE = "better", "worse", "no detectable difference", "not available"
MIN_PAIRS_WILCOXON = 6
N_RESAMPLES = 2000
# Resamples are drawn and scored in blocks of this many rows to bound memory; it is part of what a
# seed means (a different block size would draw different indices), so it is a constant.
RESAMPLE_BLOCK = 250
# A percentile interval's end estimated from fewer resamples beyond it than this is flagged as rough.
MIN_TAIL_RESAMPLES = 5


# ---------------------------------------------------------------------------------------------------
# Multiple comparisons
# ---------------------------------------------------------------------------------------------------

def holm(p_values: Sequence[float], n_tests: Optional[int] = None) -> np.ndarray:
    """Holm's step-down adjusted p-values (reject H_i at level alpha when adjusted p_i < alpha).

    Sorted ascending, p_(j) becomes max_{i<=j} min(1, (m - i + 1) p_(i)); the running maximum keeps
    the adjusted values in the order of the raw ones. NaN entries (tests that could not be made)
    stay NaN; ``n_tests`` (default: the number of finite p-values) is m, and may exceed that number
    so that untestable hypotheses still count in the family.
    """
    p = np.asarray(p_values, dtype=float)
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"p-values must lie in [0, 1]; received {p.tolist()}.")
    m = int(finite.sum()) if n_tests is None else int(n_tests)
    if m < finite.sum():
        raise ValueError(f"n_tests={m} is smaller than the {int(finite.sum())} p-values given; "
                         "pass the size of the whole family (or leave it out).")
    adjusted = np.full(p.shape, np.nan)
    where = np.flatnonzero(finite)
    order = where[np.argsort(p[where], kind="stable")]
    factors = m - np.arange(len(order))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(factors * p[order]))
    return adjusted


def holm_levels(p_values: Sequence[float], alpha: float = 0.05, n_tests: Optional[int] = None) -> np.ndarray:
    """The level at which Holm's step-down tests each hypothesis (NaN where p is NaN).

    Sorted ascending, p_(j) is tested at alpha / (m - j + 1) while every smaller p was rejected; from the
    first p that is not, every later hypothesis keeps that stopping level. So ``p < level`` is exactly
    Holm's rejection (``holm(p) < alpha``), and an interval at confidence 1 - level excludes the null
    value exactly when Holm rejects.
    """
    p = np.asarray(p_values, dtype=float)
    finite = ~np.isnan(p)
    m = int(finite.sum()) if n_tests is None else int(n_tests)
    if m < finite.sum():
        raise ValueError(f"n_tests={m} is smaller than the {int(finite.sum())} p-values given; "
                         "pass the size of the whole family (or leave it out).")
    levels = np.full(p.shape, np.nan)
    stopped: Optional[float] = None
    where = np.flatnonzero(finite)
    for j, i in enumerate(where[np.argsort(p[where], kind="stable")]):
        level = alpha / (m - j)
        if stopped is None and not (m - j) * p[i] < alpha:  # the comparison holm() makes
            stopped = level
        levels[i] = level if stopped is None else stopped
    return levels


# ---------------------------------------------------------------------------------------------------
# Which comparisons are made
# ---------------------------------------------------------------------------------------------------

TRAINED_FAMILY = "trained vs baseline"
DERIVED_VS_BASELINE_FAMILY = "derived vs baseline"
DERIVED_VS_SOURCE_FAMILY = "derived vs its trained model"
FAMILIES = (TRAINED_FAMILY, DERIVED_VS_BASELINE_FAMILY, DERIVED_VS_SOURCE_FAMILY)
T_TEST, BOOTSTRAP = "t-test", "bootstrap"


@dataclass(frozen=True)
class Hypothesis:
    experiment: str
    reference: str
    family: str


def before_crt_experiments(jobs: pd.DataFrame, baseline: str = BASELINE) -> set:
    """Trained experiments whose jobs all ran cRT when baseline's did not (``balance-sweep
    experiments=[baseline,crt]``): their trained row is the model *before* its cRT stage - trained as baseline,
    the same by construction - so testing it against baseline would only add a null hypothesis to the family
    and weaken every other verdict."""
    if "crt_epochs" not in jobs or "row_kind" in jobs and not (jobs["row_kind"] == "trained").any():
        return set()
    trained = jobs[jobs["row_kind"] == "trained"] if "row_kind" in jobs else jobs
    ran = pd.to_numeric(trained["crt_epochs"], errors="coerce").fillna(0) > 0
    by_experiment = ran.groupby(trained["experiment"]).all()
    if by_experiment.get(baseline, False):
        return set()
    return {e for e, all_ran in by_experiment.items() if all_ran and e != baseline}


def hypotheses(jobs: pd.DataFrame, baseline: str = BASELINE) -> List[Hypothesis]:
    """The comparisons of a sweep, family by family (see the module docstring).

    A row is derived when ``row_kind == "derived"``; its ``source_experiment`` names the trained
    experiment it comes from. Without those columns every row is a trained experiment.
    """
    kinds = jobs["row_kind"] if "row_kind" in jobs else pd.Series("trained", index=jobs.index)
    sources = jobs["source_experiment"] if "source_experiment" in jobs else pd.Series(None, index=jobs.index)
    trained, derived = [], {}
    stage_one = before_crt_experiments(jobs, baseline)
    for experiment, kind, source in zip(jobs["experiment"], kinds, sources):
        if experiment in stage_one:
            continue  # its result is its "+ cRT" row (derived families); the model before cRT is no hypothesis
        if kind == "derived":
            if not isinstance(source, str):
                raise DataError(f"The derived row {experiment!r} names no source_experiment; build the jobs table "
                                "with balancelab.sweep.report.jobs_table.")
            derived.setdefault(experiment, source)
        elif experiment != baseline and experiment not in trained:
            trained.append(experiment)
    return ([Hypothesis(e, baseline, TRAINED_FAMILY) for e in trained]
            + [Hypothesis(e, baseline, DERIVED_VS_BASELINE_FAMILY) for e in derived]
            + [Hypothesis(e, source, DERIVED_VS_SOURCE_FAMILY) for e, source in derived.items()])


# ---------------------------------------------------------------------------------------------------
# Paired statistics over seeds
# ---------------------------------------------------------------------------------------------------

def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _all_equal(differences: np.ndarray) -> bool:
    # Metric differences such as 0.6-0.5 and 0.7-0.6 differ in the last bits; a t statistic from
    # that "variance" would be noise (scipy warns of catastrophic cancellation). Metrics are ratios of
    # counts, so two genuinely different differences are much further apart than 1e-12.
    return float(np.ptp(differences)) <= 1e-12 * max(1.0, float(np.abs(differences).max()))


def _paired_arrays(values: pd.Series, reference_values: pd.Series):
    """(paired seeds, values, reference values, seeds without a reference partner), both indexed by seed."""
    a, b = values.dropna(), reference_values.dropna()
    seeds = sorted(set(a.index) & set(b.index))
    unpaired = sorted(set(a.index) - set(b.index))
    return seeds, a.loc[seeds].to_numpy(float), b.loc[seeds].to_numpy(float), unpaired


def t_interval(x: np.ndarray, y: np.ndarray, confidence: float) -> Tuple[float, float]:
    """The paired t-test's interval for mean(x - y) at ``confidence`` (scipy's ``ttest_rel``)."""
    low, high = stats.ttest_rel(x, y).confidence_interval(confidence)
    return float(low), float(high)


def paired_difference(values: pd.Series, baseline_values: pd.Series, alpha: float = 0.05) -> Dict[str, object]:
    """Paired statistics of ``values - baseline_values``, both indexed by seed (NaN = missing).

    The t-interval (1 - alpha) and p-value come from scipy's ``ttest_rel``; the Wilcoxon p-value from 6
    pairs on. ``identical`` says that every paired seed has the same difference (t undefined).
    """
    seeds, x, y, unpaired = _paired_arrays(values, baseline_values)
    d = x - y
    out: Dict[str, object] = {"n_pairs": len(seeds), "seeds": " ".join(map(str, seeds)),
                              "mean_difference": float(d.mean()) if len(d) else np.nan,
                              "ci_low": np.nan, "ci_high": np.nan, "p_ttest": np.nan, "p_wilcoxon": np.nan,
                              "identical": False}
    notes = []
    if unpaired:
        notes.append(f"seeds without a reference partner left out: {' '.join(map(str, unpaired))}")
    if len(seeds) == 1:
        notes.append("one paired seed: no t-test")
    elif len(seeds) >= 2 and _all_equal(d):
        out["identical"] = True
        notes.append("identical differences in every seed: t-test undefined")
    elif len(seeds) >= 2:
        test = stats.ttest_rel(x, y)
        out["p_ttest"] = float(test.pvalue)
        out["ci_low"], out["ci_high"] = map(float, test.confidence_interval(1 - alpha))
        if len(seeds) >= MIN_PAIRS_WILCOXON:
            out["p_wilcoxon"] = float(stats.wilcoxon(x, y).pvalue)
    out["note"] = _join(*notes)
    return out


def finished_values(jobs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """experiment x seed table of ``metric`` over finished jobs (NaN where missing)."""
    for column in ("experiment", "seed", "status", metric):
        if column not in jobs:
            raise DataError(f"The jobs table has no column {column!r} (has {list(jobs.columns)}); build it "
                            "with balancelab.sweep.report.jobs_table.")
    done = jobs[jobs["status"].isin(FINISHED)]
    duplicated = done[done.duplicated(["experiment", "seed"], keep=False)]
    if len(duplicated):
        pairs = sorted({f"{e} seed {s}" for e, s in zip(duplicated["experiment"], duplicated["seed"])})
        raise DataError(f"Several finished jobs for the same experiment and seed: {', '.join(pairs)}. A sweep runs "
                        "each (experiment, seed) once, so these jobs differ in some other setting (compare their "
                        "config.yaml, or the comparison's settings column): give each its own sweep (name=...), or "
                        "move the jobs that do not belong in this comparison to another folder.")
    return done.pivot(index="experiment", columns="seed", values=metric).astype(float)


def _row_of(table: pd.DataFrame, experiment: str) -> pd.Series:
    return table.loc[experiment] if experiment in table.index else pd.Series(dtype=float)


def seed_statistics(jobs: pd.DataFrame, metric: str, baseline: str = BASELINE, alpha: float = 0.05,
                    plan: Optional[Sequence[Hypothesis]] = None) -> pd.DataFrame:
    """One row per comparison (:func:`hypotheses`, or ``plan``): paired statistics over seeds.

    Columns: experiment, reference, family, metric, n_pairs, seeds, mean_difference, ci_low/high
    (t, 1 - alpha), p_ttest, p_wilcoxon, identical and note. Holm's correction is made by
    :func:`compare_to_baseline`, once the decisive test of each comparison is known.
    """
    table = finished_values(jobs, metric)
    rows = []
    for h in hypotheses(jobs, baseline) if plan is None else plan:
        row = paired_difference(_row_of(table, h.experiment), _row_of(table, h.reference), alpha)
        if row["n_pairs"] == 0:
            row["note"] = _join(row["note"], f"no finished seed of {h.experiment!r} pairs with a finished seed of "
                                             f"{h.reference!r}")
        rows.append({"experiment": h.experiment, "reference": h.reference, "family": h.family, "metric": metric,
                     **row})
    columns = ["experiment", "reference", "family", "metric", "n_pairs", "seeds", "mean_difference", "ci_low",
               "ci_high", "p_ttest", "p_wilcoxon", "identical", "note"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------------------
# Metrics from class counts (the bootstrap scores thousands of resamples at once)
# ---------------------------------------------------------------------------------------------------

def metric_from_counts(metric: str, tp: np.ndarray, support: np.ndarray, predicted: np.ndarray,
                       minority_index: Optional[int] = None) -> np.ndarray:
    """``metric`` from per-class counts (last axis = class), as the runs compute it.

    tp: correct predictions of the class, support: true samples of it, predicted: samples
    predicted as it. Macro-F1 and balanced accuracy average over the classes present in the true
    labels (F1 = 2 tp / (support + predicted) is then always defined); the minority recall is NaN
    where the class has no true sample.
    """
    present = support > 0
    n_present = present.sum(-1)
    safe_support = np.where(present, support, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "macro_f1":
            f1 = np.where(present, 2 * tp / np.where(present, support + predicted, 1), 0.0)
            return f1.sum(-1) / n_present
        if metric == "balanced_accuracy":
            recall = np.where(present, tp / safe_support, 0.0)
            return recall.sum(-1) / n_present
        if metric == "minority_class_recall":
            if minority_index is None:
                raise ValueError("minority_class_recall needs minority_index (the class index of the minority class).")
            return np.where(present[..., minority_index], tp[..., minority_index] / safe_support[..., minority_index],
                            np.nan)
    raise ValueError(f"Unknown metric {metric!r}; valid: {', '.join(METRICS)}.")


def metric_value(y_true, y_pred, metric: str, minority_index: Optional[int] = None) -> float:
    """``metric`` of one prediction vector (the same code path as every bootstrap resample)."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    k = int(max(y_true.max(initial=0), y_pred.max(initial=0), -1 if minority_index is None else minority_index)) + 1
    counts = _class_counts(np.ones((1, len(y_true))), _count_matrix(y_true, [y_pred], k), k, 1)
    return float(metric_from_counts(metric, *(c[0] for c in counts), minority_index=minority_index)[0])


def _indicator(labels: np.ndarray, n_classes: int, weight: Optional[np.ndarray] = None) -> sparse.csr_array:
    n = len(labels)
    data = np.ones(n) if weight is None else weight.astype(float)
    return sparse.csr_array((data, (np.arange(n), labels)), shape=(n, n_classes))


def _count_matrix(y_true: np.ndarray, predictions: Sequence[np.ndarray], n_classes: int) -> sparse.csr_array:
    """classes x samples indicators: [true class | predicted class of each vector | correct class of each]."""
    blocks = [_indicator(y_true, n_classes)]
    blocks += [_indicator(p, n_classes) for p in predictions]
    blocks += [_indicator(y_true, n_classes, p == y_true) for p in predictions]
    return sparse.hstack(blocks).T.tocsr()


def _class_counts(weights: np.ndarray, count_matrix: sparse.csr_array, n_classes: int, n_vectors: int):
    """(tp, support, predicted) per resample, vector and class from per-sample multiplicities.

    ``weights`` (resamples x samples) says how often each test sample was drawn; one sparse product
    scores every prediction vector on the same draws. Counts are integers, exact in float64.
    """
    counts = (count_matrix @ weights.T).T  # resamples x (K + 2 V K)
    k, v = n_classes, n_vectors
    support = counts[:, None, :k]
    predicted = counts[:, k:k + v * k].reshape(-1, v, k)
    tp = counts[:, k + v * k:].reshape(-1, v, k)
    return tp, np.broadcast_to(support, tp.shape), predicted


# ---------------------------------------------------------------------------------------------------
# Paired bootstrap over test samples
# ---------------------------------------------------------------------------------------------------

def resample_indices(n_samples: int, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Iterator[np.ndarray]:
    """Blocks (rows = resamples) of test indices drawn with replacement from a seeded Generator."""
    if n_samples < 1 or n_resamples < 1:
        raise ValueError(f"Need at least one test sample and one resample; received n_samples={n_samples}, "
                         f"n_resamples={n_resamples}.")
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, RESAMPLE_BLOCK):
        yield rng.integers(0, n_samples, size=(min(RESAMPLE_BLOCK, n_resamples - start), n_samples))


def _multiplicities(indices: np.ndarray, n_samples: int) -> np.ndarray:
    rows = indices.shape[0]
    flat = (np.arange(rows)[:, None] * n_samples + indices).ravel()
    return np.bincount(flat, minlength=rows * n_samples).reshape(rows, n_samples).astype(float)


def bootstrap_metrics(y_true, predictions: Sequence[np.ndarray], metrics: Sequence[str] = METRICS,
                      minority_index: Optional[int] = None, n_resamples: int = N_RESAMPLES,
                      seed: int = 0) -> Dict[str, np.ndarray]:
    """metric -> (resamples x vectors) array: every prediction vector scored on the same resamples."""
    y_true = np.asarray(y_true, int)
    predictions = [np.asarray(p, int) for p in predictions]
    if any(p.shape != y_true.shape for p in predictions):
        raise DataError(f"Every prediction vector must have one entry per test sample ({len(y_true)}); received "
                        f"lengths {[len(p) for p in predictions]}.")
    if min([y_true.min(initial=0)] + [p.min(initial=0) for p in predictions]) < 0:
        raise DataError("Class indices must be >= 0 (true_index / pred_index of predictions.csv); received a "
                        "negative one.")
    k = int(max([y_true.max(initial=0)] + [p.max(initial=0) for p in predictions]
                + [-1 if minority_index is None else minority_index])) + 1
    matrix = _count_matrix(y_true, predictions, k)
    out: Dict[str, List[np.ndarray]] = {m: [] for m in metrics}
    for indices in resample_indices(len(y_true), n_resamples, seed):
        counts = _class_counts(_multiplicities(indices, len(y_true)), matrix, k, len(predictions))
        for metric in metrics:
            out[metric].append(metric_from_counts(metric, *counts, minority_index=minority_index))
    return {m: np.concatenate(v) for m, v in out.items()}


def percentile_interval(differences: np.ndarray, alpha: float) -> Tuple[float, float]:
    """The bootstrap's percentile interval at confidence 1 - ``alpha``, as order statistics.

    With B resamples and a = ``alpha``, the lower end is the ceil(B a / 2)-th smallest difference
    (numpy's ``inverted_cdf`` quantile) and the upper end the ceil(B a / 2)-th largest, so that the
    interval lies above 0 exactly when fewer than B a / 2 differences are <= 0: the interval excludes 0
    exactly when :func:`bootstrap_p` < a (no interpolation can put an end on the other side of 0).
    """
    d = np.sort(np.asarray(differences, dtype=float))
    if not len(d):
        return np.nan, np.nan
    # rounded first: B a / 2 = 25 must not become 25.000000000000004 and move the end by one resample
    k = max(int(np.ceil(round(len(d) * alpha / 2, 9))) - 1, 0)
    return float(d[k]), float(d[len(d) - 1 - k])


def bootstrap_p(differences: np.ndarray) -> float:
    """Two-sided percentile-bootstrap p-value: 2 min(share of differences <= 0, share >= 0), at most 1.

    0 means no resample fell on the other side of 0: p < 1 / B, not p = 0 (reports say so)."""
    d = np.asarray(differences, dtype=float)
    if not len(d):
        return np.nan
    return float(min(1.0, 2 * min(np.sum(d <= 0), np.sum(d >= 0)) / len(d)))


Pair = Tuple[str, str]  # (experiment, reference)


def bootstrap_pairs(y_true, predictions: Mapping[str, Mapping[Hashable, np.ndarray]], pairs: Sequence[Pair],
                    metrics: Sequence[str] = METRICS, minority_index: Optional[int] = None, alpha: float = 0.05,
                    n_resamples: int = N_RESAMPLES, seed: int = 0):
    """Paired bootstrap of ``metric(experiment) - metric(reference)`` for each pair, on shared resamples.

    ``predictions[experiment][seed]`` holds predicted class indices aligned with ``y_true`` (see
    :func:`align_predictions`). Every resample draws the test indices once, for all experiments and
    seeds; a pair's difference is the mean over the seeds both sides have. Returns (one row per pair and
    metric: experiment, reference, metric, n_pairs, observed_difference (full test set), boot_ci_low/high
    (percentile interval at 1 - alpha), boot_p, n_resamples_used (resamples where the metric is defined;
    the minority recall is not where the class was not drawn), note; {(experiment, reference, metric):
    per-resample differences, NaN where undefined}).
    """
    paired = {(e, r): sorted(set(predictions.get(e, {})) & set(predictions.get(r, {})), key=str) for e, r in pairs}
    keys = list(dict.fromkeys((name, s) for (e, r), seeds in paired.items() for s in seeds for name in (r, e)))
    column = {key: i for i, key in enumerate(keys)}
    vectors = [predictions[e][s] for e, s in keys]
    observed = {m: np.array([metric_value(y_true, v, m, minority_index) for v in vectors]) for m in metrics}
    scores = bootstrap_metrics(y_true, vectors, metrics, minority_index, n_resamples, seed) if vectors else {}
    rows, distributions = [], {}
    for (e, r), seeds in paired.items():
        mine, theirs = [column[(e, s)] for s in seeds], [column[(r, s)] for s in seeds]
        for metric in metrics:
            row = {"experiment": e, "reference": r, "metric": metric, "n_pairs": len(seeds),
                   "observed_difference": np.nan, "boot_ci_low": np.nan, "boot_ci_high": np.nan, "boot_p": np.nan,
                   "n_resamples_used": 0, "note": ""}
            if not seeds:
                missing = [name for name in (e, r) if not predictions.get(name)]
                row["note"] = (f"no test predictions of {', '.join(repr(m) for m in missing)}" if missing
                               else f"no seed of {e!r} has predictions paired with {r!r}")
                rows.append(row)
                continue
            diff = (scores[metric][:, mine] - scores[metric][:, theirs]).mean(1)
            used = diff[~np.isnan(diff)]
            row["observed_difference"] = float((observed[metric][mine] - observed[metric][theirs]).mean())
            row["n_resamples_used"] = len(used)
            if len(used):
                row["boot_ci_low"], row["boot_ci_high"] = percentile_interval(used, alpha)
                row["boot_p"] = bootstrap_p(used)
            if len(used) < len(diff):
                row["note"] = f"{len(diff) - len(used)} resamples without the class left out"
            distributions[(e, r, metric)] = diff  # NaN where the metric is undefined on a resample
            rows.append(row)
    frame = pd.DataFrame(rows, columns=["experiment", "reference", "metric", "n_pairs", "observed_difference",
                                        "boot_ci_low", "boot_ci_high", "boot_p", "n_resamples_used", "note"])
    return frame, distributions


def paired_bootstrap(y_true, predictions: Mapping[str, Mapping[Hashable, np.ndarray]], baseline: str = BASELINE,
                     metrics: Sequence[str] = METRICS, minority_index: Optional[int] = None, alpha: float = 0.05,
                     n_resamples: int = N_RESAMPLES, seed: int = 0, return_distributions: bool = False):
    """:func:`bootstrap_pairs` of every experiment against ``baseline`` (distributions keyed by
    (experiment, metric))."""
    if baseline not in predictions or not len(predictions[baseline]):
        raise DataError(f"No predictions of {baseline!r}: the paired bootstrap compares every experiment with it. "
                        f"Received predictions of {sorted(predictions)}.")
    pairs = [(e, baseline) for e in predictions if e != baseline]
    frame, distributions = bootstrap_pairs(y_true, predictions, pairs, metrics, minority_index, alpha, n_resamples,
                                           seed)
    frame = frame.drop(columns=["reference"])
    if not return_distributions:
        return frame
    return frame, {(e, m): d for (e, _, m), d in distributions.items()}


Predictions = Dict[str, Dict[Hashable, np.ndarray]]  # experiment -> seed -> predicted class index per test sample


def align_predictions(frames: Mapping[Tuple[str, Hashable], pd.DataFrame]) -> Tuple[np.ndarray, Predictions]:
    """Match predictions.csv tables by ``source_id``: (y_true, {experiment: {seed: pred_index}}).

    Rows are put in sorted source_id order. Every table must hold the same test samples, each
    once, with the same ``true_index``: otherwise the experiments were not scored on the same
    test split and a paired comparison would be meaningless.
    """
    if not frames:
        raise DataError("No predictions to align: pass {(experiment, seed): predictions.csv table}.")
    reference_key, reference = None, None
    y_true, out = None, {}
    for key, frame in frames.items():
        missing = {"source_id", "true_index", "pred_index"} - set(frame.columns)
        if missing:
            raise DataError(f"predictions of {key} lack the columns {sorted(missing)}; a predictions.csv written by "
                            "balance-run has source_id, true_index, pred_index, ...")
        ids = frame["source_id"].astype(str)
        if ids.duplicated().any():
            raise DataError(f"predictions of {key} list source_id {ids[ids.duplicated()].iloc[0]!r} more than once; "
                            "each test sample must appear once. Re-run that job.")
        table = frame.assign(source_id=ids).set_index("source_id").sort_index()
        if reference is None:
            reference_key, reference = key, table
            y_true = table["true_index"].to_numpy(int)
        else:
            if not table.index.equals(reference.index):
                extra = table.index.difference(reference.index)
                lacking = reference.index.difference(table.index)
                raise DataError(
                    f"predictions of {key} and {reference_key} cover different test samples ({len(extra)} only in "
                    f"the first, e.g. {list(extra[:3])}; {len(lacking)} only in the second, e.g. {list(lacking[:3])}). "
                    "Paired comparisons need one test split: run both with the same dataset and split_seed.")
            differs = table["true_index"].to_numpy(int) != y_true
            if differs.any():
                raise DataError(f"predictions of {key} and {reference_key} disagree on the true class of "
                                f"{int(differs.sum())} test samples (e.g. {table.index[differs][0]!r}); the class "
                                "mapping or the data changed between the runs. Re-run them on the same data.")
        experiment, seed = key
        out.setdefault(experiment, {})[seed] = table["pred_index"].to_numpy(int)
    return y_true, out


def read_predictions(sweep_dir: str | Path, jobs: pd.DataFrame) -> Dict[Tuple[str, Hashable], pd.DataFrame]:
    """{(experiment, seed): predictions} for the finished rows that wrote them: predictions.csv of a job,
    predictions_<derived>.csv of a derived row (job ``<folder>#<label>``)."""
    from balancelab.evaluation.derived import job_file

    frames = {}
    for _, job in jobs[jobs["status"].isin(FINISHED)].iterrows():
        path = job_file(sweep_dir, job["job"], "predictions")
        if path.exists():
            frames[(job["experiment"], job["seed"])] = pd.read_csv(path)
    return frames


def minority_class_index(sweep_dir: str | Path, jobs: pd.DataFrame,
                         frames: Mapping[Tuple[str, Hashable], pd.DataFrame]) -> Optional[int]:
    """The runs' minority class (experiment_summary.json: test.minority_class) as a class index.

    The runs pick it from the training counts before balancing, so every job of one dataset names
    the same class; its index comes from the predictions' true_class -> true_index pairs. None when
    no summary names one.
    """
    names = set()
    for _, job in jobs[jobs["status"].isin(FINISHED)].iterrows():
        path = Path(sweep_dir) / job["job"] / "experiment_summary.json"
        if path.exists():
            name = (json.loads(path.read_text()).get("test") or {}).get("minority_class")
            if name is not None:
                names.add(str(name))
    if not names:
        return None
    if len(names) > 1:
        raise DataError(f"The jobs name different minority classes ({', '.join(sorted(names))}); they were not run "
                        "on one dataset and split. Compare jobs of one dataset only.")
    (name,) = names
    for frame in frames.values():
        if "true_class" in frame:
            match = frame.loc[frame["true_class"].astype(str) == name, "true_index"].unique()
            if len(match):
                return int(match[0])
    raise DataError(f"The minority class {name!r} named by the runs' summaries has no sample in the predictions' "
                    "true_class column; the predictions do not belong to these jobs.")


# ---------------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------------

def verdict(corrected_low: float, corrected_high: float) -> str:
    """``better`` / ``worse`` when the corrected interval lies above / below 0, ``no detectable difference``
    when it contains 0, ``not available`` without an interval."""
    if np.isnan(corrected_low) or np.isnan(corrected_high):
        return NOT_AVAILABLE
    if corrected_low > 0:
        return BETTER
    if corrected_high < 0:
        return WORSE
    return NO_DIFFERENCE


def _decisive_test(row, has_bootstrap: bool) -> Tuple[Optional[str], float, str]:
    """(test, its raw p-value, note) for one comparison: the rule of the module docstring."""
    if row["n_pairs"] == 0:
        return None, np.nan, ""
    if np.isfinite(row["p_ttest"]):
        return T_TEST, float(row["p_ttest"]), ""
    reason = "one paired seed" if row["n_pairs"] == 1 else "identical differences in every seed"
    if has_bootstrap:
        return BOOTSTRAP, float(row["boot_p"]), f"{reason}: decided by the paired bootstrap over test samples"
    if row["identical"] and row["mean_difference"] == 0:
        return None, 1.0, "the difference is 0 in every seed: nothing to test (p = 1)"
    return None, np.nan, f"{reason} and no test-set predictions for a bootstrap: no test"


def compare_to_baseline(jobs: pd.DataFrame, predictions: Optional[Mapping[Tuple[str, Hashable], pd.DataFrame]] = None,
                        metrics: Sequence[str] = METRICS, baseline: str = BASELINE, alpha: float = 0.05,
                        minority_index: Optional[int] = None, n_resamples: int = N_RESAMPLES,
                        seed: int = 0) -> pd.DataFrame:
    """One row per comparison (:func:`hypotheses`) and metric: the seed statistics, the bootstrap (when
    ``predictions`` are given), the decisive test, Holm's correction within the family, the corrected
    interval and the verdict. ``minority_class_recall`` is bootstrapped only with ``minority_index``."""
    plan = hypotheses(jobs, baseline)
    frame = pd.concat([seed_statistics(jobs, metric, baseline, alpha, plan) for metric in metrics], ignore_index=True)
    distributions: Dict[Tuple[str, str, str], np.ndarray] = {}
    boot_columns = ["boot_n_pairs", "observed_difference", "boot_ci_low", "boot_ci_high", "boot_p",
                    "n_resamples_used", "boot_note"]
    if predictions and len(frame):
        y_true, by_experiment = align_predictions(predictions)
        boot_metrics = [m for m in metrics if m != "minority_class_recall" or minority_index is not None]
        pairs = list(dict.fromkeys((h.experiment, h.reference) for h in plan))
        if boot_metrics and pairs:
            boot, distributions = bootstrap_pairs(y_true, by_experiment, pairs, boot_metrics, minority_index, alpha,
                                                  n_resamples, seed)
            boot = boot.rename(columns={"n_pairs": "boot_n_pairs", "note": "boot_note"})
            frame = frame.merge(boot, on=["experiment", "reference", "metric"], how="left")
            same_seeds = frame["boot_n_pairs"] == frame["n_pairs"]
            # Numeric views: after the left merge an all-missing column can come back with object dtype.
            observed = pd.to_numeric(frame["observed_difference"], errors="coerce").to_numpy(float)
            expected = pd.to_numeric(frame["mean_difference"], errors="coerce").to_numpy(float)
            disagree = same_seeds & ~np.isclose(observed, expected, atol=1e-9, equal_nan=True)
            frame.loc[disagree, "boot_note"] = [
                _join(n, "the predictions give another difference than the runs' metrics: check that they come "
                         "from the same jobs and that minority_index is the runs' minority class")
                for n in frame.loc[disagree, "boot_note"].fillna("")]
    for column in boot_columns:
        if column not in frame:
            frame[column] = "" if column == "boot_note" else np.nan
    for column in ("boot_n_pairs", "observed_difference", "boot_ci_low", "boot_ci_high", "boot_p", "n_resamples_used"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["boot_note"] = frame["boot_note"].fillna("")
    return _decide(frame, jobs, distributions, alpha)


def _decide(frame: pd.DataFrame, jobs: pd.DataFrame, distributions, alpha: float) -> pd.DataFrame:
    """The decisive test of each comparison, Holm within each (family, metric), the corrected intervals
    and the verdicts."""
    tests, p_values, notes = [], [], []
    for r in frame.to_dict("records"):
        used = distributions.get((r["experiment"], r["reference"], r["metric"]))
        has_bootstrap = used is not None and bool(np.isfinite(used).any()) and np.isfinite(r["boot_p"])
        test, p, note = _decisive_test(r, has_bootstrap)
        tests.append(test)
        p_values.append(p)
        notes.append(_join(r["note"], note))
    frame = frame.assign(test=tests, p_value=p_values, note=notes)
    frame["p_holm"] = np.nan
    frame["p_wilcoxon_holm"] = np.nan
    frame["n_comparisons"] = 0
    frame["corrected_level"] = np.nan
    frame["ci_corrected_low"] = np.nan
    frame["ci_corrected_high"] = np.nan
    for (_, metric), part in frame.groupby(["family", "metric"], sort=False):
        m = int((part["n_pairs"] > 0).sum())
        frame.loc[part.index, "n_comparisons"] = m
        frame.loc[part.index, "p_holm"] = holm(part["p_value"], n_tests=m)
        frame.loc[part.index, "p_wilcoxon_holm"] = holm(part["p_wilcoxon"], n_tests=m)
        levels = holm_levels(part["p_value"], alpha, n_tests=m)
        values = finished_values(jobs, metric)
        for index, level in zip(part.index, levels):
            r = frame.loc[index]
            if np.isnan(level) or not isinstance(r["test"], str):  # no test (pandas may hold None as NaN)
                continue
            frame.loc[index, "corrected_level"] = 1 - level
            if r["test"] == T_TEST:
                _, x, y, _ = _paired_arrays(_row_of(values, r["experiment"]), _row_of(values, r["reference"]))
                low, high = t_interval(x, y, 1 - level)
            else:
                used = distributions[(r["experiment"], r["reference"], metric)]
                used = used[np.isfinite(used)]
                low, high = percentile_interval(used, level)
                if len(used) * level / 2 < MIN_TAIL_RESAMPLES:
                    frame.loc[index, "note"] = _join(r["note"], f"fewer than {MIN_TAIL_RESAMPLES} resamples beyond each "
                                                                "end of the corrected interval: its ends are rough, "
                                                                "raise n_resamples")
            frame.loc[index, "ci_corrected_low"], frame.loc[index, "ci_corrected_high"] = low, high
    frame["verdict"] = [verdict(low, high) for low, high in zip(frame["ci_corrected_low"], frame["ci_corrected_high"])]
    nothing_to_test = ~frame["test"].map(lambda t: isinstance(t, str)) & (frame["p_value"] == 1.0)
    frame.loc[nothing_to_test, "verdict"] = NO_DIFFERENCE
    columns = ["experiment", "reference", "family", "metric", "n_pairs", "seeds", "mean_difference", "ci_low",
               "ci_high", "p_ttest", "p_wilcoxon", "p_wilcoxon_holm", "boot_n_pairs", "observed_difference",
               "boot_ci_low", "boot_ci_high", "boot_p", "n_resamples_used", "test", "p_value", "p_holm",
               "n_comparisons", "corrected_level", "ci_corrected_low", "ci_corrected_high", "verdict", "note",
               "boot_note"]
    return frame[columns]


# ---------------------------------------------------------------------------------------------------
# Across datasets: average ranks, Friedman, Nemenyi (Demšar 2006)
# ---------------------------------------------------------------------------------------------------

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

    These are the thick bars of Demšar's diagrams: two experiments in one group are not
    significantly different. Groups of one are left out.
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
    """Average ranks, the Friedman test and the Nemenyi critical difference of a score table."""

    ranks: pd.DataFrame  # one row per experiment: average_rank, then its rank on each dataset
    n_datasets: int
    n_experiments: int
    alpha: float
    friedman_statistic: float = np.nan
    friedman_p: float = np.nan
    iman_davenport_statistic: float = np.nan
    iman_davenport_p: float = np.nan
    q_alpha: float = np.nan
    critical_difference: float = np.nan
    groups: List[List[str]] = field(default_factory=list)
    dropped_datasets: List[str] = field(default_factory=list)
    note: str = ""

    @property
    def average_ranks(self) -> pd.Series:
        return self.ranks["average_rank"]


def rank_comparison(scores: pd.DataFrame, alpha: float = 0.05) -> RankComparison:
    """Demšar's comparison of k experiments over N datasets from ``scores`` (rows = datasets,
    columns = experiments, higher is better).

    Rank 1 is best; ties share the average rank. Datasets missing any score are left out (and
    listed): the Friedman test needs complete blocks. The Friedman test (scipy, with its tie
    correction) needs k >= 3 and N >= 2; the Iman-Davenport F (which Demšar prefers, the Friedman
    chi-square being conservative) comes with it. Do not use seeds as datasets: they share one test
    set and are not independent blocks.
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
    result.q_alpha = nemenyi_q(k, alpha)
    result.critical_difference = critical_difference(k, n, alpha)
    result.groups = nemenyi_groups(ranks["average_rank"], result.critical_difference)
    if k >= 3 and n >= 2:
        chi2, p = stats.friedmanchisquare(*(complete[c].to_numpy(float) for c in complete.columns))
        result.friedman_statistic, result.friedman_p = float(chi2), float(p)
        denominator = n * (k - 1) - chi2
        if denominator > 0:
            f = (n - 1) * chi2 / denominator
            result.iman_davenport_statistic = float(f)
            result.iman_davenport_p = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
        else:  # every dataset ranks the experiments identically: F divides by zero
            notes.append("every dataset ranks the experiments identically (Friedman chi-square at its maximum "
                         "N(k-1)): the Iman-Davenport F is not computable (its denominator is 0); read the Friedman "
                         "p-value, which is bounded below at this N and k")
    else:
        notes.append("Friedman test needs >= 3 experiments and >= 2 datasets"
                     f" (have k={k}, N={n})")
    if n <= 10 or k <= 5:
        notes.append(f"k={k}, N={n}: the Friedman p-value is a chi-square approximation; Demšar advises N > 10 "
                     "and k > 5 for it to be reliable")
    result.note = "; ".join(notes)
    return result
