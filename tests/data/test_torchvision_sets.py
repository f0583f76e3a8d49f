"""torchvision datasets from small files written in torchvision's own on-disk formats."""

import pickle
import struct

import numpy as np
import pytest
from omegaconf import OmegaConf

from balancelab.data.torchvision_sets import load_torchvision
from balancelab.errors import DataError


def write_mnist(root, folder="MNIST", per_class=20):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", per_class), ("t10k", 5)):
        y = np.repeat(np.arange(10), n).astype(np.uint8)
        X = rng.integers(0, 255, (len(y), 28, 28)).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, len(y), 28, 28) + X.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(y)) + y.tobytes())


def write_cifar10(root, per_class=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(n_per_class):
        labels = np.repeat(np.arange(10), n_per_class).tolist()
        data = rng.integers(0, 255, (len(labels), 3072)).astype(np.uint8)
        return {"data": data, "labels": labels}

    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch(per_class // 5), f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch(3), f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)


def cfg(name, root, **kw):
    return OmegaConf.create({"name": name, "root": str(root), "download": False, "channels": 1 if "mnist" in name else 3,
                             "split_seed": 0, "val_fraction": 0.2, "imbalance_ratio": 10,
                             "imbalance_profile": "exponential", **kw})


def test_mnist_long_tailed_from_idx_files(tmp_path):
    write_mnist(tmp_path)
    splits = load_torchvision(cfg("mnist", tmp_path), 16)
    counts = np.bincount(np.concatenate([splits.train.y, splits.val.y]), minlength=10)
    assert counts[0] == 20 and counts[-1] == 2  # 20 * 10^(-1)
    assert np.bincount(splits.test.y).tolist() == [5] * 10  # balanced as published
    assert splits.train.X.shape[1:] == (16, 16, 1)


def test_cifar10_from_pickled_batches(tmp_path, monkeypatch):
    import torchvision

    write_cifar10(tmp_path)
    # Generated files cannot match the published MD5 sums that torchvision checks.
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    splits = load_torchvision(cfg("cifar10", tmp_path), 32)
    assert splits.class_names == [f"c{i}" for i in range(10)]
    assert splits.train.X.shape[1:] == (32, 32, 3) and len(splits.test) == 30


def test_missing_files_say_where_they_go(tmp_path):
    with pytest.raises(DataError) as exc:
        load_torchvision(cfg("cifar10", tmp_path / "nowhere"), 32)
    message = str(exc.value)
    assert "cifar-10-batches-py" in message and "download=true" in message and str(tmp_path / "nowhere") in message
