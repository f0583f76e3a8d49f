"""The embedded default dataset: scikit-learn's bundled handwritten digits, made long-tailed."""

from __future__ import annotations

import logging
from typing import Dict, List

import numpy as np
from sklearn.datasets import load_digits

from balancelab.data.channels import convert_channels
from balancelab.data.dataset import DataSplits, ImageSet
from balancelab.data.longtail import long_tail_counts, make_long_tailed
from balancelab.data.resize import resize_images
from balancelab.data.split import name_incomplete_classes, stratified_split

log = logging.getLogger("balancelab")


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 (N, 8, 8, 1) in 0..255, and their labels."""
    digits = load_digits()  # ships inside scikit-learn: no network
    X = np.round(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    return X, digits.target.astype(np.int64)


def load_digits_lt(*, input_size: int, split_seed: int, val_fraction: float, test_fraction: float,
                   imbalance_ratio: float, imbalance_profile: str, channels: int) -> DataSplits:
    X, y = load_digit_images()
    return _split(X, y, [str(d) for d in range(10)], input_size, split_seed, val_fraction, test_fraction,
                  imbalance_ratio, imbalance_profile, channels,
                  notes={"source": "sklearn.datasets.load_digits", "original_resolution": [8, 8]})


def load_digits_binary(*, input_size: int, split_seed: int, val_fraction: float, test_fraction: float,
                       positive_digit: int, imbalance_ratio: float, imbalance_profile: str,
                       channels: int) -> DataSplits:
    """One digit (class 1, ``digit_<d>``, the positive minority) against the other nine (class 0, ``other``,
    the head): about 1:9. The names are words, so that "positive class: digit_0" cannot be read as index 0.

    The long-tail profile applies to the training split as for ``digits_lt``: the positives are cut to
    n_negative / ratio; ratio 1 (or profile none) keeps the natural ratio.
    """
    X, digit = load_digit_images()
    y = (digit == positive_digit).astype(np.int64)
    positive = f"digit_{positive_digit}"
    splits = _split(X, y, ["other", positive], input_size, split_seed, val_fraction, test_fraction,
                    imbalance_ratio, imbalance_profile, channels,
                    notes={"source": "sklearn.datasets.load_digits", "positive_class": positive})
    _warn_if_ratio_not_reached(splits, imbalance_ratio, imbalance_profile)
    return splits


def _split(X: np.ndarray, y: np.ndarray, class_names: List[str], input_size: int, split_seed: int,
           val_fraction: float, test_fraction: float, imbalance_ratio: float, imbalance_profile: str,
           channels: int, notes: Dict[str, object]) -> DataSplits:
    """Stratified split; only the training split is made long-tailed, val and test keep the natural one."""
    source_ids = np.array([f"sklearn_digits:{i}" for i in range(len(y))])
    train_idx, val_idx, test_idx, incomplete = stratified_split(y, val_fraction, test_fraction, split_seed)
    lt = train_idx[make_long_tailed(y[train_idx], len(class_names), imbalance_ratio, imbalance_profile, split_seed)]
    full = ImageSet(resize_images(convert_channels(X, channels), input_size), y, source_ids)
    return DataSplits(
        train=full.subset(lt), val=full.subset(val_idx), test=full.subset(test_idx), class_names=class_names,
        notes={**notes, "train_before_long_tail": int(len(train_idx)),
               "classes_not_in_every_split": name_incomplete_classes(incomplete, class_names)},
    )


def _warn_if_ratio_not_reached(splits: DataSplits, imbalance_ratio: float, imbalance_profile: str) -> None:
    """The profile can only remove positives: a ratio below the natural one leaves the split as it is."""
    if imbalance_ratio <= 1 or imbalance_profile == "none":
        return
    negatives, positives = splits.train.class_counts(2)
    wanted = long_tail_counts(int(negatives), 2, imbalance_ratio, imbalance_profile)[1]
    if wanted > positives:
        log.warning("dataset=digits_binary: imbalance_ratio=%g asks for %d positives, but the training split has "
                    "only %d (its natural ratio is %.1f:1), so it keeps the natural ratio. Use imbalance_ratio=1, "
                    "or a ratio above %.1f to make it steeper.", imbalance_ratio, wanted, positives,
                    negatives / positives, negatives / positives)
