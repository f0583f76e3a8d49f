"""Rules of the configuration that other layers enforce again at run time, written once here so that the
pre-flight check and the run give the same message."""

from __future__ import annotations

# The values of WANDB_MODE wandb itself accepts, as the mode balancelab then uses ("dryrun" and "run" are
# wandb's old names of offline and online; "shared" is online with several writers to one run).
WANDB_MODES = {"online": "online", "offline": "offline", "disabled": "disabled", "dryrun": "offline",
               "run": "online", "shared": "shared"}


def steps_below_epochs_message(steps: int, epochs: int) -> str:
    """The rule of trainer.steps against trainer.epochs, in words (also the config check's message)."""
    return (f"trainer.steps={steps} is fewer than trainer.epochs={epochs}: with trainer.budget=steps every epoch "
            f"takes at least one optimiser step, so trainer.steps must be >= trainer.epochs. Raise trainer.steps "
            f"to at least {epochs} or lower trainer.epochs to at most {steps}.")
