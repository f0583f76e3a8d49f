"""A deferred method's switch and the reported checkpoint relative to it.

Deferred methods change the training after a number of *finished* epochs: ``loss.drw_epoch`` (class weights,
DRW) and ``balancing.start_epoch`` (re-balanced batches, deferred re-sampling). The training loop chooses the
best checkpoint only among the epochs after the (last) switch, and writes what it did in the summary's
``deferred`` block::

    "deferred": {"switch": "loss.drw_epoch",          # the setting whose switch comes last
                 "switch_epoch": 24,                  # its value: finished epochs before it
                 "switches": {"loss.drw_epoch": 24},  # every deferred setting of the run
                 "first_epoch_after_switch": 25,
                 "best_epoch": 28,                    # the reported checkpoint (null: none)
                 "best_epoch_after_switch": true}     # false only if no epoch after the switch finished

``null`` when nothing is deferred (no switch, or a switch at 0: weighted / re-balanced from the start).

``checkpoint_precedes_switch`` reads a finished job folder's config and summary -- also an old one, whose
summary has no ``deferred`` block -- and returns a note when its checkpoint precedes the switch: such a row's
scores are those of the method without its deferred part. Pure: no training imports, for the sweep report.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np

# (config group, key): the settings that switch a deferred method on after that many finished epochs.
SWITCH_SETTINGS = (("loss", "drw_epoch"), ("balancing", "start_epoch"))


def _epochs(value) -> Optional[int]:
    """A switch epoch as an int (an integral float from a config too); None for null, 0 or anything else."""
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not numeric or not np.isfinite(value) or not float(value).is_integer() or value <= 0:
        return None
    return int(value)


def switches_from_config(config: Mapping) -> Dict[str, int]:
    """``{"loss.drw_epoch": 24, ...}``: the deferred switches a run's config sets (those after epoch 0)."""
    out = {}
    for group, key in SWITCH_SETTINGS:
        node = config.get(group) if isinstance(config, Mapping) else None
        value = _epochs(node.get(key)) if isinstance(node, Mapping) else None
        if value is not None:
            out[f"{group}.{key}"] = value
    return out


def deferred_block(switches: Mapping[str, int], best_epoch: Optional[int]) -> Optional[dict]:
    """The summary's ``deferred`` block (see the module docstring); None without a switch after epoch 0."""
    switches = {name: int(epoch) for name, epoch in switches.items() if _epochs(epoch) is not None}
    if not switches:
        return None
    setting = max(switches, key=lambda name: switches[name])  # the first of equal ones, in settings order
    switch = switches[setting]
    return {"switch": setting, "switch_epoch": switch, "switches": switches, "first_epoch_after_switch": switch + 1,
            "best_epoch": best_epoch, "best_epoch_after_switch": None if best_epoch is None else best_epoch > switch}


def precedes_switch_note(setting: str, switch: int, best_epoch: int) -> str:
    return (f"the reported checkpoint (epoch {best_epoch}) precedes the switch of {setting}={switch} (its deferred "
            f"part begins in epoch {switch + 1}): the scores are those of the method without it")


def checkpoint_precedes_switch(config: Mapping, summary: Mapping) -> Optional[str]:
    """A note when a finished job's reported checkpoint precedes its deferred switch; None otherwise (also when
    nothing is deferred or no checkpoint was reported).

    The summary's ``deferred`` block decides when it has one; an older summary is judged from the config's
    ``loss.drw_epoch`` / ``balancing.start_epoch`` and the summary's ``best_epoch``.
    """
    if not isinstance(summary, Mapping):
        return None
    best = summary.get("best_epoch")
    if isinstance(best, bool) or not isinstance(best, (int, np.integer)):
        return None  # no checkpoint was reported (or the summary is not one balancelab wrote)
    block = summary.get("deferred")
    if not isinstance(block, Mapping) or _epochs(block.get("switch_epoch")) is None:
        block = deferred_block(switches_from_config(config), int(best))
    if block is None:
        return None
    switch = int(block["switch_epoch"])
    return precedes_switch_note(str(block["switch"]), switch, int(best)) if best <= switch else None
