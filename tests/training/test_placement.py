"""Where the images live: trainer.data_on_device's rule."""

import numpy as np
import torch

from balancelab.data.rows import BalancedRows, DiskImages, RowSubset
from balancelab.training import placement
from balancelab.training.batches import DeviceImages
from balancelab.training.streamed import StreamedImages

CPU = torch.device("cpu")


def _disk(tmp_path, n=10):
    np.save(tmp_path / "x.npy", np.zeros((n, 4, 4, 3), np.uint8))
    return DiskImages(tmp_path / "x.npy")


def test_true_and_false_are_obeyed_whatever_the_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(placement, "available_bytes", lambda device: 0)
    assert placement.keep_on_device("True", [_disk(tmp_path)], CPU)
    assert not placement.keep_on_device("false", [np.zeros((2, 4, 4, 3), np.uint8)], CPU)


def test_auto_counts_a_balanced_sets_distinct_rows_not_its_duplicates(tmp_path, monkeypatch):
    source = np.zeros((10, 4, 4, 3), np.uint8)  # 48 bytes a row
    oversampled = BalancedRows(source, np.repeat(np.arange(10), 100))  # 1,000 rows, 10 distinct: 480 bytes
    monkeypatch.setattr(placement, "available_bytes", lambda device: 2 * 480)
    assert placement.keep_on_device("auto", [oversampled], CPU)
    monkeypatch.setattr(placement, "available_bytes", lambda device: 2 * 480 - 2)
    assert not placement.keep_on_device("auto", [oversampled], CPU)  # in memory or not: the copy must fit


def test_a_cgroup_limit_bounds_the_free_memory(tmp_path):
    (tmp_path / "cg" / "job").mkdir(parents=True)
    (tmp_path / "cg" / "job" / "memory.max").write_text("200000000\n")
    (tmp_path / "cg" / "job" / "memory.current").write_text("150000000\n")
    (tmp_path / "self").write_text("0::/job\n")
    assert placement.cgroup_headroom(str(tmp_path / "cg"), str(tmp_path / "self")) == 50_000_000
    (tmp_path / "cg" / "job" / "memory.max").write_text("max\n")
    assert placement.cgroup_headroom(str(tmp_path / "cg"), str(tmp_path / "self")) is None
    (tmp_path / "cg" / "memory" / "slurm").mkdir(parents=True)  # cgroup v1
    (tmp_path / "cg" / "memory" / "slurm" / "memory.limit_in_bytes").write_text("1000\n")
    (tmp_path / "cg" / "memory" / "slurm" / "memory.usage_in_bytes").write_text("400\n")
    (tmp_path / "self").write_text("5:cpu,cpuacct:/slurm\n4:memory:/slurm\n")
    assert placement.cgroup_headroom(str(tmp_path / "cg"), str(tmp_path / "self")) == 600


def test_auto_streams_images_on_disk_that_take_more_than_half_the_free_memory(tmp_path, monkeypatch):
    disk = _disk(tmp_path)  # 480 bytes
    sets = [BalancedRows(RowSubset(disk, np.arange(6)), np.arange(6)), RowSubset(disk, np.arange(6, 10))]
    monkeypatch.setattr(placement, "available_bytes", lambda device: 2 * 480)
    assert placement.keep_on_device("auto", sets, CPU)
    monkeypatch.setattr(placement, "available_bytes", lambda device: 2 * 480 - 2)
    assert not placement.keep_on_device("auto", sets, CPU)
    monkeypatch.setattr(placement, "available_bytes", lambda device: None)  # unknown: do not risk it
    assert not placement.keep_on_device("auto", sets, CPU)


def test_place_gives_the_resident_or_the_streamed_set():
    X, y = np.zeros((4, 4, 4, 1), np.uint8), np.arange(4)
    assert isinstance(placement.place(X, y, CPU, [0.5], [0.2], True), DeviceImages)
    assert isinstance(placement.place(X, y, CPU, [0.5], [0.2], False), StreamedImages)


def test_the_free_memory_of_this_machine_can_be_read():
    assert placement.available_bytes(CPU) > 0
