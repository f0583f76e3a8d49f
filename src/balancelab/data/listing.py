"""The image_folder layout: which files are a dataset's images, by class and split (no file is opened).

Kept apart from the loader and its decoders (OpenCV, PIL, scikit-learn, pandas), so that the check of
``dataset.root`` before a run starts lists the folder without importing any of them.
"""

from __future__ import annotations

import os
from itertools import repeat
from pathlib import Path
from typing import Dict, List, Tuple

from balancelab.errors import DataError

SPLITS = ("train", "val", "test")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _class_dirs(folder: Path) -> List[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def _image_files(folder: str) -> List[str]:
    """Image files under ``folder`` at any depth, as ``Path.rglob`` finds them (symlinked files included,
    symlinked folders not entered), without hidden files or folders; one ``scandir`` per folder, no ``stat``
    per file (the entry's type comes with the listing)."""
    found: List[str] = []
    append, extensions = found.append, IMAGE_EXTENSIONS
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as entries:
                for entry in entries:
                    name = entry.name
                    if name[0] == ".":
                        continue
                    dot = name.rfind(".")  # > 0: os.path.splitext's extension (names starting with "." are out)
                    try:
                        # An image's name first (nearly every entry): one type check for it, from the listing.
                        if dot > 0 and name[dot:].lower() in extensions and entry.is_file():
                            append(entry.path)
                        elif entry.is_dir() and not entry.is_symlink():
                            stack.append(entry.path)
                    except OSError:
                        continue
        except OSError:
            continue
    found.sort()
    return found


def scan(root: Path) -> Tuple[str, Dict[str, List[Tuple[str, str]]]]:
    """Layout ('presplit' or 'classes') and {split: [(path, class name)]} ('all' when not pre-split)."""
    root = Path(root)
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
            files = _image_files(str(class_dir))
            if not files:
                raise DataError(f"The class folder {class_dir} holds no image files "
                                f"(looked for .jpg .jpeg .png .bmp .tif .tiff .webp, any case). "
                                f"Add images or remove the folder.")
            entries += zip(files, repeat(class_dir.name))
        listing[split] = entries
    if not any(listing.values()):
        raise DataError(f"No images found under {root}.")
    _check_utf8_names(root, listing)
    return ("presplit" if presplit else "classes"), listing


def _check_utf8_names(root: Path, listing: Dict[str, List[Tuple[str, str]]]) -> None:
    """Refuse names that are not UTF-8 before anything is decoded: the listing returns them with surrogate
    escapes, which the split manifest and the cache key (UTF-8 text) cannot hold, so the run would otherwise
    fail after decoding the whole folder. Only names that are not ASCII are encoded to find out."""
    bad = [os.fsencode(path).decode("utf-8", "backslashreplace")  # the bytes it is, as \xe9
           for entries in listing.values() for path, _ in entries if not path.isascii() and not _is_utf8(path)]
    if not bad:
        return
    shown = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
    raise DataError(f"dataset.root={root}: {len(bad)} file or folder name(s) are not UTF-8 (the split manifest and "
                    f"the decoded cache record names as UTF-8 text):\n  {shown}\nRename them in UTF-8 (for "
                    f"names from a Latin-1 archive: convmv -f latin1 -t utf8 -r --notest {root}), or move them out "
                    f"of the folder.")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
