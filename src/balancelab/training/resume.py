"""What a training run saves to resume and how it resumes: the epoch's progress and the early-stopping
bookkeeping, their snapshot (with every model, optimiser, scheduler, scaler and random state), and the resume
from the newest saved state that loads, the previous generation when it does not, a clean start with none.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

from balancelab.output.atomic import set_aside
from balancelab.training.state import TrainingStateStore, capture_rng, restore_rng

log = logging.getLogger("balancelab")


@dataclass
class EpochProgress:
    """Where an epoch is: its sample order, the next sample to train on, and the running sums."""

    order: torch.Tensor
    next_start: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0

    def averages(self) -> Dict[str, float]:
        return {"train_loss": self.loss_sum / max(self.seen, 1), "train_accuracy": self.correct / max(self.seen, 1)}


@dataclass
class Bookkeeping:
    """What fit carries from epoch to epoch (and saves for a resume)."""

    epoch: int = 0                       # epochs finished
    history: List[Dict[str, float]] = field(default_factory=list)
    best_state: Optional[dict] = None
    best_f1: float = -math.inf
    best_epoch: Optional[int] = None
    since_best: int = 0
    finished: Optional[str] = None       # set once training is over: completed | early_stopped
    message: str = ""


def snapshot(books: Bookkeeping, progress: Optional[EpochProgress], model, optimizer, scheduler, scaler,
              generator) -> dict:
    return {
        "epoch": books.epoch, "history": books.history, "best_state": books.best_state,
        "best_f1": float(books.best_f1), "best_epoch": books.best_epoch, "since_best": books.since_best,
        "finished": books.finished, "message": books.message,
        "progress": None if progress is None else {
            "order": progress.order.cpu(), "next_start": progress.next_start, "loss_sum": progress.loss_sum,
            "correct": progress.correct, "seen": progress.seen},
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(),
        "generator": generator.get_state(), "rng": capture_rng(),
    }


def resume(store: Optional[TrainingStateStore], model, optimizer, scheduler, scaler, generator):
    """The bookkeeping and unfinished epoch of the newest saved state that loads into this run's objects.

    The store sets aside a file it cannot read or whose content does not fit (state.state_problems); a state
    that passes those checks can still fail to load (another scheduler's state, a damaged random state):
    then the objects are put back as they were, the file is set aside too and the previous generation is
    tried; with none left, training starts from scratch.
    """
    fresh = (Bookkeeping(), None)
    if store is None:
        return fresh
    initial = None
    while True:
        state = store.load(model, optimizer)
        if state is None:
            if initial is not None:  # every state the store gave failed to load
                log.warning("No training state in %s loads into this run: training starts from scratch.", store.folder)
            return fresh
        initial = initial or _InitialState(model, optimizer, scheduler, scaler, generator)
        try:
            books, partial = restore(state, model, optimizer, scheduler, scaler, generator)
        except Exception as exc:  # load_state_dict and the rng setters raise KeyError, ValueError, RuntimeError ...
            initial.put_back(model, optimizer, scheduler, scaler, generator)
            if not _set_aside_unloadable(store, exc):
                return fresh
            continue
        where = f"epoch {books.epoch + 1} at sample {partial.next_start}" if partial else f"epoch {books.epoch + 1}"
        log.info("Resuming training from the saved state (%s), %s.", _loaded_name(store), where)
        return books, partial


def _loaded_name(store) -> str:
    return (getattr(store, "loaded_from", None) or store.path).name


def _set_aside_unloadable(store, exc: Exception) -> bool:
    """Move the state that failed to load out of the way (True), so the store's next load finds the previous
    generation; False when it cannot be moved (a read-only folder): the run then starts from scratch and
    its first save replaces the file."""
    path = getattr(store, "loaded_from", None) or store.path
    why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no message'}"
    try:
        aside = set_aside(path)
    except OSError as error:
        log.warning("The training state %s does not load into this run (%s) and cannot be set aside (%s); "
                    "training starts from scratch.", path, why, error)
        return False
    log.warning("The training state %s does not load into this run (%s); set aside as %s.", path, why, aside.name)
    return True


class _InitialState:
    """What a failed restore may have half changed, as it was before: put back before the next try."""

    def __init__(self, model, optimizer, scheduler, scaler, generator):
        self.model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.optimizer = copy.deepcopy(optimizer.state_dict())
        self.scheduler = copy.deepcopy(scheduler.state_dict())
        self.scaler = None if scaler is None else copy.deepcopy(scaler.state_dict())
        self.generator = generator.get_state()
        self.rng = capture_rng()

    def put_back(self, model, optimizer, scheduler, scaler, generator) -> None:
        model.load_state_dict(self.model)
        optimizer.load_state_dict(copy.deepcopy(self.optimizer))
        scheduler.load_state_dict(copy.deepcopy(self.scheduler))
        if scaler is not None and self.scaler:  # a disabled scaler's state is empty and has nothing to restore
            scaler.load_state_dict(self.scaler)
        generator.set_state(self.generator)
        restore_rng(self.rng)


def restore(state: dict, model, optimizer, scheduler, scaler, generator):
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    generator.set_state(state["generator"])
    restore_rng(state["rng"])
    books = Bookkeeping(epoch=state["epoch"], history=state["history"], best_state=state["best_state"],
                         best_f1=state["best_f1"] if state["best_epoch"] else -math.inf,
                         best_epoch=state["best_epoch"], since_best=state["since_best"],
                         finished=state.get("finished"), message=state.get("message", ""))
    p = state.get("progress")
    partial = None if p is None else EpochProgress(p["order"], p["next_start"], p["loss_sum"], p["correct"], p["seen"])
    return books, partial
