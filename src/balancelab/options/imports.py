"""Where users' own components are imported from.

A ``_target_`` such as ``my_project.nets.TinyNet`` names a module in the user's own project. Run as
``python -m``, the working directory is importable; a console script (balance-run, balance-sweep,
balance-predict) does not put it on the path by itself, so each entry point calls
:func:`importable_working_directory` first.
"""

from __future__ import annotations

import os
import sys


def importable_working_directory() -> None:
    """Put the current directory first on ``sys.path`` (once), as ``python -m`` would."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
