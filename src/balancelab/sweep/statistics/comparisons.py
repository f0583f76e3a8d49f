"""The verdict table of a sweep: which comparisons are made, the decisive two-level test of each, Holm's
correction within each family, the corrected intervals and the verdicts.

Families (Holm's correction is applied within one family and one metric)
------------------------------------------------------------------------
* ``trained vs baseline``: every trained experiment of the sweep against ``baseline``: the question the sweep
  was run for. Its size m is the number of trained experiments with a paired seed, whatever else the sweep
  reports, so adding post-hoc rows never changes a trained row's corrected p or verdict.
* ``derived vs baseline``: every derived row (a post-hoc correction or cRT of a trained model, rows of
  ``row_kind == "derived"``) against ``baseline``: does the corrected model beat the plain baseline?
* ``derived vs its trained model``: every derived row against the trained experiment it was derived from
  (``source_experiment``): does the correction help that model?

``macro_f1`` is the primary metric, the one the verdict column of a report is about; the secondary metrics get
their own families, so they never cost the primary verdict power.

Verdict rule (``alpha`` = 0.05 unless told)
-------------------------------------------
Each comparison's p-value is the two-level test's (balancelab.sweep.statistics.two_level): training
randomness over seeds and test-sampling noise over images, in one rule for any number of seeds. Holm's
step-down over a family's p-values gives each comparison the level at which it is tested; the corrected
interval is the two-level interval at confidence 1 - that level, and the verdict is ``better`` / ``worse``
when it lies above / below 0, else ``no detectable difference``: exactly Holm-adjusted p < alpha.

* A deferred method (``loss.drw_epoch``, ``balancing.start_epoch``) whose reported checkpoint precedes its
  switch (a job folder written before the checkpoint rule; ``checkpoint_note`` in the jobs table) is the method
  without its deferred part: the row is marked and gets no verdict, and it leaves its Holm families.
* A side with failed or diverged seeds cannot win: an experiment that failed seeds is never ``better`` (the
  verdict names them: ``unstable: 2 of 5 seeds failed``), and one whose reference failed seeds is never
  ``worse`` (its survivors are all that was compared). Seeds with no result at all (a job killed without
  failure.json, still running, never launched: ``missing_seeds``) count alike: ``incomplete: 2 of 5 seeds
  without a result``.
* With one seed on every comparison of a family nothing measures training randomness: the verdict is about
  one trained model per side on this test set, and its ``scope`` says so.
* The image bootstrap starts with N_RESAMPLES resamples; when a comparison's p lies within three Monte-Carlo
  errors of its Holm level, every comparison is decided again on REFINED_RESAMPLES, so that another bootstrap
  seed does not change a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from balancelab.errors import DataError
from balancelab.output.contract import FINISHED, Status
from balancelab.sweep.grid import BASELINE
from balancelab.sweep.statistics.bootstrap import (N_RESAMPLES, REFINED_RESAMPLES, ImageResamples, bootstrap_p,
                                                   percentile_interval, score_resamples, variance_with_error)
from balancelab.sweep.statistics.metrics import TESTED_METRICS, PRIMARY_METRIC
from balancelab.sweep.statistics.multiple import holm, holm_levels
from balancelab.sweep.statistics.predictions import align_predictions, groups_in_order
from balancelab.sweep.statistics.seeds import all_equal, finished_values, paired_seeds, row_of, seed_tests
from balancelab.sweep.statistics.two_level import TwoLevelTest, family_priors, seed_variance_of, two_level_test

BETTER, WORSE, NO_DIFFERENCE, NOT_AVAILABLE = "better", "worse", "no detectable difference", "not available"
UNSTABLE = "unstable"
INCOMPLETE = Status.INCOMPLETE.value  # a side has seeds with no result: no verdict in its favour
TWO_LEVEL = "two-level"
TRAINED_FAMILY = "trained vs baseline"
DERIVED_VS_BASELINE_FAMILY = "derived vs baseline"
DERIVED_VS_SOURCE_FAMILY = "derived vs its trained model"
FAMILIES = (TRAINED_FAMILY, DERIVED_VS_BASELINE_FAMILY, DERIVED_VS_SOURCE_FAMILY)
# A verdict within this many Monte-Carlo errors of its level is decided again on more resamples.
MC_MARGIN = 3.0

COLUMNS = ["experiment", "reference", "family", "metric", "primary", "n_pairs", "seeds", "mean_difference",
           # informative: seeds alone (paired t, Wilcoxon) and test images alone (percentile bootstrap)
           "ci_low", "ci_high", "p_ttest", "p_wilcoxon", "p_wilcoxon_holm", "boot_n_pairs", "observed_difference",
           "boot_ci_low", "boot_ci_high", "boot_p", "n_resamples_used",
           # the decisive two-level test
           "test", "seed_variance", "seed_df", "seed_variance_source", "image_variance", "seed_share",
           "standard_error", "p_value", "p_mc_error", "n_resamples", "ci95_low", "ci95_high",
           "p_holm", "n_comparisons", "corrected_level", "ci_corrected_low", "ci_corrected_high",
           "n_failed", "n_failed_reference", "verdict", "scope", "note", "boot_note"]


def is_decided(verdict) -> bool:
    """better or worse (the verdicts a report highlights)."""
    return verdict in (BETTER, WORSE)


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
    """The comparisons of a sweep, family by family (module docstring).

    A row is derived when ``row_kind == "derived"``; its ``source_experiment`` names the trained experiment it
    comes from. Without those columns every row is a trained experiment.
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
                                "with balancelab.sweep.jobs.jobs_table.")
            derived.setdefault(experiment, source)
        elif experiment != baseline and experiment not in trained:
            trained.append(experiment)
    return ([Hypothesis(e, baseline, TRAINED_FAMILY) for e in trained]
            + [Hypothesis(e, baseline, DERIVED_VS_BASELINE_FAMILY) for e in derived]
            + [Hypothesis(e, source, DERIVED_VS_SOURCE_FAMILY) for e, source in derived.items()])


def _per_trained_experiment(jobs: pd.DataFrame, count) -> Dict[str, Tuple[int, int]]:
    """{trained experiment: count(its jobs)}; a derived row has its trained experiment's (it has no result where
    its model has none)."""
    kinds = jobs["row_kind"] if "row_kind" in jobs else pd.Series("trained", index=jobs.index)
    trained = jobs[kinds != "derived"]
    out = {experiment: count(group) for experiment, group in trained.groupby("experiment", sort=False)}
    if "source_experiment" in jobs:
        for experiment, source in jobs.loc[kinds == "derived", ["experiment", "source_experiment"]].itertuples(
                index=False):
            out.setdefault(experiment, out.get(source, (0, 0)))
    return out


def failed_seeds(jobs: pd.DataFrame) -> Dict[str, Tuple[int, int]]:
    """{trained experiment: (failed or diverged seeds, seeds that finished or failed)}."""
    def count(group):
        n_failed = int((group["status"] == Status.FAILED).sum())
        return n_failed, n_failed + int(group["status"].isin(FINISHED).sum())

    return _per_trained_experiment(jobs, count)


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


NOT_TESTED_BEFORE_SWITCH = "not tested: reported from a checkpoint before its switch"


def checkpoints_before_switch(jobs: pd.DataFrame) -> Dict[str, str]:
    """{experiment: note} of the rows some finished job reports from a checkpoint before its deferred switch."""
    if "checkpoint_note" not in jobs:
        return {}
    noted = jobs[jobs["status"].isin(FINISHED) & jobs["checkpoint_note"].map(lambda n: isinstance(n, str) and n != "")]
    return {e: "; ".join(dict.fromkeys(group["checkpoint_note"])) for e, group in noted.groupby("experiment")}


# ---------------------------------------------------------------------------------------------------
# One comparison's raw material: its per-seed differences and the image bootstrap of their mean
# ---------------------------------------------------------------------------------------------------

@dataclass
class _Material:
    row: dict
    differences: np.ndarray          # per paired seed: the decisive source (predictions when every seed has them)
    image_variance: float = np.nan
    image_variance_error: float = np.nan
    within_seed_image_variance: float = np.nan  # mean of each seed's own bootstrap variance (two_level_test)


def _material(h: Hypothesis, metric: str, values: pd.DataFrame, resamples: Optional[ImageResamples],
              alpha: float, has_predictions_of: Mapping[str, set]) -> _Material:
    seeds, unpaired = paired_seeds(row_of(values, h.experiment), row_of(values, h.reference))
    notes = []
    if unpaired:
        notes.append(f"seeds without a reference partner left out: {' '.join(map(str, unpaired))}")
    if not seeds:
        notes.append(f"no finished seed of {h.experiment!r} pairs with a finished seed of {h.reference!r}")
    summary_x = row_of(values, h.experiment).loc[seeds].to_numpy(float) if seeds else np.array([])
    summary_y = row_of(values, h.reference).loc[seeds].to_numpy(float) if seeds else np.array([])
    differences = summary_x - summary_y
    row = {"experiment": h.experiment, "reference": h.reference, "family": h.family, "metric": metric,
           "primary": metric == PRIMARY_METRIC, "n_pairs": len(seeds), "seeds": " ".join(map(str, seeds)),
           "boot_n_pairs": 0, "observed_difference": np.nan, "boot_ci_low": np.nan, "boot_ci_high": np.nan,
           "boot_p": np.nan, "n_resamples_used": 0, "boot_note": ""}
    material = _Material(row, differences)
    with_predictions = [s for s in seeds if s in has_predictions_of.get(h.experiment, set())
                        and s in has_predictions_of.get(h.reference, set())]
    if resamples is not None and metric in resamples.replicates and with_predictions:
        mine = [(h.experiment, s) for s in with_predictions]
        theirs = [(h.reference, s) for s in with_predictions]
        observed, replicates = resamples.mean_difference(metric, mine, theirs)
        used = replicates[np.isfinite(replicates)]
        row.update(boot_n_pairs=len(with_predictions), observed_difference=observed, n_resamples_used=len(used))
        if len(used):
            row["boot_ci_low"], row["boot_ci_high"] = percentile_interval(used, alpha)
            row["boot_p"] = bootstrap_p(used)
        if len(used) < len(replicates):
            row["boot_note"] = f"{len(replicates) - len(used)} resamples without the class left out"
        if len(with_predictions) == len(seeds):
            # every paired seed has predictions: the per-seed differences and their image variance come from them
            material.differences = resamples.per_seed_differences(metric, mine, theirs)
            material.image_variance, material.image_variance_error = variance_with_error(used)
            material.within_seed_image_variance = resamples.within_seed_variance(metric, mine, theirs)
            if not np.allclose(material.differences, summary_x - summary_y, atol=1e-9, equal_nan=True):
                row["boot_note"] = _join(row["boot_note"], "the predictions give another difference than the runs' "
                                         "metrics: check that they come from the same jobs and that minority_index "
                                         "is the runs' minority class (the predictions decide)")
        else:
            notes.append(f"seeds {' '.join(map(str, sorted(set(seeds) - set(with_predictions))))} have no test "
                         "predictions: test-set noise is not measured for this comparison")
    elif seeds and resamples is None:
        notes.append("no test predictions: test-set noise is not measured (seeds only)")
    elif seeds and metric not in (resamples.replicates if resamples is not None else {}):
        notes.append("not bootstrapped (no minority class index): test-set noise is not measured (seeds only)")
    d = material.differences
    row["mean_difference"] = float(d.mean()) if len(d) else np.nan
    row.update(seed_tests(d, np.zeros_like(d), alpha))  # the paired t-test is the one-sample test of d
    if len(d) == 1:
        notes.append("one paired seed: no t-test")
    elif len(d) >= 2 and all_equal(d):
        notes.append("identical differences in every seed")
    row["note"] = _join(*notes)
    return material


# ---------------------------------------------------------------------------------------------------
# The verdict table
# ---------------------------------------------------------------------------------------------------

def _verdict_of(low: float, high: float) -> str:
    if np.isnan(low) or np.isnan(high):
        return NOT_AVAILABLE
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    return NO_DIFFERENCE


def verdict(corrected_low: float, corrected_high: float) -> str:
    """``better`` / ``worse`` when the corrected interval lies above / below 0, ``no detectable difference``
    when it contains 0, ``not available`` without an interval."""
    return _verdict_of(corrected_low, corrected_high)


def missing_seeds(jobs: pd.DataFrame) -> Dict[str, Tuple[int, int]]:
    """{trained experiment: (seeds of the sweep with no result and no failure, the sweep's seeds)}: a job killed
    without failure.json (out of memory, a time limit), one still running, or one never launched. The sweep's
    seeds are those any trained experiment has a row for."""
    kinds = jobs["row_kind"] if "row_kind" in jobs else pd.Series("trained", index=jobs.index)
    seeds = set(jobs.loc[kinds != "derived", "seed"].dropna().tolist())

    def count(group):
        accounted = set(group.loc[group["status"].isin([*FINISHED, Status.FAILED.value]), "seed"].tolist())
        return len(seeds - accounted), len(seeds)

    return _per_trained_experiment(jobs, count)


def _with_failures(decision: str, h: Hypothesis, failures: Mapping[str, Tuple[int, int]],
                   missing: Mapping[str, Tuple[int, int]] = {}) -> Tuple[str, str]:
    """(verdict, note): a side with failed seeds, or seeds without a result, cannot win (module docstring)."""
    decision, note = _with_failed(decision, h, failures)
    lost, theirs_lost = missing.get(h.experiment, (0, 0)), missing.get(h.reference, (0, 0))
    if h.family == DERIVED_VS_SOURCE_FAMILY:  # one trained model on both sides: the same seeds are missing
        return decision, note
    if lost[0] and decision == BETTER:
        decision = f"{INCOMPLETE}: {lost[0]} of {lost[1]} seeds without a result"
    elif theirs_lost[0] and decision == WORSE:
        decision = f"{INCOMPLETE}: {h.reference} has {theirs_lost[0]} of {theirs_lost[1]} seeds without a result"
    notes = [note]
    if lost[0] and not decision.startswith(INCOMPLETE):
        notes.append(f"{lost[0]} of {lost[1]} seeds without a result")
    if theirs_lost[0] and not decision.startswith(INCOMPLETE):
        notes.append(f"{h.reference!r} has {theirs_lost[0]} of {theirs_lost[1]} seeds without a result")
    return decision, _join(*notes)


def _with_failed(decision: str, h: Hypothesis, failures: Mapping[str, Tuple[int, int]]) -> Tuple[str, str]:
    mine, theirs = failures.get(h.experiment, (0, 0)), failures.get(h.reference, (0, 0))
    if h.family == DERIVED_VS_SOURCE_FAMILY:  # one trained model on both sides: the same seeds failed
        return decision, (f"{mine[0]} of {mine[1]} seeds of {h.reference!r} failed" if mine[0] else "")
    notes = []
    if theirs[0]:
        notes.append(f"{h.reference!r} failed {theirs[0]} of {theirs[1]} seeds")
        if decision == WORSE:
            decision = f"{UNSTABLE}: {h.reference} failed {theirs[0]} of {theirs[1]} seeds"
    if mine[0]:
        if decision == WORSE:
            notes.append(f"{mine[0]} of {mine[1]} seeds failed")
        elif decision != NOT_AVAILABLE:
            decision = f"{UNSTABLE}: {mine[0]} of {mine[1]} seeds failed"
    return decision, _join(*notes)


def _trend_covariate(members: List[_Material]) -> Optional[List[float]]:
    """The mean differences the family's seed-variance prior follows (two_level.trend_of), or None: no trend.

    The trend is read at d̄ / 2 because one reference's mean luck is in every difference of the family. A family
    whose comparisons have references of their own (a derived row against its own trained model) keeps one prior:
    read at 0 instead, it lent `baseline + posthoc_tau_norm` (+0.007, its seeds varying like a real change) the
    seed variance of corrections that barely change a balanced model, and called it better (Holm p 0.018) while
    the same difference against baseline was no detectable difference (a review of the default grid)."""
    if len({m.row["reference"] for m in members}) > 1:
        return None
    return [float(np.mean(m.differences)) for m in members]


def _decide(materials: List[_Material], alpha: float, failures: Mapping[str, Tuple[int, int]],
            n_resamples: int, before_switch: Mapping[str, str],
            missing: Mapping[str, Tuple[int, int]] = {}) -> pd.DataFrame:
    for m in materials:  # a checkpoint before its switch is not the method: no test, out of the family
        note = before_switch.get(m.row["experiment"])
        if note and m.row["n_pairs"]:
            m.row.update(n_pairs=0, note=_join(m.row["note"], note))
            m.differences = m.differences[:0]
    frame = pd.DataFrame([m.row for m in materials])
    tests: Dict[int, TwoLevelTest] = {}
    # The seed-variance prior is shared by comparisons made alike: within a family, one per kind of derived row
    # (a post-hoc correction of a model varies over seeds far less than a retrained classifier does).
    kind = [e.rsplit(" + ", 1)[-1] if f != TRAINED_FAMILY else "" for e, f in zip(frame["experiment"], frame["family"])]
    for _, part in frame.assign(_kind=kind).groupby(["family", "metric", "_kind"], sort=False):
        members = [i for i in part.index if materials[i].row["n_pairs"] > 0]
        seed_lists = {materials[i].row["seeds"] for i in members if len(materials[i].differences) > 1}
        aligned = (np.array([materials[i].differences for i in members if len(materials[i].differences) > 1])
                   if len(seed_lists) == 1 else None)  # the same seeds in the same order: rho is measurable
        priors = family_priors([seed_variance_of(materials[i].differences) for i in members],
                               [len(materials[i].differences) - 1 for i in members], aligned,
                               _trend_covariate([materials[i] for i in members]))
        for i, prior in zip(members, priors):
            tests[i] = two_level_test(materials[i].differences, materials[i].image_variance,
                                      materials[i].image_variance_error, prior,
                                      within_seed_image_variance=materials[i].within_seed_image_variance)
    columns = {c: [] for c in ("test", "seed_variance", "seed_df", "seed_variance_source", "image_variance",
                               "seed_share", "standard_error", "p_value", "p_mc_error", "ci95_low", "ci95_high",
                               "scope")}
    for i in frame.index:
        t = tests.get(i)
        tested = t is not None and np.isfinite(t.p_value)
        low, high = t.interval(alpha) if tested else (np.nan, np.nan)
        for key, value in (("test", TWO_LEVEL if tested else None),
                           ("seed_variance", t.seed_variance if t else np.nan),
                           ("seed_df", t.seed_df if t else np.nan),
                           ("seed_variance_source", t.seed_variance_source if t else ""),
                           ("image_variance", t.image_variance if t else np.nan),
                           ("seed_share", t.seed_share if t else np.nan),
                           ("standard_error", t.standard_error if t else np.nan),
                           ("p_value", t.p_value if t else np.nan), ("p_mc_error", t.p_error if tested else np.nan),
                           ("ci95_low", low), ("ci95_high", high), ("scope", t.scope if t else "")):
            columns[key].append(value)
        if t is not None and not tested:
            frame.loc[i, "note"] = _join(frame.loc[i, "note"], "nothing measures either kind of chance (no second "
                                                               "seed that differs, no test predictions): no test")
    frame = frame.assign(**columns, n_resamples=n_resamples)
    for column in ("p_holm", "p_wilcoxon_holm", "corrected_level", "ci_corrected_low", "ci_corrected_high"):
        frame[column] = np.nan
    frame["n_comparisons"] = 0
    for _, part in frame.groupby(["family", "metric"], sort=False):
        m = int((part["n_pairs"] > 0).sum())
        frame.loc[part.index, "n_comparisons"] = m
        frame.loc[part.index, "p_holm"] = holm(part["p_value"], n_tests=m)
        frame.loc[part.index, "p_wilcoxon_holm"] = holm(part["p_wilcoxon"], n_tests=m)
        for i, level in zip(part.index, holm_levels(part["p_value"], alpha, n_tests=m)):
            if np.isnan(level):
                continue
            frame.loc[i, "corrected_level"] = 1 - level
            frame.loc[i, "ci_corrected_low"], frame.loc[i, "ci_corrected_high"] = tests[i].interval(level)
    verdicts, notes, n_failed, n_failed_reference = [], [], [], []
    plan = [Hypothesis(r["experiment"], r["reference"], r["family"]) for r in frame[["experiment", "reference",
                                                                                    "family"]].to_dict("records")]
    for i, h in zip(frame.index, plan):
        decision, note = _with_failures(_verdict_of(frame.loc[i, "ci_corrected_low"], frame.loc[i, "ci_corrected_high"]),
                                        h, failures, missing)
        if h.experiment in before_switch:
            decision = NOT_TESTED_BEFORE_SWITCH
        verdicts.append(decision)
        notes.append(_join(frame.loc[i, "note"], note))
        n_failed.append(failures.get(h.experiment, (0, 0))[0])
        n_failed_reference.append(failures.get(h.reference, (0, 0))[0])
    frame = frame.assign(verdict=verdicts, note=notes, n_failed=n_failed, n_failed_reference=n_failed_reference)
    return frame[COLUMNS]


def _needs_refining(frame: pd.DataFrame, alpha: float) -> bool:
    """A verdict that another bootstrap seed could change: p within MC_MARGIN Monte-Carlo errors of its level."""
    level = 1 - frame["corrected_level"]
    close = (frame["p_value"] - level).abs() <= MC_MARGIN * frame["p_mc_error"]
    return bool((close & (frame["p_mc_error"] > 0)).any())


def compare_to_baseline(jobs: pd.DataFrame, predictions: Optional[Mapping[Tuple[str, Hashable], pd.DataFrame]] = None,
                        metrics: Sequence[str] = TESTED_METRICS, baseline: str = BASELINE, alpha: float = 0.05,
                        minority_index: Optional[int] = None, n_resamples: int = N_RESAMPLES, seed: int = 0,
                        refine: bool = True, groups: Optional[Mapping[str, str]] = None) -> pd.DataFrame:
    """One row per comparison (:func:`hypotheses`) and metric: the informative seed and image statistics, the
    decisive two-level test, Holm's correction within the family, the corrected interval and the verdict.
    ``minority_class_recall`` is bootstrapped only with ``minority_index``.

    ``groups`` ({source_id: group}, balancelab.sweep.statistics.predictions.read_test_groups) makes the image
    bootstrap, decisive and informative alike, resample whole groups of the test set (frames of one video); each
    bootstrapped row's ``boot_note`` names the unit. Without it the images are resampled one by one."""
    plan = hypotheses(jobs, baseline)
    if not plan:
        return pd.DataFrame(columns=COLUMNS)
    failures = failed_seeds(jobs)
    before_switch = checkpoints_before_switch(jobs)
    values = {metric: finished_values(jobs, metric) for metric in metrics}
    y_true, vectors, has_predictions_of = None, {}, {}
    if predictions:
        y_true, by_experiment = align_predictions(predictions)
        named = {name for h in plan for name in (h.experiment, h.reference)}
        vectors = {(e, s): v for e, per_seed in by_experiment.items() if e in named for s, v in per_seed.items()}
        for e, s in vectors:
            has_predictions_of.setdefault(e, set()).add(s)
    boot_metrics = [m for m in metrics if m != "minority_class_recall" or minority_index is not None]
    group_of = groups_in_order(predictions, groups) if predictions and groups is not None else None

    def table(resample_count: int) -> pd.DataFrame:
        resamples = (score_resamples(y_true, vectors, boot_metrics, minority_index, resample_count, seed, group_of)
                     if vectors and boot_metrics else None)
        materials = [_material(h, metric, values[metric], resamples, alpha, has_predictions_of)
                     for metric in metrics for h in plan]
        if resamples is not None and resamples.n_groups:
            for m in materials:
                if m.row["boot_n_pairs"]:
                    m.row["boot_note"] = _join(resamples.unit, m.row["boot_note"])
        return _decide(materials, alpha, failures, resample_count if resamples is not None else 0, before_switch,
                       missing_seeds(jobs))

    frame = table(n_resamples)
    if refine and vectors and n_resamples < REFINED_RESAMPLES and _needs_refining(frame, alpha):
        frame = table(REFINED_RESAMPLES)
    return frame
