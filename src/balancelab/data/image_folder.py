"""``dataset=image_folder``: class sub-folders (split once, seeded) or train/val/test sub-folders.

Files are decoded once, in parallel, and the decoded arrays are cached on disk keyed by the
file listing (path, size, mtime) and the decoding options. Unusable files are skipped and
reported; a folder that leaves a class without images is an error naming it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import pandas as pd

from balancelab.data import duplicates, group_rule, group_split, rows
from balancelab.data import split as split_rules
from balancelab.data.dataset import DataSplits, ImageSet
from balancelab.data.decoded_cache import DecodedCache, decode_in_memory
from balancelab.data.duplicates import cross_split_duplicates, warn_cross_split_duplicates
from balancelab.data.group_report import cross_split_groups, group_statistics, warn_cross_split_groups, warn_merges
from balancelab.data.group_rule import GroupRule, group_keys, parse_group_rule, rule_paths, unmatched_message
from balancelab.data.group_split import merge_identical_files, stratified_group_split
from balancelab.data.listing import SPLITS, scan  # noqa: F401 - scan is this loader's listing
from balancelab.data.longtail import make_long_tailed
from balancelab.data.split import classes_not_in_every_split, name_incomplete_classes, stratified_split
from balancelab.errors import DataError
from balancelab.output import atomic

log = logging.getLogger("balancelab")


def _listing_key(listing, size, channels, policy) -> str:
    """The files listed (split, path, class) and the decoding options. Not the files' sizes or modification
    times: the cache entry keeps those as each file was read and checks them on every load (no ``stat`` a file
    before decoding can start; a file whose size, modification or change time changed is still not served from the
    cache)."""
    h = hashlib.sha256(json.dumps([size, channels, policy, "identity-in-entry"]).encode())
    for split in sorted(listing):
        entries = listing[split]
        for lo in range(0, len(entries), 65536):  # one update per block of files: no one string of them all
            block = entries[lo:lo + 65536]
            # NUL-separated: the one character no path or folder name holds.
            h.update(f"{split}\0{len(block)}\0".encode())
            h.update(("\0".join([path for path, _ in block]) + "\0").encode("utf-8", "surrogateescape"))
            h.update(("\0".join([cls for _, cls in block]) + "\0").encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


def digest_keys(digests) -> np.ndarray:
    """One comparable value per file: SHA-256 digests as an (n, 32) uint8 array, or a list of hex strings."""
    if isinstance(digests, np.ndarray) and digests.ndim == 2:
        return np.ascontiguousarray(digests).view(f"V{digests.shape[1]}").ravel()
    return np.asarray(digests)


def grouped_split(y: np.ndarray, digests, val_fraction: float, test_fraction: float, seed: int):
    """Stratified split in which byte-identical files always land in the same split.

    Each group of identical files is represented by its first file; the representatives are split, and every
    copy follows its representative (vectorised: no per-file Python objects)."""
    _, first, inverse = np.unique(digest_keys(digests), return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    reps = np.sort(first)
    try:
        tr, va, te, _ = stratified_split(y[reps], val_fraction, test_fraction, seed)
    except ValueError as exc:
        raise DataError(f"Only {len(reps)} distinct images (byte-identical files count once) cannot be split into "
                        f"train/val/test with val_fraction={val_fraction}, test_fraction={test_fraction}: {exc} "
                        f"Add images, or give train/ val/ test/ sub-folders.") from None
    of_group = np.empty(len(first), dtype="<U5")
    for name, part in (("train", tr), ("val", va), ("test", te)):
        of_group[inverse[reps[part]]] = name
    return of_group[inverse]


@dataclass(frozen=True)
class ImageFolderSource:
    """Where the images are and how they become splits (the image_folder option's keys)."""

    root: str
    channels: int
    resize_policy: str
    decode_workers: int
    split_seed: int
    val_fraction: float
    test_fraction: float
    split_manifest: Optional[str]
    imbalance_ratio: float
    imbalance_profile: str
    group: Optional[str] = None


def load_image_folder(*, input_size: int, cache_dir: Optional[str] = None, root: str, channels: int,
                      resize_policy: str, decode_workers: int, split_seed: int, val_fraction: float,
                      test_fraction: float, split_manifest: Optional[str], imbalance_ratio: float,
                      imbalance_profile: str, group: Optional[str] = None) -> DataSplits:
    """The splits of an image folder (the image_folder option's keys, plus the model's input size)."""
    source = ImageFolderSource(root, channels, resize_policy, decode_workers, split_seed, val_fraction, test_fraction,
                               split_manifest, imbalance_ratio, imbalance_profile, group)
    return _load(source, input_size, cache_dir)


def _load(cfg: ImageFolderSource, input_size: int, cache_dir: Optional[str]) -> DataSplits:
    root = Path(cfg.root).expanduser()
    layout, listing = scan(root)
    channels, policy = int(cfg.channels), cfg.resize_policy
    paths = [p for split in listing for p, _ in listing[split]]
    split_of = [split for split in listing for _ in listing[split]]
    cls_of = [c for split in listing for _, c in listing[split]]
    # Before any decoding: a rule that leaves a file without a group fails now, not after an hour of decoding.
    rule, rule_seen, keys_of = _groups(cfg.group, paths, root, layout)
    X, ok, reasons, digests = _decoded(paths, listing, input_size, channels, policy, int(cfg.decode_workers),
                                       cache_dir, root)
    for path, reason in reasons:
        log.warning("Skipped %s: %s", path, reason)
    class_names = sorted(set(cls_of))
    index = {c: i for i, c in enumerate(class_names)}
    kept = np.flatnonzero(ok)  # X holds a row per listed file; these are the usable ones
    y = np.fromiter(map(index.__getitem__, cls_of), np.int64, len(cls_of))[kept]
    # The listing's own strings (an object array): no second copy of every path (a 60-character path is 240
    # bytes as a fixed-width NumPy string, in each split again).
    source_ids = np.array(paths, dtype=object)[kept]
    splits_of = np.array(split_of)[kept]
    missing = [c for c in class_names if not (y == index[c]).any()]
    if missing:
        raise DataError(f"Class folder(s) {', '.join(str(root / m) for m in missing)} have no usable image: every "
                        f"file was skipped (see the warnings above). Fix or remove those files.")

    keys = np.array([keys_of[i] for i in kept], dtype=object) if rule else None
    origin, split_groups = ("folders" if layout == "presplit" else None), keys
    if layout == "classes":
        splits_of, origin, split_groups = _assign_splits(cfg, y, source_ids, keys, class_names, cache_dir,
                                                         digests[kept])
    parts = {}
    for s in SPLITS:
        sel = np.flatnonzero(splits_of == s)
        parts[s] = ImageSet(rows.subset(X, kept[sel]), y[sel], source_ids[sel])
    if cfg.imbalance_ratio and cfg.imbalance_ratio > 1 and cfg.imbalance_profile != "none":
        lt = make_long_tailed(parts["train"].y, len(class_names), cfg.imbalance_ratio, cfg.imbalance_profile,
                              cfg.split_seed)
        parts["train"] = parts["train"].subset(lt)
    extra_notes = {}
    if origin in ("folders", "manifest"):
        # The user chose this split: keep it, but say which identical files it puts in two splits (as used:
        # after long-tailing, which may drop a training copy).
        used = {s: parts[s].source_ids for s in SPLITS}
        used_ids = np.concatenate(list(used.values()))
        row_of = dict(zip(source_ids.tolist(), kept.tolist()))
        groups = cross_split_duplicates(used_ids, np.repeat(SPLITS, [len(used[s]) for s in SPLITS]),
                                        [digests[row_of[i]].tobytes().hex() for i in used_ids])
        warn_cross_split_duplicates(groups, f"the train/ val/ test/ folders of {root}" if origin == "folders"
                                    else f"the split manifest {cfg.split_manifest}")
        extra_notes["cross_split_duplicates"] = groups
    manifest = pd.DataFrame({"source_id": source_ids, "class": np.array(class_names, dtype=object)[y],
                             "split": splits_of})
    if rule:
        made = origin in ("split", "cached")
        extra_notes["groups"] = group_statistics(
            rule.text, keys, split_groups, y, splits_of, class_names,
            (cfg.val_fraction, cfg.test_fraction) if made else None, (rule_seen[kept[0]], keys_of[kept[0]]))
        warn_merges(extra_notes["groups"]["merged_for_identical_files"])
        manifest["group"] = keys
        if made:
            manifest["split_group"] = split_groups
        else:  # the user's split: which groups it puts in two splits, over the images as used
            key_of = dict(zip(source_ids, keys))
            found = cross_split_groups([key_of[i] for s in SPLITS for i in parts[s].source_ids],
                                       [s for s in SPLITS for _ in parts[s].source_ids])
            warn_cross_split_groups(found, f"the train/ val/ test/ folders of {root}" if origin == "folders"
                                    else f"the split manifest {cfg.split_manifest}")
            extra_notes["cross_split_groups"] = found
    # Reported from the final splits (after long-tailing), whoever made them: us, a manifest or the folders.
    incomplete = classes_not_in_every_split({s: parts[s].y for s in SPLITS})
    return DataSplits(parts["train"], parts["val"], parts["test"], class_names,
                      notes={"source": str(root), "layout": layout, "skipped_files": reasons,
                             "skipped_count": len(reasons), "manifest": manifest, "files_found": len(paths),
                             "classes_not_in_every_split": name_incomplete_classes(incomplete, class_names),
                             **extra_notes})


@functools.lru_cache(maxsize=None)
def split_code_version() -> str:
    """The splitting code (an edit that could move a file to another split gives a new cached split)."""
    h = hashlib.sha256()
    for module in (split_rules, duplicates, group_rule, group_split):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def _read_manifest(path: Path, given: bool):
    """The manifest's table; for a cached one that cannot be read, None after setting it aside."""
    try:
        # As text, and no "NA"/"null" guessing: a group (or file) named 007 or NA is a name, not a number or a gap.
        manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {"source_id", "split"} - set(manifest.columns)
        if missing:
            raise ValueError(f"it has no column {', '.join(sorted(missing))}")
        bad = set(manifest["split"].astype(str)) - set(SPLITS)
        if bad:
            raise ValueError(f"its split column holds {sorted(bad)}, not only {', '.join(SPLITS)}")
        return manifest
    except (OSError, ValueError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        if given:
            raise DataError(f"dataset.split_manifest={path} cannot be used: {exc}. It needs the columns source_id "
                            f"and split (train/val/test), one row per image.") from None
        aside = atomic.set_aside(path)
        log.warning("The cached split %s cannot be read (%s); moved aside as %s and split again.", path, exc,
                    aside.name)
        return None


def _decoded(paths, listing, size: int, channels: int, policy: str, workers: int, cache_dir: Optional[str],
             root: Optional[Path] = None):
    """(images with one row per listed file, usable mask, reasons, SHA-256 of each file (n, 32) uint8): from the
    decoded-image cache, decoded into it, or, without a cache_dir, decoded into memory."""
    if not cache_dir:
        return decode_in_memory(paths, size, channels, policy, workers)
    source = json.dumps([os.path.realpath(root), size, channels, policy]) if root is not None else ""
    cache = DecodedCache(cache_dir, _listing_key(listing, size, channels, policy), source)
    hit = cache.load(paths)
    if hit is not None:
        log.info("Decoded images loaded from cache %s (no decoding).", cache.array_path.name)
        return hit
    return cache.get(paths, size, channels, policy, workers)


def _groups(text: Optional[str], paths, root: Path, layout: str):
    """(rule, each listed file's path as the rule sees it, its group) for ``dataset.group``; Nones without one.

    DataError for a rule that is not one, or a file it gives no group (the config check says so before a run;
    this is for a loader called directly)."""
    if text is None:
        return None, None, None
    try:
        rule: GroupRule = parse_group_rule(text)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    seen = rule_paths(paths, root, layout == "presplit")
    keys = group_keys(rule, seen)
    problem = unmatched_message(rule, seen, keys)
    if problem:
        raise DataError(problem)
    return rule, seen, keys


def _assign_splits(cfg: ImageFolderSource, y, source_ids, keys, class_names, cache_dir,
                   digests: np.ndarray) -> Tuple[np.ndarray, str, Optional[np.ndarray]]:
    """Split once: reuse a manifest (given, or cached for this listing, these ratios and this rule) if there is one.

    Returns the split of each file, where it came from: 'manifest' (given), 'cached' or 'split' (made now), and
    with a group rule the unit each file was split with (its group, or groups merged for identical files; for a
    given manifest, its group). ``digests``: each file's SHA-256, (n, 32) uint8, read when the files were decoded.
    """
    given = cfg.split_manifest
    spec = hashlib.sha256(json.dumps([cfg.val_fraction, cfg.test_fraction, cfg.split_seed, split_code_version()]
                                     + ([cfg.group] if cfg.group is not None else [])).encode())
    ordered = sorted(source_ids.tolist())  # (a list: Python's sort takes the listing's sorted runs as they are)
    for lo in range(0, len(ordered), 65536):  # the files, in blocks: no one string of them all
        spec.update(("\n".join(ordered[lo:lo + 65536]) + "\n").encode())
    cached = Path(cache_dir) / "splits" / f"{spec.hexdigest()[:32]}.csv" if cache_dir else None
    for path in [Path(given)] if given else ([cached] if cached is not None else []):
        if path.exists():
            manifest = _read_manifest(path, given=bool(given))
            if manifest is None:  # a damaged cached split: set aside, split afresh (same seed: same split)
                continue
            lookup = dict(zip(manifest["source_id"], manifest["split"]))
            unknown = [s for s in source_ids if s not in lookup]
            if given and unknown:
                raise DataError(f"The split manifest {path} does not list {len(unknown)} file(s), e.g. {unknown[0]}. "
                                f"Remove dataset.split_manifest to split afresh.")
            if not unknown:
                log.info("Using the split manifest %s.", path)
                splits = np.array([lookup[s] for s in source_ids])
                if given or keys is None:
                    return splits, ("manifest" if given else "cached"), keys
                if "split_group" in manifest.columns:  # always, for a split cached under a rule (its key has it)
                    unit = dict(zip(manifest["source_id"], manifest["split_group"]))
                    return splits, "cached", np.array([unit[s] for s in source_ids], dtype=object)
        elif given:
            raise DataError(f"dataset.split_manifest={given} does not exist.")
    if keys is None:
        splits, units = grouped_split(y, digests, cfg.val_fraction, cfg.test_fraction, cfg.split_seed), None
        if cached is not None:
            _write_split_csv(cached, source_ids, splits)
    else:
        units = np.array(merge_identical_files(keys.tolist(), [d.tobytes() for d in digests])[0], dtype=object)
        splits = stratified_group_split(y, units, cfg.val_fraction, cfg.test_fraction, cfg.split_seed, class_names,
                                        cfg.group)
        if cached is not None:
            atomic.write_csv(cached, pd.DataFrame({"source_id": source_ids, "split": splits, "split_group": units}))
    return splits, "split", units


SPLIT_CSV_BLOCK = 65536  # rows joined at a time: no one string of the whole table


def _plain_csv_fields(ids) -> bool:
    """No path among ``ids`` needs CSV quoting (a comma, a quote or a line break in it)."""
    for lo in range(0, len(ids), SPLIT_CSV_BLOCK):
        block = ids[lo:lo + SPLIT_CSV_BLOCK]
        joined = "\0".join(block)
        if "," in joined or '"' in joined or "\r" in joined or "\n" in joined:
            return False
    return True


def split_csv_blocks(source_ids: np.ndarray, splits: np.ndarray):
    """The text pandas' ``to_csv(index=False)`` gives for the columns source_id and split, byte for byte, in
    blocks of rows, without its per-row overhead: joined directly when no path needs CSV quoting, else written
    by pandas (one block)."""
    ids, names = source_ids.tolist(), splits.tolist()
    if not _plain_csv_fields(ids):
        yield pd.DataFrame({"source_id": source_ids, "split": splits}).to_csv(index=False)
        return
    yield "source_id,split\n"
    for lo in range(0, len(ids), SPLIT_CSV_BLOCK):
        yield "\n".join(map(",".join, zip(ids[lo:lo + SPLIT_CSV_BLOCK], names[lo:lo + SPLIT_CSV_BLOCK]))) + "\n"


def split_csv(source_ids: np.ndarray, splits: np.ndarray) -> str:
    """:func:`split_csv_blocks` as one string."""
    return "".join(split_csv_blocks(source_ids, splits))


def _write_split_csv(target: Path, source_ids: np.ndarray, splits: np.ndarray) -> None:
    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.writelines(split_csv_blocks(source_ids, splits))

    atomic.write_with(target, write)
