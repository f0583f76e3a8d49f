import numpy as np
import pytest

from balancelab.sweep import statistics as st


def test_holm_hand_computed_with_monotonicity_fix():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> raised to 0.06 by the running max
    assert np.allclose(st.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert np.allclose(st.holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1


def test_holm_nan_stays_nan_and_family_size_counts_untestable_hypotheses():
    assert np.allclose(st.holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04], equal_nan=True)
    assert np.allclose(st.holm([0.01, np.nan, 0.04], n_tests=3), [0.03, np.nan, 0.08], equal_nan=True)
    with pytest.raises(ValueError, match="n_tests"):
        st.holm([0.01, 0.02], n_tests=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        st.holm([1.5])


def test_holm_rejects_exactly_what_the_textbook_step_down_rejects():
    rng = np.random.default_rng(0)
    alpha = 0.05
    for _ in range(200):
        p = rng.uniform(0, 0.08, size=rng.integers(1, 9))
        rejected = np.zeros(len(p), bool)
        for j, i in enumerate(np.argsort(p)):  # step down, stop at the first acceptance
            if p[i] > alpha / (len(p) - j):
                break
            rejected[i] = True
        adjusted = st.holm(p)
        assert np.array_equal(adjusted <= alpha, rejected)
        assert np.all(adjusted >= p) and np.all(adjusted <= np.minimum(1, len(p) * p) + 1e-15)


def test_holm_levels_reject_exactly_what_holm_rejects():
    rng = np.random.default_rng(0)
    for _ in range(300):
        p = rng.uniform(0, 0.08, size=rng.integers(1, 9))
        p[rng.random(len(p)) < 0.15] = np.nan
        m = int(np.isfinite(p).sum()) + int(rng.integers(0, 3))
        levels = st.holm_levels(p, 0.05, n_tests=m)
        adjusted = st.holm(p, n_tests=m)
        finite = np.isfinite(p)
        assert np.array_equal(p[finite] < levels[finite], adjusted[finite] < 0.05)
        assert np.isnan(levels[~finite]).all()
        if m:
            assert (levels[finite] >= 0.05 / m - 1e-15).all() and (levels[finite] <= 0.05).all()
