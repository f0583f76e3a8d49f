"""``dataset=image_folder``: class sub-folders (split once, seeded) or train/val/test sub-folders.

Files are decoded once, in parallel, and the decoded arrays are cached on disk keyed by the
file listing (path, size, mtime) and the decoding options. Unusable files are skipped and
reported; a folder that leaves a class without images is an error naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from balancelab.data.dataset import DataSplits, ImageSet
from balancelab.data.decode import decode_image, is_image_file
from balancelab.data.longtail import make_long_tailed
from balancelab.data.split import stratified_split
from balancelab.errors import DataError
from balancelab.hashing import file_digest
from balancelab.output import atomic

log = logging.getLogger("balancelab")
SPLITS = ("train", "val", "test")


def _class_dirs(folder: Path) -> List[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def scan(root: Path) -> Tuple[str, Dict[str, List[Tuple[str, str]]]]:
    """Layout ('presplit' or 'classes') and {split: [(path, class name)]} ('all' when not pre-split)."""
    if not root.is_dir():
        raise DataError(f"dataset.root={root} is not a folder. Point it to a folder of class sub-folders "
                        f"(or with train/, val/, test/ sub-folders).")
    names = {d.name.lower(): d for d in _class_dirs(root)}
    presplit = all(s in names for s in SPLITS)
    groups = {s: names[s] for s in SPLITS} if presplit else {"all": root}
    listing: Dict[str, List[Tuple[str, str]]] = {}
    for split, folder in groups.items():
        classes = _class_dirs(folder)
        if not classes:
            raise DataError(f"{folder} has no class sub-folders. Put each class's images in its own folder, "
                            f"e.g. {folder}/healthy/*.jpg and {folder}/blight/*.jpg.")
        entries = []
        for class_dir in classes:
            files = sorted(str(p) for p in class_dir.rglob("*") if p.is_file() and is_image_file(p)
                           and not any(part.startswith(".") for part in p.relative_to(class_dir).parts))
            if not files:
                raise DataError(f"The class folder {class_dir} holds no image files "
                                f"(looked for .jpg .jpeg .png .bmp .tif .tiff .webp, any case). "
                                f"Add images or remove the folder.")
            entries += [(f, class_dir.name) for f in files]
        listing[split] = entries
    if not any(listing.values()):
        raise DataError(f"No images found under {root}.")
    return ("presplit" if presplit else "classes"), listing


def _listing_key(listing, size, channels, policy) -> str:
    h = hashlib.sha256(json.dumps([size, channels, policy]).encode())
    for split in sorted(listing):
        for path, cls in listing[split]:
            st = os.stat(path)
            h.update(f"{split}|{path}|{cls}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def decode_all(paths: List[str], size: int, channels: int, policy: str, workers: int):
    """Decode in parallel threads (OpenCV and Pillow release the GIL while decoding and resizing)."""
    workers = workers or min(8, (os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda p: decode_image(p, size, channels, policy), paths, chunksize=16))
    ok = np.array([img is not None for img, _ in results], dtype=bool)
    X = np.stack([img for img, _ in results if img is not None]) if ok.any() else np.zeros((0, size, size, channels), np.uint8)
    reasons = [(p, r) for p, (img, r) in zip(paths, results) if img is None]
    return X, ok, reasons


def grouped_split(y: np.ndarray, digests: List[str], val_fraction: float, test_fraction: float, seed: int):
    """Stratified split in which byte-identical files always land in the same split."""
    first = {}
    for i, d in enumerate(digests):
        first.setdefault(d, i)
    reps = np.array(sorted(first.values()))
    try:
        tr, va, te = stratified_split(y[reps], val_fraction, test_fraction, seed)
    except ValueError as exc:
        raise DataError(f"Only {len(reps)} distinct images (byte-identical files count once) cannot be split into "
                        f"train/val/test with val_fraction={val_fraction}, test_fraction={test_fraction}: {exc} "
                        f"Add images, or give train/ val/ test/ sub-folders.") from None
    where = {}
    for name, part in (("train", tr), ("val", va), ("test", te)):
        for r in reps[part]:
            where[digests[r]] = name
    return np.array([where[d] for d in digests])


def load_image_folder(cfg, input_size: int, cache_dir: Optional[str]) -> DataSplits:
    root = Path(cfg.root).expanduser()
    layout, listing = scan(root)
    channels, policy = int(cfg.channels), cfg.resize_policy
    cache_file = None
    if cache_dir:
        cache_file = Path(cache_dir) / "decoded" / f"{_listing_key(listing, input_size, channels, policy)}.npz"
    paths = [p for split in listing for p, _ in listing[split]]
    split_of = [split for split in listing for _ in listing[split]]
    cls_of = [c for split in listing for _, c in listing[split]]
    if cache_file is not None and cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as npz:
            X, ok = npz["X"], npz["ok"]
            reasons = json.loads(str(npz["reasons"]))
        log.info("Decoded images loaded from cache %s.", cache_file.name)
    else:
        X, ok, reasons = decode_all(paths, input_size, channels, policy, int(cfg.decode_workers))
        if cache_file is not None:
            def save(p):
                with open(p, "wb") as f:
                    np.savez(f, X=X, ok=ok, reasons=np.array(json.dumps(reasons)))
            atomic.write_with(cache_file, save)
    for path, reason in reasons:
        log.warning("Skipped %s: %s", path, reason)
    class_names = sorted({c for c in cls_of})
    index = {c: i for i, c in enumerate(class_names)}
    kept = np.flatnonzero(ok)
    y = np.array([index[cls_of[i]] for i in kept], dtype=np.int64)
    source_ids = np.array([paths[i] for i in kept])
    splits_of = np.array([split_of[i] for i in kept])
    missing = [c for c in class_names if not (y == index[c]).any()]
    if missing:
        raise DataError(f"Class folder(s) {', '.join(str(root / m) for m in missing)} have no usable image: every "
                        f"file was skipped (see the warnings above). Fix or remove those files.")

    if layout == "classes":
        splits_of = _assign_splits(cfg, y, source_ids, cache_dir, root)
    parts = {}
    for s in SPLITS:
        sel = np.flatnonzero(splits_of == s)
        parts[s] = ImageSet(X[sel], y[sel], source_ids[sel])
    if cfg.imbalance_ratio and cfg.imbalance_ratio > 1 and cfg.imbalance_profile != "none":
        lt = make_long_tailed(parts["train"].y, len(class_names), cfg.imbalance_ratio, cfg.imbalance_profile,
                              cfg.split_seed)
        parts["train"] = parts["train"].subset(lt)
    manifest = pd.DataFrame({"source_id": source_ids, "class": [class_names[i] for i in y], "split": splits_of})
    return DataSplits(parts["train"], parts["val"], parts["test"], class_names,
                      notes={"source": str(root), "layout": layout, "skipped_files": reasons,
                             "skipped_count": len(reasons), "manifest": manifest, "files_found": len(paths)})


def _assign_splits(cfg, y, source_ids, cache_dir, root: Path) -> np.ndarray:
    """Split once: reuse a manifest (given, or cached for this listing and these ratios) if there is one."""
    given = cfg.get("split_manifest")
    spec = json.dumps([sorted(source_ids.tolist()), cfg.val_fraction, cfg.test_fraction, cfg.split_seed])
    cached = Path(cache_dir) / "splits" / f"{hashlib.sha256(spec.encode()).hexdigest()[:32]}.csv" if cache_dir else None
    for path in [Path(given)] if given else ([cached] if cached is not None else []):
        if path.exists():
            manifest = pd.read_csv(path)
            lookup = dict(zip(manifest["source_id"], manifest["split"]))
            unknown = [s for s in source_ids if s not in lookup]
            if given and unknown:
                raise DataError(f"The split manifest {path} does not list {len(unknown)} file(s), e.g. {unknown[0]}. "
                                f"Remove dataset.split_manifest to split afresh.")
            if not unknown:
                log.info("Using the split manifest %s.", path)
                return np.array([lookup[s] for s in source_ids])
        elif given:
            raise DataError(f"dataset.split_manifest={given} does not exist.")
    splits = grouped_split(y, [file_digest(s) for s in source_ids], cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    if cached is not None:
        atomic.write_csv(cached, pd.DataFrame({"source_id": source_ids, "split": splits}))
    return splits
