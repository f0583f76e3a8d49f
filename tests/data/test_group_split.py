"""The group-aware split: whole groups per split, stratified by class as far as groups allow."""

import numpy as np
import pytest

from balancelab.data.group_split import merge_identical_files, stratified_group_split
from balancelab.errors import DataError

SPLITS = ("train", "val", "test")


def frames(clips_per_class, rng, mean_len=40):
    """(labels, group names) of frames: each clip one class, clip lengths unequal."""
    y, groups = [], []
    for c, n in enumerate(clips_per_class):
        for k in range(n):
            length = 1 + int(rng.lognormal(np.log(mean_len), 0.8))
            y += [c] * length
            groups += [f"c{c}_clip{k}"] * length
    return np.array(y), np.array(groups)


def fractions(splits, y, c=None):
    sel = np.ones(len(y), bool) if c is None else (y == c)
    return np.array([np.mean(splits[sel] == s) for s in SPLITS])


def split(y, groups, val=0.15, test=0.15, seed=0):
    names = [f"class{c}" for c in range(y.max() + 1)]
    return stratified_group_split(y, groups, val, test, seed, names, "folder:1")


def test_no_group_crosses_splits_and_every_class_is_in_every_split():
    rng = np.random.default_rng(0)
    y, groups = frames([60, 25, 9, 4, 3], rng)
    splits = split(y, groups)
    for g in np.unique(groups):
        assert len(set(splits[groups == g])) == 1, g
    for c in range(5):
        assert set(splits[y == c]) == set(SPLITS), c


def test_fractions_are_close_to_the_requested_ones_where_groups_allow():
    rng = np.random.default_rng(1)
    y, groups = frames([300, 120, 40], rng)
    splits = split(y, groups, val=0.2, test=0.1)
    target = np.array([0.7, 0.2, 0.1])
    assert np.abs(fractions(splits, y) - target).max() < 0.005
    for c in range(3):  # a class of 40 clips: one clip is ~2.5 % of it
        assert np.abs(fractions(splits, y, c) - target).max() < 0.02


def test_a_group_of_several_classes_stays_in_one_split():
    rng = np.random.default_rng(2)
    y, groups = frames([10, 10, 10], rng)
    mixed = np.array(["mixed"] * 30)  # a video whose frames carry three labels
    y, groups = np.r_[y, np.repeat([0, 1, 2], 10)], np.r_[groups, mixed]
    splits = split(y, groups)
    assert len(set(splits[groups == "mixed"])) == 1


def test_the_split_is_seeded_and_stable():
    rng = np.random.default_rng(3)
    y, groups = frames([30, 20, 10], rng)
    first, again = split(y, groups, seed=0), split(y, groups, seed=0)
    assert (first == again).all()
    # The order the files come in does not matter: the split is a function of (file's group, class, seed).
    order = rng.permutation(len(y))
    assert (split(y[order], groups[order], seed=0) == first[order]).all()
    other = split(y, groups, seed=1)
    assert (other != first).mean() > 0.1  # another split_seed is another split (not only tie-breaks)


def test_a_class_in_fewer_than_three_groups_is_a_clear_error():
    rng = np.random.default_rng(4)
    y, groups = frames([10, 2], rng)
    with pytest.raises(DataError) as info:
        split(y, groups)
    message = str(info.value)
    assert "'class1'" in message and "2 group(s)" in message and "dataset.group=null" in message


def test_identical_files_in_two_groups_merge_them():
    keys = ["a", "a", "b", "c", "c", "d"]
    digests = ["x1", "x2", "x1", "x3", "x4", "x4"]  # a's first file is b's; c and d share one file
    merged, merges = merge_identical_files(keys, digests)
    assert merged == ["a + b", "a + b", "a + b", "c + d", "c + d", "c + d"]
    assert merges == [["a", "b"], ["c", "d"]]
    assert merge_identical_files(["a", "b"], ["x", "y"]) == (["a", "b"], [])


def test_merges_chain_across_groups():
    merged, merges = merge_identical_files(["a", "b", "b", "c"], ["x", "x", "y", "y"])
    assert len(set(merged)) == 1 and merges == [["a", "b", "c"]]


def largest_class_gap(splits, y, target):
    return max(np.abs(fractions(splits, y, c) - target).max() for c in np.unique(y))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closer_to_the_fractions_than_stratified_group_kfold(seed):
    """scikit-learn's StratifiedGroupKFold, test then val (7 folds, then 6: 1/7 for 0.15), is the reference."""
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(10 + seed)
    y, groups = frames([200, 90, 40, 20, 8], rng)
    target = np.array([0.7, 0.15, 0.15])
    ours = split(y, groups, seed=seed)
    rest, test = next(StratifiedGroupKFold(7, shuffle=True, random_state=seed).split(y, y, groups))
    train, val = next(StratifiedGroupKFold(6, shuffle=True, random_state=seed).split(rest, y[rest], groups[rest]))
    theirs = np.full(len(y), "train", dtype=object)
    theirs[rest[val]], theirs[test] = "val", "test"
    assert largest_class_gap(ours, y, target) <= largest_class_gap(theirs, y, target)
    assert np.abs(fractions(ours, y) - target).max() <= np.abs(fractions(theirs, y) - target).max()
