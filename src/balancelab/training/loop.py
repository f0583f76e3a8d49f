"""The epoch loop: train_one_epoch, predict, and fit with early stopping on validation macro-F1."""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score, f1_score

from balancelab.training.batches import DeviceImages, OnlineAugmentation, epoch_order

log = logging.getLogger("balancelab")


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


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class FitResult:
    history: List[Dict[str, float]]
    best_state: Optional[dict]
    best_epoch: Optional[int]          # 1-based
    best_val_macro_f1: float
    status: str                        # completed | early_stopped | diverged
    message: str = ""
    seconds: float = 0.0
    extras: Dict[str, object] = field(default_factory=dict)


def train_one_epoch(model, data: DeviceImages, order: torch.Tensor, criterion, optimizer, batch_size: int,
                    augment: OnlineAugmentation, generator: torch.Generator, amp_dtype=None, scaler=None,
                    grad_clip_norm: Optional[float] = None, progress=None) -> Dict[str, float]:
    model.train()
    device = data.device
    total_loss, correct, seen = 0.0, 0, 0
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size].to(device)
        if len(index) < 2 and len(order) > 1:
            continue  # a 1-sample batch breaks batch norm; it is at most one sample an epoch
        x, y = data.batch(index, augment, generator)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
            loss = criterion(logits, y)
        if not torch.isfinite(loss):
            raise Diverged(f"training loss became {loss.item()} at sample {start}")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        total_loss += loss.item() * len(y)
        correct += (predicted_labels(logits.detach()) == y).sum().item()
        seen += len(y)
        if progress is not None:
            progress.update(len(y))
    return {"train_loss": total_loss / max(seen, 1), "train_accuracy": correct / max(seen, 1)}


@torch.no_grad()
def predict(model, data: DeviceImages, batch_size: int, amp_dtype=None) -> tuple[np.ndarray, float]:
    """Class probabilities (N, C) in float32 and the mean cross-entropy (negative log-likelihood)."""
    model.eval()
    probs, total_loss = [], 0.0
    for x, y in data.ordered_batches(batch_size):
        with torch.autocast(data.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        p = probabilities(logits)
        total_loss += F.nll_loss(torch.log(p.clamp_min(1e-12)), y, reduction="sum").item()
        probs.append(p.cpu())
    return torch.cat(probs).numpy(), total_loss / max(len(data), 1)


def save_training_state(path, epoch, model, optimizer, scheduler, generator, history, best_state, best_f1,
                        best_epoch, since_best) -> None:
    from balancelab.output.atomic import write_with

    state = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "generator": generator.get_state(), "history": history,
             "best_state": best_state, "best_f1": float(best_f1), "best_epoch": best_epoch, "since_best": since_best}
    write_with(path, lambda p: torch.save(state, p))


def _progress_bar(mode: str, total: int, epoch: int, epochs: int):
    use_bar = mode == "bar" or (mode == "auto" and sys.stderr.isatty())
    if not use_bar:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="img", leave=False, file=sys.stderr)


def fit(model, train: DeviceImages, train_labels: np.ndarray, val: DeviceImages, val_labels: np.ndarray,
        criterion, optimizer, scheduler, epochs: int, batch_size: int, augment: OnlineAugmentation,
        weighted_sampling: bool, seed: int, patience: int = 0, amp_dtype=None, grad_clip_norm=None,
        progress: str = "auto", on_epoch_end: Optional[Callable[[Dict[str, float]], None]] = None,
        state_path: Optional[Path] = None) -> FitResult:
    """Train for up to ``epochs``; keep the weights of the best validation macro-F1.

    With ``state_path``, the full training state is saved after every epoch and, if the file
    exists when ``fit`` starts (a requeued or interrupted job), training continues from it.
    """
    generator = torch.Generator().manual_seed(seed)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    history: List[Dict[str, float]] = []
    best_f1, best_epoch, best_state, since_best = -math.inf, None, None, 0
    status, message = "completed", ""
    start_all = time.perf_counter()
    num_classes = int(max(train_labels.max(), val_labels.max()) + 1)
    first_epoch = 1
    if state_path is not None and Path(state_path).exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        history, best_state, since_best = state["history"], state["best_state"], state["since_best"]
        best_f1 = state["best_f1"] if state["best_epoch"] else -math.inf
        best_epoch, first_epoch = state["best_epoch"], state["epoch"] + 1
        log.info("Resuming training after epoch %d from %s.", state["epoch"], state_path)
    for epoch in range(first_epoch, epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        order = epoch_order(train_labels, weighted_sampling, generator)
        bar = _progress_bar(progress, len(order), epoch, epochs)
        try:
            row = train_one_epoch(model, train, order, criterion, optimizer, batch_size, augment, generator,
                                  amp_dtype, scaler, grad_clip_norm, bar)
        except Diverged as exc:
            status, message = "diverged", f"epoch {epoch}: {exc}"
            log.error("Training diverged (%s); stopping. Try a lower optimizer.lr or trainer.grad_clip_norm.", message)
            break
        finally:
            if bar is not None:
                bar.close()
        scheduler.step()
        probs, val_loss = predict(model, val, batch_size, amp_dtype)
        pred = probs.argmax(1)
        macro_f1 = f1_score(val_labels, pred, labels=range(num_classes), average="macro", zero_division=0)
        row = {"epoch": epoch, "lr": lr, **row, "val_loss": val_loss,
               "val_accuracy": float((pred == val_labels).mean()), "val_macro_f1": float(macro_f1),
               "val_balanced_accuracy": float(balanced_accuracy_score(val_labels, pred)),
               "seconds": time.perf_counter() - start}
        history.append(row)
        if not math.isfinite(val_loss):
            status, message = "diverged", f"epoch {epoch}: validation loss is {val_loss}"
            log.error("Validation loss is not finite (%s); stopping.", message)
            break
        improved = macro_f1 > best_f1
        if improved:
            best_f1, best_epoch, since_best = macro_f1, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            since_best += 1
        log.info("epoch %d/%d  lr %.2e  train loss %.4f acc %.3f  val loss %.4f acc %.3f macro-F1 %.3f%s  (%.1fs)",
                 epoch, epochs, lr, row["train_loss"], row["train_accuracy"], val_loss, row["val_accuracy"],
                 macro_f1, " *" if improved else "", row["seconds"])
        if on_epoch_end is not None:
            on_epoch_end(row)
        if state_path is not None:
            save_training_state(state_path, epoch, model, optimizer, scheduler, generator, history,
                                best_state, best_f1, best_epoch, since_best)
        if patience and since_best >= patience:
            status, message = "early_stopped", f"no validation macro-F1 gain for {patience} epochs"
            log.info("Early stopping at epoch %d: %s.", epoch, message)
            break
    return FitResult(history, best_state, best_epoch, float(best_f1) if best_epoch else float("nan"),
                     status, message, time.perf_counter() - start_all)
