"""Ingest of an image folder: the split it makes is pinned, an interrupted decode resumes, two jobs decode a cold
cache once, and a damaged decoded cache is rebuilt, never used."""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from balancelab.data import decoded_cache
from balancelab.data.image_folder import load_image_folder


def cfg(root, **kw):
    base = {"root": str(root), "channels": 3, "resize_policy": "resize", "decode_workers": 2,
            "split_seed": 0, "val_fraction": 0.2, "test_fraction": 0.2, "split_manifest": None,
            "imbalance_ratio": 1, "imbalance_profile": "none"}
    return {**base, **kw}


def make_folder(root, counts=(("a", 40), ("b", 25), ("c", 9)), copies=6):
    """JPEGs and PNGs with fixed pixels; the last ``copies`` files of class a are byte copies of earlier ones."""
    rng = np.random.default_rng(7)
    for c, n in counts:
        (root / c).mkdir(parents=True)
        for i in range(n):
            img = Image.fromarray(rng.integers(0, 255, (12 + i % 5, 14, 3)).astype(np.uint8))
            img.save(root / c / f"{c}{i:03d}.{'png' if i % 4 == 0 else 'jpg'}", quality=90)
    for i in range(copies):
        (root / "a" / f"copy{i}.jpg").write_bytes((root / "a" / f"a{i * 4 + 1:03d}.jpg").read_bytes())
    return root


def split_fingerprint(data):
    lines = sorted(f"{os.path.relpath(s, data.notes['source'])}:{split}"
                   for split, part in (("train", data.train), ("val", data.val), ("test", data.test))
                   for s in part.source_ids)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16], lines


def test_the_split_of_an_image_folder_is_pinned(tmp_path):
    """The same files and seeds give the split they gave before ingest was made faster (and copies stay together)."""
    root = make_folder(tmp_path / "imgs")
    for cache in (None, str(tmp_path / "cache")):
        data = load_image_folder(**cfg(root), input_size=8, cache_dir=cache)
        fingerprint, lines = split_fingerprint(data)
        where = dict(line.rsplit(":", 1) for line in lines)
        for i in range(6):
            assert where[f"a/copy{i}.jpg"] == where[f"a/a{i * 4 + 1:03d}.jpg"]
        assert fingerprint == "a10890401e3049cf"


def _array(cache):
    (array_file,) = (cache / "decoded").glob("*.npy")
    return array_file


class Fault(Exception):
    pass


def stop_after_chunk(monkeypatch, chunk: int = 2) -> None:
    """Builds of 16-file chunks with a progress record after each, killed (Fault) after chunk ``chunk``."""
    monkeypatch.setattr(decoded_cache, "CHUNK_FILES", 16)
    monkeypatch.setattr(decoded_cache, "SYNC_EVERY_S", 0.0)  # a progress record after every chunk

    def fault_after_chunk(done):
        if done == chunk:
            raise Fault(f"killed after chunk {chunk}")

    monkeypatch.setattr(decoded_cache, "after_chunk", fault_after_chunk)


def test_an_interrupted_ingest_resumes_where_it_stopped(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "imgs")
    full = tmp_path / "full"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(full))
    monkeypatch.setattr(decoded_cache, "CHUNK_FILES", 16)
    monkeypatch.setattr(decoded_cache, "SYNC_EVERY_S", 0.0)  # a progress record after every chunk
    decoded = []
    real = decoded_cache.decode_file

    def counting(path, *args):
        decoded.append(path)
        return real(path, *args)

    monkeypatch.setattr(decoded_cache, "decode_file", counting)

    def fault_after_chunk(done):
        if done == 2:
            raise Fault("killed after chunk 2")

    monkeypatch.setattr(decoded_cache, "after_chunk", fault_after_chunk)
    cut = tmp_path / "cut"
    with pytest.raises(Fault):
        load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    assert not list((cut / "decoded").glob("*.json"))  # no entry: only the progress of a partial one
    (progress,) = (cut / "decoded").glob("*.building/progress.json")
    assert '"done": 2' in progress.read_text()
    assert len(decoded) <= 48  # chunks 1 and 2 written, at most chunk 3 decoded meanwhile (and lost)
    decoded.clear()
    monkeypatch.setattr(decoded_cache, "after_chunk", lambda done: None)
    resumed = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    files = resumed.notes["files_found"]
    assert len(decoded) == files - 32  # only the rest
    assert _array(cut).read_bytes() == _array(full).read_bytes()
    assert _array(cut).with_suffix(".json").read_bytes() == _array(full).with_suffix(".json").read_bytes()


DRIVER = textwrap.dedent("""
    import sys, os
    from pathlib import Path
    from balancelab.data import image_folder, decoded_cache
    root, cache, barrier = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    (barrier / f"ready-{os.getpid()}").touch()
    real_decoded, real_build = image_folder._decoded, decoded_cache.DecodedCache.build

    def at_barrier(*a, **k):  # both jobs reach the cold cache before either decodes
        while len(list(barrier.glob("ready-*"))) < 2:
            pass
        return real_decoded(*a, **k)

    def build(self, *a, **k):
        with open(barrier / "builds", "a") as f:
            f.write(f"{os.getpid()}\\n")
        return real_build(self, *a, **k)

    image_folder._decoded, decoded_cache.DecodedCache.build = at_barrier, build
    data = image_folder.load_image_folder(root=root, channels=3, resize_policy="resize", decode_workers=1,
                                          split_seed=0, val_fraction=0.2, test_fraction=0.2, split_manifest=None,
                                          imbalance_ratio=1, imbalance_profile="none", input_size=8, cache_dir=cache)
    print(len(data.train.y) + len(data.val.y) + len(data.test.y))
""")


def test_two_jobs_that_need_the_same_cold_cache_decode_it_once(tmp_path):
    root = make_folder(tmp_path / "imgs")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", DRIVER, str(root), str(tmp_path / "cache"), str(barrier)]
    jobs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    outs = [job.communicate(timeout=120) for job in jobs]
    assert all(job.returncode == 0 for job in jobs), [err[-2000:] for _, err in outs]
    assert outs[0][0] == outs[1][0]
    assert len((barrier / "builds").read_text().split()) == 1


def test_a_decoded_cache_with_flipped_bytes_is_rebuilt_not_used(tmp_path, caplog):
    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    first = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    # read now: `first` reads the file it checked (its inode), which the damage below is written into
    expected = [np.asarray(part.X) for part in (first.train, first.val, first.test)]
    array_file = _array(cache)
    good = array_file.read_bytes()
    damaged = bytearray(good)
    for at in (len(good) - 100, len(good) // 2):
        damaged[at] ^= 0xFF
    array_file.write_bytes(bytes(damaged))  # same size, readable header: only a checksum can tell
    with caplog.at_level("WARNING", logger="balancelab"):
        second = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    assert "decoded again" in caplog.text
    assert array_file.read_bytes() == good
    for a, b in zip(expected, (second.train, second.val, second.test)):
        assert np.array_equal(a, np.asarray(b.X))


@pytest.mark.parametrize("channels,policy,pinned", [(3, "resize", "8aa9cd58cb8c52ee"),
                                                     (1, "center_crop", "3b8b7a9b1d0c3db8")])
def test_the_decoded_pixels_are_the_ones_pillow_gave(tmp_path, channels, policy, pinned):
    """The fast decoder gives, byte for byte, the images the Pillow-only decoder gave (pinned from it)."""
    root = make_folder(tmp_path / "imgs")
    data = load_image_folder(**cfg(root, channels=channels, resize_policy=policy), input_size=8,
                             cache_dir=str(tmp_path / "cache"))
    h = hashlib.sha256()
    for part in (data.train, data.val, data.test):
        order = np.argsort(part.source_ids)
        h.update(np.ascontiguousarray(np.asarray(part.X)[order]).tobytes())
    assert h.hexdigest()[:16] == pinned


def test_the_listing_finds_what_rglob_found(tmp_path):
    """The scandir listing gives the files, in the order, of the rglob one it replaced: nested folders, hidden
    files and folders left out, any-case extensions, symlinked files in and symlinked folders not entered."""
    from balancelab.data.listing import _image_files, is_image_file

    cls = tmp_path / "c"
    for rel in ("a.jpg", "B.PNG", "n/d/x.jpeg", "n/y.webp", ".h.jpg", ".hid/z.jpg", "n/.q/w.png", "t.txt", "u.tif"):
        (cls / rel).parent.mkdir(parents=True, exist_ok=True)
        (cls / rel).write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.jpg").write_bytes(b"x")
    (cls / "link.jpg").symlink_to(outside / "o.jpg")
    (cls / "linkdir").symlink_to(outside, target_is_directory=True)
    old = sorted(str(p) for p in cls.rglob("*") if p.is_file() and is_image_file(p)
                 and not any(part.startswith(".") for part in p.relative_to(cls).parts))
    assert _image_files(str(cls)) == old and len(old) == 6


KILLED = textwrap.dedent("""
    import os, signal, sys
    from balancelab.data import decoded_cache, image_folder
    decoded_cache.CHUNK_FILES, decoded_cache.SYNC_EVERY_S = 16, 0.0

    def die(done):
        if done == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup at all: the lock and the partial entry stay

    decoded_cache.after_chunk = die
    image_folder.load_image_folder(root=sys.argv[1], channels=3, resize_policy="resize", decode_workers=2,
                                   split_seed=0, val_fraction=0.2, test_fraction=0.2, split_manifest=None,
                                   imbalance_ratio=1, imbalance_profile="none", input_size=8, cache_dir=sys.argv[2])
""")


def test_a_killed_ingest_leaves_its_lock_and_the_next_run_takes_it_over_and_resumes(tmp_path, monkeypatch, caplog):
    root = make_folder(tmp_path / "imgs")
    full = tmp_path / "full"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(full))
    cut = tmp_path / "cut"
    killed = subprocess.run([sys.executable, "-c", KILLED, str(root), str(cut)], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    (building,) = (cut / "decoded").glob("*.building")
    assert (building / ".lock").exists() and '"done": 3' in (building / "progress.json").read_text()
    monkeypatch.setattr(decoded_cache, "CHUNK_FILES", 16)
    decoded = record_decodes(monkeypatch)
    with caplog.at_level("INFO", logger="balancelab"):
        resumed = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    assert "Took over the lock" in caplog.text and "Resuming the decode" in caplog.text
    assert len(decoded) == resumed.notes["files_found"] - 48
    assert _array(cut).read_bytes() == _array(full).read_bytes() and not building.exists()


def test_a_job_whose_lock_folder_is_removed_by_the_finishing_builder_reads_the_finished_cache(tmp_path,
                                                                                             monkeypatch):
    """Job B looks (no entry yet), then makes ``<key>.building`` to lock it; before B writes its lock file there,
    job A finishes the entry, releases the lock and removes the folder. B must read A's entry, not crash."""
    from balancelab.output import lock as lock_module

    root = make_folder(tmp_path / "imgs")
    paths = sorted(str(p) for p in root.rglob("*.*"))
    cache_dir = tmp_path / "cache"
    a, b = (decoded_cache.DecodedCache(cache_dir, "one-listing") for _ in range(2))
    decoded = []
    real_decode = decoded_cache.decode_file
    monkeypatch.setattr(decoded_cache, "decode_file", lambda path, *args: decoded.append(path) or
                        real_decode(path, *args))
    real_create = lock_module._create_exclusive
    interleaved = []

    def a_finishes_first(path, content):
        if not interleaved and path.name == lock_module.LOCK_FILE and path.parent == b.building:
            interleaved.append(path.parent.exists())  # B has made the folder and is about to lock it
            a.get(paths, 8, 3, "resize", 1)  # A: builds, writes the entry, releases and removes the folder
            interleaved.append(path.parent.exists())
        return real_create(path, content)

    monkeypatch.setattr(lock_module, "_create_exclusive", a_finishes_first)
    images, ok, reasons, digests = b.get(paths, 8, 3, "resize", 1)
    assert interleaved == [True, False]  # the interleaving happened
    assert len(decoded) == len(paths)  # decoded once, by A
    assert len(images) == len(paths) and ok.all() and not b.building.exists()


@pytest.mark.parametrize("damaged,redecoded_from", [("images.npy.partial", 1), ("digests.partial", 0)])
def test_a_partial_entry_damaged_between_sessions_is_decoded_again_not_trusted(tmp_path, monkeypatch, damaged,
                                                                              redecoded_from):
    """Chunks written before a stop carry their checksums in the progress record: on resume a chunk whose bytes
    no longer match is decoded again (with every later one), instead of being hashed as it now reads."""
    root = make_folder(tmp_path / "imgs")
    full = tmp_path / "full"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(full))
    stop_after_chunk(monkeypatch)
    cut = tmp_path / "cut"
    with pytest.raises(Fault):
        load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    (building,) = (cut / "decoded").glob("*.building")
    partial = building / damaged
    raw = bytearray(partial.read_bytes())
    if damaged == "images.npy.partial":  # a byte of a row of chunk 2 (rows 16..31), after the .npy header
        files = (building / "digests.partial").stat().st_size // 32
        at = len(raw) - (files - 20) * 8 * 8 * 3 + 5  # row 20
    else:  # a byte of the digest of file 3 (chunk 1)
        at = 3 * 32 + 7
    raw[at] ^= 0xFF
    partial.write_bytes(bytes(raw))
    decoded = record_decodes(monkeypatch)
    monkeypatch.setattr(decoded_cache, "after_chunk", lambda done: None)
    resumed = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    assert len(decoded) == resumed.notes["files_found"] - 16 * redecoded_from
    for suffix in (".npy", ".digests", ".json"):
        assert _array(cut).with_suffix(suffix).read_bytes() == _array(full).with_suffix(suffix).read_bytes()


def test_a_finished_build_removes_the_partial_of_an_earlier_listing_of_the_same_images(tmp_path, monkeypatch,
                                                                                      caplog):
    """A stopped build whose folder then changed (a file added) can never be resumed: the build of the new
    listing removes its partial entry (up to GBs). A stopped build of another input size is kept (resumable)."""
    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    stop_after_chunk(monkeypatch)
    for size in (8, 4):
        with pytest.raises(Fault):
            load_image_folder(**cfg(root), input_size=size, cache_dir=str(cache))
    before = set((cache / "decoded").glob("*.building"))
    assert len(before) == 2
    (root / "b" / "new.jpg").write_bytes((root / "b" / "b001.jpg").read_bytes()[:-1] + b"\xd9")
    monkeypatch.setattr(decoded_cache, "after_chunk", lambda done: None)
    with caplog.at_level("INFO", logger="balancelab"):
        load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    left = set((cache / "decoded").glob("*.building"))
    assert len(left) == 1 and left < before  # the size-8 partial of the old listing is gone, the size-4 one kept
    assert "earlier listing" in caplog.text


def record_decodes(monkeypatch):
    """The paths decode_file is called with from now on, in a list that fills as the test runs."""
    decoded = []
    real = decoded_cache.decode_file
    monkeypatch.setattr(decoded_cache, "decode_file", lambda path, *a: decoded.append(path) or real(path, *a))
    return decoded


def _changed_copy(path, like):
    """Give ``path`` the bytes of ``like`` and a modification time one second later than it had (a rewrite)."""
    before = os.stat(path).st_mtime_ns
    path.write_bytes(like.read_bytes())
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def _rows_of(data):
    return {s: row for part in (data.train, data.val, data.test)
            for s, row in zip(part.source_ids, np.asarray(part.X))}


@pytest.mark.parametrize("same_size", [False, True])
def test_a_file_changed_after_its_decode_is_decoded_again_not_served_from_the_cache(tmp_path, monkeypatch,
                                                                                   same_size):
    """The cache key covers the listing, not the files' sizes and times: the entry keeps those as each file was
    read, and a file whose size or modification time changed since is never served from it."""
    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    target = root / "b" / "b001.jpg"
    if same_size:  # the same bytes again, only the modification time moves: still decoded again
        _changed_copy(target, target)
    else:
        _changed_copy(target, root / "c" / "c001.jpg")
    decoded = record_decodes(monkeypatch)
    second = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    assert str(target) in decoded
    fresh = load_image_folder(**cfg(root), input_size=8, cache_dir=None)
    assert np.array_equal(_rows_of(second)[str(target)], _rows_of(fresh)[str(target)])
    decoded.clear()
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))  # unchanged since: served, not decoded
    assert decoded == []
    assert len(list((cache / "decoded").glob("*.json"))) == 1


def test_a_file_replaced_by_one_of_the_same_size_with_its_old_modification_time_is_decoded_again(tmp_path,
                                                                                                 monkeypatch):
    """``rsync -a`` or ``cp -p`` of new pixels over a file keep its size (same encoder, same dimensions) and its
    modification time: size and mtime alone served the old pixels. The change time (st_ctime, set by the kernel
    on every such write or rename, never by the user) tells."""
    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    target = root / "b" / "b001.jpg"
    before = os.stat(target)
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0x40  # other pixels, the same size
    replacement = target.with_name("b001.jpg.new")
    replacement.write_bytes(bytes(data))
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, target)  # rsync's way: a new file renamed over the old one
    assert (os.stat(target).st_size, os.stat(target).st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    decoded = record_decodes(monkeypatch)
    second = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    assert str(target) in decoded
    fresh = load_image_folder(**cfg(root), input_size=8, cache_dir=None)
    assert np.array_equal(_rows_of(second)[str(target)], _rows_of(fresh)[str(target)])


def test_a_file_changed_while_an_ingest_was_stopped_is_decoded_again_when_it_resumes(tmp_path, monkeypatch):
    """A stopped build keeps each file's size and modification time as read: on resume the chunk of a file that
    changed since is decoded again (with every later one), and the entry is the one a fresh build gives."""
    root = make_folder(tmp_path / "imgs")
    stop_after_chunk(monkeypatch)
    cut = tmp_path / "cut"
    with pytest.raises(Fault):
        load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    _changed_copy(root / "a" / "a021.jpg", root / "c" / "c001.jpg")  # file 21 of the listing: in chunk 2 (16..31)
    decoded = record_decodes(monkeypatch)
    monkeypatch.setattr(decoded_cache, "after_chunk", lambda done: None)
    resumed = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    assert len(decoded) == resumed.notes["files_found"] - 16  # chunk 1 kept, chunk 2 on decoded again
    monkeypatch.undo()
    full = tmp_path / "full"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(full))
    for suffix in (".npy", ".digests", ".files", ".json"):
        assert _array(cut).with_suffix(suffix).read_bytes() == _array(full).with_suffix(suffix).read_bytes()


def test_a_damaged_record_of_the_files_sizes_and_times_is_set_aside(tmp_path, caplog):
    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    record = _array(cache).with_suffix(".files")
    raw = bytearray(record.read_bytes())
    raw[8] ^= 0x01  # the first file's mtime, one nanosecond off: only the checksum can tell
    record.write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="balancelab"):
        load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    assert "does not match its checksum" in caplog.text
    assert list((cache / "decoded").glob("*.files.corrupt-*"))


def test_an_entry_recorded_without_change_times_is_decoded_again_not_set_aside(tmp_path, monkeypatch, caplog):
    """An entry of an earlier balancelab kept each file's size and mtime only: not damaged (no warning, nothing
    set aside), but unable to see a same-size replacement whose mtime was kept, so it is decoded again."""
    import json

    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    info_path = _array(cache).with_suffix(".json")
    info = json.loads(info_path.read_text())
    del info["identity_fields"]
    info_path.write_text(json.dumps(info))
    decoded = record_decodes(monkeypatch)
    with caplog.at_level("INFO", logger="balancelab"):
        load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    assert decoded and "without the files' change times" in caplog.text
    assert "WARNING" not in [r.levelname for r in caplog.records] and not list((cache / "decoded").glob("*corrupt*"))
    assert json.loads(info_path.read_text())["identity_fields"] == decoded_cache.IDENTITY_FIELDS


def test_a_reused_chunk_buffer_leaves_zeros_in_the_row_of_an_unusable_file(tmp_path, monkeypatch):
    """Chunks are decoded into two buffers in turn: the row of a file that cannot be used is zero, not the
    pixels a file of an earlier chunk left in that buffer row."""
    root = make_folder(tmp_path / "imgs")
    bad = root / "c" / "c005.jpg"
    bad.write_bytes(b"not an image")
    monkeypatch.setattr(decoded_cache, "CHUNK_FILES", 3)
    data = load_image_folder(**cfg(root), input_size=8, cache_dir=str(tmp_path / "cache"))
    assert data.notes["skipped_count"] == 1
    from balancelab.data.listing import scan

    row = [p for p, _ in scan(root)[1]["all"]].index(str(bad))
    array = np.load(_array(tmp_path / "cache"))
    assert row > 6 and not array[row].any() and array[row - 6].any()  # row - 6: the same buffer row, 2 chunks ago


def test_the_identity_recorded_is_the_one_of_the_bytes_read(tmp_path):
    from balancelab.data.decode import file_identity, read_and_decode

    path = tmp_path / "x.jpg"
    make_folder(tmp_path / "imgs", counts=(("a", 2),), copies=0)
    path.write_bytes((tmp_path / "imgs" / "a" / "a001.jpg").read_bytes())
    image, reason, digest, identity = read_and_decode(str(path), 8, 3, "resize")
    st = os.stat(path)
    assert image is not None and identity == (st.st_size, st.st_mtime_ns, st.st_ctime_ns) == file_identity(str(path))
    assert digest == hashlib.sha256(path.read_bytes()).digest()
    assert read_and_decode(str(tmp_path / "gone.jpg"), 8, 3, "resize")[1:] == (
        f"cannot be read: [Errno 2] No such file or directory: '{tmp_path / 'gone.jpg'}'", None, (-1, -1, -1))


@pytest.mark.parametrize("names", [["a/b c.jpg", "x/é.png", "y/z.jpg"],
                                   ["a,b.jpg", 'q"r.jpg', "n\nl.jpg", "r\rx.jpg"],
                                   ["a/ b.jpg ", "x/'.jpg", "x/;.jpg"]])
def test_the_cached_split_is_written_as_pandas_wrote_it_and_reads_back(tmp_path, names):
    """The split table is joined directly (no pandas per-row cost) and is byte for byte the CSV pandas wrote;
    paths that need CSV quoting go through pandas."""
    import pandas as pd

    from balancelab.data.image_folder import _read_manifest, split_csv

    ids = np.array([f"/data/{n}" for n in names], dtype=object)
    splits = np.array(["train", "val", "test", "train"][:len(ids)])
    text = split_csv(ids, splits)
    assert text == pd.DataFrame({"source_id": ids, "split": splits}).to_csv(index=False)
    if any("\r" in n for n in names):
        return  # (pandas itself reads a quoted carriage return back as a line end: the bytes are what it wrote)
    (tmp_path / "s.csv").write_text(text, encoding="utf-8")
    back = _read_manifest(tmp_path / "s.csv", given=True)
    assert back["source_id"].tolist() == ids.tolist() and back["split"].tolist() == splits.tolist()


def test_the_listing_enters_a_folder_named_like_an_image(tmp_path):
    """The listing checks an image's name first; a folder named ``x.jpg`` is still a folder (entered), and a
    symlink to a folder so named is still not entered."""
    from balancelab.data.listing import _image_files

    cls = tmp_path / "c"
    (cls / "x.jpg").mkdir(parents=True)
    (cls / "x.jpg" / "in.png").write_bytes(b"x")
    (cls / "f.JPG").write_bytes(b"x")
    (tmp_path / "o.jpg").mkdir()
    (tmp_path / "o.jpg" / "out.png").write_bytes(b"x")
    (cls / "l.jpg").symlink_to(tmp_path / "o.jpg", target_is_directory=True)
    assert _image_files(str(cls)) == [str(cls / "f.JPG"), str(cls / "x.jpg" / "in.png")]


def test_chunks_a_machine_crash_lost_after_their_record_are_decoded_again(tmp_path, monkeypatch):
    """The partial entry is not forced to disk before each progress record: a crash of the machine can leave a
    record claiming chunks whose rows never reached the disk (zeros in the sparse file). The resume's checksum
    check finds them, and they are decoded again."""
    root = make_folder(tmp_path / "imgs")
    full = tmp_path / "full"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(full))
    stop_after_chunk(monkeypatch)
    cut = tmp_path / "cut"
    with pytest.raises(Fault):
        load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    (building,) = (cut / "decoded").glob("*.building")
    partial = building / "images.npy.partial"
    raw = bytearray(partial.read_bytes())
    files = (building / "digests.partial").stat().st_size // 32
    start = len(raw) - files * 8 * 8 * 3
    raw[start + 16 * 192:start + 32 * 192] = bytes(16 * 192)  # chunk 2's rows, as never written
    partial.write_bytes(bytes(raw))
    decoded = record_decodes(monkeypatch)
    monkeypatch.setattr(decoded_cache, "after_chunk", lambda done: None)
    resumed = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cut))
    assert len(decoded) == resumed.notes["files_found"] - 16
    for suffix in (".npy", ".digests", ".files", ".json"):
        assert _array(cut).with_suffix(suffix).read_bytes() == _array(full).with_suffix(suffix).read_bytes()


def test_a_changed_file_is_reported_once_when_the_entry_is_built_again(tmp_path, caplog):
    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    _changed_copy(root / "b" / "b001.jpg", root / "c" / "c001.jpg")
    with caplog.at_level("INFO", logger="balancelab"):
        load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    assert caplog.text.count("changed since they were decoded") == 1
    assert "b001.jpg" in caplog.text and "cannot be read" not in caplog.text


def test_a_rebuilt_entry_has_another_fingerprint_so_no_balanced_set_made_from_the_old_pixels_is_served(tmp_path):
    """A review: the entry is rebuilt under the same name when a file changes, and the balanced-set cache keyed on
    DiskImages.fingerprint() (name and shape only) served SMOTE images made from the old pixels."""
    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    first = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    _changed_copy(root / "b" / "b001.jpg", root / "c" / "c001.jpg")
    second = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    assert first.train.X.fingerprint() != second.train.X.fingerprint()
    again = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))  # unchanged since: the same entry
    assert again.train.X.fingerprint() == second.train.X.fingerprint()


def test_a_job_that_loaded_the_entry_keeps_reading_the_images_it_verified_when_another_job_rebuilds_it(tmp_path):
    """A review: a job that had loaded (and checked) the entry read the array by name later, so a rebuild by
    another job after a file changed gave it the new array under its old split and flags."""
    root = make_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    before = _rows_of(load_image_folder(**cfg(root), input_size=8, cache_dir=None))  # the pixels, decoded apart
    first = load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))  # loaded and checked, not yet read
    (root / "b" / "b002.jpg").write_bytes(b"not an image any more")  # another job's view: rebuilt without it
    load_image_folder(**cfg(root), input_size=8, cache_dir=str(cache))
    assert {s: row for s, row in _rows_of(first).items()}.keys() == before.keys()
    for s, row in _rows_of(first).items():
        assert np.array_equal(row, before[s]), s
