"""Atomic file writes: write a temporary file beside the target, then rename it into place.

An interrupted run therefore never leaves a complete-looking but truncated file, and a full
disk is reported with the path and a fix instead of a half-written CSV.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from balancelab.errors import OutputFolderError


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise OutputFolderError(
                f"No space left on the device while writing {target}. Free some space, or point "
                f"output_root=... (and cache_dir=...) to a disk with room, then run again."
            ) from exc
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_with(target: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_with(target, lambda p: p.write_text(text, encoding="utf-8"))


def _json_default(obj: Any) -> Any:
    # NumPy scalars and arrays appear in metrics; convert them rather than fail late.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


def write_json(target: str | os.PathLike, data: Any) -> Path:
    return write_text(target, json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n")


def write_csv(target: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame without its index."""
    return write_with(target, lambda p: frame.to_csv(p, index=False))


def save_figure(target: str | os.PathLike, figure) -> Path:
    """Save a matplotlib figure (format from the target's extension) and close it."""
    import matplotlib.pyplot as plt

    fmt = Path(target).suffix.lstrip(".") or "png"
    try:
        return write_with(target, lambda p: figure.savefig(p, format=fmt, dpi=120, bbox_inches="tight"))
    finally:
        plt.close(figure)
