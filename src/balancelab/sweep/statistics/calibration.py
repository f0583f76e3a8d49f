"""The verdict rule checked against known truth: sweeps simulated with no effect and with real effects of given
sizes, decided by :func:`balancelab.sweep.statistics.compare_to_baseline` exactly as ``balance-report`` decides
a real sweep, and counted.

The simulated test set has images of varying difficulty (shared by every model, as real hard images are; a few are
ambiguous, wrong for every model); each
trained model (an experiment and a seed) classifies an image correctly when

    base + effect(experiment) + training shift(experiment, seed) + difficulty(image) + noise(model, image) > 0,

and otherwise predicts another class. The training shift is the seed's luck (a whole model better or worse);
the per-image noise is which images a model happens to get right. Kinds of experiment:

* ``null``: the baseline's own process, a new draw per seed (the technique does nothing);
* ``unstable``: no effect on average, but a seed's luck varies ``size`` times as much as the family's (its
  latent level is raised just enough that its expected accuracy stays the baseline's) - a technique less
  stable than the rest of its grid;
* ``fluke``: the baseline's models, except a fixed set of hard images that it gets right and a fixed set of
  easy ones that it gets wrong *in every seed*, of equal expected size (the fabricated sweep of issue 19: a
  seed t-test calls it better whenever the net count is positive);
* ``effect``: a latent shift of the decision (``size``), reported as the macro-F1 gain it produces.

A false positive is a null, unstable or fluke comparison whose raw p-value is below the level; the verdicts
(after Holm) are counted too. Sweeps are the unit of the Monte-Carlo error: comparisons of one sweep share its
baseline and test set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from balancelab.output.contract import Status
from balancelab.sweep.grid import BASELINE
from balancelab.sweep.statistics.comparisons import BETTER, TRAINED_FAMILY, WORSE, compare_to_baseline
from balancelab.sweep.statistics.metrics import PRIMARY_METRIC, metric_value



@dataclass(frozen=True)
class Arm:
    """One simulated experiment of a sweep."""

    kind: str = "null"        # null, unstable, fluke or effect
    size: float = 0.0         # effect: latent shift; unstable: its seeds' luck, in multiples of the family's;
    #                           fluke: share of the test images fixed (and as many broken) in every seed


@dataclass(frozen=True)
class Scenario:
    name: str
    arms: Tuple[Arm, ...]
    seeds: int = 3
    test_per_class: Tuple[int, ...] = (36,) * 10   # the digits' test split by default
    training_noise: float = 0.03                  # sd of a seed's luck: the whole model shifted (latent units)
    churn: float = 0.35                           # sd of the per-model, per-image noise (difficulty has sd 1)
    base: float = 1.5                             # latent accuracy level of the baseline
    ambiguous_share: float = 0.08                 # images every model gets wrong (ambiguous or mislabelled)

    @property
    def n_test(self) -> int:
        return int(sum(self.test_per_class))


@dataclass
class _Draw:
    y: np.ndarray
    difficulty: np.ndarray
    rng: np.random.Generator
    scenario: Scenario

    def model(self, shift: float, luck_scale: float = 1.0) -> np.ndarray:
        s = self.scenario
        sd = s.training_noise * luck_scale
        # difficulty and per-image noise have variance 1 + churn^2, so P(correct) averages to
        # Phi(level / sqrt(1 + churn^2 + sd^2)): an unstable arm's level is raised to keep it the baseline's
        spread = 1 + s.churn ** 2
        level = s.base * np.sqrt((spread + sd ** 2) / (spread + s.training_noise ** 2))
        luck = self.rng.normal(0.0, sd)
        correct = level + shift + luck + self.difficulty + self.rng.normal(0.0, s.churn, len(self.y)) > 0
        return np.where(correct, self.y, self.wrong())

    def wrong(self, where: Optional[np.ndarray] = None) -> np.ndarray:
        y = self.y if where is None else self.y[where]
        k = len(self.scenario.test_per_class)
        return (y + self.rng.integers(1, k, len(y))) % k


def simulate_sweep(scenario: Scenario, rng: np.random.Generator) -> Tuple[pd.DataFrame, Dict, np.ndarray]:
    """(jobs table, {(experiment, seed): predictions.csv frame}, y_true) of one simulated sweep; experiment
    ``arm{i}`` is ``scenario.arms[i]``."""
    y = np.repeat(np.arange(len(scenario.test_per_class)), scenario.test_per_class)
    difficulty = np.where(rng.random(len(y)) < scenario.ambiguous_share, -10.0, rng.normal(0.0, 1.0, len(y)))
    draw = _Draw(y, difficulty, rng, scenario)
    baseline = [draw.model(0.0) for _ in range(scenario.seeds)]
    predictions = {(BASELINE, s): p for s, p in enumerate(baseline)}
    for i, arm in enumerate(scenario.arms):
        name = f"arm{i}"
        if arm.kind == "fluke":
            # fixed and broken in every seed: hard images it always gets right, easy ones it always gets wrong
            hard = np.flatnonzero(np.all([p != y for p in baseline], axis=0))
            easy = np.flatnonzero(np.all([p == y for p in baseline], axis=0))
            # as many fixed as broken in expectation, both capped alike so the cap cannot tilt the balance
            cap = min(len(hard), len(easy))
            n_fixed, n_broken = np.minimum(rng.poisson(arm.size * len(y), 2), cap)
            fixed = rng.choice(hard, n_fixed, replace=False)
            broken = rng.choice(easy, n_broken, replace=False)
            wrong = draw.wrong(broken)
            for s, p in enumerate(baseline):
                mine = p.copy()
                mine[fixed], mine[broken] = y[fixed], wrong
                predictions[(name, s)] = mine
        elif arm.kind == "unstable":
            for seed in range(scenario.seeds):
                predictions[(name, seed)] = draw.model(0.0, luck_scale=arm.size)
        else:
            shift = arm.size if arm.kind == "effect" else 0.0
            for s in range(scenario.seeds):
                predictions[(name, s)] = draw.model(shift)
    rows, frames = [], {}
    ids = np.array([f"img{i:06d}" for i in range(len(y))])
    for (experiment, s), pred in predictions.items():
        frames[(experiment, s)] = pd.DataFrame({"source_id": ids, "true_index": y, "pred_index": pred})
        rows.append({"job": f"{experiment}_seed{s}", "experiment": experiment, "seed": s, "status": Status.COMPLETED.value,
                     PRIMARY_METRIC: metric_value(y, pred, PRIMARY_METRIC)})
    return pd.DataFrame(rows), frames, y


@dataclass
class Tally:
    """What the rule decided for one kind of arm over many simulated sweeps."""

    kind: str
    size: float
    raw_rejections: List[float] = field(default_factory=list)      # per sweep: share of its arms with raw p < alpha
    better: List[float] = field(default_factory=list)              # per sweep: share called better (after Holm)
    worse: List[float] = field(default_factory=list)
    t_test_rejections: List[float] = field(default_factory=list)   # the seed t-test alone (for contrast)
    gains: List[float] = field(default_factory=list)               # mean macro-F1 difference to baseline

    @staticmethod
    def _rate(values: List[float]) -> Tuple[float, float]:
        v = np.asarray(values, float)
        v = v[np.isfinite(v)]
        if not len(v):
            return np.nan, np.nan
        return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan

    def summary(self) -> dict:
        raw, raw_se = self._rate(self.raw_rejections)
        better, better_se = self._rate(self.better)
        worse, _ = self._rate(self.worse)
        t, _ = self._rate(self.t_test_rejections)
        return {"kind": self.kind, "size": self.size, "sweeps": len(self.raw_rejections),
                "mean_gain": float(np.nanmean(self.gains)) if self.gains else np.nan,
                "rejection_rate": raw, "rejection_rate_se": raw_se, "better_rate": better, "better_rate_se": better_se,
                "worse_rate": worse, "t_test_rejection_rate": t}


def run_scenario(scenario: Scenario, n_sweeps: int, seed: int = 0, alpha: float = 0.05,
                 n_resamples: int = 1000) -> List[dict]:
    """Simulate ``n_sweeps`` sweeps of ``scenario`` and tally, per kind and size of arm, the raw rejections at
    ``alpha``, the verdicts after Holm and the seed t-test's rejections."""
    rng = np.random.default_rng(seed)
    tallies: Dict[Tuple[str, float], Tally] = {}
    for _ in range(n_sweeps):
        jobs, frames, y = simulate_sweep(scenario, rng)
        table = compare_to_baseline(jobs, frames, metrics=[PRIMARY_METRIC], alpha=alpha, n_resamples=n_resamples,
                                    seed=int(rng.integers(2 ** 31)), refine=False)
        table = table[table["family"] == TRAINED_FAMILY].set_index("experiment")
        per_kind: Dict[Tuple[str, float], List[Tuple[float, str, float, float]]] = {}
        for i, arm in enumerate(scenario.arms):
            r = table.loc[f"arm{i}"]
            per_kind.setdefault((arm.kind, arm.size), []).append((r["p_value"], r["verdict"], r["p_ttest"],
                                                                  r["mean_difference"]))
        for key, results in per_kind.items():
            tally = tallies.setdefault(key, Tally(*key))
            p, verdicts, t, gains = zip(*results)
            tally.raw_rejections.append(float(np.mean(np.asarray(p) < alpha)))
            tally.better.append(float(np.mean([v == BETTER for v in verdicts])))
            tally.worse.append(float(np.mean([v == WORSE for v in verdicts])))
            tally.t_test_rejections.append(float(np.mean(np.nan_to_num(np.asarray(t), nan=1.0) < alpha)))
            tally.gains.append(float(np.mean(gains)))
    return [{"scenario": scenario.name, "seeds": scenario.seeds, "test_images": scenario.n_test, **t.summary()}
            for t in tallies.values()]


NO_EFFECT_ARMS = tuple([Arm("null")] * 10 + [Arm("unstable", 2.0)] * 2 + [Arm("unstable", 4.0)]
                       + [Arm("fluke", 0.06)] * 2)
EFFECT_ARMS = tuple([Arm("null")] * 3 + [Arm("effect", 0.15)] * 4 + [Arm("effect", 0.3)] * 4
                    + [Arm("effect", 0.5)] * 4)
DIGITS_TEST, MNIST_LT_TEST = (36,) * 10, (150,) * 10
LONG_TAILED_TEST = (150, 100, 70, 50, 35, 25, 20, 14, 10, 6)


def standard_scenarios() -> List[Scenario]:
    """The scenarios docs/statistics.md reports, each a 16-experiment grid (15 comparisons in the family): no
    effect (plain, less stable than the family, the same images fixed and broken in every seed) with 1 to 5
    seeds, on a digits-sized, an MNIST-LT-sized and a long-tailed test set, and with much larger seed luck; and
    real effects of three sizes. The default noise (luck 0.03, churn 0.35) gives seeds as close as the
    MNIST-LT sweep's (baseline macro-F1 sd 0.003 to 0.009 over 3 seeds)."""
    out = [Scenario(f"no effect, {seeds} seeds, 360 test images", NO_EFFECT_ARMS, seeds=seeds) for seeds in (2, 3, 5)]
    out += [Scenario("no effect, 1 seed, 360 test images", tuple([Arm("null")] * 13 + [Arm("fluke", 0.06)] * 2),
                     seeds=1),
            Scenario("no effect, 3 seeds, long-tailed test set (tail classes of 6-20 images)", NO_EFFECT_ARMS,
                     test_per_class=LONG_TAILED_TEST),
            Scenario("no effect, 3 seeds, 1500 test images, 5x the seed luck", NO_EFFECT_ARMS,
                     test_per_class=MNIST_LT_TEST, training_noise=0.15)]
    out += [Scenario(f"effects, {seeds} seeds, {sum(per_class)} test images{extra}", EFFECT_ARMS, seeds=seeds,
                     test_per_class=per_class, training_noise=luck)
            for seeds, per_class, luck, extra in ((3, DIGITS_TEST, 0.03, ""), (3, MNIST_LT_TEST, 0.03, ""),
                                                  (5, MNIST_LT_TEST, 0.03, ""),
                                                  (3, MNIST_LT_TEST, 0.15, ", 5x the seed luck"))]
    return out
