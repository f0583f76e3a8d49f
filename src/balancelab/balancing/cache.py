"""On-disk cache of balanced training sets, keyed by a content hash.

The key covers the training data itself (a hash of its bytes and labels), the technique, its
parameters, the seed, the code that makes balanced sets and the libraries it calls, so a changed
parameter, dataset, code or library never reuses a stale entry. An entry holds the balanced set as the
pipeline does (:class:`~balancelab.data.rows.BalancedRows`): the kept input rows by number and only the
synthetic images' pixels, so caching a balanced set never copies the training set. The code is identified by a
hash of its source files (every file of ``balancelab.balancing`` and ``data/resize.py``, plus, for a
balancer of your own, the module that defines its ``_target_`` and the files of its top-level
package), not by a version number someone must remember to bump: any edit misses, harmless ones
included. Each
entry is one ``.npz`` written atomically plus a checksum file; an entry whose checksum or arrays
do not match, or that cannot be read at all, is renamed aside (``<key>.npz.corrupt-<time>``, with
its ``.json``), never deleted, so it can be inspected, and the set is rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from balancelab.hashing import file_digest
from balancelab.output.atomic import write_text, write_with

log = logging.getLogger("balancelab")

# Libraries whose results the balanced sets depend on: name in the key -> module to read __version__ from.
LIBRARIES = {"imbalanced-learn": "imblearn", "opencv": "cv2", "numpy": "numpy", "scikit-learn": "sklearn",
             "torch": "torch"}


def source_files() -> List[Path]:
    """The source files whose content identifies the balancing code, in a fixed order."""
    from balancelab.data import resize

    package = Path(__file__).parent
    return sorted(package.rglob("*.py")) + [Path(resize.__file__)]


def read_source(path: Path) -> bytes:
    return path.read_bytes()


@functools.lru_cache(maxsize=None)
def source_hash() -> str:
    """SHA-256 over the balancing code's source files (names and contents); computed once per process."""
    root = Path(__file__).parents[1]  # the balancelab package: names relative to it, same in every checkout
    return _hash_files(source_files(), root)


def _hash_files(paths: List[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        content = read_source(path)
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        h.update(f"{name}:{len(content)}:".encode())
        h.update(content)
    return h.hexdigest()


# A user's package larger than this is identified by the defining module alone: hashing it whole would
# make every run pay for files that are most likely not the balancer's.
MAX_PACKAGE_FILES = 500


def target_sources(target: str) -> List[Path]:
    """The source files, beyond :func:`source_files`, that identify the balancer ``_target_`` names.

    balancelab's own balancers are covered by :func:`source_files`. A user's balancer is identified by
    the module that defines it and the other files of its top-level package (``my_project/*.py``), where
    helpers it imports usually live. Not a dotted path (a bare technique name): nothing more.
    """
    if "." not in target:
        return []
    from hydra.utils import get_object

    module = inspect.getmodule(get_object(target))
    own = Path(getattr(module, "__file__", None) or "")
    if not own.is_file():  # built into the interpreter: no source to read
        return []
    balancing = Path(__file__).parent
    if own.is_relative_to(balancing):
        return []
    if module.__name__.startswith("balancelab."):
        return [own]
    package = sys.modules.get(module.__name__.split(".")[0])
    folders = [Path(p) for p in getattr(package, "__path__", [])]
    files = sorted({p for folder in folders for p in folder.rglob("*.py")} | {own})
    return files if len(files) <= MAX_PACKAGE_FILES else [own]


@functools.lru_cache(maxsize=None)
def target_source_hash(target: str) -> str:
    """SHA-256 over :func:`target_sources` (empty for balancelab's own balancers); once per process."""
    files = target_sources(target)
    return _hash_files(files, _common_folder(files)) if files else ""


def _common_folder(files: List[Path]) -> Path:
    """The folder above every file (names relative to it: the same wherever the project is checked out)."""
    import os

    return Path(os.path.commonpath([str(f.parent) for f in files])).parent


def clear_source_hashes() -> None:
    """Forget the hashes computed so far (what a new process would do)."""
    source_hash.cache_clear()
    target_source_hash.cache_clear()


def library_versions() -> Dict[str, str]:
    return {name: str(importlib.import_module(module).__version__) for name, module in LIBRARIES.items()}


def data_fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str((X.shape, str(X.dtype))).encode())
    h.update(np.ascontiguousarray(X).data)
    h.update(np.ascontiguousarray(y.astype(np.int64)).data)
    return h.hexdigest()


def cache_key(fingerprint: str, technique: str, params: dict, seed: int) -> str:
    """The entry's key. ``technique``: ``"<option name>:<_target_>"`` (the target's own source is hashed)."""
    target = technique.rpartition(":")[2]
    spec = {"data": fingerprint, "technique": technique, "params": params, "seed": seed,
            "code": source_hash(), "target_code": target_source_hash(target), "libraries": library_versions()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:32]


class BalancedSetCache:
    def __init__(self, root: str | Path):
        self.root = Path(root) / "balanced"

    def _paths(self, key: str):
        return self.root / f"{key}.npz", self.root / f"{key}.json"

    def load(self, key: str) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]]:
        """(kept input rows, synthetic images, y, provenance, report), or None (absent, or corrupt: set aside)."""
        data_path, meta_path = self._paths(key)
        if not data_path.exists() or not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("sha256") != file_digest(data_path):
                raise ValueError("checksum mismatch")
            with np.load(data_path, allow_pickle=False) as npz:
                kept, synthetic, y, prov = npz["kept"], npz["synthetic"], npz["y"], npz["provenance"]
            if not (len(kept) + len(synthetic) == len(y) == len(prov)) or not np.array_equal(prov[:len(kept)], kept):
                raise ValueError("its arrays do not describe one balanced set")
            return kept, synthetic, y, prov, meta["report"]
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with an entry, rebuilding it is the answer
            self._set_aside(data_path, meta_path, f"{type(exc).__name__}: {exc}")
            return None

    def _set_aside(self, data_path: Path, meta_path: Path, reason: str) -> None:
        """Rename a corrupt entry's files out of the cache's way, keeping them for inspection."""
        stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"
        moved = []
        for path in (data_path, meta_path):
            aside = path.with_name(f"{path.name}.corrupt-{stamp}")
            try:
                path.rename(aside)
                moved.append(aside.name)
            except OSError as exc:
                log.warning("Could not set aside corrupt cache file %s (%s); it will be overwritten.", path, exc)
        log.warning("Balanced-set cache entry %s is corrupt (%s); set aside as %s and rebuilding it.",
                    data_path, reason, " and ".join(moved) or "nothing")

    def store(self, key: str, kept: np.ndarray, synthetic: np.ndarray, y: np.ndarray, provenance: np.ndarray,
              report: dict) -> None:
        """An entry holds what the balanced set holds: input row numbers and the synthetic images' pixels (the
        input images are the training split's, which the key identifies)."""
        data_path, meta_path = self._paths(key)

        def save(path: Path) -> None:
            with open(path, "wb") as f:  # a file object keeps np.savez from appending ".npz"
                np.savez(f, kept=kept, synthetic=synthetic, y=y, provenance=provenance)

        write_with(data_path, save)
        write_text(meta_path, json.dumps({"sha256": file_digest(data_path), "report": report}, default=str))

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        if not self.root.exists():
            return 0
        n = len(list(self.root.glob("*.npz")))
        shutil.rmtree(self.root)
        return n
