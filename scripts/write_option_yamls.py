#!/usr/bin/env python
"""Make every option's YAML show every key it has, with its default, so that configs/ shows a reader what can
be varied (as lightning-hydra-template's configs do). The schema (options/) stays the one place a key is
declared: this script appends to each YAML the keys its own lines do not set, at the values the option composes
to, under a marked comment. `--check` exits 1 when a YAML lacks a key (tests/options/test_option_yamls.py runs it).

    python scripts/write_option_yamls.py          # rewrite the generated part of every option YAML
    python scripts/write_option_yamls.py --check  # report the options whose YAML is not complete
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
MARK = "# ---- every other key, at its default (scripts/write_option_yamls.py writes this part) ----"
# Groups whose options are components or settings with a schema; experiments and recipes are combinations.
GROUPS = ("model", "dataset", "balancing", "loss", "optimizer", "scheduler", "logger", "trainer", "augmentation")


def schema_of(group: str, own: dict):
    """The schema an option's YAML extends (``- /schema/<group>/<name>@_here_`` in its defaults), or None."""
    from balancelab.options.store import GROUPS, SETTINGS

    for entry in own.get("defaults") or []:
        if isinstance(entry, str) and entry.startswith("/schema/"):
            _, _, schema_group, name = entry.split("@")[0].split("/")
            if schema_group in GROUPS:
                return GROUPS[schema_group].schemas[name]
            return SETTINGS[schema_group]
    return None


def composed_node(group: str, option: str, text: str = None) -> dict:
    """The option's node (interpolations kept as written): its schema's defaults under the YAML's own lines.
    Built from the schema and the own part only - never from a generated part written earlier - so that a
    changed default in the schema reaches the YAML (a YAML without a schema is composed as the app does)."""
    from omegaconf import OmegaConf

    if text is None:
        text = (CONFIGS / group / f"{option}.yaml").read_text()
    own = yaml.safe_load(own_part(text)) or {}
    schema = schema_of(group, own)
    if schema is None:
        from balancelab.cli.compose import compose_job

        return OmegaConf.to_container(compose_job([f"{group}={option}"])[group], resolve=False)
    node = OmegaConf.merge(OmegaConf.structured(schema), {k: v for k, v in own.items() if k != "defaults"})
    return OmegaConf.to_container(node, resolve=False)


def own_part(text: str) -> str:
    return text.split(MARK)[0].rstrip() + "\n"


def generated_part(text: str, node: dict) -> str:
    own = yaml.safe_load(own_part(text)) or {}
    missing = {k: v for k, v in node.items() if k not in own}
    if not missing:
        return ""
    body = "".join(_line(k, v) for k, v in missing.items())
    return f"\n{MARK}\n{body}"


def _line(key: str, value) -> str:
    """One line per key, in the schema's order; a mapping or a list in flow style."""
    if isinstance(value, (dict, list)):
        flow = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000, allow_unicode=True)
        return f"{key}: {flow.strip()}\n"
    return yaml.safe_dump({key: value}, default_flow_style=False, sort_keys=False, allow_unicode=True)


def expected(path: Path, group: str) -> str:
    text = path.read_text()
    return own_part(text) + generated_part(text, composed_node(group, path.stem, text))


def option_files():
    for group in GROUPS:
        for path in sorted((CONFIGS / group).glob("*.yaml")):
            yield group, path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report YAMLs that lack a key (exit 1)")
    args = parser.parse_args()
    stale = []
    for group, path in option_files():
        want = expected(path, group)
        if path.read_text() != want:
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(want)
    if args.check and stale:
        print("Option YAMLs that do not show every key (run python scripts/write_option_yamls.py):\n  "
              + "\n  ".join(stale), file=sys.stderr)
        return 1
    if not args.check:
        print(f"{len(stale)} YAML file(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
