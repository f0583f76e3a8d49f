import numpy as np
import torch

from balancelab.training.batches import DeviceImages, OnlineAugmentation, channel_stats, epoch_order, random_affine


def test_batches_are_normalised_from_uint8():
    X = np.full((4, 8, 8, 1), 255, np.uint8)
    data = DeviceImages(X, np.arange(4), torch.device("cpu"), mean=[0.5], std=[0.25])
    x, y = data.batch(torch.tensor([0, 2]))
    assert x.shape == (2, 1, 8, 8) and torch.allclose(x, torch.full_like(x, 2.0))
    assert y.tolist() == [0, 2]


def test_identity_affine_keeps_images():
    x = torch.rand(3, 1, 8, 8)
    out = random_affine(x, OnlineAugmentation(), torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-5)


def test_augmentation_is_seeded_and_changes_images():
    x = torch.rand(5, 3, 16, 16)
    aug = OnlineAugmentation(hflip=True, max_shift=0.1, max_rotation=15, scale_range=0.1)
    a = random_affine(x, aug, torch.Generator().manual_seed(1))
    b = random_affine(x, aug, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.allclose(a, x)


def test_weighted_epoch_order_balances_classes():
    labels = np.array([0] * 900 + [1] * 100)
    order = epoch_order(labels, weighted=True, generator=torch.Generator().manual_seed(0))
    share = (labels[order.numpy()] == 1).mean()
    assert len(order) == 1000 and 0.4 < share < 0.6
    plain = epoch_order(labels, weighted=False, generator=torch.Generator().manual_seed(0))
    assert sorted(plain.tolist()) == list(range(1000))


def test_channel_stats():
    X = np.stack([np.zeros((2, 2, 1)), np.full((2, 2, 1), 255)]).astype(np.uint8)
    mean, std = channel_stats(X)
    assert mean == [0.5] and std[0] == 0.5
