"""On-disk cache of balanced training sets, keyed by a content hash.

The key covers the training data itself (a hash of its bytes and labels), the technique, its
parameters, the seed and the technique's code version, so a changed parameter or dataset never
reuses a stale entry. Each entry is one ``.npz`` written atomically plus a checksum file; an
entry whose checksum or arrays do not match is treated as missing and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from balancelab.hashing import file_digest
from balancelab.output.atomic import write_text, write_with

log = logging.getLogger("balancelab")

# Bump a technique's version when its output for the same inputs changes.
CODE_VERSIONS = {"none": 1, "weighted_sampler": 1, "random_oversampling": 1, "smote": 2, "adasyn": 2,
                 "offline_augmentation": 2, "random_undersampling": 1, "resample_to_target": 2}


def data_fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str((X.shape, str(X.dtype))).encode())
    h.update(np.ascontiguousarray(X).data)
    h.update(np.ascontiguousarray(y.astype(np.int64)).data)
    return h.hexdigest()


def cache_key(fingerprint: str, technique: str, params: dict, seed: int) -> str:
    spec = {"data": fingerprint, "technique": technique, "params": params, "seed": seed,
            "code_version": CODE_VERSIONS.get(technique, 1)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:32]


class BalancedSetCache:
    def __init__(self, root: str | Path):
        self.root = Path(root) / "balanced"

    def _paths(self, key: str):
        return self.root / f"{key}.npz", self.root / f"{key}.json"

    def load(self, key: str) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, dict]]:
        data_path, meta_path = self._paths(key)
        if not data_path.exists() or not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("sha256") != file_digest(data_path):
                raise ValueError("checksum mismatch")
            with np.load(data_path, allow_pickle=False) as npz:
                X, y, prov = npz["X"], npz["y"], npz["provenance"]
            if not (len(X) == len(y) == len(prov)):
                raise ValueError("arrays of different lengths")
            return X, y, prov, meta["report"]
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            log.warning("Balanced-set cache entry %s is corrupt (%s); rebuilding it.", data_path.name, exc)
            data_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return None

    def store(self, key: str, X: np.ndarray, y: np.ndarray, provenance: np.ndarray, report: dict) -> None:
        data_path, meta_path = self._paths(key)
        def save(path: Path) -> None:
            with open(path, "wb") as f:  # a file object keeps np.savez from appending ".npz"
                np.savez(f, X=X, y=y, provenance=provenance)

        write_with(data_path, save)
        write_text(meta_path, json.dumps({"sha256": file_digest(data_path), "report": report}, default=str))

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        if not self.root.exists():
            return 0
        n = len(list(self.root.glob("*.npz")))
        shutil.rmtree(self.root)
        return n
