"""Byte-identical files (same SHA-256) that sit in more than one split.

The automatic split keeps such copies together; a split the user chose (train/ val/ test/ folders,
or ``dataset.split_manifest``) is kept as given, and its straddling copies are reported instead:
a copy in test of a training image inflates the test score.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

log = logging.getLogger("balancelab")
# Groups spelled out in the warning; all of them go into the notes.
LISTED_IN_WARNING = 5


def cross_split_duplicates(paths: Sequence[str], splits: Sequence[str],
                           digests: Sequence[str]) -> Dict[str, List[Tuple[str, str]]]:
    """{digest: [(path, split), ...]} for every group of identical files found in more than one split."""
    groups: Dict[str, List[Tuple[str, str]]] = defaultdict(list)
    for path, split, digest in zip(paths, splits, digests):
        groups[digest].append((str(path), str(split)))
    return {d: members for d, members in sorted(groups.items())
            if len({split for _, split in members}) > 1}


def warn_cross_split_duplicates(groups: Dict[str, List[Tuple[str, str]]], origin: str) -> None:
    """One warning for all groups: the first few spelled out, then a count."""
    if not groups:
        return
    shown = [", ".join(f"{path} ({split})" for path, split in members)
             for members in list(groups.values())[:LISTED_IN_WARNING]]
    more = len(groups) - len(shown)
    log.warning("%d group(s) of byte-identical files straddle splits in %s (kept as given; a test or validation "
                "copy of a training image inflates its score): %s%s. All are listed under cross_split_duplicates "
                "in dataset_statistics.json; remove the copies to score on unseen images.",
                len(groups), origin, "; ".join(shown), f"; and {more} more" if more else "")
