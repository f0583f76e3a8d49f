"""A run's training objects from its config: loss, model, optimiser, scheduler, batches and settings.

Every component is built from its config node (``_target_``) with the facts of its group's contract
(:mod:`balancelab.options.store`); this module decides only what each one is given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from balancelab.balancing.apply import batch_sampling
from balancelab.options.build import build
from balancelab.training.batches import OnlineAugmentation, input_normalization
from balancelab.training.budget import many_passes_notice, training_budget
from balancelab.training.loop import TrainSettings
from balancelab.training.mixing import make_mix
from balancelab.training.placement import keep_on_device, place
from balancelab.training.runtime import amp_dtype, prepare_for_device

log = logging.getLogger("balancelab")


@dataclass
class Training:
    """What ``fit`` trains with, and the facts about it the summary and the checkpoint record."""

    model: torch.nn.Module
    criterion: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_data: Any                 # DeviceImages or StreamedImages
    val_data: Any
    settings: TrainSettings
    budget: dict
    normalization: dict             # mean/std the images are normalised with
    output_units: int               # one per class, or one logit for two classes (loss=bce)
    logit_scale: float              # the loss's scale of the model's outputs (LDAM's s)
    images: Callable                # (X, y) -> batches of another split, placed as the training set's


def assemble(cfg: dict, splits, balanced, counts_before: np.ndarray, counts_after: np.ndarray,
             device: torch.device) -> Training:
    trainer, model_cfg, names = cfg["trainer"], cfg["model"], splits.class_names
    weighted_sampling, batch_order = batch_sampling(cfg["balancing"], cfg["seed"])
    criterion = build(cfg["loss"], "loss", num_classes=len(names), class_counts=[int(c) for c in counts_before],
                      trained_counts=[int(c) for c in counts_after],
                      balanced_batches=weighted_sampling or batch_order is not None).to(device)
    units = getattr(criterion, "output_units", len(names))
    model = prepare_for_device(build(model_cfg, "model", num_classes=units, in_channels=splits.image_shape[-1],
                                     input_size=model_cfg["input_size"]), device, compile_model=trainer["compile"])
    for note in getattr(model, "build_notes", []):
        log.warning("Model: %s.", note)
    optimizer = build(cfg["optimizer"], "optimizer")(model.parameters())
    scheduler = build(cfg["scheduler"], "scheduler", optimizer=optimizer, total_epochs=trainer["epochs"])

    normalization = model_normalization(cfg, splits, model)
    on_device = keep_on_device(trainer["data_on_device"], [balanced.X, splits.val.X, splits.test.X], device)

    def images(X, y):  # on the device, or streamed to it from the host / the decoded-image file
        return place(X, y, device, normalization["mean"], normalization["std"], on_device)

    budget = training_budget(trainer, len(splits.train), len(balanced.y))
    notice = many_passes_notice(budget, trainer, len(splits.train), len(balanced.y))
    if notice:
        log.warning("%s", notice)
    logit_scale = float(getattr(criterion, "logit_scale", 1.0))
    settings = TrainSettings(
        epochs=trainer["epochs"], batch_size=trainer["batch_size"], seed=cfg["seed"],
        patience=trainer["early_stopping_patience"],
        augment=OnlineAugmentation(**cfg["dataset"].get("online_augmentation", {})),
        weighted_sampling=weighted_sampling, batch_order=batch_order, amp_dtype=amp_dtype(device, trainer["amp"]),
        grad_clip_norm=trainer["grad_clip_norm"], progress=trainer["progress"],
        mix=make_mix(**cfg["augmentation"]["mixup"], class_counts=[int(c) for c in counts_before]),
        steps_per_epoch=budget["steps_per_epoch"], logit_scale=logit_scale, state_every_s=trainer["state_every_s"],
        eval_batch_size=trainer["eval_batch_size"], precise_bn_images=trainer["precise_bn_images"])
    return Training(model, criterion, optimizer, scheduler, images(balanced.X, balanced.y),
                    images(splits.val.X, splits.val.y), settings, budget, normalization, units, logit_scale, images)


def model_normalization(cfg: dict, splits, model: torch.nn.Module) -> dict:
    """The mean/std the model's inputs are normalised with (the dataset's fixed ones, else the pretrained
    weights', else the training split's)."""
    dataset = cfg["dataset"]
    fixed = (None if dataset.get("normalization_mean") is None
             else {"mean": dataset["normalization_mean"], "std": dataset["normalization_std"]})
    return input_normalization(cfg["model"].get("pretrained", False), splits.train.X, fixed,
                               getattr(model, "pretrained_normalization", None))


def pretrained_model(cfg: dict, splits, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """The model as built from its config (its pretrained weights, a fresh classifier of one output per class) on
    ``device``, in eval mode, and its input normalisation: the frozen representation of ``trainer.epochs=0``."""
    model_cfg = cfg["model"]
    model = build(model_cfg, "model", num_classes=len(splits.class_names), in_channels=splits.image_shape[-1],
                  input_size=model_cfg["input_size"])
    for note in getattr(model, "build_notes", []):
        log.warning("Model: %s.", note)
    return model.to(device).eval(), model_normalization(cfg, splits, model)


def describe_training(training: Training) -> dict:
    """What the batches were made of, for the summary: the sampling schedule and the batch mixing."""
    settings = training.settings

    def described(part):
        return part.describe() if hasattr(part, "describe") else (None if part is None else type(part).__name__)

    return {"batch_sampling": ("class-balanced draws every epoch" if settings.weighted_sampling
                               else described(settings.batch_order) or "shuffled"),
            "batch_mixing": described(settings.mix) or "none",
            "online_augmentation": {k: v for k, v in vars(settings.augment).items()},
            "precise_bn_images": settings.precise_bn_images,
            "images_on_device": not hasattr(training.train_data, "prefetch")}
