"""Settings groups without a ``_target_`` (trainer, evaluation, augmentation presets), the loggers, and the
top-level keys of the primary config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from omegaconf import MISSING

from balancelab.errors import ConfigError
from balancelab.options.fields import components, option
from balancelab.options.rules import WANDB_MODES, steps_below_epochs_message
from balancelab.options.targets import accepted_parameters, target_of


@dataclass
class Trainer:
    epochs: int = option(30, "training epochs (at most: early stopping may end sooner); 0 = no representation "
                         "training: the pretrained backbone taken frozen as built, only a classifier head trained on "
                         "its features (needs pretrained weights, and feature_balancing or balance-sweep screen=true)",
                         ge=0)
    batch_size: int = option(32, "images per training batch", ge=1)
    device: str = option("auto", "auto (cuda, then mps, then cpu) or a device: cpu, cuda, cuda:1, mps")
    amp: bool = option(True, "mixed precision on CUDA (bf16 where supported, else fp16 with a grad scaler)")
    early_stopping_patience: int = option(10, "stop when validation macro-F1 has not improved for this many epochs "
                                          "(0 = never); a deferred method (loss.drw_epoch, balancing.start_epoch) "
                                          "is never stopped before its switch, and counts from the epoch after it",
                                          ge=0)
    deterministic: bool = option(False, "deterministic kernels (slower on GPU)")
    num_threads: int = option(0, "CPU threads (0 = auto: the cores this process may use, divided by the parallel "
                              "launcher's n_jobs)", ge=0)
    grad_clip_norm: Optional[float] = option(None, "clip the gradient norm to this (null = no clipping)", gt=0.0)
    progress: str = option("auto", "progress bar on a terminal, log lines otherwise: auto|bar|log",
                           choices=("auto", "bar", "log"))
    budget: str = option("epochs", "what is equal across techniques: epochs (one pass over each technique's own "
                         "training set per epoch: an enlarged set gets more optimiser steps) or steps (the same number "
                         "of optimiser steps for every technique; epochs become equal slices of them)",
                         choices=("epochs", "steps"))
    steps: Optional[int] = option(None, "budget=steps: total optimiser steps; null = what the unbalanced training "
                                  "split takes in trainer.epochs epochs", ge=1)
    state_every_s: float = option(30.0, "write the resumable training state at most this often (seconds; also after "
                                  "the first and last epoch and on a stop signal); 0 = after every epoch", ge=0)
    compile: bool = option(False, "torch.compile the model (CUDA mainly: compilation pays off on long runs)")
    eval_batch_size: Optional[int] = option(None, "batch size of validation and test passes (null = trainer.batch_size)",
                                            ge=1)
    precise_bn_images: int = option(64, "before each validation, recompute the batch-norm statistics for the current "
                                    "weights over this many unaugmented training images (exact average; the "
                                    "running averages lag the weights in short epochs); 0 = off, use the running "
                                    "averages", ge=0)
    crt_epochs: int = option(0, "classifier re-training (cRT, Kang et al. 2020) after training: epochs of training the "
                             "re-initialised final layer alone on class-aware, augmented batches, backbone weights "
                             "frozen in train mode, the epoch chosen on validation (0 = off)", ge=0)
    feature_head_epochs: int = option(10, "balancing in feature space (feature_balancing=<balancing option>): epochs of "
                                      "training the fresh classifier on the balanced training features (cRT's "
                                      "optimiser and schedule, the epoch chosen on validation); used only then", ge=1)
    data_on_device: str = option("auto", "hold the images on the training device (true: fastest), stream batches from "
                                 "the host or the decoded-image file on disk (false: for data larger than the device's "
                                 "memory; same numbers), or auto (on the device when they take at most half its free "
                                 "memory)", choices=("auto", "true", "false"))

    @staticmethod
    def cross_check(node) -> List[str]:
        import re

        problems = []
        steps, epochs = node.get("steps"), node.get("epochs")
        if steps is not None and epochs == 0:
            problems.append(f"'trainer.steps' ({steps}) is a budget of representation training, but trainer.epochs=0 "
                            f"trains no representation (the pretrained backbone is taken frozen; the head trains "
                            f"trainer.feature_head_epochs epochs). Remove trainer.steps, or set trainer.epochs >= 1.")
        elif steps is not None and node.get("budget") != "steps":
            problems.append("'trainer.steps' is used only with trainer.budget=steps; set trainer.budget=steps or "
                            "remove trainer.steps.")
        elif steps is not None and epochs is not None and steps < epochs:
            problems.append(steps_below_epochs_message(steps, epochs))
        device = str(node.get("device"))
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
            problems.append(f"'trainer.device' must be auto, cpu, cuda, cuda:<index> or mps; got {device!r}. "
                            f"Fix it with trainer.device=cuda (or auto).")
        return problems


@dataclass
class Evaluation:
    many_shot_min: int = option(100, "many-shot classes have more training images than this", ge=0)
    few_shot_max: int = option(20, "few-shot classes have fewer training images than this", ge=0)
    calibration_bins: int = option(15, "bins of the reliability diagram and ECE", ge=1)
    threshold_metric: str = option("youden", "two classes: the operating threshold is chosen on validation by "
                                   "youden (max TPR - FPR) or f1", choices=("youden", "f1"))


@dataclass
class Probability:
    p: float = option(0.0, "probability of applying the transform", ge=0.0, le=1.0)


@dataclass
class Rotate(Probability):
    max_degrees: float = option(0.0, "rotation range (+- degrees)", ge=0.0, le=180.0)


@dataclass
class ShiftScale(Probability):
    max_shift: float = option(0.0, "translation range (fraction of the side)", ge=0.0, le=0.5)
    scale_range: float = option(0.0, "zoom range (+- fraction)", ge=0.0, lt=1.0)


@dataclass
class BrightnessContrast(Probability):
    brightness: float = option(0.0, "brightness change range (fraction)", ge=0.0, le=1.0)
    contrast: float = option(0.0, "contrast change range (fraction)", ge=0.0, le=1.0)


@dataclass
class HueSaturation(Probability):
    hue: float = option(0.0, "hue shift range (degrees)", ge=0.0, le=180.0)
    saturation: float = option(0.0, "saturation change range (fraction)", ge=0.0, le=1.0)


@dataclass
class Blur(Probability):
    max_kernel: int = option(3, "largest (odd) blur kernel", ge=1)


@dataclass
class Noise(Probability):
    std: float = option(0.0, "Gaussian noise std (0-255 scale)", ge=0.0)


@dataclass
class Mixing:
    method: str = option("none", "batch mixing on the training device: none, mixup (Zhang et al. 2018), remix "
                         "(Chou et al. 2020: the mixed label goes to the minority class), or the dotted path of your "
                         "own mix class (e.g. my_project.mixes.CutMix; see training/mixing.py for its contract)")
    alpha: float = option(1.0, "Beta(alpha, alpha) of the mixing weight", gt=0.0)
    kappa: float = option(3.0, "remix: count ratio from which the label goes to the minority class", ge=1.0)
    tau: float = option(0.5, "remix: the mixing weight threshold", ge=0.0, le=1.0)

    @staticmethod
    def cross_check(node) -> List[str]:
        method = str(node.get("method"))
        if method not in ("none", "mixup", "remix") and "." not in method:
            return [f"'augmentation.mixup.method' must be none, mixup, remix or the dotted path of a mix class "
                    f"(package.module.Class); got {method!r}. Fix it with augmentation.mixup.method=mixup."]
        if "." in method:
            try:
                target_of({"_target_": method}, "augmentation.mixup.method")
            except ConfigError as exc:
                return [str(exc).replace("._target_=", "=")]
        return []

    @staticmethod
    def unused_settings(node) -> List[str]:
        """Settings changed from their defaults that the chosen method does not take (a user's mix class: by its
        signature). The config check refuses them only when no job of the command uses them."""
        method = str(node.get("method"))
        takes = BUILT_IN_MIX_SETTINGS.get(method)
        if takes is None:  # a user's class, named by its dotted path: what its signature takes
            names, takes_any = accepted_parameters(target_of({"_target_": method}, "augmentation.mixup.method"))
            takes = ("alpha", "kappa", "tau") if takes_any else tuple(n for n in ("alpha", "kappa", "tau") if n in names)
        changed = [k for k in ("alpha", "kappa", "tau") if float(node.get(k)) != MIX_DEFAULTS[k]]
        return [f"'augmentation.mixup.{key}' is not used by augmentation.mixup.method={method}"
                f"{' (no batch mixing)' if method == 'none' else ''}; "
                f"{'Remix takes kappa and tau' if key != 'alpha' else 'mixup and remix take alpha'}. Set a method that "
                f"takes it, or remove the setting." for key in changed if key not in takes]


# What each built-in mix method reads (training/mixing.py); a user's class is read by its signature.
BUILT_IN_MIX_SETTINGS = {"none": (), "mixup": ("alpha",), "remix": ("alpha", "kappa", "tau")}
MIX_DEFAULTS = {"alpha": 1.0, "kappa": 3.0, "tau": 0.5}


@dataclass
class AugmentationPreset:
    """Offline augmentation preset (used by balancing=offline_augmentation): probability and range per transform."""

    name: str = "???"
    hflip: Probability = field(default_factory=Probability)
    vflip: Probability = field(default_factory=Probability)
    rotate: Rotate = field(default_factory=Rotate)
    shift_scale: ShiftScale = field(default_factory=ShiftScale)
    brightness_contrast: BrightnessContrast = field(default_factory=BrightnessContrast)
    hue_saturation: HueSaturation = field(default_factory=HueSaturation)
    blur: Blur = field(default_factory=Blur)
    noise: Noise = field(default_factory=Noise)
    mixup: Mixing = field(default_factory=Mixing)

    @staticmethod
    def cross_check(node) -> List[str]:
        return Mixing.cross_check(node.get("mixup", {}))


@dataclass
class LoggerBase:
    """Logger contract: ``_target_`` returns a tracker (``log_epoch(row)``, ``log_summary(summary, run_dir)``,
    ``finish(failed)``) and is called with its own keys plus ``run_dir``, ``run_config`` (the resolved run config
    as a plain dict) and ``identity``."""

    _target_: str = "???"
    name: str = "???"


@dataclass
class NoLogger(LoggerBase):
    _target_: str = "balancelab.tracking.NullTracker"
    name: str = "none"


@dataclass
class Wandb(LoggerBase):
    _target_: str = "balancelab.tracking.wandb_tracker"
    name: str = "wandb"
    mode: str = option("auto", "auto (online when logged in, offline otherwise; never prompts) | online | offline | "
                       "disabled", choices=("auto", "online", "offline", "disabled"))
    project: str = option("balancelab", "wandb project")
    entity: Optional[str] = option(None, "wandb entity (team or user)")
    group: Optional[str] = option(None, "wandb group (default: the sweep's name, else the experiment's)")
    tags: List[str] = option(help="extra tags", default_factory=list)

    @staticmethod
    def cross_check(node) -> List[str]:
        import os

        env = os.environ.get("WANDB_MODE")  # wins over logger.mode (tracking.resolve_mode); wandb reads it too
        if env is not None and env not in WANDB_MODES:
            return [f"The environment variable WANDB_MODE={env!r} is not a wandb mode ({', '.join(WANDB_MODES)}). "
                    f"Unset it (unset WANDB_MODE) to use logger.mode={node.get('mode')}, or set it to one of those."]
        return []


@dataclass
class TopLevel:
    """The primary config: one node per group (each typed by its option's schema) and the top-level keys."""

    model: Any = MISSING
    dataset: Any = MISSING
    augmentation: Any = MISSING
    balancing: Any = MISSING
    # a balancing option applied to the trained model's features (training/feature_space.py); null: off. Chosen
    # with balancing@feature_balancing=<option> (any balancing YAML, a user's own included).
    feature_balancing: Any = None
    loss: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    trainer: Any = MISSING
    logger: Any = MISSING
    evaluation: Evaluation = field(default_factory=Evaluation)

    seed: int = option(42, "one seed for Python, NumPy, torch and every random_state (splits use dataset.split_seed)")
    overwrite: bool = option(False, "replace a finished run folder (otherwise it is never overwritten)")
    output_root: str = option("outputs", "where run folders go")
    cache_dir: str = option("${output_root}/.cache", "cache of balanced training sets and decoded images")
    use_cache: bool = option(True, "false: rebuild the balanced training set even if a cached copy exists")
    retry_failed: bool = option(True, "run again a job that failed or diverged before (false: keep its failure)")
    lock_stale_after_s: float = option(600, "a run folder's lock silent this long (another host) is taken over",
                                       gt=0)
    run_name: str = option("", "the run folder's name (readable prefix + identity hash); derived")
    experiment_name: str = option("", "row label in sweep comparisons")
    experiment_group: str = option("custom", "group of the experiment in the grid")
    sweep_name: Optional[str] = option(None, "set by balance-sweep")


LOGGER_SCHEMAS = components(globals(), LoggerBase)
