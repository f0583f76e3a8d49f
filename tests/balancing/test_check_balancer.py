"""check_balancer catches balancers that break the contract, each with the rule named."""

import numpy as np
import pytest

from balancelab.balancing.base import Balancer, Resampled
from balancelab.balancing.simple import NoBalancing
from balancelab.testing import check_balancer, imbalanced_images


class Duplicator(Balancer):
    """A correct toy: every class up to the largest by copies, drawn from random_state."""

    def __init__(self, *, random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)

    def _resample(self, X, y):
        rng = np.random.default_rng(self.random_state)
        counts = np.bincount(y)
        extra = [rng.choice(np.flatnonzero(y == c), counts.max() - n) for c, n in enumerate(counts)]
        return Resampled(kept=np.concatenate([np.arange(len(y)), *extra]).astype(np.int64))


class WrongProvenance(Duplicator):
    def fit_resample(self, X, y):
        out = super().fit_resample(X, y)
        self.provenance_ = np.roll(self.provenance_, 1)
        return out


class ModifiesInput(Duplicator):
    def fit_resample(self, X, y):
        X[0] = 0
        return super().fit_resample(X, y)


class TakesAnything(Duplicator):
    def __init__(self, *, random_state=None, device="cpu", **params):
        super().__init__(random_state=random_state, device=device)
        self.params = params


class ValidatesInConstructor(Duplicator):
    def __init__(self, *, strength=1, random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.strength = int(strength)


class SetsMoreThanItsParameters(Duplicator):
    def __init__(self, *, random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.rng_ = np.random.default_rng(random_state)


class Unseeded(Duplicator):
    def _resample(self, X, y):
        self.random_state = None  # ignores the seed it was given
        return super()._resample(X, y)


class FloatImages(Duplicator):
    def fit_resample(self, X, y):
        X_res, y_res = super().fit_resample(X, y)
        return X_res.astype(np.float32), y_res


class NumpyInReport(Duplicator):
    def fit_resample(self, X, y):
        out = super().fit_resample(X, y)
        self.report_["per_class"]["0"]["after"] = np.int64(self.report_["per_class"]["0"]["after"])
        return out


class MiscountsRemoved(NoBalancing):
    def fit_resample(self, X, y):
        out = super().fit_resample(X, y)
        self.report_["per_class"]["1"]["removed"] = 3
        return out


class InventsAClass(Duplicator):
    """Adds synthetic rows of a class the input does not have (class 3 of an input with classes 0-2)."""

    def _resample(self, X, y):
        result = super()._resample(X, y)
        new_class = int(y.max()) + 1
        return Resampled(kept=result.kept, X_synthetic=X[:2].copy(), y_synthetic=np.full(2, new_class, np.int64))


def test_a_correct_balancer_passes_as_instance_class_or_factory():
    check_balancer(Duplicator(random_state=3))
    check_balancer(Duplicator)
    check_balancer(lambda: Duplicator(random_state=1))


@pytest.mark.parametrize("broken,rule", [
    (WrongProvenance, "copied rows equal their source rows"),
    (ModifiesInput, "the input is not modified"),
    (TakesAnything, "the constructor only stores"),
    (ValidatesInConstructor, "the constructor only stores"),
    (SetsMoreThanItsParameters, "the constructor only stores"),
    (Unseeded, "the same random_state gives the same output"),
    (FloatImages, "uint8 images"),
    (NumpyInReport, "JSON-serialisable"),
    (MiscountsRemoved, "per-class counts match"),
    (InventsAClass, "the output's classes are the input's"),
])
def test_a_broken_balancer_is_caught_with_its_rule_named(broken, rule):
    with pytest.raises(AssertionError, match=rule) as caught:
        check_balancer(broken(random_state=0))
    assert broken.__name__ in str(caught.value)


def test_generated_images_are_small_imbalanced_uint8():
    X, y = imbalanced_images()
    assert X.dtype == np.uint8 and X.ndim == 4 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [30, 12, 6]
