"""best_model.pt: a state dict plus plain metadata, loadable with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import torch

from balancelab.output.atomic import write_with


def save_checkpoint(path: str | Path, state_dict: dict, metadata: dict) -> None:
    payload = {"state_dict": state_dict, "metadata": metadata}
    write_with(path, lambda p: torch.save(payload, p))


def load_checkpoint(path: str | Path) -> Tuple[torch.nn.Module, dict]:
    """Rebuild the model from ``best_model.pt`` alone; returns (model in eval mode, metadata)."""
    from balancelab.models import build_model

    payload = torch.load(path, map_location="cpu", weights_only=True)
    meta = payload["metadata"]
    m = meta["model"]
    model = build_model(m["name"], num_classes=meta.get("output_units", len(meta["class_names"])),
                        in_channels=meta["in_channels"],
                        input_size=meta["input_size"], width=m["width"], small_input=m["small_input"],
                        pretrained=False, dropout=m["dropout"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), meta
