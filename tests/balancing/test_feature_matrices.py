"""Balancers on float feature matrices (N x D), as balancing in feature space gives them (training/feature_space.py):
the rows keep their dtype and values, and a synthetic row lies on the segment between its two real parents."""

from __future__ import annotations

import numpy as np
import pytest

from balancelab.balancing.registry import make_balancer


def _features(seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(0, 1, (60, 8)), rng.normal(4, 1, (12, 8)), rng.normal(-4, 1, (6, 8))])
    y = np.repeat([0, 1, 2], [60, 12, 6])
    return X.astype(np.float32), y


@pytest.mark.parametrize("name", ["smote", "adasyn"])
def test_interpolation_in_feature_space_keeps_float_values_on_the_parents_segment(name):
    X, y = _features()
    balancer = make_balancer(name, random_state=0)
    X_res, y_res = balancer.fit_resample(X, y)
    assert X_res.dtype == np.float32
    assert np.bincount(y_res).tolist() == [60, 60, 60]
    np.testing.assert_array_equal(X_res[:len(y)], X)  # the real rows unchanged (not rounded to uint8)
    parents = balancer.report_["synthetic_parents"]
    a, b, t = (np.asarray(parents[k]) for k in ("a", "b", "t"))
    synthetic = X_res[len(y):]
    assert len(a) == len(synthetic) == 48 + 54
    np.testing.assert_allclose(synthetic, X[a] + t[:, None].astype(np.float32) * (X[b] - X[a]), atol=1e-4)
    assert (y[a] == y_res[len(y):]).all() and (y[b] == y_res[len(y):]).all() and (a != b).all()
    assert (X_res < 0).any()  # negative features survive (no clipping to pixel range)


@pytest.mark.parametrize("name", ["random_oversampling", "random_undersampling", "none"])
def test_row_choosing_techniques_keep_float_rows(name):
    X, y = _features()
    X_res, y_res = make_balancer(name, random_state=0).fit_resample(X, y)
    assert X_res.dtype == np.float32 and X_res.shape[1] == 8
    assert set(map(tuple, X_res.round(5))) <= set(map(tuple, X.round(5)))
