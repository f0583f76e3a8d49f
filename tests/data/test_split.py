"""The stratified train/val/test split: unchanged for ordinary data, still stratified beside tiny classes."""

import hashlib
import logging

import numpy as np
import pytest
from sklearn.datasets import load_digits

from balancelab.data.split import name_incomplete_classes, stratified_split


def fingerprint(parts):
    return hashlib.sha256(b"".join(np.asarray(p, np.int64).tobytes() for p in parts)).hexdigest()[:16]


def test_split_of_ordinary_data_is_unchanged():
    # Indices recorded from the split before tiny classes were handled (scikit-learn 1.9.1): runs made
    # then must keep their test set.
    y = np.repeat(np.arange(3), [6, 4, 3])
    split = stratified_split(y, 0.25, 0.25, 0)
    assert [p.tolist() for p in split[:3]] == [[1, 2, 5, 8, 9, 11], [3, 6, 10], [0, 4, 7, 12]]
    assert split.not_in_every_split == {}
    digits = load_digits().target
    assert fingerprint(stratified_split(digits, 0.2, 0.2, 0)[:3]) == "16be9a1c3b3ca7c6"
    assert fingerprint(stratified_split(digits, 0.2, 0.2, 7)[:3]) == "cfd568617afe8bda"


def test_tiny_classes_do_not_unstratify_the_others():
    big = np.repeat(np.arange(3), [40, 20, 10])
    y = np.concatenate([big, [3], [4, 4]])  # class 3: one image, class 4: two
    split = stratified_split(y, 0.2, 0.2, seed=3)
    alone = stratified_split(big, 0.2, 0.2, seed=3)
    # The classes that can be stratified are split exactly as they would be without the tiny ones.
    big_index = np.flatnonzero(y < 3)
    for with_tiny, without in zip(split[:3], alone[:3]):
        assert np.array_equal(with_tiny[y[with_tiny] < 3], big_index[without])
    train, val, test = split[:3]
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(len(y)))
    assert 70 in train                                   # the single image trains
    assert {71, 72} == {int(i) for i in np.concatenate([train, test]) if i >= 71}  # one to train, one to test
    assert len({71, 72} & set(train.tolist())) == 1
    assert split.not_in_every_split == {3: ["train"], 4: ["train", "test"]}


def test_tiny_class_placement_is_seeded():
    y = np.concatenate([np.repeat([0, 1], 10), [2, 2]])
    assert all(np.array_equal(a, b) for a, b in zip(stratified_split(y, 0.2, 0.2, 5)[:3],
                                                    stratified_split(y, 0.2, 0.2, 5)[:3]))


def test_only_tiny_classes_cannot_fill_every_split():
    with pytest.raises(ValueError, match="val split"):
        stratified_split(np.array([0, 1, 1]), 0.2, 0.2, seed=0)


def test_incomplete_classes_are_named_and_warned(caplog):
    with caplog.at_level(logging.WARNING, logger="balancelab"):
        named = name_incomplete_classes({1: ["train"], 2: ["train", "test"]}, ["cat", "dog", "eel"])
    assert named == {"dog": ["train"], "eel": ["train", "test"]}
    assert "dog" in caplog.text and "eel" in caplog.text and "val" in caplog.text
    with caplog.at_level(logging.WARNING, logger="balancelab"):
        caplog.clear()
        assert name_incomplete_classes({}, ["cat"]) == {}
    assert caplog.text == ""


@pytest.mark.parametrize("fractions", [(0.2, 0.2), (0.1, 0.3)])
def test_fractions_are_kept_for_stratified_classes(fractions):
    y = np.concatenate([np.repeat(np.arange(4), 50), [4]])
    train, val, test = stratified_split(y, *fractions, seed=0)[:3]
    for c in range(4):
        assert abs((y[val] == c).sum() - 50 * fractions[0]) <= 1
        assert abs((y[test] == c).sum() - 50 * fractions[1]) <= 1
