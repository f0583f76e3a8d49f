"""The random crop with zero padding is RandomCrop(size, padding): an exact integer shift, never a blur."""

import itertools

import numpy as np
import pytest
import torch

from balancelab.training.batches import DeviceImages, OnlineAugmentation, augment_images
from balancelab.training.crop import random_crop, shift_images


def _shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """The reference: ``image`` (C, H, W) moved down by dy and right by dx, zeros coming in."""
    out = torch.zeros_like(image)
    h, w = image.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _offset_of(crop: torch.Tensor, image: torch.Tensor, padding: int):
    """The (dy, dx) whose shift of ``image`` is exactly ``crop`` (None: no shift is)."""
    matches = [(dy, dx) for dy, dx in itertools.product(range(-padding, padding + 1), repeat=2)
               if torch.equal(crop, _shifted(image, dy, dx))]
    return matches[0] if len(matches) == 1 else None


def test_every_crop_is_an_integer_shift_with_zeros_and_every_offset_occurs():
    padding = 2
    torch.manual_seed(0)
    image = torch.rand(3, 7, 9) + 0.1  # no zero pixel: zeros in a crop can only be padding
    batch = image.expand(600, -1, -1, -1).contiguous()
    crops = random_crop(batch, padding, torch.Generator().manual_seed(0))
    offsets = [_offset_of(crop, image, padding) for crop in crops]
    assert None not in offsets  # each crop is exactly one shift of the original
    counts = {o: offsets.count(o) for o in set(offsets)}
    assert set(counts) == set(itertools.product(range(-padding, padding + 1), repeat=2))  # all 25 offsets
    assert min(counts.values()) >= 10  # uniform: 24 expected per offset


def test_shift_images_follows_the_offsets_exactly():
    x = torch.rand(4, 2, 6, 6)
    offsets = torch.tensor([[0, 0], [3, -3], [-1, 2], [-3, 3]])
    out = shift_images(x, offsets, padding=3)
    for image, shifted, (dy, dx) in zip(x, out, offsets.tolist()):
        assert torch.equal(shifted, _shifted(image, dy, dx))


def test_a_crop_keeps_pixel_values_and_statistics():
    """No interpolation: an image with a black border of the padding's width keeps its pixels, so its sum,
    mean and variance, exactly; every value of a crop is a value of the original or 0."""
    padding = 4
    image = torch.zeros(1, 32, 32)
    image[:, padding:-padding, padding:-padding] = torch.rand(1, 24, 24)
    crops = random_crop(image.expand(64, -1, -1, -1).contiguous(), padding, torch.Generator().manual_seed(3))
    for crop in crops:
        assert torch.equal(torch.sort(crop.flatten()).values, torch.sort(image.flatten()).values)  # same pixels
        assert torch.allclose(crop.mean(), image.mean(), rtol=0, atol=1e-7)
        assert torch.allclose(crop.var(), image.var(), rtol=0, atol=1e-7)


def test_crop_and_flip_compose_exactly():
    """The recipe: RandomCrop(32, padding=4) then RandomHorizontalFlip, each crop an integer shift of the
    image or of its mirror image."""
    padding = 1
    image = torch.rand(1, 5, 5) + 0.1
    aug = OnlineAugmentation(hflip=True, crop_padding=padding)
    out = augment_images(image.expand(200, -1, -1, -1).contiguous(), aug, torch.Generator().manual_seed(0))
    kinds = set()
    for crop in out:
        plain, mirrored = _offset_of(crop, image, padding), _offset_of(crop.flip(2), image, padding)
        assert plain is not None or mirrored is not None
        kinds.add("plain" if plain is not None else "mirrored")
    assert kinds == {"plain", "mirrored"}


def test_the_training_batches_use_the_crop_and_are_seeded():
    rng = np.random.default_rng(0)
    X = rng.integers(1, 256, (8, 6, 6, 1)).astype(np.uint8)
    data = DeviceImages(X, np.arange(8) % 2, torch.device("cpu"), [0.0], [1.0])
    aug = OnlineAugmentation(crop_padding=2)
    a, _ = data.batch(torch.arange(8), aug, torch.Generator().manual_seed(5))
    b, _ = data.batch(torch.arange(8), aug, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, data.batch(torch.arange(8))[0])
    originals = torch.from_numpy(X).permute(0, 3, 1, 2).float() / 255.0
    for crop, image in zip(a, originals):
        assert _offset_of(crop, image, 2) is not None
    assert aug.active and not aug.warps


@pytest.mark.parametrize("padding", [1, 4])
def test_the_old_sub_pixel_shift_blurs_where_the_crop_does_not(padding):
    """The reason for the crop: the affine shift the recipe used resamples (new pixel values appear)."""
    from balancelab.training.batches import random_affine

    image = (torch.rand(1, 1, 32, 32) > 0.5).float()  # binary: any value strictly between 0 and 1 is a blend
    batch = image.expand(32, -1, -1, -1).contiguous()
    warped = random_affine(batch, OnlineAugmentation(max_shift=padding / 32), torch.Generator().manual_seed(0))
    cropped = random_crop(batch, padding, torch.Generator().manual_seed(0))
    assert ((warped > 1e-6) & (warped < 1 - 1e-6)).any()
    assert set(cropped.unique().tolist()) <= {0.0, 1.0}
