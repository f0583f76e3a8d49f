"""The notice that heads a screened sweep's report (sweep/screening.py writes screen.json; the report reads it):
kept apart from the screening driver so that balance-report reads it without loading the training stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

SCREEN_FILE = "screen.json"
NOTICE = ("**This is a screen of the classifier stage, not the full methods.** Every experiment below kept the "
          "baseline's representation (balancing=none, loss=ce; trained once per seed, then frozen) and trained "
          "only a fresh linear head on its cached features, with the experiment's balancing applied to the feature "
          "rows and its loss on the head's logits. A technique that acts on the representation's training (image "
          "augmentation, re-sampled image batches, mixup) is screened only through what it does to the classifier; "
          "confirm a shortlist with the full sweep (balance-sweep without screen=true).")


def screen_notice(sweep_dir: Path) -> Optional[str]:
    """The notice (markdown) that heads a screened sweep's comparison, with what was not screened; None for a
    full sweep (no screen.json)."""
    path = Path(sweep_dir) / SCREEN_FILE
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        info = {}
    lines = [NOTICE]
    if info.get("head_epochs"):
        lines[0] += (f" Each head trained {', '.join(map(str, info['head_epochs']))} epoch(s) "
                     f"(trainer.feature_head_epochs); the training budget line below is the representation's.")
    for name, reason in (info.get("not_screenable") or {}).items():
        lines.append(f"- not screenable, skipped: `{name}`: {reason}.")
    for seed, error in (info.get("failed_seeds") or {}).items():
        lines.append(f"- seed {seed}: the representation failed ({error}).")
    return "\n".join(lines)
