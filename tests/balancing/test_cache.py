import importlib
import sys
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from balancelab.balancing import cache
from balancelab.balancing.apply import balance_training_set
from balancelab.balancing.cache import cache_key


def _data():
    rng = np.random.default_rng(0)
    y = np.array([0] * 30 + [1] * 6)
    return rng.integers(0, 255, (len(y), 8, 8, 1)).astype(np.uint8), y


def test_second_run_hits_and_changed_param_misses(tmp_path):
    X, y = _data()
    cfg = {"name": "smote", "_target_": "balancelab.balancing.synthetic.Smote", "k_neighbors": 3,
           "sampling_strategy": "auto"}
    first = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
    second = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
    assert not first.from_cache and second.from_cache
    assert np.array_equal(first.X, second.X) and np.array_equal(first.provenance, second.provenance)
    changed = balance_training_set(X, y, {**cfg, "k_neighbors": 2}, ["a", "b"], 0, str(tmp_path))
    other_seed = balance_training_set(X, y, cfg, ["a", "b"], 1, str(tmp_path))
    assert not changed.from_cache and not other_seed.from_cache


def _truncate(npz, meta):
    npz.write_bytes(npz.read_bytes()[:100])


def _flip_a_byte(npz, meta):  # same size, different content: only the checksum can tell
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))


def _garble_meta(npz, meta):
    meta.write_text("{not json")


def _not_an_npz_with_a_matching_checksum(npz, meta):
    from balancelab.hashing import file_digest

    npz.write_bytes(b"PK\x03\x04 certainly not a zip archive")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "sha256": file_digest(npz)}))


@pytest.mark.parametrize("corrupt", [_truncate, _flip_a_byte, _garble_meta, _not_an_npz_with_a_matching_checksum])
def test_corrupt_entry_is_set_aside_and_rebuilt(corrupt, tmp_path, caplog):
    X, y = _data()
    cfg = {"name": "random_oversampling", "_target_": "balancelab.balancing.simple.RandomOversampling",
           "sampling_strategy": "auto"}
    first = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
    npz = next((tmp_path / "balanced").glob("*.npz"))
    meta = npz.with_suffix(".json")
    corrupt(npz, meta)
    damaged = {npz.name: npz.read_bytes(), meta.name: meta.read_bytes()}

    with caplog.at_level(logging.WARNING, logger="balancelab"):
        again = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
    assert not again.from_cache and np.array_equal(first.y, again.y) and np.array_equal(first.X, again.X)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(npz.name in message and "set aside" in message for message in warned), warned
    # Kept, byte for byte, under a new name beside the rebuilt entry; nothing deleted.
    for name, content in damaged.items():
        aside = list((tmp_path / "balanced").glob(f"{name}.corrupt-*"))
        assert len(aside) == 1 and aside[0].read_bytes() == content
    assert npz.is_file() and meta.is_file()
    assert balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path)).from_cache


@pytest.fixture
def fresh_code_hash():
    """The source hash is computed once per process; these tests recompute it, then forget theirs."""
    cache.clear_source_hashes()
    yield
    cache.clear_source_hashes()


def _key():
    return cache_key("f" * 64, "smote", {"k_neighbors": 5}, 0)


def test_key_is_stable_when_nothing_changes(fresh_code_hash):
    first = _key()
    assert _key() == first
    cache.source_hash.cache_clear()
    assert _key() == first  # recomputed from the same files: the same


def test_key_covers_every_balancing_source_file_and_resize():
    names = {path.name for path in cache.source_files()}
    package = Path(cache.__file__).parent
    assert {path.name for path in package.glob("*.py")} <= names
    assert "resize.py" in names


@pytest.mark.parametrize("changed", ["synthetic.py", "strategy.py", "__init__.py", "resize.py"])
def test_key_changes_when_a_source_file_changes(changed, monkeypatch, fresh_code_hash):
    before = _key()
    real_read = cache.read_source

    def edited(path):
        return real_read(path) + (b"\n# edited\n" if path.name == changed else b"")

    monkeypatch.setattr(cache, "read_source", edited)
    cache.source_hash.cache_clear()
    assert _key() != before


def test_sources_are_read_once_per_process(monkeypatch, fresh_code_hash):
    reads = []
    real_read = cache.read_source
    monkeypatch.setattr(cache, "read_source", lambda path: reads.append(path) or real_read(path))
    for _ in range(3):
        _key()
    assert sorted(reads) == sorted(cache.source_files())


@pytest.mark.parametrize("module", ["imblearn", "cv2", "numpy", "sklearn", "torch"])
def test_key_changes_when_a_library_version_changes(module, monkeypatch):
    before = _key()
    monkeypatch.setattr(importlib.import_module(module), "__version__", "0.0.0-other")
    assert _key() != before


def test_no_hand_bumped_versions_remain():
    assert not hasattr(cache, "CODE_VERSIONS")


USER_BALANCER = '''
import numpy as np
from balancelab.balancing.base import Balancer, Resampled


class CopyMinority(Balancer):
    name = "copy_minority"

    def __init__(self, *, copies: int = 1, random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.copies = copies

    def _resample(self, X, y):
        minority = np.flatnonzero(y == np.argmin(np.bincount(y)))
        return Resampled(kept=np.concatenate([np.arange(len(y)), np.repeat(minority, self.copies)]))
'''


@pytest.fixture
def user_balancer(tmp_path, monkeypatch):
    """A user's own balancer in their own package (my_balancers/core.py, beside a helper module)."""
    package = tmp_path / "project" / "my_balancers"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text(USER_BALANCER)
    (package / "helpers.py").write_text("FACTOR = 1\n")
    monkeypatch.syspath_prepend(str(package.parent))
    yield package
    for name in ("my_balancers", "my_balancers.core", "my_balancers.helpers"):
        sys.modules.pop(name, None)


def _user_run(cache_dir):
    X, y = _data()
    node = {"name": "copy_minority", "_target_": "my_balancers.core.CopyMinority", "copies": 2}
    return balance_training_set(X, y, node, ["a", "b"], 0, str(cache_dir))


@pytest.mark.parametrize("edited", ["core.py", "helpers.py"])
def test_editing_a_user_balancers_source_misses_the_cache(edited, user_balancer, tmp_path, fresh_code_hash):
    """The key holds the source of the module (and package) that defines the _target_, not only balancelab's."""
    assert not _user_run(tmp_path / "cache").from_cache
    assert _user_run(tmp_path / "cache").from_cache
    path = user_balancer / edited
    path.write_text(path.read_text() + "\n# the user changed this file\n")
    cache.clear_source_hashes()  # a new process: nothing remembered
    assert not _user_run(tmp_path / "cache").from_cache


def test_a_built_in_balancers_key_reads_only_balancelabs_balancing_sources(fresh_code_hash):
    """Built-in targets keep the documented key: balancelab.balancing and data/resize.py, nothing more."""
    assert cache.target_sources("balancelab.balancing.synthetic.Smote") == []


def test_an_entry_holds_row_numbers_and_synthetic_pixels_never_a_copy_of_the_training_set(tmp_path):
    rng = np.random.default_rng(1)
    y = np.array([0] * 300 + [1] * 30)
    X = rng.integers(0, 255, (len(y), 16, 16, 3)).astype(np.uint8)
    oversampled = {"name": "random_oversampling", "_target_": "balancelab.balancing.simple.RandomOversampling",
                   "sampling_strategy": "auto"}
    smote = {"name": "smote", "_target_": "balancelab.balancing.synthetic.Smote", "k_neighbors": 3,
             "sampling_strategy": "auto"}
    for cfg, synthetic_rows in ((oversampled, 0), (smote, 270)):
        fresh = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
        again = balance_training_set(X, y, cfg, ["a", "b"], 0, str(tmp_path))
        assert again.from_cache and np.array_equal(np.asarray(fresh.X), np.asarray(again.X))
        entry = tmp_path / "balanced" / f"{again.report['cache']['key']}.npz"
        pixels = synthetic_rows * X[0].nbytes
        # 600 rows by number (8 bytes each) plus the new images: far below the 600 images themselves.
        assert entry.stat().st_size < pixels + 600 * 8 * 3 + 4096 < len(fresh.y) * X[0].nbytes
