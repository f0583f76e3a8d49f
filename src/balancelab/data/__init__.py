"""Datasets as in-memory uint8 arrays (N, H, W, C), labels, class names and source ids."""

from balancelab.data.dataset import ImageSet, DataSplits

__all__ = ["ImageSet", "DataSplits"]
