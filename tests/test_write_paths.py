"""A full disk at every write path of a run: one clear OutputWriteError naming the file, earlier files kept."""

import errno
import os
from pathlib import Path

import pytest
import torch

from balancelab.errors import OutputWriteError
from tests.conftest import TINY, compose

pytestmark = pytest.mark.slow
ARTIFACTS = ["config.yaml", "identity.json", "class_mapping.json", "balancing_analysis.json", "dataset_statistics.json",
             "synthetic_samples.png", "training_state.pt", "history.csv", "training_curves.png", "best_model.pt",
             "predictions.csv", "confusion_matrix.png", "confidence_analysis.csv", "experiment_summary.json", ".npz"]


def run_into(tmp_path, extra=()):
    from balancelab.experiment import run_experiment
    from balancelab.options.validate import validate

    cfg = validate(compose([*TINY, "trainer.epochs=1", "balancing=smote", f"output_root={tmp_path}", *extra]))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return run_experiment(cfg, run_dir, "00000000"), run_dir


@pytest.mark.parametrize("artifact", ARTIFACTS)
@pytest.mark.parametrize("kind", ["enospc", "torch"])
def test_a_full_disk_at_any_write_path_is_reported_and_loses_nothing(tmp_path, monkeypatch, artifact, kind):
    real_replace, real_save = os.replace, torch.save
    written = []

    def replace(src, dst, *a, **k):
        if str(dst).endswith(artifact) and kind == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst, *a, **k)
        written.append(str(dst))

    def save(obj, f, *a, **k):
        if kind == "torch" and artifact.endswith(".pt") and ".tmp" in str(f) and artifact[:-3] in str(f):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(torch, "save", save)
    if kind == "torch" and not artifact.endswith(".pt"):
        pytest.skip("torch's zip writer only writes the .pt files")
    with pytest.raises(OutputWriteError) as err:
        run_into(tmp_path)
    assert artifact in str(err.value) and "Free space there" in str(err.value)
    for path in written:  # every file written before the failure is still there, whole
        assert os.path.exists(path) and os.path.getsize(path) > 0
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


# -- the caches of an image folder, the wandb folder, the training state's previous generation ---------------

def image_folder(root):
    from PIL import Image
    import numpy as np

    rng = np.random.default_rng(0)
    for c, n in (("common", 24), ("rare", 8)):
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3)).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def fail_at(monkeypatch, matches, kind):
    """Every write whose final path ``matches`` fails: ENOSPC at its rename, or torch's RuntimeError in
    torch.save (only .pt files are written by torch). Returns the paths written before, whole."""
    real_replace, real_save = os.replace, torch.save
    written = []

    def replace(src, dst, *a, **k):
        if kind == "enospc" and matches(str(dst)):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst, *a, **k)
        written.append(str(dst))

    def save(obj, f, *a, **k):
        if kind == "torch" and matches(str(f).replace(".tmp", "")):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(torch, "save", save)
    return written


def assert_reported_and_nothing_lost(err, name, written, tmp_path):
    assert name in str(err.value) and "Free space there" in str(err.value)
    for path in written:
        if ".building" in Path(path).parent.name:  # a decode's progress record: replaced as it goes, by design
            continue
        assert os.path.exists(path) and os.path.getsize(path) > 0
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("cache,matches", [
    ("decoded images", lambda p: "/decoded/" in p and p.endswith(".npy")),
    ("decoded images' record", lambda p: "/decoded/" in p and p.endswith(".json")),
    ("split", lambda p: "/splits/" in p and p.endswith(".csv")),
])
def test_a_full_disk_at_an_image_folder_cache(tmp_path, monkeypatch, cache, matches):
    root = image_folder(tmp_path / "images")
    written = fail_at(monkeypatch, matches, "enospc")
    with pytest.raises(OutputWriteError) as err:
        run_into(tmp_path, ["dataset=image_folder", f"dataset.root={root}"])
    name = {"decoded images": ".npy", "decoded images' record": ".json", "split": ".csv"}[cache]
    assert_reported_and_nothing_lost(err, name, written, tmp_path)
    assert str(tmp_path / ".cache") in str(err.value)


@pytest.mark.parametrize("kind", ["enospc", "torch"])
def test_a_full_disk_at_the_second_state_save_keeps_the_first(tmp_path, monkeypatch, kind):
    """The previous good training state survives a failed save of the next one, and loads."""
    from balancelab.training.state import TrainingStateStore

    saves = []
    real_replace, real_save = os.replace, torch.save

    def is_state(path):
        return os.path.basename(path).startswith(("training_state.pt", ".training_state.pt"))

    def replace(src, dst, *a, **k):
        if kind == "enospc" and str(dst).endswith("training_state.pt"):
            saves.append(dst)
            if len(saves) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst, *a, **k)

    def save(obj, f, *a, **k):
        if kind == "torch" and is_state(str(f)):
            saves.append(f)
            if len(saves) == 2:
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(OutputWriteError) as err:
        run_into(tmp_path, ["trainer.epochs=3", "trainer.state_every_s=0"])
    assert "training_state.pt" in str(err.value) and "Free space there" in str(err.value)
    monkeypatch.undo()
    store = TrainingStateStore(tmp_path / "run", "00000000")
    state = store.load()
    assert state is not None and state["epoch"] == 1 and store.loaded_from == store.path
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_a_full_disk_at_the_wandb_run_id(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    written = fail_at(monkeypatch, lambda p: p.endswith("wandb_run.json"), "enospc")
    with pytest.raises(OutputWriteError) as err:
        run_into(tmp_path, ["logger=wandb", "logger.mode=offline"])
    assert_reported_and_nothing_lost(err, "wandb_run.json", written, tmp_path)


def test_with_wandb_a_full_disk_still_reports_the_file_that_failed(tmp_path, monkeypatch, capfd):
    """wandb's own log file meets the full disk too: its OSError in finish() must not replace ours, nor
    print a '--- Logging error ---' traceback per record."""
    from balancelab import tracking

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    real_init = tracking.WandbTracker.__init__

    def init_then_fill_the_disk(self, **kw):
        real_init(self, **kw)
        from tests.test_tracking import fail_wandb_log_files

        assert fail_wandb_log_files(kw["run_dir"])

    monkeypatch.setattr(tracking.WandbTracker, "__init__", init_then_fill_the_disk)
    fail_at(monkeypatch, lambda p: p.endswith("history.csv"), "enospc")
    with pytest.raises(OutputWriteError) as err:
        run_into(tmp_path, ["logger=wandb", "logger.mode=offline"])
    assert "history.csv" in str(err.value)
    captured = capfd.readouterr().err
    assert "Logging error" not in captured
