"""The plain objects every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from balancelab.data import rows


@dataclass
class ImageSet:
    """Images at the training resolution: ``X`` uint8 (N, H, W, C) in memory or on disk
    (:mod:`balancelab.data.rows`), ``y`` int64 (N,)."""

    X: rows.Rows
    y: np.ndarray
    source_ids: np.ndarray  # str per sample: file path or "<dataset>:<index>"

    def __post_init__(self) -> None:
        if self.X.dtype != np.uint8 or self.X.ndim != 4:
            raise ValueError(f"ImageSet.X must be uint8 (N, H, W, C); got {self.X.dtype} {self.X.shape}")
        if len(self.X) != len(self.y) or len(self.y) != len(self.source_ids):
            raise ValueError("ImageSet.X, y and source_ids must have the same length")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> "ImageSet":
        """The rows ``index``; images on disk stay there (a list of rows, not a copy)."""
        return ImageSet(rows.subset(self.X, index), self.y[index], self.source_ids[index])

    def class_counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.y, minlength=num_classes)


@dataclass
class DataSplits:
    """Train/val/test splits sharing one class mapping; ``notes`` records what loading did."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    class_names: List[str]
    notes: Dict[str, object] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple:
        return tuple(self.train.X.shape[1:])

    def counts(self) -> Dict[str, Dict[str, int]]:
        """Class counts per split, keyed by class name, always over the full mapping."""
        out = {}
        for split in ("train", "val", "test"):
            counts = getattr(self, split).class_counts(self.num_classes)
            out[split] = {name: int(c) for name, c in zip(self.class_names, counts)}
        return out
