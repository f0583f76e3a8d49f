import numpy as np
import pytest

from balancelab.data.longtail import long_tail_counts, make_long_tailed


def test_exponential_profile_matches_formula():
    counts = long_tail_counts(5000, 10, 100, "exponential")
    expected = [int(5000 * 100 ** (-i / 9)) for i in range(10)]
    assert counts.tolist() == expected
    assert counts.sum() == 12406  # long-tailed CIFAR-10 at ratio 100 (LDAM-DRW)


def test_step_profile():
    assert long_tail_counts(100, 4, 10, "step").tolist() == [100, 100, 10, 10]


def test_make_long_tailed_is_seeded_and_follows_profile():
    y = np.repeat(np.arange(5), 50)
    a = make_long_tailed(y, 5, 10, "exponential", seed=1)
    b = make_long_tailed(y, 5, 10, "exponential", seed=1)
    assert np.array_equal(a, b)
    counts = np.bincount(y[a])
    assert counts[0] == 50 and counts[-1] == 5
    assert np.all(np.diff(counts) <= 0)


def test_bad_ratio():
    with pytest.raises(ValueError):
        long_tail_counts(10, 3, 0.5)


def test_the_schema_offers_exactly_the_profiles_the_loader_has():
    from balancelab.config.datasets import PROFILES
    from balancelab.data.longtail import PROFILE_SHAPES

    assert set(PROFILES) == set(PROFILE_SHAPES)


def test_profile_none_keeps_every_class_at_n_max_and_an_unknown_profile_names_the_valid_ones():
    assert long_tail_counts(7, 3, 50, "none").tolist() == [7, 7, 7]
    with pytest.raises(ValueError, match="Valid: exponential, step, none"):
        long_tail_counts(7, 3, 2, "linear")
