"""Integer-pixel augmentations, batched on the device: a random crop with zero padding and exact flips.

``random_crop`` is torchvision's ``RandomCrop(size, padding=p)`` (fill 0) for a whole batch: each image is
padded with ``p`` black pixels on every side and a window of its own size is cut at a uniformly drawn
integer offset, which is the same as translating it by (dy, dx) in [-p, p]^2 with zeros coming in. Pixels are
moved, never interpolated, so no image is blurred (a sub-pixel affine shift resamples every pixel
bilinearly). Flips are index reversals, exact as well, so crop then flip is the recipe's composition.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def crop_offsets(n: int, padding: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """(n, 2) integer (dy, dx) translations, uniform over [-padding, padding]^2 (drawn on the CPU: the same
    draws on every device)."""
    return torch.randint(0, 2 * padding + 1, (n, 2), generator=generator, device="cpu") - padding


def shift_images(x: torch.Tensor, offsets: torch.Tensor, padding: int) -> torch.Tensor:
    """Each image of ``x`` (N, C, H, W) translated by its (dy, dx) of ``offsets``, zeros where nothing comes
    in: out[i, :, r, c] = x[i, :, r - dy, c - dx] (0 outside). |dy|, |dx| <= ``padding``."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = (padding - offsets[:, 0]).to(x.device)   # the window's top-left corner in the padded image
    left = (padding - offsets[:, 1]).to(x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]   # (N, 1, H, 1)
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channels, rows, cols]


def random_crop(x: torch.Tensor, padding: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """RandomCrop(size, padding=``padding``, fill=0) of every image of the batch, each at its own offset."""
    return shift_images(x, crop_offsets(x.shape[0], padding, generator), padding)


def random_flips(x: torch.Tensor, hflip: bool, vflip: bool, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Each image mirrored left-right (``hflip``) and/or top-bottom (``vflip``) with probability 1/2: exact."""
    for enabled, dim in ((hflip, 3), (vflip, 2)):
        if enabled:
            flip = (torch.rand(x.shape[0], generator=generator, device="cpu") < 0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(dim), x)
    return x
