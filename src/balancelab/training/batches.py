"""Batches from in-memory arrays, normalised and augmented on the training device.

The whole training set lives on the device as uint8 (N, C, H, W); a batch is an index lookup,
a cast, a normalisation and, for training, one batched random crop and/or affine warp. No per-sample Python
work and no worker processes: the model, not the input pipeline, is the bottleneck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from balancelab.data import rows
from balancelab.training.crop import random_crop, random_flips


@dataclass
class OnlineAugmentation:
    hflip: bool = False
    vflip: bool = False
    max_shift: float = 0.0      # fraction of the image side
    max_rotation: float = 0.0   # degrees
    scale_range: float = 0.0    # +- fraction
    crop_padding: int = 0       # pixels: random crop with zero padding, an integer translation (training/crop.py)

    @property
    def warps(self) -> bool:
        """Needs an interpolating affine warp (rotation, zoom or a sub-pixel shift)."""
        return self.max_shift > 0 or self.max_rotation > 0 or self.scale_range > 0

    @property
    def active(self) -> bool:
        return self.hflip or self.vflip or self.warps or self.crop_padding > 0


def channel_stats(X) -> Tuple[list, list]:
    """Per-channel mean and std of uint8 (N, H, W, C) images, in [0, 1] units.

    Two passes (mean, then squared deviations) over 1 MB chunks (about 16 MB of float64 temporaries), for arrays and images on disk
    (:mod:`balancelab.data.rows`) alike: never a float copy of the set (a float64 copy of CIFAR-10 is 2.4 GB).
    """
    channels = X.shape[-1]
    count = float(np.prod(X.shape[:-1], dtype=np.float64))
    rows_per_chunk = max(1, (1 << 20) // max(1, X.nbytes // max(len(X), 1)))
    total = sum(chunk.reshape(-1, channels).sum(axis=0, dtype=np.float64)
                for _, chunk in rows.chunks(X, rows_per_chunk))
    mean = total / count / 255.0
    squares = sum(((chunk.reshape(-1, channels) / 255.0 - mean) ** 2).sum(axis=0)
                  for _, chunk in rows.chunks(X, rows_per_chunk))
    std = np.sqrt(squares / count)
    return mean.tolist(), np.where(std > 1e-6, std, 1.0).tolist()


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def input_normalization(pretrained: bool, train_images: np.ndarray, fixed: Optional[dict] = None,
                        weights: Optional[dict] = None) -> dict:
    """Mean and std the images are normalised with: ``fixed`` ({"mean", "std"}: the dataset's
    normalization_mean/std, e.g. a recipe's published statistics) when given, else for pretrained weights
    ``weights`` (the statistics the weights were trained with, per input channel: a timm model's
    ``pretrained_normalization``) or ImageNet's (averaged over RGB for other channel counts), otherwise the
    training split's own per-channel statistics."""
    if fixed is not None:
        return {"mean": [float(v) for v in fixed["mean"]], "std": [float(v) for v in fixed["std"]]}
    channels = train_images.shape[-1]
    if pretrained and weights is not None:
        return {"mean": [float(v) for v in weights["mean"]], "std": [float(v) for v in weights["std"]]}
    if pretrained:
        mean = list(IMAGENET_MEAN) if channels == 3 else [float(np.mean(IMAGENET_MEAN))] * channels
        std = list(IMAGENET_STD) if channels == 3 else [float(np.mean(IMAGENET_STD))] * channels
        return {"mean": mean, "std": std}
    mean, std = channel_stats(train_images)
    return {"mean": list(mean), "std": list(std)}


class ImageBatches:
    """Normalised, augmented float batches of uint8 images; subclasses say where the pixels come from."""

    def __init__(self, y: np.ndarray, device: torch.device, mean: Sequence[float], std: Sequence[float]):
        self.device = torch.device(device)
        self.y = np.asarray(y, dtype=np.int64)  # host copy: sampling and scoring read it without a transfer
        self.labels = torch.from_numpy(self.y).to(self.device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    host_indexed = False  # True: batch() wants the index on the host (where the pixels are gathered)

    def pixels(self, index: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) images of ``index`` on the device."""
        raise NotImplementedError

    def batch(self, index: torch.Tensor, augment: Optional[OnlineAugmentation] = None,
              generator: Optional[torch.Generator] = None):
        x = self.pixels(index).float().div_(255.0)  # the index where the pixels are (host_indexed: on the host)
        if augment is not None and augment.active:
            x = augment_images(x, augment, generator)
        return (x - self.mean) / self.std, self.labels[index.to(self.device)]

    def ordered_batches(self, batch_size: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self), batch_size):
            index = torch.arange(start, min(start + batch_size, len(self)), device=self.device)
            yield self.batch(index)


class DeviceImages(ImageBatches):
    """uint8 images held on ``device`` (a batch is an index lookup there).

    A balanced set (:class:`~balancelab.data.rows.BalancedRows`) is held as its distinct input rows and its
    synthetic images, with a map from each row of the set to its image: an oversampled class's duplicates
    cost a row number each on the device, as on the host.
    """

    def __init__(self, X, y: np.ndarray, device: torch.device, mean: Sequence[float], std: Sequence[float]):
        super().__init__(y, device, mean, std)
        self.row_map = None
        if isinstance(X, rows.BalancedRows):
            distinct, where = np.unique(X.kept, return_inverse=True)
            self.images = device_tensor(_Concatenated(X.source, distinct, X.synthetic), self.device)
            self.row_map = torch.from_numpy(np.concatenate(
                [where.reshape(-1), len(distinct) + np.arange(len(X.synthetic))]).astype(np.int64)).to(self.device)
        else:
            self.images = device_tensor(X, self.device)

    def pixels(self, index: torch.Tensor) -> torch.Tensor:
        index = index.to(self.device)
        return self.images[index if self.row_map is None else self.row_map[index]]


class _Concatenated(rows.ImageRows):
    """Rows ``index`` of ``source`` followed by ``extra`` images, read lazily (the device copy is filled in chunks)."""

    def __init__(self, source, index: np.ndarray, extra: np.ndarray):
        self.source, self.index, self.extra = source, index, extra

    @property
    def shape(self):
        return (len(self.index) + len(self.extra),) + tuple(self.source.shape[1:])

    def take(self, wanted: np.ndarray) -> np.ndarray:
        wanted = np.asarray(wanted, dtype=np.int64)
        out = np.empty((len(wanted),) + tuple(self.source.shape[1:]), np.uint8)
        first = wanted < len(self.index)
        out[first] = rows.take(self.source, self.index[wanted[first]])
        out[~first] = self.extra[wanted[~first] - len(self.index)]
        return out


def device_bytes(X) -> int:
    """What ``X`` takes once on the device as DeviceImages holds it (a balanced set: distinct rows and new pixels)."""
    if isinstance(X, rows.BalancedRows):
        row = int(np.prod(X.shape[1:]))
        return int(len(np.unique(X.kept)) * row + X.synthetic.nbytes)
    return int(X.nbytes)


def device_tensor(X, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) images as a contiguous (N, C, H, W) tensor on ``device``, filled in chunks (from an array
    or images on disk alike): never a second full copy on the host."""
    n, h, w, c = X.shape
    out = torch.empty((n, c, h, w), dtype=torch.uint8, device=device)
    for start, chunk in rows.chunks(X, max(1, (16 << 20) // max(1, h * w * c))):
        out[start:start + len(chunk)] = torch.from_numpy(np.ascontiguousarray(chunk)).to(device).permute(0, 3, 1, 2)
    return out


def sample_affine(n: int, aug: OnlineAugmentation, generator: Optional[torch.Generator],
                  device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """``n`` random transforms as affine_grid matrices (output -> input coordinates) and their scales.

    The forward map of each image is shift + scale * R(angle) * F, F = diag(+-1, +-1) the flips: a
    similarity, so shapes keep their proportions whatever the flips and the angle.
    """
    def uniform(low, high):
        r = torch.rand(n, generator=generator, device="cpu")  # CPU generator: same draws on every device
        return (low + (high - low) * r).to(device)

    angle = uniform(-aug.max_rotation, aug.max_rotation) * (math.pi / 180.0)
    scale = uniform(1.0 - aug.scale_range, 1.0 + aug.scale_range)
    tx = uniform(-aug.max_shift, aug.max_shift) * 2.0  # affine_grid uses [-1, 1] coordinates
    ty = uniform(-aug.max_shift, aug.max_shift) * 2.0
    ones = torch.ones(n, device=device)
    fx = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if aug.hflip else ones
    fy = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if aug.vflip else ones
    # theta = F R(angle) / scale: a product of orthogonal matrices over a scalar, so the warp it
    # defines is a similarity too. (Flipping only the diagonal of R, as before, made flipped images shear.)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([fx * cos, -fx * sin, tx], 1),
                         torch.stack([fy * sin, fy * cos, ty], 1)], 1)
    return theta, scale


def random_affine(x: torch.Tensor, aug: OnlineAugmentation, generator: Optional[torch.Generator]) -> torch.Tensor:
    """One random flip/rotation/scale/shift per image, applied to the batch in a single warp."""
    theta, _ = sample_affine(x.shape[0], aug, generator, x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment_images(x: torch.Tensor, aug: OnlineAugmentation, generator: Optional[torch.Generator]) -> torch.Tensor:
    """A batch's random augmentation (images in [0, 1], before normalisation, so padding is black).

    ``crop_padding`` first: torchvision's RandomCrop(size, padding) as an exact integer shift; then, as
    RandomHorizontalFlip after it, exact flips, or, when a rotation, zoom or sub-pixel shift is asked too,
    one affine warp holding them and the flips. Without a crop the warp does it all, as it always has.
    """
    if aug.crop_padding > 0:
        x = random_crop(x, aug.crop_padding, generator)
        if not aug.warps:
            return random_flips(x, aug.hflip, aug.vflip, generator)
    if aug.warps or aug.hflip or aug.vflip:
        x = random_affine(x, aug, generator)
    return x
