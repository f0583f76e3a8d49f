"""Decode an image folder once, into a uint8 array on disk that every later run reads without decoding.

The cache entry is ``<key>.npy`` (one row per listed file, in listing order; a file that could not be used
keeps a row of zeros), ``<key>.digests`` (the SHA-256 of each file's bytes, 32 bytes a file: the
duplicate-aware split reads them instead of reading every file again), ``<key>.files`` (each file's size,
modification time and change time as it was read, three int64 a file) and ``<key>.json`` (which files were usable, why the
others were not, and the checksums of the three). The JSON is written last, so an entry is complete exactly
when its JSON exists; an entry whose checksum does not match, or that cannot be read, is reported, renamed
aside (``.corrupt-<time>``, kept for inspection) and the images are decoded again: a damaged cache is never
trained on. The key covers the listing (paths and classes) and the decoding options, not the files' contents:
an entry is used only while every file's size, modification and change time are still the ones it was read
with (one ``stat`` a file, as the key once took), else it is built again: a changed file is not served from the
cache, also one replaced by new bytes of the same size with its old modification time (``rsync -a``, ``cp -p``:
the change time is the kernel's).

Files are read once (the bytes give the digest and the image, the descriptor they are read through the size
and times) and decoded in parallel threads (OpenCV, Pillow and the reads release the GIL), a
chunk of files at a time into one buffer that is written to the array with one call; memory holds a few
chunks, never the set. The entry is built in ``<key>.building/`` under a lock
(:class:`~balancelab.output.lock.FolderLock`): a second job that needs the same entry waits for the first and
then reads it, instead of decoding it too. Every ``SYNC_EVERY_S`` seconds a progress record says how far the
array is done, with the checksums of each chunk as it was written (the writes are not forced to disk: what a
crash of the machine loses, the resume's checks find): a build that was stopped (killed, a node lost) resumes
there, after checking the chunks on disk against those checksums and their files against the sizes and
modification times they were read with (a chunk damaged since, lost, or with a file changed since is decoded
again, with every later one, never hashed as it now reads). A finished build removes the stopped builds of earlier listings of the same folder at the same
size (files added or removed since: they can never be resumed).
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from balancelab.data import decode, resize
from balancelab.data.decode import read_and_decode
from balancelab.data.rows import DiskImages
from balancelab.errors import RunLockedError
from balancelab.output import atomic
from balancelab.output.lock import FolderLock

log = logging.getLogger("balancelab")
CHUNK_FILES = 4096  # files per chunk: one buffer and one write each
CHUNK_BYTES = 64 << 20  # and at most this many bytes of images (large input sizes)
SYNC_EVERY_S = 2.0  # record the progress of the partial entry at most this often (and at the end)
WAIT_POLL_S = 0.2  # how often a job waiting for another's build looks whether it is done
WAIT_RETRY_S = 5.0  # and how often it tries the lock again (its holder may have died)
decode_file = read_and_decode  # (path, size, channels, policy) -> (image, reason, sha256, (size, mtime, ctime))
# Each file's identity as it was read: size, modification and change time in ns (decode.file_identity), int64 each.
IDENTITY_FIELDS = 3
IDENTITY_BYTES = 8 * IDENTITY_FIELDS


def after_chunk(done: int) -> None:
    """Called after the progress record of chunk ``done`` (1-based count) is written; the fault tests stop here."""


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


def chunk_files(row_bytes: int) -> int:
    return max(1, min(CHUNK_FILES, CHUNK_BYTES // max(1, row_bytes)))


def decode_chunk(pool: ThreadPoolExecutor, workers: int, paths: Sequence[str], size: int, channels: int,
                 policy: str, out: Optional[np.ndarray] = None):
    """(images, digests (n, 32) uint8, identities (n, IDENTITY_FIELDS) int64: each file as read, reasons) of
    ``paths``: each worker decodes a run of files into its rows (of ``out``, a buffer of at least n rows reused
    from chunk to chunk, when given; a file that cannot be used gets a row of zeros either way)."""
    n = len(paths)
    images = np.zeros((n, size, size, channels), np.uint8) if out is None else out[:n]
    identities = np.empty((n, IDENTITY_FIELDS), np.int64)
    no_digest = bytes(32)

    def run(span):
        lo, hi = span
        reasons, digests, seen = [], [], []
        for j in range(lo, hi):
            image, reason, digest, identity = decode_file(paths[j], size, channels, policy)
            digests.append(no_digest if digest is None else digest)
            seen.append(identity)
            if image is None:
                reasons.append((paths[j], reason))
                images[j] = 0
            else:
                images[j] = image.reshape(size, size, channels)
        identities[lo:hi] = seen
        return reasons, digests

    step = max(1, -(-n // (4 * workers)))
    spans = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
    reasons, digests = [], []
    for part_reasons, part_digests in pool.map(run, spans):
        reasons += part_reasons
        digests += part_digests
    return images, np.frombuffer(b"".join(digests), np.uint8).reshape(n, 32), identities, reasons


def decode_chunks(paths: Sequence[str], size: int, channels: int, policy: str, workers: int, first_chunk: int,
                  per_chunk: int, take):
    """Decode chunk ``first_chunk`` onwards; ``take(k, images, digests, identities, reasons)`` runs for each chunk
    in order, in a writer thread while the next chunk is decoded."""
    workers = workers or min(8, (os.cpu_count() or 2))
    starts = list(range(first_chunk * per_chunk, len(paths), per_chunk))
    # Two buffers, in turn: one being written while the next chunk is decoded into the other (fresh pages for
    # every chunk would fault and zero the whole array's worth of memory once more).
    buffers = [np.empty((min(per_chunk, len(paths)), size, size, channels), np.uint8) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=workers) as pool, ThreadPoolExecutor(max_workers=1) as writer:
        pending = None
        for k, lo in enumerate(starts, start=first_chunk):
            decoded = decode_chunk(pool, workers, paths[lo:lo + per_chunk], size, channels, policy,
                                   buffers[k % 2])
            if pending is not None:
                pending.result()  # in order, and at most one chunk waiting to be written
            pending = writer.submit(take, k, *decoded)
        if pending is not None:
            pending.result()


def decode_in_memory(paths: Sequence[str], size: int, channels: int, policy: str, workers: int):
    """(X with one row per file, usable mask, reasons, digests) without a cache: the images are held in memory."""
    X = np.zeros((len(paths), size, size, channels), np.uint8)
    digests = np.zeros((len(paths), 32), np.uint8)
    reasons: List[Tuple[str, str]] = []
    per_chunk = chunk_files(size * size * channels)

    def take(k, images, chunk_digests, _identities, chunk_reasons):
        X[k * per_chunk:k * per_chunk + len(images)] = images
        digests[k * per_chunk:k * per_chunk + len(images)] = chunk_digests
        reasons.extend(chunk_reasons)

    decode_chunks(paths, size, channels, policy, workers, 0, per_chunk, take)
    return X, _usable(paths, reasons), reasons, digests


def current_identities(paths: Sequence[str]) -> np.ndarray:
    """(n, IDENTITY_FIELDS) int64: each file's size, mtime_ns and ctime_ns now (``decode.file_identity``)."""
    # Flat, from an iterator: no list of a tuple per file (36 MB at 300,000 files) on the way.
    flat = itertools.chain.from_iterable(map(decode.file_identity, paths))
    return np.fromiter(flat, np.int64, IDENTITY_FIELDS * len(paths)).reshape(len(paths), IDENTITY_FIELDS)


def changed_files(paths: Sequence[str], recorded: np.ndarray) -> np.ndarray:
    """Indices of the files whose size, mtime or ctime now is not the one ``recorded`` (as they were read)."""
    return np.flatnonzero((current_identities(paths) != recorded).any(axis=1))


def _usable(paths: Sequence[str], reasons) -> np.ndarray:
    if not reasons:
        return np.ones(len(paths), dtype=bool)
    bad = {p for p, _ in reasons}
    return np.array([p not in bad for p in paths], dtype=bool)


def _npy_header(shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                                               "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


class DecodedCache:
    """The decoded images of one listing at one size, channel count and resize policy."""

    def __init__(self, cache_dir: str | Path, listing_key: str, source: str = ""):
        """``listing_key``: the files listed (paths, classes) and the decoding options, not the files' contents:
        each file's size, modification and change time as it was read are kept in ``<key>.files`` and compared
        with the files' current ones on every load (a file whose size or either time changed is not served from the
        cache: the entry is built again) and before a resume (the chunks of changed files are decoded again).

        ``source``: what the listing is of (the folder, size, channels and policy), without the files: a stopped
        build of the same source under another key (files added or removed since) can never be resumed, and the
        next finished build of that source removes it."""
        key = hashlib.sha256(f"{listing_key}|{decoder_version()}".encode()).hexdigest()[:32]
        self.source = source
        self.array_path = Path(cache_dir) / "decoded" / f"{key}.npy"
        self.info_path = self.array_path.with_suffix(".json")
        self.digests_path = self.array_path.with_suffix(".digests")
        self.files_path = self.array_path.with_suffix(".files")  # (n, IDENTITY_FIELDS) int64: each file as read
        self.building = self.array_path.with_suffix(".building")  # the lock, the partial entry and its progress
        self._change_reported = False

    def get(self, paths: Sequence[str], size: int, channels: int, policy: str, workers: int) -> tuple:
        """(DiskImages, usable mask, reasons, digests): the entry, built now (or resumed) when absent; while
        another job builds it, wait for that job and read its entry."""
        waiting_for = None
        while True:
            hit = self.load(paths)
            if hit is not None:
                if waiting_for is not None:
                    log.info("Decoded images built by another job read from the cache %s.", self.array_path.name)
                return hit
            lock = FolderLock(self.building, stale_after_s=120.0, heartbeat_s=10.0, what="decoded-image cache",
                              advice="wait for it to finish")
            try:
                lock.acquire()
            except RunLockedError as exc:
                if waiting_for is None:
                    waiting_for = str(exc)
                    log.info("Another job is decoding these images into %s; waiting for it (%s)", self.array_path,
                             exc)
                self._wait_while_locked(lock)
                continue
            try:
                hit = self.load(paths)  # finished while we looked
                if hit is not None:
                    return hit
                # An entry of files that changed since (load said so) stops being one before it is rebuilt: a job
                # that looks meanwhile waits for this build instead of checking the old entry again and again.
                self.info_path.unlink(missing_ok=True)
                built = self.build(paths, size, channels, policy, workers)
                self._remove_stale_partials()
                return built
            finally:
                lock.release()
                try:
                    self.building.rmdir()
                except OSError:  # holds a partial entry (an error stopped the build), or another job locked it
                    pass

    def _remove_stale_partials(self) -> None:
        """Remove the partial entries of earlier listings of this source (see ``__init__``), each under its lock:
        one being built or resumed now is left alone."""
        if not self.source:
            return
        for folder in sorted(self.building.parent.glob("*.building")):
            try:
                if folder == self.building or json.loads((folder / "progress.json").read_text()).get(
                        "source") != self.source:
                    continue
            except (OSError, ValueError, AttributeError):
                continue
            lock = FolderLock(folder, stale_after_s=120.0, heartbeat_s=10.0, what="decoded-image cache",
                              advice="wait for it to finish")
            try:
                lock.acquire()
            except (RunLockedError, OSError):
                continue
            freed, removed = 0, True
            try:
                for name in ("images.npy.partial", "digests.partial", "files.partial", "progress.json"):
                    path = folder / name
                    try:
                        size = path.stat().st_size
                        path.unlink()
                        freed += size
                    except FileNotFoundError:
                        pass
            except OSError as exc:
                removed = False
                log.warning("Could not remove the stale partial decoded-image cache %s (%s); delete it by hand.",
                            folder, exc)
            finally:
                lock.release()
                try:
                    folder.rmdir()
                except OSError:
                    pass
            if removed:
                log.info("Removed %s (%.1f MB): the partial decode of an earlier listing of these images (the "
                         "files changed since), which can never be resumed.", folder, freed / 1e6)

    def _wait_while_locked(self, lock: FolderLock) -> None:
        """Until the holder is done, or for a few seconds: then the caller looks again (and takes over the lock
        of a holder that died, resuming its build)."""
        until = time.monotonic() + WAIT_RETRY_S
        while lock.path.exists() and not self.info_path.exists() and time.monotonic() < until:
            time.sleep(WAIT_POLL_S)

    def load(self, paths: Sequence[str]) -> Optional[tuple]:
        """(DiskImages, usable mask, reasons, digests), or None when absent, damaged (then set aside) or of files
        that changed since it was built (a file's size, modification or change time is not the one it was read
        with)."""
        if not self.info_path.exists():
            return None
        try:
            info = json.loads(self.info_path.read_text())
            if info.get("identity_fields", 2) != IDENTITY_FIELDS:
                # built by an earlier balancelab, which kept sizes and modification times only: not damaged, but
                # it cannot tell a same-size replacement whose mtime was kept; decoded again (and replaced)
                log.info("%s was recorded without the files' change times (an earlier balancelab): the images "
                         "are decoded again.", self.array_path.name)
                return None
            images = DiskImages(self.array_path, content_id=str(info["sha256"]))  # opened once: read as checked
            ok = np.array(info["usable"], dtype=bool)
            reasons = [tuple(r) for r in info["reasons"]]
            if len(images) != len(paths) or len(ok) != len(paths) or int((~ok).sum()) != len(reasons):
                raise ValueError(f"it holds {len(images)} rows and {len(ok)} flags for the {len(paths)} files listed")
            if images.shape[1:] != tuple(info["image_shape"]):
                raise ValueError(f"its images are {images.shape[1:]}, its record says {info['image_shape']}")
            digests = np.fromfile(self.digests_path, np.uint8)
            if len(digests) != 32 * len(paths):
                raise ValueError(f"{self.digests_path.name} holds {len(digests)} bytes for {len(paths)} files")
            if hashlib.sha256(digests).hexdigest() != info["digests_sha256"]:
                raise ValueError(f"{self.digests_path.name} does not match its checksum")
            recorded = np.fromfile(self.files_path, "<i8")
            if (len(recorded) != IDENTITY_FIELDS * len(paths)
                    or hashlib.sha256(recorded).hexdigest() != info["files_sha256"]):
                raise ValueError(f"{self.files_path.name} does not match its checksum")
            changed = changed_files(paths, recorded.reshape(-1, IDENTITY_FIELDS))
            if len(changed):  # checked before the images' checksum: no pass over an array that will not be used
                if not self._change_reported:  # (the caller looks again under the lock: said once)
                    self._change_reported = True
                    log.info("%d of the %d files listed changed since they were decoded into %s (size, "
                             "modification or change time; e.g. %s): the images are decoded again.", len(changed), len(paths),
                             self.array_path.name, paths[changed[0]])
                return None
            if images.content_digest() != info["sha256"]:  # through the descriptor the run will read
                raise ValueError("its images do not match their checksum (damaged on disk)")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A cache is only a shortcut: a damaged one costs a re-decode, not the run.
            self._set_aside(exc)
            return None
        return images, ok, reasons, digests.reshape(len(paths), 32)

    def build(self, paths: Sequence[str], size: int, channels: int, policy: str, workers: int) -> tuple:
        """Decode every file into a new entry (resuming a stopped build of it) and return it as :meth:`load` does.
        A full disk or a read-only cache folder is the run's output error (exit 4, naming the file, the free
        space and the fix); the chunks written so far stay, and the next run resumes from them.

        The caller holds the lock of :attr:`building`."""
        try:
            return self._build(paths, size, channels, policy, workers)
        except OSError as exc:
            failure = atomic.write_failure(self.array_path, exc)
            if failure is None:
                raise
            raise failure from exc

    def _build(self, paths: Sequence[str], size: int, channels: int, policy: str, workers: int) -> tuple:
        n, row_bytes = len(paths), size * size * channels
        per_chunk = chunk_files(row_bytes)
        header = _npy_header((n, size, size, channels))
        partial, partial_digests = self.building / "images.npy.partial", self.building / "digests.partial"
        partial_files = self.building / "files.partial"
        progress_path = self.building / "progress.json"
        # "checksums": what each chunk's record holds: the SHA-256 of the array file up to the chunk's end (the
        # running checksum of the whole entry, so the images are hashed once), of its digests and of its files'
        # sizes and times.
        plan = {"files": n, "image_shape": [size, size, channels], "chunk_files": per_chunk, "header": len(header),
                "checksums": "prefix", "identity_fields": IDENTITY_FIELDS}
        progress = self._progress(progress_path, plan, partial, partial_digests, partial_files)
        done, reasons, chunks = progress["done"], [tuple(r) for r in progress["reasons"]], progress["chunks"]
        whole = hashlib.sha256(header)  # of the .npy file, chunk by chunk as written (or verified, on resume)
        if done:
            done, whole = self._verified_prefix(paths, partial, partial_digests, partial_files, len(header),
                                                row_bytes, per_chunk, chunks, whole)
            del chunks[done:]
            del reasons[sum(c[2] for c in chunks):]
        if not done:  # what this partial is of, from the start: see _remove_stale_partials
            atomic.write_json(progress_path, {**plan, "done": 0, "reasons": [], "chunks": [], "source": self.source})
        if done:
            log.info("Resuming the decode into %s at file %d of %d (a previous build stopped there).",
                     self.array_path.name, min(n, done * per_chunk), n)
        else:
            log.info("Decoding %d images into the cache %s.", n, self.array_path)
        mode = os.O_RDWR | (0 if done else os.O_CREAT | os.O_TRUNC)
        fd, dfd = os.open(partial, mode, 0o644), os.open(partial_digests, mode, 0o644)
        ffd = os.open(partial_files, mode, 0o644)
        try:
            os.pwrite(fd, header, 0)  # (again on resume: the chunk checksums do not cover it)
            if not done:
                os.ftruncate(fd, len(header) + n * row_bytes)  # rows of unusable files stay zero
                os.ftruncate(dfd, 32 * n)
                os.ftruncate(ffd, IDENTITY_BYTES * n)
            synced = [time.monotonic()]

            def take(k, images, digests, identities, chunk_reasons):
                identities = np.ascontiguousarray(identities, "<i8")
                os.pwrite(fd, images.data, len(header) + k * per_chunk * row_bytes)
                os.pwrite(dfd, digests.data, 32 * k * per_chunk)
                os.pwrite(ffd, identities.data, IDENTITY_BYTES * k * per_chunk)
                whole.update(images.data)
                reasons.extend(chunk_reasons)
                # Each chunk's checksums as written: a resume checks the chunks on disk against them.
                chunks.append([whole.copy().hexdigest(), hashlib.sha256(digests.data).hexdigest(),
                               len(chunk_reasons), hashlib.sha256(identities.data).hexdigest()])
                last = (k + 1) * per_chunk >= n
                if not last and time.monotonic() - synced[0] < SYNC_EVERY_S:
                    return
                # Not flushed first (no fdatasync: the writes stay the kernel's to schedule). A record that claims
                # chunks a crash of the machine lost is harmless: a resume checks every chunk it claims against
                # the checksums recorded as it was written, and decodes again from the first that does not match.
                atomic.write_json(progress_path, {**plan, "done": k + 1, "reasons": [list(r) for r in reasons],
                                                   "chunks": chunks, "source": self.source})
                synced[0] = time.monotonic()
                after_chunk(k + 1)

            decode_chunks(paths, size, channels, policy, workers, done, per_chunk, take)
            # Flushed once, before the record that marks the entry finished is written: a crash of the machine
            # after it cannot leave a finished record over images that never reached the disk (which the
            # checksum would catch, at the cost of decoding everything again with no partial to resume from).
            for written in (fd, dfd, ffd):
                os.fdatasync(written)
        finally:
            os.close(fd)
            os.close(dfd)
            os.close(ffd)
        digest_bytes = partial_digests.read_bytes()
        files_sha256 = hashlib.sha256(partial_files.read_bytes()).hexdigest()
        os.replace(partial, self.array_path)
        os.replace(partial_digests, self.digests_path)
        os.replace(partial_files, self.files_path)
        ok = _usable(paths, reasons)
        # On one line: the C encoder (a usable flag per file; indented, Python's encoder takes 0.1 s at 10^5 files).
        atomic.write_text(self.info_path, json.dumps(
            {"files": n, "image_shape": [size, size, channels], "usable": ok.astype(int).tolist(),
             "reasons": [list(r) for r in reasons], "decoder": decoder_version(), "sha256": whole.hexdigest(),
             "digests_sha256": hashlib.sha256(digest_bytes).hexdigest(), "files_sha256": files_sha256,
             "identity_fields": IDENTITY_FIELDS}) + "\n")
        progress_path.unlink(missing_ok=True)
        return (DiskImages(self.array_path, content_id=whole.hexdigest()), ok, reasons,
                np.frombuffer(digest_bytes, np.uint8).reshape(n, 32))

    @staticmethod
    def _progress(path: Path, plan: dict, partial: Path, partial_digests: Path, partial_files: Path) -> dict:
        """How far a stopped build of this entry got (``done`` chunks, the checksums and reason count of each),
        or a fresh start (also for a record without checksums: its chunks cannot be verified)."""
        fresh = {"done": 0, "reasons": [], "chunks": []}
        try:
            progress = json.loads(path.read_text())
            same = all(progress.get(k) == v for k, v in plan.items())
            expected = plan["header"] + plan["files"] * int(np.prod(plan["image_shape"]))
            if (not same or partial.stat().st_size != expected or partial_digests.stat().st_size != 32 * plan["files"]
                    or partial_files.stat().st_size != IDENTITY_BYTES * plan["files"]):
                return fresh
            done, reasons, chunks = int(progress["done"]), list(progress["reasons"]), list(progress["chunks"])
            if len(chunks) != done or sum(int(c[2]) for c in chunks) != len(reasons):
                return fresh
            return {"done": done, "reasons": reasons,
                    "chunks": [[str(a), str(b), int(c), str(d)] for a, b, c, d in chunks]}
        except (OSError, ValueError, KeyError, TypeError):
            return fresh

    def _verified_prefix(self, paths: Sequence[str], partial: Path, partial_digests: Path, partial_files: Path,
                         header: int, row_bytes: int, per_chunk: int, chunks: list, whole):
        """(How many of the recorded chunks still read back as written (the array up to each chunk's end, its
        digests and its files' records checked against the checksums recorded when it was written) and are of
        files unchanged since (size and modification time as read), ``whole`` fed with those); the first that is
        not, and every later one, is decoded again. A partial entry damaged between sessions is never hashed
        as it now reads, and a file changed since is never kept as it was decoded."""
        n = len(paths)
        with open(partial, "rb") as f, open(partial_digests, "rb") as d, open(partial_files, "rb") as g:
            f.seek(header)
            for k, (prefix_sha, digests_sha, _, files_sha) in enumerate(chunks):
                lo, hi = k * per_chunk, min(n, (k + 1) * per_chunk)
                d.seek(32 * lo)
                g.seek(IDENTITY_BYTES * lo)
                prefix = whole.copy()  # ``whole`` becomes it only once the chunk is known good
                left = (hi - lo) * row_bytes
                while left > 0:
                    block = f.read(min(left, 1 << 24))
                    if not block:
                        break
                    prefix.update(block)
                    left -= len(block)
                recorded = g.read(IDENTITY_BYTES * (hi - lo))
                if (left or prefix.hexdigest() != prefix_sha
                        or hashlib.sha256(d.read(32 * (hi - lo))).hexdigest() != digests_sha
                        or hashlib.sha256(recorded).hexdigest() != files_sha):
                    log.warning("The partial decoded-image cache %s does not match the checksums recorded as it "
                                "was written, from file %d on (damaged since): those files are decoded again.",
                                partial, lo)
                    return k, whole
                changed = changed_files(paths[lo:hi], np.frombuffer(recorded, "<i8").reshape(-1, IDENTITY_FIELDS))
                if len(changed):
                    log.info("%s changed since it was decoded into the partial cache %s (size, modification or "
                             "change time): the files from %d on are decoded again.", paths[lo + changed[0]], partial, lo)
                    return k, whole
                whole = prefix
        return len(chunks), whole

    def _set_aside(self, exc: BaseException) -> None:
        stamp = f"corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        moved = []
        for path in (self.info_path, self.array_path, self.digests_path, self.files_path):
            try:
                path.rename(path.with_name(f"{path.name}.{stamp}"))
                moved.append(path.name)
            except OSError:  # absent, or another job moved it first
                pass
        log.warning("The decoded-image cache %s cannot be read (%s: %s); %s. The images are decoded again.",
                    self.array_path, type(exc).__name__, exc,
                    f"moved aside as {', '.join(m + '.' + stamp for m in moved)}" if moved else "nothing to move aside")
