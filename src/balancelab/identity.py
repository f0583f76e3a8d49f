"""A run's identity: its resolved config minus the keys that only change how it is shown or stored.

Two runs are the same experiment exactly when their identities are equal. The run folder's name ends
in a short hash of the identity, a finished folder is skipped or refused only for an equal identity,
and a saved training state is resumed only by an equal identity. The hash is computed from the
config's values alone (canonical JSON), so it is the same on every machine.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Mapping

# The one list of presentation-only keys (dotted paths): where results are written or shown, how fast,
# and with which bookkeeping labels. Nothing here may change a number a run produces.
PRESENTATION_KEYS = (
    "logger",                  # experiment tracking
    "trainer.progress",        # progress bar or log lines
    "trainer.num_threads",     # CPU threads: speed only
    "trainer.data_on_device",  # images on the device or streamed to it: the same batches either way
    "trainer.state_every_s",   # how often the resumable state is written: a resume ends identically
    "dataset.decode_workers",  # image decoding threads: speed only
    "dataset.download",        # whether torchvision may fetch the files: the same files either way
    "dataset.input_size",      # only the model's default side: model.input_size records the side trained at
    "overwrite",               # what to do with an existing folder
    "retry_failed",            # what a sweep does with failed jobs
    "output_root", "cache_dir", "use_cache",  # where things are stored
    "run_name",                # derived from the identity itself
    "sweep_name", "experiment_name", "experiment_group",  # labels of sweep rows and wandb groups
    "lock_stale_after_s",      # how long before a silent lock counts as abandoned
    "hydra",                   # Hydra's own runtime node
)
# Left out of the identity because another resolved key records what they do, not because they do nothing:
# an override of one still makes another sweep (cli.sweep_naming.shared_overrides_hash).
RECORDED_ELSEWHERE = ("dataset.input_size",)
HASH_LENGTH = 8
_ABSENT = object()
# (dotted key, its value when off, keys read only when it is on)
ADDED_LATER = (("feature_balancing", None, ("trainer.feature_head_epochs",)),
               ("loss.weight", None, ()))  # ldam's fixed class weights


def _get(config: dict, dotted: str, default: Any) -> Any:
    node: Any = config
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _pop(config: dict, dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    node: Any = config
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


def _is_off(value: Any, off: Any) -> bool:
    """``value`` is the key's off value: the same value of the same type (0.0 is off for a float key whose off
    value is 0.0, but False is not 0 and 1.0 is not True), or both None."""
    return value is off or (value is not _ABSENT and type(value) is type(off) and value == off)


def identity(config: Mapping[str, Any]) -> dict:
    """A copy of the resolved ``config`` (plain dict) without the presentation-only keys."""
    out = copy.deepcopy(dict(config))
    # Keys added after runs were made, left out while they are off (their neutral value), so that those runs
    # keep their identity; with them go the keys only they use.
    for dotted, off, used_only_with in ADDED_LATER:
        if _is_off(_get(out, dotted, _ABSENT), off):
            for key in (dotted, *used_only_with):
                _pop(out, key)
    for dotted in PRESENTATION_KEYS:
        _pop(out, dotted)
    return out


def identity_hash(config: Mapping[str, Any]) -> str:
    canonical = json.dumps(identity(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def resolved_without_name(cfg) -> dict:
    """The DictConfig ``cfg`` resolved to a plain dict, without ``run_name`` (which embeds the hash) or ``hydra``."""
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(cfg, resolve=False)
    # A key built from the hash cannot be part of what is hashed (it would recurse).
    keep = [k for k in raw if k not in ("run_name", "hydra")
            and not (isinstance(raw[k], str) and "identity_hash" in raw[k])]
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, keep), resolve=True, throw_on_missing=False)


def register_resolver() -> None:
    """``${identity_hash:}`` in configs: the hash of the config it appears in (used by ``run_name``)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("identity_hash"):
        OmegaConf.register_new_resolver("identity_hash", lambda *, _root_: identity_hash(resolved_without_name(_root_)))
