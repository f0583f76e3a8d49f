"""Image folders built by the test: the usual mess of real photo collections."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from balancelab.data.decode import decode_image
from balancelab.data.image_folder import load_image_folder
from balancelab.errors import DataError


def save(path, array, mode=None, fmt=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path, format=fmt, **kw)


def pattern(seed, size=24):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (size, size, 3)).astype(np.uint8)


def cfg(root, **kw):
    base = {"root": str(root), "channels": 3, "resize_policy": "resize", "decode_workers": 2,
            "split_seed": 0, "val_fraction": 0.25, "test_fraction": 0.25, "split_manifest": None,
            "imbalance_ratio": 1, "imbalance_profile": "none"}
    return {**base, **kw}


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "photos"
    for i in range(12):
        save(root / "healthy" / f"leaf_{i}.jpg", pattern(i))
    for i in range(6):
        save(root / "früh_fäule 晚疫病" / f"img_{i}.PNG", pattern(100 + i))  # Unicode class, upper-case extension
    save(root / "mosaic" / "gray.png", pattern(200)[..., 0], mode="L")
    save(root / "mosaic" / "rgba.png", np.dstack([pattern(201), np.full((24, 24), 128, np.uint8)]), mode="RGBA")
    save(root / "mosaic" / "palette.bmp", pattern(202)[..., 0] // 16, mode="L")
    Image.fromarray(pattern(203)).convert("P").save(root / "mosaic" / "palette.gif.png")
    Image.fromarray((pattern(204)[..., 0].astype(np.uint16) * 257)).save(root / "mosaic" / "deep16.TIF")
    (root / "mosaic" / "empty.jpg").write_bytes(b"")
    (root / "mosaic" / "garbage.jpeg").write_bytes(b"this is not an image")
    buf = io.BytesIO()
    Image.fromarray(pattern(205)).save(buf, format="JPEG")
    (root / "mosaic" / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (root / "mosaic" / ".hidden.png").write_bytes(b"x")
    (root / "mosaic" / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_text("x")
    return root


def test_messy_folder_loads_and_reports_skipped(messy, tmp_path):
    splits = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(tmp_path / "cache"))
    assert splits.class_names == sorted(["healthy", "früh_fäule 晚疫病", "mosaic"])
    assert splits.train.X.dtype == np.uint8 and splits.train.X.shape[1:] == (16, 16, 3)
    skipped = dict(splits.notes["skipped_files"])
    assert {p.split("/")[-1] for p in skipped} == {"empty.jpg", "garbage.jpeg", "truncated.jpg"}
    assert "0 bytes" in skipped[str(messy / "mosaic" / "empty.jpg")]
    total = len(splits.train) + len(splits.val) + len(splits.test)
    assert total == 12 + 6 + 5
    assert not any(".hidden" in s or "notes.txt" in s for s in splits.notes["manifest"]["source_id"])


def test_split_is_reused_and_duplicates_stay_together(messy, tmp_path):
    for k in range(3):  # byte-identical copies in one class
        (messy / "healthy" / f"copy_{k}.jpg").write_bytes((messy / "healthy" / "leaf_0.jpg").read_bytes())
    first = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(tmp_path / "cache"))
    manifest = first.notes["manifest"]
    copies = manifest[manifest["source_id"].str.contains("copy_|leaf_0.jpg")]
    assert copies["split"].nunique() == 1
    second = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(tmp_path / "cache"))
    pd.testing.assert_frame_equal(first.notes["manifest"], second.notes["manifest"])
    explicit = tmp_path / "manifest.csv"
    first.notes["manifest"].to_csv(explicit, index=False)
    third = load_image_folder(**cfg(messy, split_manifest=str(explicit)), input_size=16, cache_dir=None)
    assert list(third.test.source_ids) == list(first.test.source_ids)


def test_presplit_layout_is_used_as_given(tmp_path):
    root = tmp_path / "pre"
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        for c in ("real", "fake"):
            for i in range(n):
                save(root / split / c / f"{i}.png", pattern(hash((split, c, i)) % 1000))
    splits = load_image_folder(**cfg(root), input_size=16, cache_dir=None)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (12, 4, 6)
    assert all("/test/" in s for s in splits.test.source_ids)


def test_grayscale_channels_and_center_crop(tmp_path):
    root = tmp_path / "g"
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = 255  # white centre square
    for c in ("a", "b"):
        for i in range(4):
            img = wide.copy()
            img[0, 0] = i + (10 if c == "a" else 20)  # distinct bytes: identical files are grouped
            save(root / c / f"{i}.png", img)
    splits = load_image_folder(**cfg(root, channels=1, resize_policy="center_crop", val_fraction=0.25,
                                   test_fraction=0.25), input_size=10, cache_dir=None)
    assert splits.train.X.shape[1:] == (10, 10, 1) and splits.train.X[:, 2:-2].min() > 200


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((10, 30, 3), np.uint8)
    img[:, :10] = 255
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    Image.fromarray(img).save(path, exif=exif, quality=100)
    out, reason = decode_image(str(path), 30, 3, "resize")
    assert reason is None
    top, bottom = out[:5].mean(), out[-5:].mean()
    assert top > 200 and bottom < 50  # the white left band is now on top


@pytest.mark.parametrize("case,match", [("empty_class", "holds no image files"), ("no_classes", "no class sub-folders"),
                                        ("all_corrupt", "no usable image")])
def test_clear_errors_name_the_folder(tmp_path, case, match):
    root = tmp_path / "bad"
    save(root / "ok" / "1.png", pattern(1))
    if case == "empty_class":
        (root / "empty_cls").mkdir()
    elif case == "no_classes":
        root = tmp_path / "flat"
        save(root / "1.png", pattern(1))
    else:
        (root / "broken").mkdir()
        (root / "broken" / "x.jpg").write_bytes(b"nope")
    with pytest.raises(DataError, match=match) as exc:
        load_image_folder(**cfg(root), input_size=16, cache_dir=None)
    assert str(root) in str(exc.value)


def test_tiny_classes_split_without_crashing(tmp_path):
    root = tmp_path / "tiny"
    for i in range(20):
        save(root / "big" / f"{i}.png", pattern(i))
    save(root / "rare" / "0.png", pattern(99))
    save(root / "rare" / "1.png", pattern(98))
    splits = load_image_folder(**cfg(root), input_size=16, cache_dir=None)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 22


def test_tiny_classes_are_placed_by_rule_and_reported(tmp_path, caplog):
    root = tmp_path / "tiny"
    for i in range(20):
        save(root / "big" / f"{i}.png", pattern(i))
        save(root / "other" / f"{i}.png", pattern(50 + i))
    save(root / "pair" / "0.png", pattern(99))
    save(root / "pair" / "1.png", pattern(98))
    save(root / "single" / "0.png", pattern(97))
    with caplog.at_level("WARNING", logger="balancelab"):
        splits = load_image_folder(**cfg(root), input_size=16, cache_dir=None)
    counts = splits.counts()
    # The two big classes stay stratified (a plain split would not guarantee 5 of 20 in each of val and test).
    assert [counts[s]["big"] for s in ("train", "val", "test")] == [10, 5, 5]
    assert [counts[s]["other"] for s in ("train", "val", "test")] == [10, 5, 5]
    assert [counts[s]["pair"] for s in ("train", "val", "test")] == [1, 0, 1]
    assert [counts[s]["single"] for s in ("train", "val", "test")] == [1, 0, 0]
    assert splits.notes["classes_not_in_every_split"] == {"pair": ["train", "test"], "single": ["train"]}
    assert "pair" in caplog.text and "single" in caplog.text


def test_too_few_distinct_images_is_a_clear_error(tmp_path):
    root = tmp_path / "dups"
    for c in ("a", "b"):
        for i in range(3):
            save(root / c / f"{i}.png", pattern(0 if c == "a" else 1))  # all copies of one image
    with pytest.raises(DataError, match="distinct"):
        load_image_folder(**cfg(root), input_size=16, cache_dir=None)


def _break_cache(array_file, how):
    """Damage a decoded-image cache entry (``<key>.npy`` and its record ``<key>.json``); returns the damaged file."""
    record = array_file.with_suffix(".json")
    if how == "truncated":
        data = array_file.read_bytes()
        array_file.write_bytes(data[: len(data) // 2])
        return array_file
    if how == "not_an_array":
        array_file.write_bytes(b"definitely not an npy array")
        return array_file
    if how == "damaged_record":
        record.write_text('{"files": 3, "usa')
        return record
    # an array that does not match the listing
    np.save(array_file, np.zeros((1, 16, 16, 3), np.uint8))
    return array_file


@pytest.mark.parametrize("how", ["truncated", "not_an_array", "damaged_record", "wrong_length"])
def test_corrupt_decoded_cache_is_set_aside_and_rebuilt(messy, tmp_path, caplog, how):
    cache = tmp_path / "cache"
    first = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(cache))
    # read now: `first` reads the file it checked (its inode), which the damage below is written into
    expected = [(np.asarray(part.X), part.source_ids) for part in (first.train, first.val, first.test)]
    (array_file,) = (cache / "decoded").glob("*.npy")
    broken = _break_cache(array_file, how)
    broken_bytes = broken.read_bytes()
    with caplog.at_level("WARNING", logger="balancelab"):
        second = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(cache))
    assert array_file.name in caplog.text and "decoded again" in caplog.text
    (aside,) = (cache / "decoded").glob(f"{broken.name}.corrupt-*")
    assert aside.read_bytes() == broken_bytes  # kept for inspection, never deleted
    for (x, ids), b in zip(expected, (second.train, second.val, second.test)):
        assert np.array_equal(x, np.asarray(b.X)) and np.array_equal(ids, b.source_ids)
    rebuilt = np.load(array_file, mmap_mode="r")  # rebuilt, and readable again (one row per listed file)
    assert len(rebuilt) == first.notes["files_found"]


def test_decoded_images_stay_on_disk_and_a_second_load_decodes_nothing(messy, tmp_path, monkeypatch):
    from balancelab.data import decoded_cache
    from balancelab.data.rows import is_lazy

    cache = tmp_path / "cache"
    in_memory = load_image_folder(**cfg(messy), input_size=16, cache_dir=None)
    first = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(cache))
    assert all(is_lazy(part.X) for part in (first.train, first.val, first.test))  # rows of the file, not copies
    monkeypatch.setattr(decoded_cache, "decode_file", lambda *a: pytest.fail("decoded again despite the cache"))
    second = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(cache))
    for parts in zip((in_memory.train, in_memory.val, in_memory.test), (first.train, first.val, first.test),
                     (second.train, second.val, second.test)):
        assert all(np.array_equal(np.asarray(parts[0].X), np.asarray(p.X)) for p in parts[1:])


def _presplit(root, n=3):
    seeds = iter(range(1000, 2000))  # distinct images: the only copies are the ones a test makes
    for split in ("train", "val", "test"):
        for c in ("real", "fake"):
            for i in range(n):
                save(root / split / c / f"{i}.png", pattern(next(seeds)))


def test_presplit_copies_across_splits_are_warned_about_not_refused(tmp_path, caplog):
    root = tmp_path / "pre"
    _presplit(root)
    (root / "test" / "real" / "copy.png").write_bytes((root / "train" / "real" / "0.png").read_bytes())
    (root / "val" / "fake" / "copy.png").write_bytes((root / "train" / "fake" / "1.png").read_bytes())
    (root / "train" / "fake" / "twin.png").write_bytes((root / "train" / "fake" / "2.png").read_bytes())  # same split
    with caplog.at_level("WARNING", logger="balancelab"):
        splits = load_image_folder(**cfg(root), input_size=16, cache_dir=None)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (7, 7, 7)  # nothing dropped or moved
    groups = splits.notes["cross_split_duplicates"]
    assert sorted(sorted(files) for files in groups.values()) == sorted([
        sorted([(str(root / "train" / "real" / "0.png"), "train"), (str(root / "test" / "real" / "copy.png"), "test")]),
        sorted([(str(root / "train" / "fake" / "1.png"), "train"), (str(root / "val" / "fake" / "copy.png"), "val")]),
    ])
    assert len(next(iter(groups))) == 64  # keyed by the files' sha256
    assert caplog.text.count("straddle") == 1 and "copy.png" in caplog.text and "twin.png" not in caplog.text
    json.dumps({k: v for k, v in splits.notes.items() if k != "manifest"})  # goes into dataset_statistics.json


def test_presplit_without_straddling_copies_reports_none(tmp_path, caplog):
    root = tmp_path / "pre"
    _presplit(root)
    with caplog.at_level("WARNING", logger="balancelab"):
        splits = load_image_folder(**cfg(root), input_size=16, cache_dir=None)
    assert splits.notes["cross_split_duplicates"] == {} and "straddle" not in caplog.text


def test_given_manifest_that_splits_copies_is_warned_about(tmp_path, caplog):
    root = tmp_path / "flat"
    for i in range(8):
        save(root / "a" / f"{i}.png", pattern(i))
        save(root / "b" / f"{i}.png", pattern(100 + i))
    for k in range(12):  # more straddling groups than one warning lists
        (root / "a" / f"copy_{k}.png").write_bytes((root / "a" / f"{k % 8}.png").read_bytes())
    files = sorted(str(p) for p in root.rglob("*.png"))
    manifest = pd.DataFrame({"source_id": files,
                             "split": ["test" if "copy_" in f else ("val" if f.endswith("7.png") else "train")
                                       for f in files]})
    given = tmp_path / "given.csv"
    manifest.to_csv(given, index=False)
    with caplog.at_level("WARNING", logger="balancelab"):
        splits = load_image_folder(**cfg(root, split_manifest=str(given)), input_size=16, cache_dir=None)
    assert len(splits.test) == 12  # used as given
    groups = splits.notes["cross_split_duplicates"]
    assert len(groups) == 8 and sum(len(g) for g in groups.values()) == 8 + 12
    assert all({s for _, s in g} >= {"test"} and len({s for _, s in g}) == 2 for g in groups.values())
    warning = [r.getMessage() for r in caplog.records if "straddle" in r.getMessage()]
    assert len(warning) == 1 and "and 3 more" in warning[0]


@pytest.mark.parametrize("damage", ["", "source_id,split\nphotos/x.png,somewhere\n", "not,a,manifest\n1,2,3\n"])
def test_a_damaged_cached_split_is_set_aside_and_the_same_split_is_made_again(messy, tmp_path, caplog, damage):
    cache = tmp_path / "cache"
    first = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(cache))
    (cached,) = (cache / "splits").glob("*.csv")
    cached.write_text(damage)
    with caplog.at_level("WARNING", logger="balancelab"):
        second = load_image_folder(**cfg(messy), input_size=16, cache_dir=str(cache))
    assert "cannot be read" in caplog.text
    (aside,) = (cache / "splits").glob(f"{cached.name}.corrupt-*")
    assert aside.read_text() == damage
    pd.testing.assert_frame_equal(first.notes["manifest"], second.notes["manifest"])


def test_a_given_manifest_that_cannot_be_read_is_a_clear_error(messy, tmp_path):
    bad = tmp_path / "manifest.csv"
    bad.write_text("")
    with pytest.raises(DataError, match="columns source_id and split"):
        load_image_folder(**cfg(messy, split_manifest=str(bad)), input_size=16, cache_dir=None)


def test_a_file_name_that_is_not_utf8_is_refused_before_anything_is_decoded(messy, tmp_path):
    """A name written in another encoding (Latin-1 from an old archive: b"feuille_\xe9t\xe9.jpg") comes back
    from the listing with surrogate escapes, which no UTF-8 file (the split manifest, the cache key) can hold.
    It used to fail with a UnicodeEncodeError after the whole folder was decoded; it is refused up front, naming
    the file and the fix."""
    import os

    folder = os.fsencode(messy / "healthy")
    with open(os.path.join(folder, b"feuille_\xe9t\xe9.jpg"), "wb") as f:
        f.write((messy / "healthy" / "leaf_0.jpg").read_bytes())
    with pytest.raises(DataError,
                       match=r"(?s)not UTF-8.*healthy/feuille_\\xe9t\\xe9\.jpg.*Rename them in UTF-8") as error:
        load_image_folder(**cfg(messy), input_size=16, cache_dir=str(tmp_path / "cache"))
    assert "udce9" not in str(error.value)   # the name is shown as the bytes it is, not as Python's escapes
    assert not list((tmp_path / "cache").rglob("*.npy"))   # refused before any decoding
