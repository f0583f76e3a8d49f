"""The epoch loop: train_one_epoch, predict, and fit with early stopping on validation macro-F1.

A run can be stopped (a signal, a preemption) after any batch and resumed to exactly the result it
would have had: the saved state holds the model, optimiser, scheduler and grad-scaler states, every
random stream (the loop's generator for order and augmentation, torch's global one for dropout, NumPy
and Python), the epoch's sample order with the position inside it, and the early-stopping bookkeeping.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from balancelab.balancing.sample_order import epoch_order
from balancelab.evaluation.forward import forward_pass, predicted_labels
from balancelab.evaluation.metrics import split_scores
from balancelab.output.contract import Status
from balancelab.output.deferred import deferred_block, precedes_switch_note
from balancelab.training.batches import DeviceImages, OnlineAugmentation
from balancelab.training.mixing import MixedTargets, mixed_loss
from balancelab.training.precise_bn import recompute_batch_norm_statistics
from balancelab.training.resume import Bookkeeping, EpochProgress, resume, snapshot
from balancelab.training.state import TrainingStateStore

log = logging.getLogger("balancelab")


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


class Interrupted(Exception):
    """Training stopped on request (a signal) after its state was saved; running again resumes it."""

    def __init__(self, signal_name: str, epoch: int, sample: int, saved: bool, stage: str = "training"):
        # stage: "training", or a stage after it ("evaluation", "classifier re-training") that a resumed
        # run redoes from the saved, finished training state.
        self.signal_name, self.epoch, self.sample, self.saved, self.stage = signal_name, epoch, sample, saved, stage
        where = f"epoch {epoch} (after {sample} samples)" if stage == "training" else stage
        super().__init__(f"{signal_name} received during {where}")


@dataclass
class TrainSettings:
    """How to train: everything ``fit`` needs besides the model, data and optimisation objects."""

    epochs: int
    batch_size: int
    seed: int
    patience: int = 0                       # early stopping on validation macro-F1 (0 = never)
    augment: OnlineAugmentation = field(default_factory=OnlineAugmentation)
    weighted_sampling: bool = False         # class-balanced draws with replacement every epoch
    amp_dtype: Optional[torch.dtype] = None
    grad_clip_norm: Optional[float] = None
    progress: str = "auto"                  # auto | bar | log
    # (x, y, generator) -> (mixed x, MixedTargets): mixup/remix after augmentation (training/mixing.py)
    mix: Optional[Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple]] = None
    # (labels, 1-based epoch, generator) -> sample order; replaces weighted_sampling (deferred_sampling.py)
    batch_order: Optional[Callable[[np.ndarray, int, torch.Generator], torch.Tensor]] = None
    # Optimiser steps per epoch (trainer.budget=steps): one number for every epoch, or one per epoch
    # (training_budget's list, which adds up to trainer.steps exactly): every technique gets the same
    # number of updates whatever the size of its training set. None: one pass over the training set.
    steps_per_epoch: Optional[Union[int, Sequence[int]]] = None
    logit_scale: float = 1.0                # outputs x this = the logits the loss sees (see predict)
    # The full state (model, optimiser, best weights: about 4x the model) is written after the first
    # epoch, the last one, on a stop request, and otherwise only once this many seconds have passed
    # since the last write (0: after every epoch). A hard kill loses at most that much work; the
    # resumed run still ends exactly where an uninterrupted one does.
    state_every_s: float = 0.0
    # Evaluation keeps no activations for a backward pass: larger batches cost little memory and
    # save most of the per-batch overhead of small models (None: the training batch, which keeps a run's
    # numbers independent of this setting; trainer.eval_batch_size raises it).
    eval_batch_size: Optional[int] = None
    # Before each validation, batch-norm statistics are recomputed for the current weights over this many
    # unaugmented training images (the first ones of the epoch's order, so they follow its sampling); 0 = the
    # running averages, which lag the weights in short epochs (training/precise_bn.py). trainer.precise_bn_images.
    precise_bn_images: int = 0

    @property
    def evaluation_batch_size(self) -> int:
        return self.eval_batch_size or self.batch_size


@dataclass
class FitResult:
    history: List[Dict[str, float]]
    best_state: Optional[dict]
    best_epoch: Optional[int]          # 1-based
    best_val_macro_f1: float
    status: str                        # completed | early_stopped | diverged
    message: str = ""                  # why it stopped, then the notes
    notes: List[str] = field(default_factory=list)  # e.g. a deferred method the run ended before reaching
    deferred: Optional[dict] = None    # the summary's ``deferred`` block (output/deferred.py); None: nothing deferred


def train_one_epoch(model, data: DeviceImages, progress: EpochProgress, criterion, optimizer, settings: TrainSettings,
                    generator: torch.Generator, scaler=None, bar=None,
                    should_stop: Callable[[], bool] = lambda: False) -> bool:
    """Train from ``progress.next_start`` to the end of the epoch; False if stopped early on request."""
    model.train()
    if hasattr(data, "prefetch"):  # streamed images: gather the coming batches while the device trains
        data.prefetch(progress.order, settings.batch_size, progress.next_start)
    try:
        return _train_batches(model, data, progress, criterion, optimizer, settings, generator, scaler, bar,
                              should_stop)
    finally:
        if hasattr(data, "close"):  # the prefetch thread ends with the epoch, however it ends
            data.close()


def _train_batches(model, data, progress: EpochProgress, criterion, optimizer, settings: TrainSettings,
                   generator: torch.Generator, scaler, bar, should_stop) -> bool:
    """The batches of ``train_one_epoch``."""
    device = data.device
    order, batch_size = progress.order, settings.batch_size
    while progress.next_start < len(order):
        start = progress.next_start
        index = order[start:start + batch_size]
        index = index if getattr(data, "host_indexed", False) else index.to(device)
        progress.next_start = start + batch_size
        if len(index) < 2 and len(order) > 1:
            continue  # a 1-sample batch breaks batch norm; it is at most one sample an epoch
        x, y = data.batch(index, settings.augment, generator)
        targets: Optional[MixedTargets] = None
        if settings.mix is not None:
            x, targets = settings.mix(x, y, generator)
        with torch.autocast(device.type, dtype=settings.amp_dtype, enabled=settings.amp_dtype is not None):
            logits = model(x)
            loss = criterion(logits, y) if targets is None else mixed_loss(criterion, logits, targets)
        if targets is not None:
            y = targets.dominant  # training accuracy of a mixed batch: against the label that weighs more
        if not torch.isfinite(loss):
            raise Diverged(f"training loss became {loss.item()} at sample {start}")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if settings.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        progress.loss_sum += loss.item() * len(y)
        progress.correct += (predicted_labels(logits.detach()) == y).sum().item()
        progress.seen += len(y)
        if bar is not None:
            bar.update(len(y))
        if should_stop() and progress.next_start < len(order):
            return False
    return True


def _steps_in_epoch(settings: "TrainSettings", epoch: int) -> Optional[int]:
    """Optimiser steps of the 1-based ``epoch`` under a steps budget (None: one pass over the set)."""
    steps = settings.steps_per_epoch
    if steps is None or isinstance(steps, int):
        return steps
    return steps[epoch - 1]


def _order_for_epoch(labels: np.ndarray, epoch: int, settings: TrainSettings, generator: torch.Generator) -> torch.Tensor:
    """The epoch's sample order; with ``steps_per_epoch``, exactly the epoch's batches, drawing further
    passes (each a fresh order) when one pass is shorter, cutting the last one where it is longer."""
    def one_pass() -> torch.Tensor:
        if settings.batch_order is not None:
            return settings.batch_order(labels, epoch, generator)
        return epoch_order(labels, settings.weighted_sampling, generator)

    steps = _steps_in_epoch(settings, epoch)
    if steps is None:
        return one_pass()
    wanted = steps * settings.batch_size
    parts, have = [], 0
    while have < wanted:
        parts.append(one_pass())
        have += len(parts[-1])
    return torch.cat(parts)[:wanted]


@torch.no_grad()
def predict(model, data: DeviceImages, batch_size: int, logit_scale: float = 1.0) -> tuple[np.ndarray, float]:
    """Class probabilities (N, C) and the mean cross-entropy, in float32 (evaluation.forward's one pass).

    Validation and test both use this, so their numbers follow the same arithmetic (no autocast).
    ``logit_scale``: the factor the loss applies to the model's outputs (LDAM's s on a cosine classifier,
    whose raw outputs in [-1, 1] would otherwise give near-uniform, meaningless probabilities).
    """
    outputs = forward_pass(model, data, batch_size, logit_scale, keep_logits=False)
    return outputs.probabilities, outputs.loss


def _progress_bar(mode: str, total: int, epoch: int, epochs: int):
    use_bar = mode == "bar" or (mode == "auto" and sys.stderr.isatty())
    if not use_bar:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="img", leave=False, file=sys.stderr)


def fit(model, train: DeviceImages, val: DeviceImages, criterion, optimizer, scheduler, settings: TrainSettings,
        store: Optional[TrainingStateStore] = None,
        on_epoch_end: Optional[Callable[[Dict[str, float]], None]] = None,
        stop_requested: Callable[[], Optional[str]] = lambda: None) -> FitResult:
    """Train for up to ``settings.epochs``; keep the weights of the best validation macro-F1.

    A deferred method (a criterion or batch order whose ``deferred_start()`` names a switch after epoch 0:
    DRW's class weights, deferred re-sampling) is reported as itself, never as the method without its deferred
    part: the best weights are chosen among the epochs after the (last) switch only, and early stopping does
    not end a run before the switch -- its patience counts from the first epoch after it (which becomes the
    best so far). The best epoch before the switch is kept only while no epoch after it has finished (a run
    that diverges first reports it, with a note).

    With a ``store``, the full training state is saved after epochs (every one, or as
    ``settings.state_every_s`` allows; after the early-stopping decision, so a resumed run stops where
    the uninterrupted one did) and when ``stop_requested`` returns a signal name; a saved state is
    resumed when fit starts. Before each validation the batch-norm statistics are recomputed for the
    current weights (``settings.precise_bn_images``; the best weights keep them). Validation scores are at
    the arg-max, over the classes present in the validation split.
    """
    if settings.batch_order is not None and settings.weighted_sampling:
        raise ValueError("TrainSettings: give weighted_sampling or batch_order, not both (both choose the order)")
    steps = settings.steps_per_epoch
    if steps is not None and not isinstance(steps, int) and len(steps) != settings.epochs:
        raise ValueError(f"TrainSettings: steps_per_epoch lists {len(steps)} epochs for epochs={settings.epochs}")
    generator = torch.Generator().manual_seed(settings.seed)
    # fp16 needs loss scaling (bf16 does not); the scaler works on the device the batches are on.
    scaler = torch.amp.GradScaler(train.device.type) if settings.amp_dtype == torch.float16 else None
    books, partial = resume(store, model, optimizer, scheduler, scaler, generator)

    last_save = [-math.inf]

    def save(progress: Optional[EpochProgress]) -> None:
        if store is not None:
            store.save(snapshot(books, progress, model, optimizer, scheduler, scaler, generator))
            last_save[0] = time.monotonic()

    def save_due(epoch: int) -> bool:
        return (books.finished is not None or epoch == 1 or not settings.state_every_s
                or time.monotonic() - last_save[0] >= settings.state_every_s)

    components = (criterion, settings.batch_order)
    switches = _switches(components)
    switch = max(switches.values(), default=0)  # finished epochs before the last deferred switch
    epoch = books.epoch
    while books.finished is None and epoch < settings.epochs:
        epoch = books.epoch + 1
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        if hasattr(criterion, "set_epoch"):  # losses whose weights change with the epoch (deferred re-weighting)
            criterion.set_epoch(epoch)
        progress = partial or EpochProgress(_order_for_epoch(train.y, epoch, settings, generator))
        partial = None
        bar = _progress_bar(settings.progress, len(progress.order), epoch, settings.epochs)
        try:
            done = train_one_epoch(model, train, progress, criterion, optimizer, settings, generator, scaler, bar,
                                   should_stop=lambda: stop_requested() is not None)
        except Diverged as exc:
            message = f"epoch {epoch}: {exc}"
            log.error("Training diverged (%s); stopping. Try a lower optimizer.lr or trainer.grad_clip_norm.", message)
            return _result(books, Status.DIVERGED.value, message, _never_started(components, epoch), switches)
        finally:
            if bar is not None:
                bar.close()
        if not done:
            save(progress)
            raise Interrupted(stop_requested(), epoch, progress.next_start, store is not None)
        scheduler.step()
        recompute_batch_norm_statistics(model, train, progress.order, settings.precise_bn_images, settings.batch_size)
        probs, val_loss = predict(model, val, settings.evaluation_batch_size, settings.logit_scale)
        scores = split_scores(val.y, probs.argmax(1))
        row = {"epoch": epoch, "lr": lr, **progress.averages(), "val_loss": val_loss,
               "val_accuracy": scores["accuracy"], "val_macro_f1": scores["macro_f1"],
               "val_balanced_accuracy": scores["balanced_accuracy"], "seconds": time.perf_counter() - start}
        books.history.append(row)
        books.epoch = epoch
        if not math.isfinite(val_loss):
            message = f"epoch {epoch}: validation loss is {val_loss}"
            log.error("Validation loss is not finite (%s); stopping.", message)
            return _result(books, Status.DIVERGED.value, message, _never_started(components, epoch), switches)
        if books.best_epoch is not None and books.best_epoch <= switch < epoch:
            # The first epoch after the switch: what came before is the method without its deferred part.
            books.best_f1, books.since_best = -math.inf, 0
            log.info("Epoch %d is the first after the deferred switch (%s): the best checkpoint is chosen from "
                     "here on.", epoch, ", ".join(f"{k}={v}" for k, v in switches.items()))
        improved = scores["macro_f1"] > books.best_f1
        if improved:
            books.best_f1, books.best_epoch, books.since_best = scores["macro_f1"], epoch, 0
            books.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            books.since_best += 1
        log.info("epoch %d/%d  lr %.2e  train loss %.4f acc %.3f  val loss %.4f acc %.3f macro-F1 %.3f%s  (%.1fs)",
                 epoch, settings.epochs, lr, row["train_loss"], row["train_accuracy"], val_loss, row["val_accuracy"],
                 scores["macro_f1"], " *" if improved else "", row["seconds"])
        # The last epoch ends a run as completed even when patience runs out on it: `early_stopped`
        # says that epochs were left untrained.
        if epoch == settings.epochs:
            books.finished = Status.COMPLETED.value
        elif settings.patience and epoch > switch and books.since_best >= settings.patience:
            books.finished = Status.EARLY_STOPPED.value
            books.message = f"no validation macro-F1 gain for {settings.patience} epochs"
            log.info("Early stopping at epoch %d: %s.", epoch, books.message)
        if on_epoch_end is not None:
            on_epoch_end(row)
        stopping = books.finished is None and stop_requested() is not None
        if stopping or save_due(epoch):
            save(None)
        if stopping:
            raise Interrupted(stop_requested(), epoch + 1, 0, store is not None)
    return _result(books, books.finished or Status.COMPLETED.value, books.message, _never_started(components, books.epoch),
                   switches)


def _result(books: Bookkeeping, status: str, message: str, notes: Sequence[str] = (),
            switches: Optional[Dict[str, int]] = None) -> FitResult:
    best = float(books.best_f1) if books.best_epoch else float("nan")
    deferred = deferred_block(switches or {}, books.best_epoch)
    notes = list(notes)
    if deferred and deferred["best_epoch_after_switch"] is False and not notes:  # "never started" says it already
        notes.append(precedes_switch_note(deferred["switch"], deferred["switch_epoch"], books.best_epoch))
        log.warning("The run's %s.", notes[-1])
    message = "; ".join([m for m in (message, *notes) if m])
    return FitResult(books.history, books.best_state, books.best_epoch, best, status, message, notes, deferred)


def _switches(components) -> Dict[str, int]:
    """{setting: finished epochs before it starts} of the deferred components (``deferred_start()``)."""
    out = {}
    for component in components:
        start = getattr(component, "deferred_start", None)
        deferred = start() if callable(start) else None
        if deferred is not None:
            _, setting, finished = deferred
            out[setting] = int(finished)
    return out


def _never_started(components, last_epoch: int) -> List[str]:
    """A note (and a warning) for each deferred method the run ended before reaching.

    A component takes part through ``deferred_start()``: (what, its setting, finished epochs before it starts)
    or None when nothing is deferred (DRW losses, deferred re-sampling). ``last_epoch``: the last epoch begun.
    """
    notes = []
    for component in components:
        start = getattr(component, "deferred_start", None)
        deferred = start() if callable(start) else None
        if deferred is None:
            continue
        what, setting, finished = deferred
        if last_epoch <= finished:
            note = (f"{what} ({setting}={finished}) never started: training ended at epoch {last_epoch}, and it "
                    f"begins in epoch {finished + 1}")
            log.warning("The run's %s: its results are those of the method without it. Lower %s, or raise "
                        "trainer.epochs.", note, setting)
            notes.append(note)
    return notes
