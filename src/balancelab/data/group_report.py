"""What a group-aware split records in ``dataset_statistics.json`` (``notes.groups``) and says in the log.

Counted over the split as made or given, before ``dataset.imbalance_ratio`` thins the training split (the
requested fractions are fractions of that split). Groups that a given split (manifest or train/ val/ test/
folders) puts in two splits are found over the images as used, like ``cross_split_duplicates``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from balancelab.data.group_split import SPLIT_NAMES

log = logging.getLogger("balancelab")
LISTED_IN_WARNING = 5


def group_statistics(rule_text: str, groups: Sequence[str], split_groups: Sequence[str], y: np.ndarray,
                     splits: np.ndarray, class_names: Sequence[str], requested: Optional[Tuple[float, float]],
                     example: Tuple[str, str]) -> dict:
    """The rule, groups per split and per class, merges, and requested against achieved fractions.

    ``groups``: each file's group by the rule; ``split_groups``: the unit the split kept whole (the same, or
    groups merged because they share a byte-identical file); ``requested``: (val, test) fractions, or None
    for a split the user gave.
    """
    groups, splits, y = np.asarray(groups, dtype=str), np.asarray(splits, dtype=str), np.asarray(y)
    in_split = {s: set(groups[splits == s].tolist()) for s in SPLIT_NAMES}
    per_class = {}
    for c, name in enumerate(class_names):
        of_class = y == c
        per_class[name] = {s: len(set(groups[of_class & (splits == s)].tolist())) for s in SPLIT_NAMES}
    classes_of: Dict[str, set] = defaultdict(set)
    for g, c in zip(groups.tolist(), y.tolist()):
        classes_of[g].add(c)
    achieved = {s: float(np.mean(splits == s)) for s in SPLIT_NAMES}
    stats = {
        "rule": rule_text,
        "example": {"path": example[0], "group": example[1]},
        "count": len(classes_of),
        "per_split": {s: len(in_split[s]) for s in SPLIT_NAMES},
        "per_class": per_class,
        "several_classes": sum(len(c) > 1 for c in classes_of.values()),
        "merged_for_identical_files": merges_of(groups, split_groups),
        "requested_fractions": None,
        "achieved_fractions": achieved,
        "largest_gap": None,
    }
    if requested is not None:
        val, test = requested
        target = {"train": 1.0 - val - test, "val": val, "test": test}
        stats["requested_fractions"] = target
        stats["largest_gap"] = _largest_gap(y, splits, class_names, target)
    return stats


def _largest_gap(y, splits, class_names, target) -> dict:
    """The class and split whose achieved fraction is furthest from the requested one (groups are indivisible)."""
    worst = {"gap": -1.0}
    for c, name in enumerate(class_names):
        of_class = splits[y == c]
        if not len(of_class):
            continue
        for s in SPLIT_NAMES:
            achieved = float(np.mean(of_class == s))
            if abs(achieved - target[s]) > worst["gap"]:
                worst = {"class": name, "split": s, "requested": target[s], "achieved": achieved,
                         "gap": abs(achieved - target[s])}
    return worst


def merges_of(groups: Sequence[str], split_groups: Sequence[str]) -> List[List[str]]:
    """[[group, ...], ...]: the rule's groups the split kept together because they share an identical file."""
    members: Dict[str, set] = defaultdict(set)
    for g, sg in zip(groups, split_groups):
        members[sg].add(g)
    return sorted(sorted(m) for m in members.values() if len(m) > 1)


def warn_merges(merges: List[List[str]]) -> None:
    if merges:
        shown = "; ".join(" + ".join(m) for m in merges[:LISTED_IN_WARNING])
        more = len(merges) - min(len(merges), LISTED_IN_WARNING)
        log.warning("%d set(s) of groups share byte-identical files and were merged, so that the copies stay in one "
                    "split: %s%s. All are listed under groups.merged_for_identical_files in dataset_statistics.json; "
                    "split_manifest.csv's split_group column names the unit each file was split with.",
                    len(merges), shown, f"; and {more} more" if more else "")


def cross_split_groups(groups: Sequence[str], splits: Sequence[str]) -> Dict[str, Dict[str, int]]:
    """{group: {split: images}} for every group with images in more than one split."""
    counts: Dict[str, Dict[str, int]] = defaultdict(lambda: dict.fromkeys(SPLIT_NAMES, 0))
    for g, s in zip(groups, splits):
        counts[str(g)][str(s)] += 1
    return {g: {s: n for s, n in c.items() if n} for g, c in sorted(counts.items())
            if sum(n > 0 for n in c.values()) > 1}


def warn_cross_split_groups(found: Dict[str, Dict[str, int]], origin: str) -> None:
    if not found:
        return
    shown = "; ".join(f"{g} ({', '.join(f'{n} in {s}' for s, n in c.items())})"
                      for g, c in list(found.items())[:LISTED_IN_WARNING])
    more = len(found) - min(len(found), LISTED_IN_WARNING)
    log.warning("%d group(s) straddle splits in %s (kept as given; near-duplicate images of a training group "
                "inflate a test or validation score): %s%s. All are listed under cross_split_groups in "
                "dataset_statistics.json; move each group's images into one split, or let balancelab split "
                "(without dataset.split_manifest, from class folders) to keep every group whole.",
                len(found), origin, shown, f"; and {more} more" if more else "")
