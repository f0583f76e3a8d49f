"""The sweep's answer in one sentence: the best technique, its gain over baseline with its interval and verdict,
and the cheapest technique shown to be as good.

The best technique is the one with the largest estimated gain (the paired difference to baseline) *among those
called better*; a technique with a larger gain that is not detectably better is named as such, never as the
answer. Without a better technique the answer says so and names the largest gain with its verdict.

"As good" is a claim of equivalence, not a failure to tell two techniques apart. A cheaper technique (less mean
training time) is named only when it is itself better than baseline *and* an equivalence test shows it within
``margin`` (EQUIVALENCE_MARGIN, 1 point of macro-F1, fixed in advance) of the best: two one-sided tests
(Schuirmann 1987) on the same two-level test the comparison makes (training seeds and test images; the
techniques compared with the best as the reference, balancelab.sweep.statistics), at level ``alpha`` with
Holm's correction over the cheaper candidates. When none is shown within the margin the sentence names none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import pandas as pd

from balancelab.sweep import statistics
from balancelab.sweep.numbers import format_interval

PRIMARY = statistics.PRIMARY_METRIC
# The difference to the best that still counts as "as good": 1 point of macro-F1, fixed before looking at data.
EQUIVALENCE_MARGIN = 0.01


@dataclass
class Answer:
    text: str
    best: Optional[str] = None
    verdict: Optional[str] = None
    cheapest_within_noise: Optional[str] = None  # the cheaper technique shown within ``margin`` of the best
    larger_undecided: Optional[str] = None       # a larger estimated gain that is not detectably better
    margin: float = EQUIVALENCE_MARGIN

    def as_dict(self) -> dict:
        return {"text": self.text, "best": self.best, "verdict": self.verdict,
                "cheapest_within_noise": self.cheapest_within_noise, "equivalence_margin": self.margin,
                "larger_undecided": self.larger_undecided}


@dataclass
class _Equivalent:
    experiment: str
    difference: float
    low: float
    high: float
    confidence: float
    n_candidates: int


def _equivalent_cheaper(best: str, candidates: list, jobs: pd.DataFrame, predictions, minority_index,
                        bootstrap_seed: int, margin: float, alpha: float,
                        groups: Optional[Mapping[str, str]] = None) -> dict:
    """{candidate: _Equivalent} of the ``candidates`` an equivalence test shows within ``margin`` of ``best``
    (two one-sided tests on each comparison with ``best``, Holm over the candidates)."""
    trained = jobs[jobs["row_kind"] == "trained"] if "row_kind" in jobs else jobs
    versus = statistics.compare_to_baseline(trained, predictions, metrics=[PRIMARY], baseline=best,
                                            minority_index=minority_index, seed=bootstrap_seed, alpha=alpha,
                                            groups=groups)
    versus = versus[versus["family"] == statistics.TRAINED_FAMILY].set_index("experiment")
    parts, p_values = {}, []
    for name in candidates:
        r = versus.loc[name] if name in versus.index else None
        if r is None or r["test"] != statistics.TWO_LEVEL or not np.isfinite(r["p_value"]) or r["n_pairs"] < 1:
            parts[name] = None
            p_values.append(np.nan)
            continue
        image = float(r["image_variance"]) if np.isfinite(r["image_variance"]) else 0.0
        parts[name] = (float(r["mean_difference"]), float(r["seed_variance"]) / int(r["n_pairs"]), image,
                       float(r["seed_df"]))
        p_values.append(statistics.equivalence_p(*parts[name], margin))
    levels = statistics.holm_levels(p_values, alpha, n_tests=len(candidates))
    shown = {}
    for name, p, level in zip(candidates, p_values, levels):
        if parts[name] is None or not np.isfinite(p) or not p < level:
            continue
        difference, seed_part, image_part, df = parts[name]
        c = statistics.generalized_half_width(seed_part, image_part, df, 2 * level)
        shown[name] = _Equivalent(name, difference, difference - c, difference + c, 1 - 2 * level, len(candidates))
    return shown


def _not_better(verdict) -> str:
    if verdict == statistics.NO_DIFFERENCE:
        return "not detectably better than baseline"
    return f"not detectably better than baseline ({verdict if isinstance(verdict, str) else 'not tested'})"


def sweep_answer(table: pd.DataFrame, jobs: pd.DataFrame, predictions: Optional[Mapping] = None,
                 minority_index: Optional[int] = None, bootstrap_seed: int = 0, *,
                 margin: float = EQUIVALENCE_MARGIN, alpha: float = 0.05,
                 groups: Optional[Mapping[str, str]] = None) -> Answer:
    """The answer of a comparison table (balancelab.sweep.report.attach_statistics's) and its jobs."""
    kinds = table["row_kind"] if "row_kind" in table else pd.Series("trained", index=table.index)
    trained = table[(kinds == "trained") & table[f"{PRIMARY}_mean"].notna()]
    base = trained[trained["experiment"] == statistics.BASELINE]
    techniques = trained[trained["experiment"] != statistics.BASELINE]
    if base.empty or techniques.empty:
        return Answer("Nothing to compare: the sweep needs finished jobs of baseline and of at least one other "
                      "experiment.", margin=margin)
    base_mean = float(base.iloc[0][f"{PRIMARY}_mean"])
    paired = (pd.to_numeric(techniques[f"{PRIMARY}_paired_diff"], errors="coerce")
              if f"{PRIMARY}_paired_diff" in techniques else pd.Series(np.nan, index=techniques.index))
    gains = paired.where(paired.notna(), techniques[f"{PRIMARY}_mean"] - base_mean)
    techniques = techniques.assign(_gain=gains).sort_values("_gain", ascending=False, kind="stable",
                                                            na_position="last")
    verdicts = techniques[f"{PRIMARY}_verdict"] if f"{PRIMARY}_verdict" in techniques else pd.Series(
        None, index=techniques.index, dtype=object)
    is_better = verdicts == statistics.BETTER
    row = techniques[is_better].iloc[0] if is_better.any() else techniques.iloc[0]

    def interval(r) -> str:
        low_high = format_interval(r.get(f"{PRIMARY}_diff_ci_corrected_low"),
                                   r.get(f"{PRIMARY}_diff_ci_corrected_high"), 3)
        level = r.get(f"{PRIMARY}_ci_corrected_level")
        return f"{level:.1%} CI {low_high}" if low_high != "—" and not pd.isna(level) else ""

    def numbers(r) -> str:
        ci = f" ({interval(r)})" if interval(r) else ""
        return f"{r[f'{PRIMARY}_mean']:.3f} against baseline's {base_mean:.3f}, a difference of {r['_gain']:+.3f}{ci}"

    best, verdict, scope = row["experiment"], row.get(f"{PRIMARY}_verdict"), row.get(f"{PRIMARY}_scope")
    seeds = int(row["n_seeds"])
    about = f" (about {scope})" if isinstance(scope, str) and scope else ""
    head = f"macro-F1, {seeds} seed{'s' if seeds != 1 else ''}: "
    larger = None
    if verdict == statistics.BETTER:
        text = f"{head}the best technique is {best}: {numbers(row)}, better than baseline{about}."
        above = techniques[~is_better & (techniques["_gain"] > row["_gain"])]
        if len(above):
            other = above.iloc[0]
            larger = other["experiment"]
            ci = f", {interval(other)}" if interval(other) else ""
            text += (f" {larger} has a larger estimated gain ({other[f'{PRIMARY}_mean']:.3f}, {other['_gain']:+.3f}"
                     f"{ci}) but is {_not_better(other.get(f'{PRIMARY}_verdict'))}.")
    else:
        text = (f"{head}no technique is detectably better than baseline; the largest estimated gain is {best}: "
                f"{numbers(row)}, {verdict if isinstance(verdict, str) else 'not tested'}{about}.")
    cheapest = None
    if verdict == statistics.BETTER and "training_seconds_mean" in techniques:
        cost = row.get("training_seconds_mean", np.nan)
        cheaper = techniques[is_better & (techniques["experiment"] != best)
                             & (techniques["training_seconds_mean"] < cost)] if np.isfinite(cost) else techniques[:0]
        if len(cheaper):
            shown = _equivalent_cheaper(best, list(cheaper["experiment"]), jobs, predictions, minority_index,
                                        bootstrap_seed, margin, alpha, groups)
            if shown:
                choice = cheaper[cheaper["experiment"].isin(shown)].sort_values("training_seconds_mean",
                                                                               kind="stable").iloc[0]
                cheapest = choice["experiment"]
                e = shown[cheapest]
                holm = f", Holm over {e.n_candidates}" if e.n_candidates > 1 else ""
                text += (f" The cheapest technique shown to be within {margin:.3f} macro-F1 of it is {cheapest} "
                         f"({choice[f'{PRIMARY}_mean']:.3f}, also better than baseline; {e.difference:+.3f} against "
                         f"{best}, {e.confidence:.1%} CI {format_interval(e.low, e.high, 3)} inside ±{margin:.3f} "
                         f"by two one-sided tests at {alpha:.0%}{holm}; {choice['training_seconds_mean']:.0f} s of "
                         f"training against {cost:.0f} s).")
    return Answer(text, best, verdict if isinstance(verdict, str) else None, cheapest, larger, margin)
