"""One pass of a trained model over a split, giving everything evaluation needs from it at once: the class
probabilities and the mean cross-entropy (what validation and test report), the logits (post-hoc logit
adjustment) and the features entering the final linear layer (tau-normalisation). Evaluation then costs one
validation-sized pass per split, however many corrections follow.

The arithmetic is the training loop's validation (float32, no autocast, per batch in order), so the test
predictions are the same numbers whichever function produced them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from balancelab.errors import ConfigError


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (N, C); a single logit (BCE) becomes [1 - p, p]."""
    logits = logits.float()
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], 1)
    return torch.softmax(logits, 1)


def predicted_labels(logits: torch.Tensor) -> torch.Tensor:
    """Arg-max class without computing probabilities (a single BCE logit: positive when > 0)."""
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


def final_linear(model: nn.Module) -> nn.Linear:
    """The model's classifier: its last ``nn.Linear`` (checked to produce the output in ``forward_pass``)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{type(model).__name__} has no linear layer: tau-normalisation and classifier "
                          f"re-training need a model whose output comes from a final nn.Linear.")
    return linears[-1]


@dataclass
class Outputs:
    """A model's outputs on one split, in the split's order."""

    probabilities: np.ndarray          # (N, C), of the scaled logits
    loss: float                        # mean cross-entropy of the scaled logits
    logits: np.ndarray                 # (N, units), as the model outputs them (unscaled), float32
    features: Optional[np.ndarray]     # (N, d) entering the final linear layer; None when not asked or not found
    features_problem: str = ""         # why there are none although asked (no final linear layer that gives the output)


@torch.no_grad()
def forward_pass(model: nn.Module, data, batch_size: int, logit_scale: float = 1.0, features: bool = False,
                 strict: bool = True, keep_logits: bool = True) -> Outputs:
    """``model`` (put in eval mode) over ``data`` (a DeviceImages or StreamedImages) once.

    ``features``: capture the input of the final nn.Linear, checked to produce the model's output. When it does
    not (a cosine classifier, no linear layer): ConfigError with ``strict``, else the pass goes on without
    features and ``features_problem`` says why. ``logit_scale``: the factor the loss applies to the outputs
    (LDAM's s on a cosine classifier) before the probabilities and the loss. ``keep_logits=False``: no copy of the
    logits (the training loop's validation, every epoch, needs only the probabilities and the loss)."""
    model.eval()
    layer, hook, captured, problem = None, None, [], ""
    if features:
        try:
            layer = final_linear(model)
            hook = layer.register_forward_hook(lambda module, inputs, output: captured.append((inputs[0], output)))
        except ConfigError as exc:
            if strict:
                raise
            problem = str(exc)
    probs, logits, inputs, total_loss = [], [], [], 0.0
    try:
        for x, y in data.ordered_batches(batch_size):
            captured.clear()
            out = model(x)
            p = probabilities(out * logit_scale)
            total_loss += F.nll_loss(torch.log(p.clamp_min(1e-12)), y, reduction="sum").item()
            probs.append(p.cpu())
            if keep_logits:
                logits.append(out.float().cpu())
            if hook is not None:
                if len(captured) != 1 or captured[0][1].shape != out.shape or not torch.equal(captured[0][1].float(),
                                                                                             out.float()):
                    message = (f"The last linear layer of {type(model).__name__} does not produce the model's output, "
                               f"so it is not the classifier that tau-normalisation rescales.")
                    if strict:
                        raise ConfigError(message)
                    hook.remove()
                    hook, inputs, problem = None, [], message
                    continue
                inputs.append(captured[0][0].float().reshape(len(x), -1).cpu())
    finally:
        if hook is not None:
            hook.remove()
    if not probs:  # an empty split
        units = layer.out_features if layer is not None else 0
        empty_features = np.zeros((0, layer.in_features), np.float32) if hook is not None else None
        return Outputs(np.zeros((0, 0), np.float32), 0.0, np.zeros((0, units), np.float32), empty_features, problem)
    return Outputs(torch.cat(probs).numpy(), total_loss / max(len(data), 1),
                   torch.cat(logits).numpy() if keep_logits else np.zeros((0, 0), np.float32),
                   torch.cat(inputs).numpy() if features and not problem else None, problem)
