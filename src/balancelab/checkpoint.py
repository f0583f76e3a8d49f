"""best_model.pt: a state dict plus plain metadata, loadable with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import torch

from balancelab.errors import ConfigError
from balancelab.options.build import accepted_parameters, build, component_arguments, target_of
from balancelab.options.models import SCHEMAS
from balancelab.output.atomic import write_with


def save_checkpoint(path: str | Path, state_dict: dict, metadata: dict) -> None:
    payload = {"state_dict": state_dict, "metadata": metadata}
    write_with(path, lambda p: torch.save(payload, p))


def load_checkpoint(path: str | Path) -> Tuple[torch.nn.Module, dict]:
    """Rebuild the model from ``best_model.pt`` alone; returns (model in eval mode, metadata).

    The model is built from the config node the run used (its ``_target_``), never from pretrained
    files: the state dict holds every weight.
    """

    payload = torch.load(path, map_location="cpu", weights_only=True)
    meta = payload["metadata"]
    node = with_target(dict(meta["model"]))
    if "pretrained" in node:
        node["pretrained"] = False
    model = build(node, "model", num_classes=meta.get("output_units", len(meta["class_names"])),
                  in_channels=meta["in_channels"], input_size=meta["input_size"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), meta


def with_target(model_node: dict) -> dict:
    """A model node of a checkpoint written before components were named by ``_target_`` (only ``name``,
    e.g. shufflenet_v2_x0_5 with width 0.5): the built-in option's target, its schema's defaults for what
    the old node lacks (``architecture``), and only the keys the target takes."""
    if model_node.get("_target_"):
        return model_node
    import dataclasses

    name = str(model_node.get("name", ""))
    schema = SCHEMAS.get(name) or SCHEMAS.get(name.split("_x")[0])
    if schema is None:
        raise ConfigError(f"This checkpoint's model {name!r} is not a built-in model and has no _target_; rebuild it "
                          f"with the code of the run that wrote it.")
    defaults = {f.name: f.default for f in dataclasses.fields(schema) if f.default is not dataclasses.MISSING}
    accepted, takes_any = accepted_parameters(target_of(defaults, "model"))
    node = {"_target_": defaults["_target_"], "name": name}
    for key, value in component_arguments({**defaults, **model_node}, "model").items():
        if (takes_any or key in accepted) and key not in ("num_classes", "in_channels"):
            node[key] = value  # the old node's keys its target never read (small_cnn's pretrained) are dropped
    return node
