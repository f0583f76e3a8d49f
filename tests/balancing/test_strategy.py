"""One rule turns a sampling_strategy into per-class targets, whichever technique reads it."""

import warnings

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler

from balancelab.balancing import available_balancers, balancer_class, make_balancer
from balancelab.balancing.strategy import oversampling_targets
from balancelab.errors import BalancingError

# Every registered technique that takes a sampling_strategy.
TAKE_STRATEGY = [n for n in available_balancers() if "sampling_strategy" in balancer_class(n).parameter_names()]


def test_the_techniques_with_a_strategy_are_found():
    assert {"random_oversampling", "smote", "adasyn", "offline_augmentation"} <= set(TAKE_STRATEGY)


def two_classes(digit_images, n_minority):
    X, y = digit_images
    index = np.concatenate([np.flatnonzero(y == 3)[:40], np.flatnonzero(y == 8)[:n_minority]])
    return X[index], (y[index] == 8).astype(np.int64)


def counts_after(name, strategy, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, y_res = make_balancer(name, random_state=0, sampling_strategy=strategy).fit_resample(X, y)
    return np.bincount(y_res, minlength=2).tolist()


# 0.29 * 40 = 11.6: imbalanced-learn's convention truncates (11); rounding would give 12.
@pytest.mark.parametrize("ratio,expected", [(0.29, [40, 11]), (0.5, [40, 20]), (1.0, [40, 40]), (0.1, [40, 7])])
@pytest.mark.parametrize("name", TAKE_STRATEGY)
def test_a_ratio_gives_the_same_counts_for_every_technique(name, ratio, expected, digit_images):
    X, y = two_classes(digit_images, 7)
    assert counts_after(name, ratio, X, y) == expected


@pytest.mark.parametrize("ratio", [0.2, 0.29, 0.33, 0.5, 0.7, 0.91, 1.0])
def test_ratio_targets_are_imbalanced_learns(ratio):
    y = np.array([0] * 43 + [1] * 7)
    _, y_imblearn = RandomOverSampler(sampling_strategy=ratio, random_state=0).fit_resample(y.reshape(-1, 1), y)
    assert oversampling_targets(ratio, y, "test").tolist() == np.bincount(y_imblearn).tolist()


def test_ratio_below_the_minority_keeps_it_as_it_is():
    y = np.array([0] * 40 + [1] * 7)
    assert oversampling_targets(0.1, y, "test").tolist() == [40, 7]  # imbalanced-learn raises here


@pytest.mark.parametrize("strategy,expected", [
    ("auto", [40, 40, 40]), ("not majority", [40, 40, 40]), ("all", [40, 40, 40]),
    ("minority", [40, 12, 40]), ("not minority", [40, 40, 6]), ({2: 20}, [40, 12, 20]),
])
@pytest.mark.parametrize("name", TAKE_STRATEGY)
def test_every_strategy_gives_the_same_counts_for_every_technique(name, strategy, expected, imbalanced_digits):
    X, y = imbalanced_digits
    assert oversampling_targets(strategy, y, name).tolist() == expected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, y_res = make_balancer(name, random_state=0, sampling_strategy=strategy).fit_resample(X, y)
    assert np.bincount(y_res).tolist() == expected


@pytest.mark.parametrize("strategy,match", [
    (0.5, "two-class"), (1.5, "two-class"), ("most", "not one of"), ({2: 3}, "below its 6"), ({5: 10}, "class 5"),
    ([1, 2], "must be"),
])
def test_bad_strategies_are_refused_with_the_reason(strategy, match, imbalanced_digits):
    _, y = imbalanced_digits
    with pytest.raises(BalancingError, match=match):
        oversampling_targets(strategy, y, "smote")
