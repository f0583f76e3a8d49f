"""The sweep's answer in one sentence: the best technique, its gain over baseline with its interval and verdict,
and the cheapest technique within noise of it.

"Within noise" is a comparison of its own: every trained technique against the best one, by the same two-level
test and Holm's correction as the comparison with baseline (balancelab.sweep.statistics). A technique whose
difference to the best is ``no detectable difference`` could be the best on another draw of seeds and test
images; among those (and the best itself) the one with the least mean training time is the cheapest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import pandas as pd

from balancelab.sweep import statistics
from balancelab.sweep.numbers import format_interval

PRIMARY = statistics.PRIMARY_METRIC


@dataclass
class Answer:
    text: str
    best: Optional[str] = None
    verdict: Optional[str] = None
    cheapest_within_noise: Optional[str] = None

    def as_dict(self) -> dict:
        return {"text": self.text, "best": self.best, "verdict": self.verdict,
                "cheapest_within_noise": self.cheapest_within_noise}


def _within_noise_of(best: str, jobs: pd.DataFrame, predictions, minority_index, bootstrap_seed: int,
                     groups: Optional[Mapping[str, str]] = None) -> set:
    trained = jobs[jobs["row_kind"] == "trained"] if "row_kind" in jobs else jobs
    versus = statistics.compare_to_baseline(trained, predictions, metrics=[PRIMARY], baseline=best,
                                            minority_index=minority_index, seed=bootstrap_seed, groups=groups)
    versus = versus[versus["family"] == statistics.TRAINED_FAMILY]
    return set(versus.loc[versus["verdict"] == statistics.NO_DIFFERENCE, "experiment"])


def sweep_answer(table: pd.DataFrame, jobs: pd.DataFrame, predictions: Optional[Mapping] = None,
                 minority_index: Optional[int] = None, bootstrap_seed: int = 0,
                 groups: Optional[Mapping[str, str]] = None) -> Answer:
    """The answer of a comparison table (balancelab.sweep.report.attach_statistics's) and its jobs."""
    kinds = table["row_kind"] if "row_kind" in table else pd.Series("trained", index=table.index)
    trained = table[(kinds == "trained") & table[f"{PRIMARY}_mean"].notna()]
    base = trained[trained["experiment"] == statistics.BASELINE]
    techniques = trained[trained["experiment"] != statistics.BASELINE]
    if base.empty or techniques.empty:
        return Answer("Nothing to compare: the sweep needs finished jobs of baseline and of at least one other "
                      "experiment.")
    row = techniques.sort_values(f"{PRIMARY}_mean", ascending=False, kind="stable").iloc[0]
    best, verdict, scope = row["experiment"], row.get(f"{PRIMARY}_verdict"), row.get(f"{PRIMARY}_scope")
    seeds = int(row["n_seeds"])
    interval = format_interval(row.get(f"{PRIMARY}_diff_ci_corrected_low"), row.get(f"{PRIMARY}_diff_ci_corrected_high"),
                               3)
    level = row.get(f"{PRIMARY}_ci_corrected_level")
    gain = row.get(f"{PRIMARY}_paired_diff", np.nan)
    about = f" (about {scope})" if isinstance(scope, str) and scope else ""
    head = (f"macro-F1, {seeds} seed{'s' if seeds != 1 else ''}: ")
    numbers = (f"{row[f'{PRIMARY}_mean']:.3f} against baseline's {base.iloc[0][f'{PRIMARY}_mean']:.3f}, a difference of "
               f"{gain:+.3f}" + (f" ({level:.1%} CI {interval})" if interval != "—" and not pd.isna(level) else ""))
    if verdict == statistics.BETTER:
        text = f"{head}the best technique is {best}: {numbers}, better than baseline{about}."
    else:
        text = (f"{head}no technique is detectably better than baseline; the highest mean is {best}: {numbers}, "
                f"{verdict if isinstance(verdict, str) else 'not tested'}{about}.")
    cheapest = None
    if verdict == statistics.BETTER and "training_seconds_mean" in techniques:
        near = _within_noise_of(best, jobs, predictions, minority_index, bootstrap_seed, groups) & set(techniques["experiment"])
        candidates = techniques[techniques["experiment"].isin(near | {best})]
        candidates = candidates[candidates["training_seconds_mean"].notna()]
        if len(candidates):
            choice = candidates.sort_values("training_seconds_mean", kind="stable").iloc[0]
            cheapest = choice["experiment"]
            cost = row.get("training_seconds_mean", np.nan)
            if cheapest == best:
                text += (" No technique within noise of it trains faster." if len(candidates) > 1 else
                         " No other technique is within noise of it.")
            else:
                text += (f" The cheapest technique within noise of it is {cheapest} ({choice[f'{PRIMARY}_mean']:.3f}; "
                         f"{choice['training_seconds_mean']:.0f} s of training against {cost:.0f} s).")
    return Answer(text, best, verdict if isinstance(verdict, str) else None, cheapest)
