import numpy as np

from balancelab.data.digits import load_digits_lt


def test_digits_lt_splits():
    splits = load_digits_lt(16, split_seed=0, val_fraction=0.2, test_fraction=0.2, imbalance_ratio=10,
                            imbalance_profile="exponential")
    assert splits.train.X.shape[1:] == (16, 16, 1) and splits.train.X.dtype == np.uint8
    train = splits.train.class_counts(10)
    assert train.max() / train.min() >= 9  # long-tailed training split
    test = splits.test.class_counts(10)
    assert test.max() / test.min() < 1.2   # natural distribution kept
    ids = [set(s.source_ids) for s in (splits.train, splits.val, splits.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    again = load_digits_lt(16, 0, 0.2, 0.2, 10, "exponential")
    assert np.array_equal(again.test.source_ids, splits.test.source_ids)
