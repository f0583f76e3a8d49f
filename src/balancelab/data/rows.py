"""Image rows that need not be in memory.

A data set's images are a uint8 ``(N, H, W, C)`` array. Small sets are plain numpy arrays; a set decoded from
an image folder lives in a ``.npy`` file on disk (:class:`DiskImages`), and what the pipeline derives from it
stays lazy: a split or a long-tailed subset is a list of row numbers (:class:`RowSubset`), and a balanced
training set is its kept rows plus only the pixels of the new, synthetic rows (:class:`BalancedRows`). Nothing
here copies the training set.

Every class has the small array interface the pipeline uses: ``len()``, ``shape``, ``dtype``, ``ndim``,
``nbytes``, ``take(rows)``, ``rows[key]`` and ``chunks()``; ``np.asarray()`` materialises one.

Why positioned reads (``os.pread``) rather than a memory map: the pages of a mapped file that a process has
touched count as its resident memory until the kernel needs them back, so reading a mapped data set once makes
the process look (and, to a cgroup or a batch scheduler, be) as large as the data. Positioned reads go through
the page cache, which belongs to the kernel; the process holds only the rows it asked for.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Iterator, Tuple, Union

import numpy as np


class ImageRows:
    """The array interface shared by the lazy row sources (subclasses implement ``shape`` and ``take``)."""

    dtype = np.dtype(np.uint8)

    @property
    def shape(self) -> Tuple[int, ...]:
        raise NotImplementedError

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The images at ``rows`` (any order, repeats allowed) as a new uint8 array."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """A short content key: equal for equal contents (used by the balanced-set cache)."""
        h = hashlib.sha256(str(self.shape).encode())
        for _, chunk in self.chunks():
            h.update(np.ascontiguousarray(chunk).data)
        return h.hexdigest()

    # -- derived ---------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"row {key} is out of range for {n} rows")
            return self.take(np.array([key % n]))[0]
        if isinstance(key, slice):
            return self.take(np.arange(len(self))[key])
        rows = np.asarray(key)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return self.take(rows.astype(np.int64, copy=False))

    def __array__(self, dtype=None, copy=None):
        out = self.take(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    def chunks(self, rows_per_chunk: int = 0) -> Iterator[Tuple[int, np.ndarray]]:
        """(first row, images) in order, about 64 MB at a time unless ``rows_per_chunk`` is given."""
        row_bytes = max(1, self.nbytes // max(len(self), 1))
        step = rows_per_chunk or max(1, (64 << 20) // row_bytes)
        for start in range(0, len(self), step):
            yield start, self.take(np.arange(start, min(start + step, len(self))))


Rows = Union[np.ndarray, ImageRows]


def is_lazy(X) -> bool:
    return isinstance(X, ImageRows)


def take(X: Rows, rows: np.ndarray) -> np.ndarray:
    """Rows of an in-memory array or of a lazy source, as a new array."""
    return X.take(rows) if is_lazy(X) else X[rows]


def chunks(X: Rows, rows_per_chunk: int = 0) -> Iterator[Tuple[int, np.ndarray]]:
    if is_lazy(X):
        yield from X.chunks(rows_per_chunk)
    else:
        step = rows_per_chunk or max(1, len(X))
        for start in range(0, len(X), step):
            yield start, X[start:start + step]


def subset(X: Rows, rows: np.ndarray) -> Rows:
    """A subset that copies nothing for a lazy source (a plain array is indexed as numpy does)."""
    rows = np.asarray(rows)
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64, copy=False)
    if isinstance(X, RowSubset):
        return RowSubset(X.base, X.rows[rows])
    if is_lazy(X):
        return RowSubset(X, rows)
    return X[rows]


class DiskImages(ImageRows):
    """A uint8 ``(N, H, W, C)`` array in a ``.npy`` file (readable by ``np.load(path, mmap_mode="r")`` too)."""

    def __init__(self, path: Union[str, Path], content_id: str = ""):
        """``content_id``: what the file holds (the decoded cache passes its checksum), part of the fingerprint.

        The file is opened here and read through that descriptor for as long as this object lives: a decoded
        cache rebuilt under the same name by another job (its files changed) replaces the name, not the inode
        this job checked, so the job keeps reading the images its split and flags describe."""
        self.path = Path(path)
        self.content_id = content_id
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
            fd = os.dup(f.fileno())
        if dtype != np.uint8 or fortran or len(shape) != 4:
            os.close(fd)
            raise ValueError(f"{self.path} does not hold a C-ordered uint8 (N, H, W, C) array "
                             f"(found {dtype}, shape {shape}, fortran order {fortran})")
        self._shape = tuple(int(s) for s in shape)
        self.row_bytes = int(np.prod(self._shape[1:]))
        expected = self.offset + self._shape[0] * self.row_bytes
        st = os.fstat(fd)
        if st.st_size != expected:
            os.close(fd)
            raise ValueError(f"{self.path} is {st.st_size} bytes; its header promises {expected} (a truncated file)")
        self._inode = (st.st_dev, st.st_ino)
        self._fd, self._fd_pid, self._lock = fd, os.getpid(), threading.Lock()

    @property
    def shape(self):
        return self._shape

    def _descriptor(self) -> int:
        # A forked worker keeps the inherited descriptor (reads are pread: no shared offset); a copy unpickled in
        # another process opens the name and must find the same file there, not a rebuilt one.
        with self._lock:
            if self._fd is None:
                fd = os.open(self.path, os.O_RDONLY)
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != self._inode:
                    os.close(fd)
                    raise ValueError(f"{self.path} was replaced after this run checked it (the decoded-image cache "
                                     f"was rebuilt by another job, its files having changed): run again to use "
                                     f"the new images.")
                self._fd, self._fd_pid = fd, os.getpid()
            return self._fd

    def content_digest(self) -> str:
        """SHA-256 of the whole file as this object reads it (through its own descriptor)."""
        h, fd, position = hashlib.sha256(), self._descriptor(), 0
        while True:
            chunk = os.pread(fd, 1 << 20, position)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)
            position += len(chunk)

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows),) + self._shape[1:], dtype=np.uint8)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= self._shape[0]:
            raise IndexError(f"rows out of range for {self._shape[0]} rows in {self.path}")
        fd, flat = self._descriptor(), out.reshape(len(rows), -1)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        # Runs of consecutive rows are read with one call each (a shuffled batch is mostly runs of one).
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for run in np.split(np.arange(len(rows)), breaks):
            first, count = int(sorted_rows[run[0]]), len(run)
            data = _pread_exact(fd, count * self.row_bytes, self.offset + first * self.row_bytes, self.path)
            block = np.frombuffer(data, dtype=np.uint8).reshape(count, -1)
            flat[order[run]] = block
        return out

    def fingerprint(self) -> str:
        # The name derives from the source listing, and a changed file rebuilds the entry under the same name:
        # what it holds (content_id, the cache's checksum) keeps a balanced set of the old pixels from being served.
        return hashlib.sha256(f"{self.path.name}|{self._shape}|{self.content_id}".encode()).hexdigest()

    def __getstate__(self):  # picklable for process launchers: the descriptor is reopened there
        state = dict(self.__dict__)
        state.update(_fd=None, _fd_pid=None, _lock=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._fd_pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass


def _pread_exact(fd: int, size: int, offset: int, path) -> bytes:
    parts, done = [], 0
    while done < size:
        chunk = os.pread(fd, size - done, offset + done)
        if not chunk:
            raise OSError(f"{path} ended at byte {offset + done}, before the {size} bytes asked for")
        parts.append(chunk)
        done += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class RowSubset(ImageRows):
    """Rows ``rows`` of ``base``, in that order, without copying them."""

    def __init__(self, base: ImageRows, rows: np.ndarray):
        self.base, self.rows = base, np.asarray(rows, dtype=np.int64)

    @property
    def shape(self):
        return (len(self.rows),) + tuple(self.base.shape[1:])

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self.base.take(self.rows[np.asarray(rows, dtype=np.int64)])

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.base.fingerprint()}|".encode() + self.rows.tobytes()).hexdigest()


class BalancedRows(ImageRows):
    """A balanced training set: input rows ``kept`` (repeats allowed), then the new ``synthetic`` images.

    Duplicated rows cost 8 bytes each (their row number), synthetic rows their own pixels; the input images
    themselves are neither copied nor moved. The rows keep the source's dtype: uint8 images, or the float
    feature matrix that balancing in feature space gives (training/feature_space.py).
    """

    def __init__(self, source: Rows, kept: np.ndarray, synthetic: np.ndarray | None = None):
        self.source = source
        self.kept = np.asarray(kept, dtype=np.int64)
        self.dtype = np.dtype(getattr(source, "dtype", np.uint8))
        image_shape = tuple(source.shape[1:])
        self.synthetic = (np.zeros((0,) + image_shape, self.dtype) if synthetic is None
                          else np.asarray(synthetic, dtype=self.dtype).reshape((-1,) + image_shape))

    @property
    def shape(self):
        return (len(self.kept) + len(self.synthetic),) + tuple(self.source.shape[1:])

    @property
    def stored_bytes(self) -> int:
        """What this set holds itself: row numbers and synthetic pixels (not the source's images)."""
        return int(self.kept.nbytes + self.synthetic.nbytes)

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows),) + tuple(self.source.shape[1:]), dtype=self.dtype)
        from_source = rows < len(self.kept)
        if from_source.any():
            out[from_source] = take(self.source, self.kept[rows[from_source]])
        if (~from_source).any():
            out[~from_source] = self.synthetic[rows[~from_source] - len(self.kept)]
        return out
