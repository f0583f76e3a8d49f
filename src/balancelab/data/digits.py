"""The embedded default dataset: scikit-learn's bundled handwritten digits, made long-tailed."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from balancelab.data.dataset import DataSplits, ImageSet
from balancelab.data.longtail import make_long_tailed
from balancelab.data.resize import resize_images
from balancelab.data.split import stratified_split


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 (N, 8, 8, 1) in 0..255, and their labels."""
    digits = load_digits()  # ships inside scikit-learn: no network
    X = np.round(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    return X, digits.target.astype(np.int64)


def load_digits_lt(input_size: int, split_seed: int, val_fraction: float, test_fraction: float,
                   imbalance_ratio: float, imbalance_profile: str, name: str = "digits_lt") -> DataSplits:
    X, y = load_digit_images()
    source_ids = np.array([f"sklearn_digits:{i}" for i in range(len(y))])
    train_idx, val_idx, test_idx = stratified_split(y, val_fraction, test_fraction, split_seed)
    # Only the training split is made long-tailed; val and test keep the natural distribution.
    lt = train_idx[make_long_tailed(y[train_idx], 10, imbalance_ratio, imbalance_profile, split_seed)]
    X = resize_images(X, input_size)
    full = ImageSet(X, y, source_ids)
    return DataSplits(
        train=full.subset(lt), val=full.subset(val_idx), test=full.subset(test_idx),
        class_names=[str(d) for d in range(10)],
        notes={"source": "sklearn.datasets.load_digits", "original_resolution": [8, 8],
               "train_before_long_tail": int(len(train_idx))},
    )


def load_digits_binary(input_size: int, split_seed: int, val_fraction: float, test_fraction: float,
                       positive_digit: int, name: str = "digits_binary") -> DataSplits:
    """One digit (the positive, minority class) against the other nine: about 1:9."""
    X, digit = load_digit_images()
    y = (digit == positive_digit).astype(np.int64)
    source_ids = np.array([f"sklearn_digits:{i}" for i in range(len(y))])
    train_idx, val_idx, test_idx = stratified_split(y, val_fraction, test_fraction, split_seed)
    full = ImageSet(resize_images(X, input_size), y, source_ids)
    return DataSplits(
        train=full.subset(train_idx), val=full.subset(val_idx), test=full.subset(test_idx),
        class_names=[f"not_{positive_digit}", str(positive_digit)],
        notes={"source": "sklearn.datasets.load_digits", "positive_class": str(positive_digit)},
    )
