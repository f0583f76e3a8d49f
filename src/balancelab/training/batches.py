"""Batches from in-memory arrays, normalised and augmented on the training device.

The whole training set lives on the device as uint8 (N, C, H, W); a batch is an index lookup,
a cast, a normalisation and, for training, one batched random affine warp. No per-sample Python
work and no worker processes: the model, not the input pipeline, is the bottleneck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import WeightedRandomSampler


@dataclass
class OnlineAugmentation:
    hflip: bool = False
    vflip: bool = False
    max_shift: float = 0.0      # fraction of the image side
    max_rotation: float = 0.0   # degrees
    scale_range: float = 0.0    # +- fraction

    @property
    def active(self) -> bool:
        return self.hflip or self.vflip or self.max_shift > 0 or self.max_rotation > 0 or self.scale_range > 0


def channel_stats(X: np.ndarray) -> Tuple[list, list]:
    """Per-channel mean and std of uint8 (N, H, W, C) images, in [0, 1] units."""
    flat = X.reshape(-1, X.shape[-1]).astype(np.float64) / 255.0
    std = flat.std(axis=0)
    return flat.mean(axis=0).tolist(), np.where(std > 1e-6, std, 1.0).tolist()


class DeviceImages:
    """uint8 images held on ``device``, served as normalised float batches."""

    def __init__(self, X: np.ndarray, y: np.ndarray, device: torch.device, mean: Sequence[float], std: Sequence[float]):
        self.device = device
        self.images = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2))).to(device)
        self.labels = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor, augment: Optional[OnlineAugmentation] = None,
              generator: Optional[torch.Generator] = None):
        x = self.images[index].float().div_(255.0)
        if augment is not None and augment.active:
            x = random_affine(x, augment, generator)
        return (x - self.mean) / self.std, self.labels[index]

    def ordered_batches(self, batch_size: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self), batch_size):
            index = torch.arange(start, min(start + batch_size, len(self)), device=self.device)
            yield self.batch(index)


def random_affine(x: torch.Tensor, aug: OnlineAugmentation, generator: Optional[torch.Generator]) -> torch.Tensor:
    """One random flip/rotation/scale/shift per image, applied to the batch in a single warp."""
    n = x.shape[0]

    def uniform(low, high):
        r = torch.rand(n, generator=generator, device="cpu")
        return (low + (high - low) * r).to(x.device)

    angle = uniform(-aug.max_rotation, aug.max_rotation) * (math.pi / 180.0)
    scale = uniform(1.0 - aug.scale_range, 1.0 + aug.scale_range)
    tx = uniform(-aug.max_shift, aug.max_shift) * 2.0  # affine_grid uses [-1, 1] coordinates
    ty = uniform(-aug.max_shift, aug.max_shift) * 2.0
    sx = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if aug.hflip else torch.ones(n, device=x.device)
    sy = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if aug.vflip else torch.ones(n, device=x.device)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * sx, -sin, tx], 1), torch.stack([sin, cos * sy, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def epoch_order(labels: np.ndarray, weighted: bool, generator: torch.Generator) -> torch.Tensor:
    """Sample order for one epoch: a shuffle, or class-balanced draws with replacement."""
    n = len(labels)
    if not weighted:
        return torch.randperm(n, generator=generator)
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), n, replacement=True,
                                    generator=generator)
    return torch.as_tensor(list(sampler), dtype=torch.long)
