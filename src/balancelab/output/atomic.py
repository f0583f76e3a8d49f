"""Atomic file writes: write a temporary file beside the target, then rename it into place.

An interrupted run therefore never leaves a complete-looking but truncated file, and the previous
good version of a file survives a failed write. A full disk, a quota, a read-only or forbidden
folder — including torch's zip writer, which reports a full disk as a ``RuntimeError`` — is turned
into one :class:`OutputWriteError` naming the path, the free space and the fix. Files get the
permissions the umask allows (``mkstemp`` alone would make every result private, 0600).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from balancelab.errors import OutputWriteError

WRITE_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exhausted",
                errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
                errno.EROFS: "the file system is read-only"}
# torch.save writes through a C++ zip writer that raises RuntimeError, not OSError, when a write fails.
_TORCH_WRITE_FAILURES = ("inline_container", "PytorchStreamWriter", "file write failed", "unexpected pos")


def current_umask() -> int:
    """The process's umask, read without changing it.

    ``os.umask`` can only be read by setting it: a thread creating a file in between would get the
    temporary mask. Linux reports it in /proc/self/status; elsewhere it is read once, at import.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _UMASK_AT_IMPORT


def _umask_at_import() -> int:
    # The least harmful value to hold for that instant is the most private one: a file made meanwhile
    # by another thread is then too private, never world-writable.
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
        return mask


_UMASK_LOCK = threading.Lock()
_UMASK_AT_IMPORT = _umask_at_import()


def free_space(path: Path) -> Optional[int]:
    """Free bytes on the file system holding ``path`` (its nearest existing parent), or None."""
    for candidate in [Path(path), *Path(path).parents]:
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def storage_reason(exc: BaseException) -> Optional[str]:
    """What went wrong in words when ``exc`` is a storage problem (full, quota, read-only, forbidden), else None."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        return WRITE_ERRNOS[exc.errno]
    if isinstance(exc, RuntimeError) and any(s in str(exc) for s in _TORCH_WRITE_FAILURES):
        return "the write failed (torch reported: " + str(exc).splitlines()[0][:120] + ")"
    return None


def _is_permission_problem(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)


def _free_text(path: Path) -> str:
    free = free_space(path)
    return "unknown" if free is None else f"{free / 1e6:,.1f} MB"


def write_failure(target: Path, exc: BaseException) -> Optional[OutputWriteError]:
    """The user-facing error for a failed write, or None when ``exc`` is not a storage problem.

    Call it once the failed file is removed: the free space it reports is read here.
    """
    reason = storage_reason(exc)
    if reason is None:
        return None
    target = Path(target)
    free_text = _free_text(target)
    if _is_permission_problem(exc):
        fix = (f"Make {target.parent} writable, or point output_root=... (and cache_dir=...) to a folder you "
               f"can write, then run the same command again")
    else:
        fix = ("Free some space (or raise the quota), or point output_root=... (and cache_dir=...) to a disk "
               "with room, then run the same command again: a run resumes from its last saved state")
    return OutputWriteError(f"Cannot write {target}: {reason}. Free space there: {free_text}. {fix}. "
                            f"Files written before are kept as they were.", target, reason, free_text,
                            _is_permission_problem(exc))


def _release_failed_writer(exc: BaseException) -> None:
    """Drop what the failed writer's frames still hold, so that its file is closed now.

    torch's zip writer (and any writer that fails with its file open) stays referenced by the exception's
    traceback: the deleted temporary file keeps its blocks until then, and the free space read for the
    message would leave them out. torch's writer fails twice (the write, then its ``__exit__``), so the
    frame holding the file belongs to the first error, the second one's ``__context__``: the whole chain is
    cleared. Frames still running (ours, our callers') are left alone.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


TEMPORARY_MARK = ".tmp"


def is_temporary(name: str) -> bool:
    """A temporary file of :func:`atomic_path` (``.<target name>.<random>.tmp<suffix>``)."""
    return name.startswith(".") and TEMPORARY_MARK in name


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``target``."""
    target = Path(target)
    tmp_path = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_MARK + target.suffix,
                                   dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, target)
    except BaseException as exc:
        storage_problem = storage_reason(exc) is not None
        if storage_problem:
            _release_failed_writer(exc)
        if tmp_path is not None:
            try:
                tmp_path.unlink(missing_ok=True)
            except OSError:
                pass
        if storage_problem:  # the temporary file is gone (and closed): now the free space is true
            raise write_failure(target, exc) from exc
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


def set_aside(path: str | os.PathLike) -> Path:
    """Rename an unreadable file out of the way (``<name>.corrupt-<time>``) instead of deleting it."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, aside)
    return aside


PROBE_FILE = ".balancelab-write-probe"


def ensure_writable(folder: str | os.PathLike, setting: str = "output_root") -> None:
    """Fail now, before any data is loaded, if ``folder`` (the value of ``setting``) cannot take a file.

    The folder is made (the run would make it) and a small file written and removed in it: a full disk,
    a quota, a read-only mount or a forbidden folder all show up here, named with the setting to change.
    """
    folder = Path(folder)
    probe = folder / f"{PROBE_FILE}-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text(probe, "ok\n")
        probe.unlink(missing_ok=True)
    except OutputWriteError as exc:
        raise _unwritable(folder, setting, exc.__cause__) from None
    except OSError as exc:
        if storage_reason(exc) is None:
            raise
        raise _unwritable(folder, setting, exc) from None


def _unwritable(folder: Path, setting: str, exc: BaseException) -> OutputWriteError:
    reason = storage_reason(exc) or str(exc)
    free_text = _free_text(folder)
    if _is_permission_problem(exc):
        fix = f"Point {setting}=... to a folder you can write (or make {folder} writable)"
    else:
        fix = f"Free some space there (or raise the quota), or point {setting}=... to a disk with room"
    return OutputWriteError(f"{setting}={folder} cannot be written: {reason}. Free space there: {free_text}. "
                            f"{fix}, then run the same command again. Nothing was run.", folder, reason, free_text,
                            _is_permission_problem(exc))
