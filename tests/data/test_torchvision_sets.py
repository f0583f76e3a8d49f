"""torchvision datasets from small files written in torchvision's own on-disk formats."""

import pickle
import struct

from pathlib import Path

import numpy as np
import pytest

from balancelab.data.longtail import ldam_drw_long_tailed, long_tail_counts
from balancelab.data.torchvision_sets import load_torchvision
from balancelab.errors import ConfigError, DataError
from balancelab.options.validate import validate


def write_mnist(root, folder="MNIST", per_class=20, size=28, test_per_class=5):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", per_class), ("t10k", test_per_class)):
        y = np.repeat(np.arange(10), n).astype(np.uint8)
        X = rng.integers(0, 255, (len(y), size, size)).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, len(y), size, size) + X.tobytes())
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
    return {"source": name, "root": str(root), "download": False, "channels": 1 if "mnist" in name else 3,
            "split_seed": 0, "val_per_class": 3, "imbalance_ratio": 10, "imbalance_profile": "exponential", **kw}


def test_mnist_long_tailed_from_idx_files(tmp_path):
    write_mnist(tmp_path)
    splits = load_torchvision(**cfg("mnist", tmp_path), input_size=16)
    counts = np.bincount(splits.train.y, minlength=10)
    assert counts[-1] == 2  # 20 * 10^(-1)
    assert np.bincount(splits.test.y).tolist() == [5] * 10  # balanced as published
    assert splits.train.X.shape[1:] == (16, 16, 1)


def test_validation_is_balanced_and_drawn_from_unused_training_images(tmp_path):
    write_mnist(tmp_path)
    splits = load_torchvision(**cfg("mnist", tmp_path), input_size=16)
    profile = long_tail_counts(20, 10, 10, "exponential")  # [20, 15, 11, 9, 7, 5, 4, 3, 2, 2]
    assert np.bincount(splits.val.y, minlength=10).tolist() == [3] * 10
    train = np.bincount(splits.train.y, minlength=10)
    # Every non-head class trains on exactly its profile count: its validation images were unused ones.
    assert train[1:].tolist() == profile[1:].tolist()
    # The head class uses all 20 of its images, so its 3 validation images come out of its selection.
    assert train[0] == 20 - 3 and len(splits.train) == profile.sum() - 3
    names = splits.class_names
    assert splits.notes["classes_short_of_unused_images"] == {names[0]: 3}
    assert splits.notes["profile_counts"] == dict(zip(names, profile.tolist()))
    assert splits.notes["train_counts"] == dict(zip(names, train.tolist()))
    assert splits.notes["val_per_class"] == 3
    ids = [set(s.source_ids.tolist()) for s in (splits.train, splits.val, splits.test)]
    assert len(ids[0]) == len(splits.train) and len(ids[1]) == len(splits.val)
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert all(i.startswith("mnist:train:") for i in ids[0] | ids[1])
    assert all(i.startswith("mnist:test:") for i in ids[2]) and len(ids[2]) == 50


def test_every_torchvision_dataset_is_made_long_tailed_by_ldam_drws_rule(tmp_path):
    """The training images are LDAM-DRW's subset (its rule for every torchvision dataset, not only CIFAR);
    validation takes only the head class's shortfall out of it."""
    write_mnist(tmp_path)
    splits = load_torchvision(**cfg("mnist", tmp_path), input_size=16)
    y = np.repeat(np.arange(10), 20)  # write_mnist's labels
    selection = {f"mnist:train:{i}" for i in ldam_drw_long_tailed(y, 10, 10, "exponential", seed=0)}
    train, val = set(splits.train.source_ids.tolist()), set(splits.val.source_ids.tolist())
    assert train <= selection and train | (val & selection) == selection
    assert splits.notes["long_tail_selection"].startswith("LDAM-DRW")


def test_validation_draw_is_seeded(tmp_path):
    write_mnist(tmp_path)
    first = load_torchvision(**cfg("mnist", tmp_path), input_size=16)
    again = load_torchvision(**cfg("mnist", tmp_path), input_size=16)
    other = load_torchvision(**cfg("mnist", tmp_path, split_seed=1), input_size=16)
    assert np.array_equal(first.val.source_ids, again.val.source_ids)
    assert np.array_equal(first.train.source_ids, again.train.source_ids)
    assert not np.array_equal(first.val.source_ids, other.val.source_ids)


def test_no_imbalance_takes_validation_out_of_every_class(tmp_path):
    write_mnist(tmp_path)
    splits = load_torchvision(**cfg("mnist", tmp_path, imbalance_ratio=1, imbalance_profile="none"), input_size=16)
    assert np.bincount(splits.train.y).tolist() == [17] * 10
    assert np.bincount(splits.val.y).tolist() == [3] * 10
    assert splits.notes["classes_short_of_unused_images"] == {n: 3 for n in splits.class_names}


def test_val_per_class_larger_than_a_class_is_a_clear_error(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(DataError, match="val_per_class") as exc:
        load_torchvision(**cfg("mnist", tmp_path, val_per_class=20), input_size=16)
    assert "20" in str(exc.value) and "0 - zero" in str(exc.value)


def test_cifar10_shaped_long_tail_at_ratio_100(tmp_path):
    # CIFAR-10's shape (10 classes of 5,000 training images) with 2x2 images, written as MNIST files.
    write_mnist(tmp_path, per_class=5000, size=2, test_per_class=1)
    splits = load_torchvision(**cfg("mnist", tmp_path, imbalance_ratio=100, val_per_class=50), input_size=2)
    assert len(splits.train) == 12406 - 50
    assert np.bincount(splits.train.y).tolist() == [4950, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert np.bincount(splits.val.y).tolist() == [50] * 10
    assert splits.notes["classes_short_of_unused_images"] == {"0 - zero": 50}
    assert not set(splits.train.source_ids.tolist()) & set(splits.val.source_ids.tolist())


@pytest.mark.parametrize("name,val_per_class", [("mnist", 50), ("fashion_mnist", 50), ("cifar10", 50),
                                                ("cifar100", 20)])
def test_torchvision_configs_take_val_per_class_and_reject_val_fraction(composed, name, val_per_class):
    here = f"dataset.root={Path(__file__).parent}"
    cfg_ = validate(composed([f"dataset={name}", here]))
    assert cfg_["dataset"]["val_per_class"] == val_per_class and "val_fraction" not in cfg_["dataset"]
    with pytest.raises(ConfigError, match="val_fraction"):
        validate(composed([f"dataset={name}", here, "+dataset.val_fraction=0.1"]))
    with pytest.raises(ConfigError, match="val_per_class"):
        validate(composed([f"dataset={name}", here, "dataset.val_per_class=0"]))


def test_cifar10_from_pickled_batches(tmp_path, monkeypatch):
    import torchvision

    write_cifar10(tmp_path)
    # Generated files cannot match the published MD5 sums that torchvision checks.
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    splits = load_torchvision(**cfg("cifar10", tmp_path), input_size=32)
    assert splits.class_names == [f"c{i}" for i in range(10)]
    assert splits.train.X.shape[1:] == (32, 32, 3) and len(splits.test) == 30


def test_missing_files_say_where_they_go(tmp_path):
    with pytest.raises(DataError) as exc:
        load_torchvision(**cfg("cifar10", tmp_path / "nowhere"), input_size=32)
    message = str(exc.value)
    assert "cifar-10-batches-py" in message and "download=true" in message and str(tmp_path / "nowhere") in message
