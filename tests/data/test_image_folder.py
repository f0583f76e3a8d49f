"""Image folders built by the test: the usual mess of real photo collections."""

import io

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
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
    base = {"name": "image_folder", "root": str(root), "channels": 3, "resize_policy": "resize", "decode_workers": 2,
            "split_seed": 0, "val_fraction": 0.25, "test_fraction": 0.25, "split_manifest": None,
            "imbalance_ratio": 1, "imbalance_profile": "none"}
    return OmegaConf.create({**base, **kw})


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
    splits = load_image_folder(cfg(messy), 16, str(tmp_path / "cache"))
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
    first = load_image_folder(cfg(messy), 16, str(tmp_path / "cache"))
    manifest = first.notes["manifest"]
    copies = manifest[manifest["source_id"].str.contains("copy_|leaf_0.jpg")]
    assert copies["split"].nunique() == 1
    second = load_image_folder(cfg(messy), 16, str(tmp_path / "cache"))
    pd.testing.assert_frame_equal(first.notes["manifest"], second.notes["manifest"])
    explicit = tmp_path / "manifest.csv"
    first.notes["manifest"].to_csv(explicit, index=False)
    third = load_image_folder(cfg(messy, split_manifest=str(explicit)), 16, None)
    assert list(third.test.source_ids) == list(first.test.source_ids)


def test_presplit_layout_is_used_as_given(tmp_path):
    root = tmp_path / "pre"
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        for c in ("real", "fake"):
            for i in range(n):
                save(root / split / c / f"{i}.png", pattern(hash((split, c, i)) % 1000))
    splits = load_image_folder(cfg(root), 16, None)
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
    splits = load_image_folder(cfg(root, channels=1, resize_policy="center_crop", val_fraction=0.25,
                                   test_fraction=0.25), 10, None)
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
        load_image_folder(cfg(root), 16, None)
    assert str(root) in str(exc.value)


def test_tiny_classes_split_without_crashing(tmp_path):
    root = tmp_path / "tiny"
    for i in range(20):
        save(root / "big" / f"{i}.png", pattern(i))
    save(root / "rare" / "0.png", pattern(99))
    save(root / "rare" / "1.png", pattern(98))
    splits = load_image_folder(cfg(root), 16, None)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 22


def test_too_few_distinct_images_is_a_clear_error(tmp_path):
    root = tmp_path / "dups"
    for c in ("a", "b"):
        for i in range(3):
            save(root / c / f"{i}.png", pattern(0 if c == "a" else 1))  # all copies of one image
    with pytest.raises(DataError, match="distinct"):
        load_image_folder(cfg(root), 16, None)
