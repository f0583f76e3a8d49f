"""Where a result came from: library versions and the git state of the code."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Dict, Optional

LIBRARIES = ("balancelab", "torch", "torchvision", "numpy", "scikit-learn", "imbalanced-learn",
             "opencv-python-headless", "hydra-core", "omegaconf", "pandas", "matplotlib", "wandb", "timm")


def library_versions() -> Dict[str, Optional[str]]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(path: Optional[Path] = None) -> Dict[str, object]:
    """Commit and dirtiness of the repository holding the balancelab source (null if none)."""
    path = path or Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def run_facts(run_dir: Path, launcher: Optional[str]) -> Dict[str, object]:
    """The summary's record of where and with what the run was made."""
    import os

    return {"library_versions": library_versions(), "git": git_state(), "output_dir": str(Path(run_dir).resolve()),
            "process": {"pid": os.getpid(), "host": platform.node(), "launcher": launcher}}
