"""One suite, run against every balancing technique (the list comes from the registry; nothing here names a
technique, so a new one - say a wrapped imbalanced-learn sampler - is checked by adding its module and YAML)."""

import inspect

import numpy as np
import pytest

from balancelab.balancing import available_balancers, balancer_class, make_balancer
from balancelab.errors import BalancingError
from balancelab.testing import check_balancer

# ADASYN warns on these well-separated digits (no border rows); that path is tested on its own.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TECHNIQUES = available_balancers()
TARGET = 12  # between the fixture's class sizes (40 / 12 / 6 rows), for techniques that take a target


def params_for(name):
    """A per-class target for the techniques whose constructor takes one (undersampling to a count)."""
    if "target_per_class" in inspect.signature(balancer_class(name)).parameters:
        return {"target_per_class": TARGET}
    return {}


@pytest.mark.parametrize("name", TECHNIQUES)
def test_every_technique_keeps_the_contract(name, imbalanced_digits):
    check_balancer(lambda: make_balancer(name, random_state=0, **params_for(name)))
    check_balancer(balancer_class(name))  # all defaults
    check_balancer(make_balancer(name, random_state=5, **params_for(name)), *imbalanced_digits)  # real images


@pytest.mark.parametrize("name", TECHNIQUES)
def test_report_accounts_for_every_output_row(name, imbalanced_digits):
    X, y = imbalanced_digits
    balancer = make_balancer(name, random_state=0, **params_for(name))
    X_res, _ = balancer.fit_resample(X, y)
    report = balancer.report_
    for row in report["per_class"].values():
        # Every output row is a kept original, a duplicate or a synthetic image.
        assert row["after"] == row["before"] - row["removed"] + row["duplicated"] + row["synthetic"]
    assert report["technique"] == name
    assert report["synthetic_count"] == int((balancer.provenance_ < 0).sum())
    assert report["bytes_before"] == X.nbytes and report["bytes_after"] == X_res.nbytes


@pytest.mark.parametrize("name", TECHNIQUES)
def test_a_technique_never_makes_the_training_set_more_imbalanced(name, imbalanced_digits):
    """What every technique promises, whatever its kind: no class disappears and the ratio of the largest class
    to the smallest does not grow. Oversamplers reach 1, undersamplers to a target come down to it, cleaning
    samplers (Tomek links, instance hardness) remove some rows, and batch balancers (none, weighted or deferred
    sampling) leave the rows alone and balance the batches."""
    X, y = imbalanced_digits
    _, y_res = make_balancer(name, random_state=0, **params_for(name)).fit_resample(X, y)
    before, after = np.bincount(y), np.bincount(y_res, minlength=len(np.bincount(y)))
    assert (after > 0).all(), f"{name}: a class disappeared: {before.tolist()} -> {after.tolist()}"
    assert after.max() / after.min() <= before.max() / before.min(), f"{name}: {before.tolist()} -> {after.tolist()}"


@pytest.mark.parametrize("name", [t for t in TECHNIQUES if params_for(t)])
def test_a_technique_with_a_per_class_target_meets_it(name, imbalanced_digits):
    """Every class above the target comes down to it; every class below stays or rises to it."""
    X, y = imbalanced_digits
    _, y_res = make_balancer(name, random_state=0, **params_for(name)).fit_resample(X, y)
    before, after = np.bincount(y), np.bincount(y_res, minlength=len(np.bincount(y)))
    assert all(a == TARGET if b >= TARGET else b <= a <= TARGET for b, a in zip(before, after)), (
        f"{name}: {before.tolist()} -> {after.tolist()}")


@pytest.mark.parametrize("name", TECHNIQUES)
def test_rejects_bad_input(name):
    with pytest.raises(BalancingError):
        make_balancer(name, random_state=0, **params_for(name)).fit_resample(np.zeros((3, 4, 4, 1), np.uint8), np.array([0, 1]))


def test_random_oversampling_per_class_strategy(imbalanced_digits):
    X, y = imbalanced_digits
    _, y_res = make_balancer("random_oversampling", random_state=0, sampling_strategy={2: 20}).fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [40, 12, 20]


def test_random_oversampling_duplicates_only(imbalanced_digits):
    X, y = imbalanced_digits
    balancer = make_balancer("random_oversampling", random_state=0)
    balancer.fit_resample(X, y)
    assert (balancer.provenance_ >= 0).all()
    assert balancer.report_["per_class"]["2"]["duplicated"] == 34


def test_unknown_technique_lists_valid_ones():
    with pytest.raises(BalancingError, match="random_oversampling"):
        make_balancer("smoth")


def test_weighted_sampler_leaves_data_alone(imbalanced_digits):
    X, y = imbalanced_digits
    X_res, y_res = make_balancer("weighted_sampler", random_state=0).fit_resample(X, y)
    assert np.array_equal(X_res, X) and np.array_equal(y_res, y)
