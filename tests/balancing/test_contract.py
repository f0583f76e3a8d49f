"""One suite, run against every balancing technique."""

import numpy as np
import pytest

from balancelab.balancing import available_balancers, make_balancer
from balancelab.errors import BalancingError

# ADASYN warns on these well-separated digits (no border rows); that path is tested on its own.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TECHNIQUES = available_balancers()
OVERSAMPLERS = [t for t in TECHNIQUES if t not in ("none", "weighted_sampler", "random_undersampling")]


def params_for(name):
    if name in ("random_undersampling", "resample_to_target"):
        return {"target_per_class": 12}
    return {}


@pytest.mark.parametrize("name", TECHNIQUES)
def test_shape_dtype_and_provenance(name, imbalanced_digits):
    X, y = imbalanced_digits
    balancer = make_balancer(name, random_state=0, **params_for(name))
    X_res, y_res = balancer.fit_resample(X, y)
    assert X_res.dtype == X.dtype and X_res.shape[1:] == X.shape[1:]
    assert len(X_res) == len(y_res) == len(balancer.provenance_)
    copies = balancer.provenance_ >= 0
    # A copied row is exactly its input row with its label.
    assert np.array_equal(X_res[copies], X[balancer.provenance_[copies]])
    assert np.array_equal(y_res[copies], y[balancer.provenance_[copies]])
    report = balancer.report_
    assert report["technique"] == name
    for c, row in report["per_class"].items():
        assert row["before"] == int((y == int(c)).sum()) and row["after"] == int((y_res == int(c)).sum())
        # Every output row is a kept original, a duplicate or a synthetic image.
        assert row["after"] == row["before"] - row["removed"] + row["duplicated"] + row["synthetic"]
        assert row["added"] == max(row["after"] - row["before"], 0)
    assert report["bytes_before"] == X.nbytes and report["bytes_after"] == X_res.nbytes
    assert report["synthetic_count"] == int((~copies).sum())


@pytest.mark.parametrize("name", TECHNIQUES)
def test_deterministic_under_seed(name, imbalanced_digits):
    X, y = imbalanced_digits
    a = make_balancer(name, random_state=7, **params_for(name)).fit_resample(X, y)
    b = make_balancer(name, random_state=7, **params_for(name)).fit_resample(X, y)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("name", TECHNIQUES)
def test_input_is_not_modified(name, imbalanced_digits):
    X, y = imbalanced_digits
    X0, y0 = X.copy(), y.copy()
    make_balancer(name, random_state=0, **params_for(name)).fit_resample(X, y)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)


@pytest.mark.parametrize("name", OVERSAMPLERS)
def test_auto_strategy_balances_every_class(name, imbalanced_digits):
    X, y = imbalanced_digits
    _, y_res = make_balancer(name, random_state=0, **params_for(name)).fit_resample(X, y)
    counts = np.bincount(y_res)
    if name == "resample_to_target":
        assert counts.tolist() == [12, 12, 12]
    else:
        assert counts.tolist() == [40, 40, 40]


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
