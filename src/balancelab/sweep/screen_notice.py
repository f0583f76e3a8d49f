"""The notice that heads a screened sweep's report (sweep/screening.py writes screen.json; the report reads it):
kept apart from the screening driver so that balance-report reads it without loading the training stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

SCREEN_FILE = "screen.json"
NOTICE = ("**This is a screen of the classifier stage, not the full methods.** Every experiment below kept the "
          "baseline's representation (balancing=none, loss=ce; trained once per seed, then frozen) and trained "
          "only a fresh linear head on its cached features, with the experiment's balancing applied to the feature "
          "rows and its loss on the head's logits. A technique that acts on the representation's training (image "
          "augmentation, re-sampled image batches, mixup) is screened only through what it does to the classifier; "
          "confirm a shortlist with the full sweep (balance-sweep without screen=true).")


PRETRAINED_NOTICE = ("**This is a screen of the classifier stage, not the full methods.** No representation was "
                     "trained: every experiment below kept the pretrained backbone as built (trainer.epochs=0), "
                     "frozen, and trained only a fresh linear head on its cached features, with the experiment's "
                     "balancing applied to the feature rows and its loss on the head's logits. The baseline row is "
                     "a linear probe: a plain head (loss=ce) trained on the unbalanced features. A technique that acts "
                     "on the representation's training (image augmentation, re-sampled image batches, mixup) is "
                     "screened only through what it does to the classifier; confirm a shortlist with the full sweep "
                     "(balance-sweep without screen=true).")


def screen_info(sweep_dir: Path) -> Optional[dict]:
    """The screen's screen.json ({} when it does not parse); None for a full sweep (no screen.json)."""
    path = Path(sweep_dir) / SCREEN_FILE
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        info = {}
    return info if isinstance(info, dict) else {}


def screen_notice(sweep_dir: Path) -> Optional[str]:
    """The notice (markdown) that heads a screened sweep's comparison, with what was not screened; None for a
    full sweep (no screen.json)."""
    info = screen_info(sweep_dir)
    if info is None:
        return None
    lines = [info.get("notice") or NOTICE]
    for name, kept in (info.get("same_head") or {}).items():
        lines.append(f"- the same head as `{kept}`, screened once (its row stands for both, and its comparison is "
                     f"counted once in Holm's family): `{name}`.")
    for name, reason in (info.get("not_screenable") or {}).items():
        lines.append(f"- not screenable, skipped: `{name}`: {reason}.")
    for seed, error in (info.get("failed_seeds") or {}).items():
        lines.append(f"- seed {seed}: the representation failed ({error}).")
    return "\n".join(lines)


def same_head_names(info: Optional[dict]) -> Dict[str, List[str]]:
    """{screened experiment: [the experiments whose head it also is]} of a screen's info (screen_info)."""
    out: Dict[str, List[str]] = {}
    for name, kept in ((info or {}).get("same_head") or {}).items():
        out.setdefault(kept, []).append(name)
    return out


def screen_budget_text(info: dict, jobs) -> str:
    """The budget line of a screen: what the heads trained (trainer.feature_head_epochs; trainer.budget does not
    apply to them), their optimiser steps, and what the representation trained. ``jobs``: the jobs table."""
    trained = jobs[jobs["row_kind"] == "trained"] if "row_kind" in jobs else jobs
    epochs = info.get("head_epochs") or []
    text = ("Training budget (screen): every head trained "
            + (" / ".join(map(str, epochs)) if epochs else "trainer.feature_head_epochs")
            + f" epoch{'' if epochs == [1] else 's'} (trainer.feature_head_epochs) on the cached features; "
              "trainer.budget does not apply to the heads")
    if "steps_done" in trained and trained["steps_done"].notna().any():
        steps = {str(e): int(round(g["steps_done"].mean())) for e, g in
                 trained.dropna(subset=["steps_done"]).groupby("experiment", sort=False)}
        if len(set(steps.values())) == 1:
            text += f"; every head made {next(iter(steps.values())):,} optimiser steps"
        else:
            text += ("; optimiser steps per head: " + ", ".join(f"{e} {s:,}" for e, s in steps.items())
                     + " (a balancing that adds feature rows makes more steps per epoch)")
    kinds = sorted({str(k) for k in trained.get("budget", []) if isinstance(k, str)})
    rep_epochs = sorted({int(e) for e in trained.get("epochs", []) if e == e and e is not None})
    if rep_epochs == [0]:
        text += ". The representation is the pretrained backbone as built, frozen (trainer.epochs=0: not trained)"
    elif kinds and len(rep_epochs) == 1:
        text += (f". The representation (the baseline, once per seed) trained with trainer.budget={kinds[0]}, "
                 f"{rep_epochs[0]} epoch{'' if rep_epochs[0] == 1 else 's'}")
    return text + "."
