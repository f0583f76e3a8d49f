"""Optimizer and per-epoch learning-rate schedule (with optional linear warm-up)."""

from __future__ import annotations

import math

import torch


def build_optimizer(params, cfg) -> torch.optim.Optimizer:
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum, nesterov=True)
    raise ValueError(f"unknown optimizer {cfg.name}")


def lr_factor(epoch: int, total_epochs: int, cfg, base_lr: float) -> float:
    """Multiplier of the base lr for a 0-based ``epoch``."""
    warmup = int(getattr(cfg, "warmup_epochs", 0) or 0)
    if warmup and epoch < warmup:
        return (epoch + 1) / (warmup + 1)
    after = epoch - warmup
    floor = float(getattr(cfg, "min_lr", 0.0) or 0.0) / base_lr
    if cfg.name == "step":
        return max(cfg.gamma ** (after // max(cfg.step_size, 1)), floor)
    if cfg.name == "cosine":
        span = max(total_epochs - warmup, 1)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * after / span))
    return 1.0


def build_scheduler(optimizer, cfg, total_epochs: int):
    base_lr = optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, total_epochs, cfg, base_lr))
