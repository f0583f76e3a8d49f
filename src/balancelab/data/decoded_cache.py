"""Decode an image folder once, into a uint8 array on disk that every later run reads without decoding.

The cache entry is ``<key>.npy`` (one row per listed file, in listing order; a file that could not be used
keeps a row of zeros) and ``<key>.json`` (which files were usable, and why the others were not). Both are
written under temporary names and renamed into place, the array first and the JSON last, so an entry is
complete exactly when its JSON exists. Files are decoded in parallel threads (Pillow and OpenCV release the
GIL) and each image is written to its row as soon as it is decoded: memory holds a few images, never the set.

An entry that cannot be read (truncated, damaged, or not matching its listing) is reported, renamed aside
(``.corrupt-<time>``, kept for inspection) and the images are decoded again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from balancelab.data import decode, resize
from balancelab.data.decode import decode_image
from balancelab.data.rows import DiskImages
from balancelab.output import atomic

log = logging.getLogger("balancelab")


@functools.lru_cache(maxsize=None)
def decoder_version() -> str:
    """The decoding code and the libraries it calls: an edit or an upgrade gives new cache entries."""
    import cv2
    import PIL

    h = hashlib.sha256()
    for module in (decode, resize):
        h.update(Path(module.__file__).read_bytes())
    h.update(f"pillow={PIL.__version__}|opencv={cv2.__version__}|numpy={np.__version__}".encode())
    return h.hexdigest()[:16]


def decode_into(out, paths: Sequence[str], size: int, channels: int, policy: str, workers: int) -> List[Tuple[str, str]]:
    """Decode ``paths`` into row i of ``out`` (a callable ``write(i, image)``); returns (path, reason) of the
    files that could not be used."""
    workers = workers or min(8, (os.cpu_count() or 2))
    reasons = []
    window = 64 * workers  # files in flight: memory holds this many images, whatever the folder's size
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for first in range(0, len(paths), window):
            block = paths[first:first + window]
            for i, (image, reason) in enumerate(pool.map(lambda p: decode_image(p, size, channels, policy), block),
                                                start=first):
                if image is None:
                    reasons.append((paths[i], reason))
                else:
                    out(i, image)
    return reasons


def decode_in_memory(paths: Sequence[str], size: int, channels: int, policy: str, workers: int):
    """(X with one row per file, usable mask, reasons) without a cache: the images are held in memory."""
    X = np.zeros((len(paths), size, size, channels), np.uint8)

    def write(i, image):
        X[i] = image

    reasons = decode_into(write, paths, size, channels, policy, workers)
    return X, _usable(paths, reasons), reasons


def _usable(paths: Sequence[str], reasons) -> np.ndarray:
    bad = {p for p, _ in reasons}
    return np.array([p not in bad for p in paths], dtype=bool)


class DecodedCache:
    """The decoded images of one listing at one size, channel count and resize policy."""

    def __init__(self, cache_dir: str | Path, listing_key: str):
        key = hashlib.sha256(f"{listing_key}|{decoder_version()}".encode()).hexdigest()[:32]
        self.array_path = Path(cache_dir) / "decoded" / f"{key}.npy"
        self.info_path = self.array_path.with_suffix(".json")

    def load(self, paths: Sequence[str]) -> Optional[tuple]:
        """(DiskImages, usable mask, reasons), or None when absent or unreadable (then set aside)."""
        if not self.info_path.exists():
            return None
        try:
            info = json.loads(self.info_path.read_text())
            images = DiskImages(self.array_path)
            ok = np.array(info["usable"], dtype=bool)
            reasons = [tuple(r) for r in info["reasons"]]
            if len(images) != len(paths) or len(ok) != len(paths) or int((~ok).sum()) != len(reasons):
                raise ValueError(f"it holds {len(images)} rows and {len(ok)} flags for the {len(paths)} files listed")
            if images.shape[1:] != tuple(info["image_shape"]):
                raise ValueError(f"its images are {images.shape[1:]}, its record says {info['image_shape']}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A cache is only a shortcut: a damaged one costs a re-decode, not the run.
            self._set_aside(exc)
            return None
        return images, ok, reasons

    def build(self, paths: Sequence[str], size: int, channels: int, policy: str, workers: int) -> tuple:
        """Decode every file into a new entry and return it as :meth:`load` does."""
        shape = (len(paths), size, size, channels)
        row_bytes = size * size * channels

        def write_array(tmp: Path):
            with open(tmp, "wb") as f:
                np.lib.format.write_array_header_2_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                                                         "fortran_order": False, "shape": shape})
                offset = f.tell()
                f.truncate(offset + len(paths) * row_bytes)  # rows of unusable files stay zero
                fd = f.fileno()

                def write(i, image):
                    os.pwrite(fd, np.ascontiguousarray(image).data, offset + i * row_bytes)

                reasons.extend(decode_into(write, paths, size, channels, policy, workers))
                f.flush()
                os.fsync(fd)

        reasons: List[Tuple[str, str]] = []
        atomic.write_with(self.array_path, write_array)
        ok = _usable(paths, reasons)
        atomic.write_json(self.info_path, {"files": len(paths), "image_shape": list(shape[1:]),
                                           "usable": ok.astype(int).tolist(), "reasons": [list(r) for r in reasons],
                                           "decoder": decoder_version()})
        return DiskImages(self.array_path), ok, reasons

    def _set_aside(self, exc: BaseException) -> None:
        stamp = f"corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        moved = []
        for path in (self.info_path, self.array_path):
            try:
                path.rename(path.with_name(f"{path.name}.{stamp}"))
                moved.append(path.name)
            except OSError:  # absent, or another job moved it first
                pass
        log.warning("The decoded-image cache %s cannot be read (%s: %s); %s. The images are decoded again.",
                    self.array_path, type(exc).__name__, exc,
                    f"moved aside as {', '.join(m + '.' + stamp for m in moved)}" if moved else "nothing to move aside")
