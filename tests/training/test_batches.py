import numpy as np
import torch

from balancelab.balancing.sample_order import epoch_order
from balancelab.training.batches import DeviceImages, OnlineAugmentation, channel_stats, random_affine


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


def test_sampled_transforms_are_rigid_up_to_their_scale():
    """Rotation x flip x scale: the linear part's singular values both equal the scale, flipped or not."""
    from balancelab.training.batches import sample_affine

    aug = OnlineAugmentation(hflip=True, vflip=True, max_shift=0.1, max_rotation=30, scale_range=0.2)
    theta, scale = sample_affine(2000, aug, torch.Generator().manual_seed(0), torch.device("cpu"))
    forward = torch.linalg.inv(theta[:, :, :2].double())  # affine_grid's theta maps output to input
    singular = torch.linalg.svdvals(forward)
    assert torch.allclose(singular, scale.double()[:, None].expand(-1, 2), atol=1e-5)
    det = torch.linalg.det(forward)
    assert (det < 0).any() and (det > 0).any()  # flips do happen, as reflections, not shears


def test_a_flip_alone_mirrors_the_image_exactly():
    x = torch.rand(64, 1, 8, 8)
    out = random_affine(x, OnlineAugmentation(hflip=True), torch.Generator().manual_seed(0))
    for img, res in zip(x, out):
        assert torch.allclose(res, img, atol=1e-5) or torch.allclose(res, img.flip(-1), atol=1e-5)


def test_channel_statistics_equal_numpys_without_a_float_copy_of_the_images():
    import tracemalloc

    from balancelab.training.batches import channel_stats

    X = np.random.default_rng(0).integers(0, 256, (2000, 32, 32, 3), dtype=np.uint8)  # 6 MB
    tracemalloc.start()
    mean, std = channel_stats(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    flat = X.reshape(-1, 3) / 255.0
    assert np.allclose(mean, flat.mean(0), rtol=0, atol=1e-12) and np.allclose(std, flat.std(0), rtol=0, atol=1e-12)
    assert peak < 24 * 2**20, f"peak {peak / 2**20:.0f} MB"  # 1 MB chunks as float64, never the 49 MB copy
