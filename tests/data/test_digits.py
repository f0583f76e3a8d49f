import numpy as np
import pytest

from balancelab.data.digits import load_digits_lt


def test_digits_lt_splits():
    splits = load_digits_lt(input_size=16, split_seed=0, val_fraction=0.2, test_fraction=0.2, imbalance_ratio=10,
                            imbalance_profile="exponential", channels=1)
    assert splits.train.X.shape[1:] == (16, 16, 1) and splits.train.X.dtype == np.uint8
    train = splits.train.class_counts(10)
    assert train.max() / train.min() >= 9  # long-tailed training split
    test = splits.test.class_counts(10)
    assert test.max() / test.min() < 1.2   # natural distribution kept
    ids = [set(s.source_ids) for s in (splits.train, splits.val, splits.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    again = load_digits_lt(input_size=16, split_seed=0, val_fraction=0.2, test_fraction=0.2, imbalance_ratio=10,
                           imbalance_profile="exponential", channels=1)
    assert np.array_equal(again.test.source_ids, splits.test.source_ids)


def binary(**kw):
    from tests.conftest import build_option

    return build_option("dataset", "digits_binary", kw, input_size=16)


def test_binary_training_split_follows_the_imbalance_ratio():
    natural = binary()
    negatives, positives = natural.train.class_counts(2)
    assert 8 < negatives / positives < 10  # ratio 1 / profile none: the natural ~1:9
    for profile in ("exponential", "step"):
        steep = binary(imbalance_ratio=50, imbalance_profile=profile)
        assert steep.train.class_counts(2).tolist() == [negatives, int(negatives / 50)]
        # Only training is long-tailed: the scored splits are the natural ones.
        assert np.array_equal(steep.test.source_ids, natural.test.source_ids)
        assert np.array_equal(steep.val.source_ids, natural.val.source_ids)
        assert set(steep.train.source_ids) < set(natural.train.source_ids)


def test_binary_ratio_below_the_natural_one_is_reported(caplog):
    with caplog.at_level("WARNING", logger="balancelab"):
        splits = binary(imbalance_ratio=2, imbalance_profile="exponential")
    assert splits.train.class_counts(2).tolist() == binary().train.class_counts(2).tolist()
    assert "imbalance_ratio=2" in caplog.text and "natural" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="balancelab"):
        binary()  # ratio 1 asks for the natural ratio: nothing to report
    assert "imbalance_ratio" not in caplog.text


@pytest.mark.parametrize("name", ["digits_lt", "digits_binary"])
def test_three_channels_replicate_the_gray_one(name):
    from tests.conftest import build_option

    gray = build_option("dataset", name, input_size=16)
    rgb = build_option("dataset", name, {"channels": 3}, input_size=16)
    for g, c in zip((gray.train, gray.val, gray.test), (rgb.train, rgb.val, rgb.test)):
        assert c.X.shape == g.X.shape[:3] + (3,)
        assert all(np.array_equal(c.X[..., k], g.X[..., 0]) for k in range(3))
        assert np.array_equal(c.source_ids, g.source_ids)


def test_binary_class_names_cannot_be_read_as_indices_and_the_positive_is_index_1():
    splits = binary(positive_digit=3)
    assert splits.class_names == ["other", "digit_3"]
    assert splits.notes["positive_class"] == "digit_3"
    counts = splits.train.class_counts(2)
    assert counts[1] < counts[0]  # index 1 is the (minority) positive digit


def test_two_different_binary_ratios_under_the_default_profile_give_two_different_training_splits():
    """The default profile uses the ratio: a ratio that is accepted takes effect."""
    a, b = binary(imbalance_ratio=20), binary(imbalance_ratio=40)
    assert a.train.class_counts(2)[1] != b.train.class_counts(2)[1]
    assert np.array_equal(a.test.source_ids, b.test.source_ids)


def test_the_default_binary_split_is_the_natural_one_whatever_the_default_profile():
    natural = binary(imbalance_profile="none")
    default = binary()
    assert np.array_equal(default.train.source_ids, natural.train.source_ids)
