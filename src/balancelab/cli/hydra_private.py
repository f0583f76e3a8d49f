"""Every call into Hydra's private API, in one place: an upgrade of Hydra that changes one of them fails here
and in tests/cli/test_hydra_private.py, not somewhere in the checks.

Relied on (each with its test):
- ``hydra._internal.utils.get_args_parser``: the command line exactly as ``@hydra.main`` parses it.
- ``BasicSweeper.split_arguments``: a multirun's jobs exactly as the basic sweeper (and the joblib and
  submitit launchers, which take its batches) expand them.
- ``Override._value`` and ``Override._get_value_element_as_str``: an override's value as parsed (quotes kept)
  and a value written as Hydra writes it after the ``=`` (the sweep folder's hash is made of such text).
"""

from __future__ import annotations

import contextlib
import io
from typing import List, Sequence


def parse_hydra_arguments(argv: Sequence[str]):
    """Hydra's command line parsed as Hydra will parse it (``.overrides``, ``.multirun``, ``.cfg``, ``.help``,
    ...), or None when it does not parse. Silent: argparse prints usage and error itself, and Hydra prints them
    again when it runs (the message must appear once)."""
    from hydra._internal.utils import get_args_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return get_args_parser().parse_args(list(argv))
    except SystemExit:
        return None


def expand_multirun(parsed_overrides) -> List[List[str]]:
    """The override list of each job of a multirun (parsed ``Override`` objects in), in Hydra's order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    batches = BasicSweeper.split_arguments(parsed_overrides, None)
    return [list(job) for batch in batches for job in batch]


def parsed_value(override):
    """An override's value as Hydra parsed it (quoted strings stay ``QuotedString``, unlike ``value()``)."""
    return override._value


def value_text(value) -> str:
    """``value`` written as Hydra writes an override's value (``Override.get_value_element_as_str``)."""
    from hydra.core.override_parser.types import Override

    return Override._get_value_element_as_str(value)
