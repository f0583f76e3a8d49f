"""The verdict rule against known truth, by simulation (balancelab.sweep.statistics.calibration): its
false-positive rate at the nominal level, including the sweep issue 19 fabricated (the same images fixed and
broken in every seed), and its power against the seed t-test's. docs/statistics.md reports the full run
(scripts/calibrate_verdicts.py); these are smaller, with their Monte-Carlo error in the bound."""

import pytest

from balancelab.sweep.statistics.calibration import (EFFECT_ARMS, MNIST_LT_TEST, NO_EFFECT_ARMS, Arm,
                                                     Scenario, run_scenario)

ALPHA = 0.05


def by_kind(rows):
    return {(r["kind"], r["size"]): r for r in rows}


@pytest.mark.parametrize("seeds,per_class,luck,sweeps,resamples", [
    (2, (36,) * 10, 0.03, 30, 500), (3, (36,) * 10, 0.03, 30, 500),
    # seeds vary far more than test images: the family's prior decides. It once let 7.9 % through (moments
    # instead of quartiles), then 6.9 % ± 0.9 % (the fluke arms, whose seeds barely differ, kept in its fit):
    # enough sweeps that such an excess is told from the Monte-Carlo error
    (3, MNIST_LT_TEST, 0.15, 200, 300)])
def test_without_an_effect_the_rule_rejects_at_most_at_the_nominal_level(seeds, per_class, luck, sweeps, resamples):
    rows = by_kind(run_scenario(Scenario("no effect", NO_EFFECT_ARMS, seeds=seeds, test_per_class=per_class,
                                         training_noise=luck), n_sweeps=sweeps, seed=seeds, n_resamples=resamples))
    null, fluke = rows[("null", 0.0)], rows[("fluke", 0.06)]
    for row in (null, fluke):  # at most the level plus its Monte-Carlo error
        assert row["rejection_rate"] <= ALPHA + 2 * row["rejection_rate_se"], row
        assert row["better_rate"] <= 0.01 and row["worse_rate"] <= 0.01, row   # Holm: family-wise 5 % over 15
    # the seed t-test alone calls the fixed-and-broken images a consistent effect
    assert fluke["t_test_rejection_rate"] > 0.5
    for size in (2.0, 4.0):  # a technique less stable than its family is never called better after Holm
        assert rows[("unstable", size)]["better_rate"] <= 0.05


def test_one_seed_cannot_tell_a_technique_from_its_training_luck_and_says_so():
    """With one seed the verdict is about one trained model per side on this test set: two models of the same
    technique differ by more than test-set noise, so as a claim about the technique it rejects too often."""
    rows = by_kind(run_scenario(Scenario("one seed", tuple([Arm("null")] * 15), seeds=1, training_noise=0.15),
                                n_sweeps=20, seed=1, n_resamples=500))
    assert rows[("null", 0.0)]["rejection_rate"] > ALPHA


def test_real_effects_are_found_more_often_than_by_the_seed_t_test():
    rows = by_kind(run_scenario(Scenario("effects", EFFECT_ARMS, seeds=3, test_per_class=MNIST_LT_TEST), n_sweeps=15,
                                seed=2, n_resamples=500))
    large, small = rows[("effect", 0.5)], rows[("effect", 0.15)]
    assert large["mean_gain"] > 0.04 and large["better_rate"] >= 0.8          # after Holm over 15 comparisons
    assert large["rejection_rate"] > large["t_test_rejection_rate"]
    assert small["better_rate"] <= large["better_rate"]
    # Holm's level relaxes as the real effects are rejected (up to the level itself for the last hypothesis): a
    # null arm among them is called better at most half the level of the time, one-sided
    null = rows[("null", 0.0)]
    assert null["better_rate"] <= ALPHA / 2 + 2 * null["better_rate_se"], null


def test_the_decisive_variance_is_the_variance_of_the_mean_difference():
    """The two-level standard error estimates how much d̄ varies over new seeds AND a new test set. Each seed's
    difference on the fixed test set already carries that seed's own image-by-image noise, which the image
    bootstrap of d̄ counts again: counted twice, the test is far stricter than its level (estimated variance
    2.1 times the true one, raw p < 0.05 in 0.8 % of null comparisons). Counted once, it is 1.35 on these 25
    sweeps (1.39 with the prior read along the family's trend); a review measured 1.35-1.56 over other 25-sweep
    draws and 1.47 +- 0.08 over 200 sweeps, with and without the trend, so the bound is 1.6: it still fails the
    double count by a wide margin."""
    import numpy as np

    from balancelab.sweep.statistics.calibration import simulate_sweep
    from balancelab.sweep.statistics.comparisons import compare_to_baseline
    from balancelab.sweep.statistics.metrics import PRIMARY_METRIC

    rng = np.random.default_rng(5)
    scenario = Scenario("no effect", tuple([Arm("null")] * 15), seeds=3)
    differences, variances = [], []
    for sweep in range(25):  # the test set and every model drawn anew: the truth d̄ varies over
        jobs, frames, _ = simulate_sweep(scenario, rng)
        table = compare_to_baseline(jobs, frames, metrics=[PRIMARY_METRIC], n_resamples=400, seed=sweep,
                                    refine=False)
        differences += list(table["mean_difference"])
        variances += list(table["standard_error"] ** 2)
    ratio = float(np.mean(variances) / np.var(differences))
    assert 0.7 <= ratio <= 1.6, ratio
