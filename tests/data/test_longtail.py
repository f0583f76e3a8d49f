import numpy as np
import pytest

from balancelab.data.longtail import ldam_drw_long_tailed, long_tail_counts, make_long_tailed


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
    from balancelab.options.datasets import PROFILES
    from balancelab.data.longtail import PROFILE_SHAPES

    assert set(PROFILES) == set(PROFILE_SHAPES)


def test_profile_none_keeps_every_class_at_n_max_and_an_unknown_profile_names_the_valid_ones():
    assert long_tail_counts(7, 3, 50, "none").tolist() == [7, 7, 7]
    with pytest.raises(ValueError, match="Valid: exponential, step, none"):
        long_tail_counts(7, 3, 2, "linear")


def test_ldam_drw_selection_is_the_reference_codes():
    """kaidic/LDAM-DRW imbalance_cifar.py: np.random.seed(rand_number=0) once, then for each class in order
    idx = np.where(targets == c)[0]; np.random.shuffle(idx); keep idx[:n_c] (the head class is shuffled too)."""
    y = np.tile(np.arange(4), 30)  # interleaved labels, as CIFAR's files hold them
    counts = long_tail_counts(30, 4, 10, "exponential")
    saved = np.random.get_state()
    try:
        np.random.seed(0)
        expected = []
        for c, n in zip(np.unique(y), counts):
            idx = np.where(y == c)[0]
            np.random.shuffle(idx)
            expected.append(idx[:n])
    finally:
        np.random.set_state(saved)
    chosen = ldam_drw_long_tailed(y, 4, 10, "exponential", seed=0)
    assert np.array_equal(chosen, np.sort(np.concatenate(expected)))
    assert not np.array_equal(chosen, ldam_drw_long_tailed(y, 4, 10, "exponential", seed=1))
    assert np.array_equal(np.random.get_state()[1], saved[1])  # numpy's global generator is left alone
