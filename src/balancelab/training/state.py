"""The training state of an unfinished run: saved every epoch (and on a stop request), resumed on restart.

Two generations are kept (``training_state.pt`` and ``training_state.prev.pt``): a file that fails to
load (truncated copy, full disk, bad transfer) is set aside under a new name, never deleted, and the
previous generation is used instead; with neither usable the run restarts from scratch. A state is
only resumed by the run identity that wrote it.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from balancelab.errors import OutputFolderError
from balancelab.output.atomic import atomic_path, set_aside
from balancelab.output.contract import PREVIOUS_STATE_FILE, STATE_FILE

log = logging.getLogger("balancelab")


def capture_rng() -> dict:
    """Every random stream the loop may draw from besides its own generator (dropout uses torch's global one)."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": _numpy_state_to_plain(np.random.get_state())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    np.random.set_state(_numpy_state_from_plain(state["numpy"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state_to_plain(state) -> dict:
    # torch.load(weights_only=True) accepts tensors and plain containers, not NumPy arrays.
    kind, keys, pos, has_gauss, cached = state
    return {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _numpy_state_from_plain(plain: dict):
    return (plain["kind"], plain["keys"].numpy().astype(np.uint32), plain["pos"], plain["has_gauss"], plain["cached"])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


# What the training loop's snapshot holds (loop._snapshot); a state without one of these cannot be resumed.
REQUIRED_ENTRIES = ("epoch", "history", "best_state", "best_f1", "best_epoch", "since_best", "model", "optimizer",
                    "scheduler", "generator", "rng")


def state_problems(state, model=None, optimizer=None) -> List[str]:
    """Why ``state`` cannot be resumed (empty when it can): every entry the loop restores is checked, so a
    state that unzips but does not fit the run is found here, not as a traceback in the middle of the restore.

    Without ``model`` the weights are checked against the best weights saved with them (the same network);
    with it, against the model's own keys and shapes; with ``optimizer``, the parameter groups too.
    """
    if not isinstance(state, dict):
        return ["not a balancelab training state"]
    missing = [k for k in REQUIRED_ENTRIES if k not in state]
    if missing:
        return [f"entries missing: {', '.join(missing)}"]
    problems: List[str] = []
    weights, best = state["model"], state["best_state"]
    expected = _shapes(model.state_dict()) if model is not None else None
    if not _tensor_mapping(weights):
        problems.append("the model's weights are not a mapping of tensors")
    else:
        problems += _mismatch("the model's weights", _shapes(weights), expected or (_shapes(best) if
                                                                                     _tensor_mapping(best) else None))
    if best is not None:
        if not _tensor_mapping(best):
            problems.append("the best weights are not a mapping of tensors")
        elif expected is not None:
            problems += _mismatch("the best weights", _shapes(best), expected)
    problems += _optimizer_problems(state["optimizer"], optimizer)
    problems += _random_state_problems(state["generator"], state["rng"])
    problems += _progress_problems(state)
    return problems


def _tensor_mapping(value) -> bool:
    return isinstance(value, dict) and all(isinstance(v, torch.Tensor) for v in value.values())


def _shapes(weights: dict) -> Dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in weights.items()}


def _mismatch(what: str, found: Dict[str, tuple], expected: Optional[Dict[str, tuple]]) -> List[str]:
    if expected is None:
        return []
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    reshaped = [f"{k} {found[k]} instead of {expected[k]}" for k in expected if k in found and found[k] != expected[k]]
    parts = [f"{label} {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
             for label, names in (("missing", missing), ("unexpected", unexpected), ("shape of", reshaped)) if names]
    return [f"{what} do not fit the model: {'; '.join(parts)}"] if parts else []


def _optimizer_problems(saved, optimizer) -> List[str]:
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), dict):
        return ["the optimizer state is not an optimizer's state_dict"]
    if optimizer is None:
        return []
    sizes = [len(g.get("params", [])) for g in saved["param_groups"]]
    wanted = [len(g["params"]) for g in optimizer.param_groups]
    if sizes != wanted:
        return [f"the optimizer state has parameter groups of sizes {sizes}; this run's optimizer has {wanted}"]
    if any(not isinstance(k, int) or not 0 <= k < sum(wanted) for k in saved["state"]):
        return ["the optimizer state refers to parameters the optimizer does not have"]
    # Per-parameter buffers (Adam's moments, SGD's momentum) must have their parameter's shape: a mismatch
    # loads without complaint and fails at the first optimiser step, too late to fall back.
    shapes = [tuple(p.shape) for group in optimizer.param_groups for p in group["params"]]
    for k, buffers in saved["state"].items():
        for name, value in (buffers.items() if isinstance(buffers, dict) else []):
            if isinstance(value, torch.Tensor) and value.dim() > 0 and tuple(value.shape) != shapes[k]:
                return [f"the optimizer's {name} for parameter {k} has shape {tuple(value.shape)}; the parameter "
                        f"is {shapes[k]}"]
    return []


def _random_state_problems(generator, rng) -> List[str]:
    problems = []
    size = torch.Generator().get_state().numel()
    if not isinstance(generator, torch.Tensor) or generator.dtype != torch.uint8 or generator.numel() != size:
        problems.append("the generator state is not a torch generator's state")
    if not isinstance(rng, dict) or not {"torch", "python", "numpy"} <= set(rng):
        problems.append("the rng states (torch, python, numpy) are incomplete")
    elif not isinstance(rng["torch"], torch.Tensor) or rng["torch"].numel() != torch.get_rng_state().numel():
        problems.append("the rng state of torch has the wrong size")
    elif not isinstance(rng["numpy"], dict) or not {"kind", "keys", "pos", "has_gauss", "cached"} <= set(rng["numpy"]):
        problems.append("the rng state of numpy is incomplete")
    return problems


def _progress_problems(state: dict) -> List[str]:
    problems = []
    epoch, history = state["epoch"], state["history"]
    if not isinstance(epoch, int) or epoch < 0 or not isinstance(history, list) or len(history) != epoch:
        problems.append(f"the history has {len(history) if isinstance(history, list) else 'no'} epochs, the state "
                        f"says {epoch} finished")
    progress = state.get("progress")
    if progress is not None:
        order = progress.get("order") if isinstance(progress, dict) else None
        start = progress.get("next_start") if isinstance(progress, dict) else None
        if not isinstance(order, torch.Tensor) or not isinstance(start, int) or not 0 <= start <= len(order):
            problems.append("the position in the epoch (progress) is not a valid place in its sample order")
    return problems


class TrainingStateStore:
    """``facts``: how the run executes (CPU threads, device), not what it trains, so not its identity; saved
    with each state, and a resume under other facts is warned about: a sum split over another number of
    threads rounds differently, so the resumed run is no longer bit-identical to an uninterrupted one."""

    def __init__(self, folder: Path, identity: Optional[str], facts: Optional[dict] = None):
        self.folder = Path(folder)
        self.identity = identity
        self.facts = dict(facts or {})
        self.notes: List[str] = []  # what changed between sessions, for the summary's notes
        self.path = self.folder / STATE_FILE          # where the next state is saved
        self.previous = self.folder / PREVIOUS_STATE_FILE
        self.loaded_from: Optional[Path] = None       # the file the last load resumed from (None: from scratch)

    def exists(self) -> bool:
        return self.path.exists() or self.previous.exists()

    def save(self, state: dict) -> None:
        """Write the new state, keeping the last good one as the previous generation."""
        state = {**state, "identity": self.identity, "facts": self.facts, "notes": list(self.notes),
                 "saved_at": time.time()}
        rotated = False
        try:
            with atomic_path(self.path) as tmp:
                torch.save(state, tmp)
                if self.path.exists():
                    os.replace(self.path, self.previous)
                    rotated = True
        except BaseException:
            # The new file did not take its place (a full directory, a quota): the last good state goes back
            # under its own name, so the run folder holds what it held before this save.
            if rotated and not self.path.exists():
                try:
                    os.replace(self.previous, self.path)
                except OSError:
                    pass  # it stays the previous generation, which load falls back to
            raise

    def load(self, model=None, optimizer=None) -> Optional[dict]:
        """The newest usable state, or None (nothing saved, or nothing usable: restart cleanly).

        A file that cannot be read, or whose content cannot be resumed (see :func:`state_problems`; give
        ``model`` and ``optimizer`` to check against them), is set aside and the previous generation tried.
        """
        self.loaded_from = None
        set_aside_names: List[str] = []
        for path in (self.path, self.previous):
            if not path.exists():
                continue
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # truncated zip, wrong format, unpickling refused ...
                self._set_aside(path, "cannot be read", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                                set_aside_names)
                continue
            problems = state_problems(state, model, optimizer)
            if problems:
                self._set_aside(path, "cannot be resumed", "; ".join(problems), set_aside_names)
                continue
            if state.get("identity") != self.identity:
                raise OutputFolderError(
                    f"The training state {path} was written by a run with a different configuration "
                    f"(identity {state.get('identity')} vs {self.identity}), so it is not resumed. "
                    f"Pass overwrite=true to discard it and train from scratch.")
            self.loaded_from = path
            # notes of earlier sessions travel with the state, so a third session still reports a change
            saved_notes = state.get("notes")
            self.notes = [str(n) for n in saved_notes] if isinstance(saved_notes, list) else []
            self._warn_about_other_facts(state.get("facts"))
            if path == self.previous:
                newer = f"{self.path.name} was set aside" if set_aside_names else f"{self.path.name} is missing"
                log.warning("Resuming from the previous training state %s (epoch %d): %s.", path.name,
                            state["epoch"], newer)
            return state
        if set_aside_names:
            log.warning("No usable training state is left in %s (set aside: %s): training starts from scratch.",
                        self.folder, ", ".join(set_aside_names))
        return None

    def _warn_about_other_facts(self, saved: Optional[dict]) -> None:
        if not isinstance(saved, dict):
            return  # a state saved before facts were recorded
        changed = [f"{key} {saved[key]} -> {value}" for key, value in self.facts.items()
                   if key in saved and saved[key] != value]
        if changed:
            self.notes.append(f"resumed under other execution settings ({', '.join(changed)}): not bit-identical "
                              f"to an uninterrupted run")
            log.warning("Resuming under other execution settings than the state was saved with (%s): the results "
                        "are equally valid but not bit-identical to an uninterrupted run (floating-point sums "
                        "round differently). Resume with the same settings for an exact continuation.",
                        ", ".join(changed))

    def _set_aside(self, path: Path, what: str, why: str, names: List[str]) -> None:
        try:
            aside = set_aside(path)
        except OSError as exc:  # a read-only folder: leave it; the next save replaces it
            log.warning("The training state %s %s (%s); it could not be set aside either (%s), so it is ignored.",
                        path, what, why, exc)
            names.append(path.name)
            return
        log.warning("The training state %s %s (%s); set aside as %s.", path, what, why, aside.name)
        names.append(aside.name)

    def clear(self) -> None:
        for path in (self.path, self.previous):
            path.unlink(missing_ok=True)
