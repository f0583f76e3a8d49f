"""The config folders a command adds with ``hydra.searchpath=[file://my_configs]``, read without Hydra.

``--help``, the sweep's grid and the check of optional groups list options from these folders as well as
from the packaged configs, so a user's own options are listed, swept and checked like the built-in ones.
Only ``file://`` entries are folders on disk (relative ones to the current directory, as Hydra reads them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Sequence


def search_folders(overrides: Optional[Sequence[str]] = None) -> List[Path]:
    """The existing folders of the ``hydra.searchpath`` overrides in ``overrides``, in the order given (None:
    none). The process's command line is read by balancelab.cli alone, which passes its overrides down."""
    overrides = overrides or ()
    folders = []
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") != "hydra.searchpath":
            continue
        for entry in value.strip().strip("[]").split(","):
            # A multirun's expanded job escapes Hydra's special characters (file\://...): undo it.
            entry = re.sub(r"\\(.)", r"\1", entry.strip().strip("'\""))
            if entry.startswith("file://"):
                folder = Path(entry[len("file://"):]).expanduser().absolute()  # relative: to the cwd, as Hydra
                if folder.is_dir() and folder not in folders:
                    folders.append(folder)
    return folders


def options_in(folder, group: str) -> List[str]:
    """Option names of ``group`` in a config folder (a Path or a package resource): ``name`` for
    ``group/name.yaml``, ``sub/name`` for ``group/sub/name.yaml``."""
    entry = folder / group
    if not entry.is_dir():
        return []
    options = sorted(f.name[:-5] for f in entry.iterdir() if f.name.endswith(".yaml"))
    options += sorted(f"{sub.name}/{f.name[:-5]}" for sub in entry.iterdir()
                      if sub.is_dir() and not sub.name.startswith(("_", ".")) for f in sub.iterdir()
                      if f.name.endswith(".yaml"))
    return options


def option_file(folders: Sequence, group: str, option: str):
    """The YAML file of ``group=option`` in the first folder that has it (Hydra's search order), or None."""
    for folder in folders:
        candidate = folder / group / f"{option}.yaml"
        if candidate.is_file():
            return candidate
    return None
