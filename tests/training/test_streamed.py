"""Batches streamed from the host (or from a file on disk) are the batches the device-resident set gives."""

import numpy as np
import pytest
import torch

from balancelab.data.rows import BalancedRows, DiskImages
from balancelab.training.batches import DeviceImages, OnlineAugmentation
from balancelab.training.streamed import StreamedImages

AUGMENTATIONS = [OnlineAugmentation(hflip=True, max_shift=0.1, max_rotation=15.0, scale_range=0.1),
                 OnlineAugmentation(hflip=True, crop_padding=2)]  # a warp, and the recipe's crop + flip


def _images(tmp_path, n=53, channels=3):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n, 12, 12, channels), dtype=np.uint8)
    y = rng.integers(0, 4, n)
    path = tmp_path / "images.npy"
    np.save(path, X)
    return X, y, DiskImages(path)


def _pair(X, y, source):
    mean, std = [0.4, 0.5, 0.6][:X.shape[-1]], [0.2, 0.25, 0.3][:X.shape[-1]]
    return (DeviceImages(X, y, torch.device("cpu"), mean, std),
            StreamedImages(source, y, torch.device("cpu"), mean, std))


@pytest.mark.parametrize("augment", AUGMENTATIONS)
def test_a_streamed_training_epoch_serves_the_device_sets_batches(tmp_path, augment):
    X, y, disk = _images(tmp_path)
    resident, streamed = _pair(X, y, disk)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))
    streamed.prefetch(order, 8, start=8)  # as after a resume: the epoch continues at sample 8
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for start in range(8, len(order), 8):
        index = order[start:start + 8]
        if len(index) < 2:
            continue  # the loop skips a 1-sample tail; the prefetcher must not lose its place
        (xa, ya), (xb, yb) = resident.batch(index, augment, g1), streamed.batch(index, augment, g2)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    streamed.close()


def test_unannounced_batches_and_ordered_evaluation_batches_match_too(tmp_path):
    X, y, disk = _images(tmp_path)
    resident, streamed = _pair(X, y, disk)
    index = torch.tensor([5, 3, 3, 50, 0])
    assert torch.equal(resident.batch(index)[0], streamed.batch(index)[0])
    pairs = list(zip(resident.ordered_batches(10), streamed.ordered_batches(10)))
    assert len(pairs) == 6
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in pairs)


def test_a_balanced_set_streams_its_kept_rows_and_synthetic_pixels(tmp_path):
    X, y, disk = _images(tmp_path)
    kept = np.array([0, 0, 7, 7, 7, 52])
    synthetic = np.full((2, 12, 12, 3), 200, np.uint8)
    balanced = BalancedRows(disk, kept, synthetic)
    labels = np.concatenate([y[kept], [1, 1]])
    expected = np.concatenate([X[kept], synthetic])
    resident, streamed = _pair(expected, labels, balanced)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(resident.ordered_batches(3), streamed.ordered_batches(3)))
    assert balanced.stored_bytes == kept.nbytes + synthetic.nbytes  # the input rows are not copied


def test_a_failing_read_surfaces_in_the_training_thread(tmp_path):
    X, y, disk = _images(tmp_path)
    _, streamed = _pair(X, y, disk)
    disk.path.write_bytes(disk.path.read_bytes()[:200])  # truncated under the reader's feet
    streamed.prefetch(torch.arange(len(y)), 8)
    try:
        streamed.batch(torch.arange(8))
    except OSError as exc:
        assert "ended at byte" in str(exc)
    else:
        raise AssertionError("a truncated file must raise, not serve zeros")
    finally:
        streamed.close()


def test_images_on_disk_are_put_on_the_device_as_the_array_would_be(tmp_path):
    X, y, disk = _images(tmp_path)
    from_array, _ = _pair(X, y, disk)
    from_disk = DeviceImages(BalancedRows(disk, np.arange(len(y))), y, torch.device("cpu"), [0.5] * 3, [0.2] * 3)
    assert torch.equal(from_array.images, from_disk.images) and from_disk.images.is_contiguous()


def test_a_balanced_set_on_the_device_holds_its_distinct_rows_once(tmp_path):
    X, y, disk = _images(tmp_path)
    kept = np.repeat(np.arange(5), 40)  # 200 rows, 5 distinct
    balanced = BalancedRows(disk, kept, np.full((3, 12, 12, 3), 9, np.uint8))
    labels = np.concatenate([y[kept], [0, 0, 0]])
    resident = DeviceImages(balanced, labels, torch.device("cpu"), [0.5] * 3, [0.2] * 3)
    assert resident.images.shape[0] == 5 + 3  # not 203
    reference = DeviceImages(np.asarray(balanced), labels, torch.device("cpu"), [0.5] * 3, [0.2] * 3)
    index = torch.tensor([0, 39, 40, 199, 200, 202, 7])
    assert torch.equal(resident.batch(index, AUGMENTATIONS[0], torch.Generator().manual_seed(3))[0],
                       reference.batch(index, AUGMENTATIONS[0], torch.Generator().manual_seed(3))[0])


def test_the_prefetch_thread_ends_with_the_epoch_however_the_epoch_ends(tmp_path):
    import threading

    from torch import nn

    from balancelab.training.loop import Diverged, EpochProgress, TrainSettings, train_one_epoch

    X, y, disk = _images(tmp_path)
    _, streamed = _pair(X, y, disk)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12 * 12 * 3, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    settings = TrainSettings(epochs=1, batch_size=4, seed=0)

    def prefetchers():
        return [t for t in threading.enumerate() if t.name == "balancelab-prefetch" and t.is_alive()]

    stopped = train_one_epoch(model, streamed, EpochProgress(torch.arange(len(y))), nn.CrossEntropyLoss(), optimizer,
                              settings, torch.Generator(), should_stop=lambda: True)
    assert stopped is False and not prefetchers()  # a stop request after the first batch

    def nan_loss(logits, target):
        return logits.sum() * float("nan")

    with pytest.raises(Diverged):
        train_one_epoch(model, streamed, EpochProgress(torch.arange(len(y))), nan_loss, optimizer, settings,
                        torch.Generator())
    assert not prefetchers()


@pytest.mark.parametrize("channels", [1, 3])
def test_streamed_batches_have_the_device_sets_memory_layout(tmp_path, channels):
    """With one channel a permuted batch already counts as contiguous but has channels-last strides: batch norm
    then sums in another order, and a streamed run's numbers drifted from the device-resident run's."""
    X, y, disk = _images(tmp_path, channels=channels)
    resident, streamed = _pair(X, y, disk)
    index = torch.arange(16)
    (a, _), (b, _) = resident.batch(index), streamed.batch(index)
    assert torch.equal(a, b) and a.stride() == b.stride() == (channels * 144, 144, 12, 1)
