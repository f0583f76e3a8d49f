"""One stratified, seeded split into train/val/test.

Every class with at least 3 images is stratified by scikit-learn (exactly as if the smaller classes
were not there). A class that cannot be stratified is placed by a fixed rule: a single image goes to
train; of two images, one (chosen with the split seed) goes to train and the other to test, so the
class is both learned and scored. Classes left out of a split are reported, never silently.
"""

from __future__ import annotations

import logging
from typing import Dict, List, NamedTuple, Sequence

import numpy as np
from sklearn.model_selection import train_test_split

log = logging.getLogger("balancelab")
SPLIT_NAMES = ("train", "val", "test")
# scikit-learn's two stratified cuts need a class in test and then two left for train and val.
MIN_STRATIFIABLE = 3


class Split(NamedTuple):
    """Sorted indices per split, and {class label: [splits it is in]} for classes missing from one."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    not_in_every_split: Dict[int, List[str]]


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> Split:
    """Split ``y``'s indices (tiny classes placed by the module's rule); ValueError if a split stays empty."""
    counts = np.bincount(y)
    tiny = np.flatnonzero((counts > 0) & (counts < MIN_STRATIFIABLE))
    is_tiny = np.isin(y, tiny)
    # With no tiny class this is the whole index, so the split is the one made before tiny classes were
    # handled: same calls, same arguments, same indices.
    index = np.flatnonzero(~is_tiny)
    parts = {name: np.empty(0, dtype=np.int64) for name in SPLIT_NAMES}
    if len(index):
        rest, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=y[index])
        val_share = val_fraction / (1.0 - test_fraction)
        train, val = train_test_split(rest, test_size=val_share, random_state=seed, stratify=y[rest])
        parts = {"train": train, "val": val, "test": test}
    rng = np.random.default_rng(seed)
    for c in tiny:
        members = rng.permutation(np.flatnonzero(y == c))
        parts["train"] = np.append(parts["train"], members[0])
        if len(members) == 2:
            parts["test"] = np.append(parts["test"], members[1])
    empty = [name for name in SPLIT_NAMES if len(parts[name]) == 0]
    if empty:
        raise ValueError(f"the {' and '.join(empty)} split(s) would be empty (classes of fewer than "
                         f"{MIN_STRATIFIABLE} images only go to train, and to test when they have 2).")
    sorted_parts = [np.sort(parts[name]).astype(np.int64) for name in SPLIT_NAMES]
    return Split(*sorted_parts, classes_not_in_every_split({n: y[p] for n, p in zip(SPLIT_NAMES, sorted_parts)}))


def classes_not_in_every_split(labels_by_split: Dict[str, np.ndarray]) -> Dict[int, List[str]]:
    """{class label: [splits holding it]} for every class absent from at least one split.

    ``labels_by_split`` maps each split's name to the labels of its images.
    """
    present = {name: set(np.unique(labels).tolist()) for name, labels in labels_by_split.items()}
    out = {}
    for c in sorted(set().union(*present.values())):
        holding = [name for name in labels_by_split if c in present[name]]
        if len(holding) < len(labels_by_split):
            out[int(c)] = holding
    return out


def name_incomplete_classes(incomplete: Dict[int, List[str]], class_names: Sequence[str]) -> Dict[str, List[str]]:
    """Key the report by class name, and warn: a class missing from val/test has no score there."""
    named = {class_names[c]: list(splits) for c, splits in sorted(incomplete.items())}
    if named:
        listing = "; ".join(f"{name}: only in {', '.join(splits)}" for name, splits in named.items())
        log.warning("%d class(es) are not in every split (train/val/test): %s. Their validation/test "
                    "metrics are missing or rest on one image; add images of them to score them.",
                    len(named), listing)
    return named
