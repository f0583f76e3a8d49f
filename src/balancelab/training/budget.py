"""The optimiser-step budget of a run (trainer.budget, trainer.steps), without torch: the config check uses
the same rule before anything is loaded."""

from __future__ import annotations

from balancelab.errors import ConfigError
from balancelab.options.rules import steps_below_epochs_message


def training_budget(trainer: dict, original_size: int, trained_size: int) -> dict:
    """The run's optimiser-step budget. ``epochs``: one pass over the (balanced) training set per epoch.
    ``steps``: exactly ``trainer.steps`` optimiser steps (default: those the unbalanced split takes in
    ``trainer.epochs`` epochs), so every technique makes the same number of updates. They are spread over
    the epochs as evenly as integers allow: the first ``steps % epochs`` epochs take one step more
    (``steps_per_epoch`` lists them, one entry per epoch)."""
    epochs, batch = trainer["epochs"], trainer["batch_size"]
    if epochs == 0:  # the pretrained backbone taken frozen: no representation training, no step
        return {"kind": trainer.get("budget", "epochs"), "steps_per_epoch": None, "total_steps": 0,
                "passes_per_epoch": 0.0, "epochs": 0}
    if trainer.get("budget", "epochs") == "epochs":
        return {"kind": "epochs", "steps_per_epoch": None, "total_steps": steps_per_pass(trained_size, batch) * epochs,
                "passes_per_epoch": 1.0, "epochs": epochs}
    total = trainer.get("steps") or epochs * steps_per_pass(original_size, batch)
    if total < epochs:
        raise ConfigError(steps_below_epochs_message(total, epochs))
    base, extra = divmod(total, epochs)
    per_epoch = [base + 1] * extra + [base] * (epochs - extra)
    return {"kind": "steps", "steps_per_epoch": per_epoch, "total_steps": total,
            "passes_per_epoch": round(total / epochs * batch / max(trained_size, 1), 3), "epochs": epochs}


MANY_PASSES = 2.0


def many_passes_notice(budget: dict, trainer: dict, original_size: int, trained_size: int):
    """A line for the log when equal steps make a run pass over its (undersampled) training set many times an
    epoch: right for a comparison at equal steps, a surprise for someone who meant one pass an epoch."""
    # Only a set made smaller than the split: trainer.steps given by hand is the user's own budget.
    if budget["kind"] != "steps" or budget["passes_per_epoch"] <= MANY_PASSES or trained_size >= original_size:
        return None
    source = ("trainer.steps" if trainer.get("steps") else
              f"those the unbalanced training split ({original_size} images) takes in {budget['epochs']} epochs")
    return (f"trainer.budget=steps gives this run {budget['total_steps']} optimiser steps ({source}); its balanced "
            f"set has {trained_size} images, so each epoch passes over it {budget['passes_per_epoch']:g} times. "
            f"That is what a comparison at equal steps means; for one pass an epoch set trainer.budget=epochs.")


def steps_taken(budget: dict, epochs_run: int) -> int:
    """The optimiser steps a run made in its ``epochs_run`` epochs (fewer than planned when early stopping
    ended it): what a comparison at equal steps must be judged by."""
    if not budget["epochs"]:
        return 0
    if budget["kind"] == "steps":
        return int(sum(budget["steps_per_epoch"][:epochs_run]))
    return int(budget["total_steps"] // budget["epochs"] * epochs_run)  # every epoch is one pass


def steps_per_pass(size: int, batch_size: int) -> int:
    """Optimiser steps of one pass over ``size`` images: the loop skips a last batch of a single image
    (it breaks batch norm), unless that image is the whole set."""
    full, rest = divmod(size, batch_size)
    return full + int(rest >= 2 or size == 1)
