"""Offline augmentation: new images for under-represented classes, made with OpenCV before training.

Each new image is one source image of the class (taken in turn, so every source is used as
evenly as possible) passed through the preset's transforms, each applied with its probability
and a random strength within its range. Sources are never modified and new images stay in the
training split. One random generator seeded from the run seed makes it deterministic.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from balancelab.balancing.base import Balancer, Resampled
from balancelab.balancing.strategy import oversampling_targets
from balancelab.errors import BalancingError

DEFAULT_PRESET = {
    "hflip": {"p": 0.5}, "vflip": {"p": 0.0}, "rotate": {"p": 0.5, "max_degrees": 20.0},
    "shift_scale": {"p": 0.5, "max_shift": 0.1, "scale_range": 0.15},
    "brightness_contrast": {"p": 0.5, "brightness": 0.2, "contrast": 0.2},
    "hue_saturation": {"p": 0.3, "hue": 10.0, "saturation": 0.2},
    "blur": {"p": 0.2, "max_kernel": 3}, "noise": {"p": 0.2, "std": 8.0},
}


def _geometry(img: np.ndarray, angle: float, scale: float, tx: float, ty: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    m[:, 2] += (tx * w, ty * h)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out.reshape(img.shape)


def brightness_contrast(img: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """alpha * img + beta, rounded and clipped to 0..255.

    Not ``cv2.convertScaleAbs``: it takes absolute values, so darkening folds black back up to
    grey, an artefact only the (augmented) minority classes would carry.
    """
    out = np.rint(alpha * img.astype(np.float64) + beta)
    return np.clip(out, 0, 255).astype(np.uint8)


def augment_image(img: np.ndarray, preset: dict, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """One augmented copy of a uint8 (H, W, C) image and the names of the transforms applied."""
    out = img.copy()
    applied = []

    def fires(key):
        return float(preset.get(key, {}).get("p", 0.0)) > 0 and rng.random() < preset[key]["p"]

    if fires("hflip"):
        out, _ = out[:, ::-1].copy(), applied.append("hflip")
    if fires("vflip"):
        out, _ = out[::-1].copy(), applied.append("vflip")
    angle, scale, tx, ty = 0.0, 1.0, 0.0, 0.0
    if fires("rotate"):
        d = preset["rotate"]["max_degrees"]
        angle = rng.uniform(-d, d)
        applied.append("rotate")
    if fires("shift_scale"):
        s, r = preset["shift_scale"]["max_shift"], preset["shift_scale"]["scale_range"]
        tx, ty, scale = rng.uniform(-s, s), rng.uniform(-s, s), rng.uniform(1 - r, 1 + r)
        applied.append("shift_scale")
    if angle or scale != 1.0 or tx or ty:
        out = _geometry(out, angle, scale, tx, ty)
    if fires("brightness_contrast"):
        b, c = preset["brightness_contrast"]["brightness"], preset["brightness_contrast"]["contrast"]
        alpha, beta = 1.0 + rng.uniform(-c, c), 255.0 * rng.uniform(-b, b)
        out = brightness_contrast(out, alpha, beta)
        applied.append("brightness_contrast")
    if img.shape[-1] == 3 and fires("hue_saturation"):
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(rng.uniform(-1, 1) * preset["hue_saturation"]["hue"])) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * (1 + rng.uniform(-1, 1) * preset["hue_saturation"]["saturation"]), 0, 255)
        out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
        applied.append("hue_saturation")
    if fires("blur"):
        k = int(rng.choice(np.arange(3, max(3, int(preset["blur"]["max_kernel"])) + 1, 2)))
        out = cv2.GaussianBlur(out, (k, k), 0).reshape(img.shape)
        applied.append("blur")
    if fires("noise"):
        noisy = out.astype(np.float32) + rng.normal(0, preset["noise"]["std"], out.shape)
        out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        applied.append("noise")
    return out, applied


class OfflineAugmentation(Balancer):
    name = "offline_augmentation"
    # balancing in feature space (feature_balancing=...) refuses it: why, in words
    feature_space_refusal = ("it makes new images with OpenCV transforms (flips, rotations, colour, blur), and a "
                             "feature vector has no pixels to transform")

    def __init__(self, *, sampling_strategy="auto", augmentation: Optional[dict] = None, random_state=None,
                 device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.sampling_strategy = sampling_strategy
        self.augmentation = augmentation  # the preset: transform -> probability and range; None = DEFAULT_PRESET

    def _resample(self, X, y):
        preset: dict = self.augmentation or DEFAULT_PRESET
        if X.ndim != 4:
            raise BalancingError(f"{self.name}: needs images shaped (N, H, W, C); got an array shaped {X.shape}. "
                                 f"Use balancing=random_oversampling for data that are not images.")
        targets = oversampling_targets(self.sampling_strategy, y, self.name)
        counts = np.bincount(y, minlength=len(targets))
        rng = np.random.default_rng(self.random_state)
        new_images, new_labels, sources, usage = [], [], [], {}
        for c in np.flatnonzero(targets > counts):
            members = np.flatnonzero(y == c)
            order = rng.permutation(members)
            for i in range(int(targets[c] - counts[c])):
                src = order[i % len(order)]
                img, applied = augment_image(X[src], preset, rng)
                for name in applied:
                    usage[name] = usage.get(name, 0) + 1
                new_images.append(img)
                new_labels.append(c)
                sources.append(int(src))
        X_syn = np.stack(new_images) if new_images else X[:0]
        return Resampled(
            kept=np.arange(len(y)), X_synthetic=X_syn, y_synthetic=np.asarray(new_labels, np.int64),
            details={"preset": preset.get("name", "custom") if isinstance(preset, dict) else "custom",
                     "transform_usage": usage, "synthetic_sources": sources,
                     "targets": {str(c): int(v) for c, v in enumerate(targets)}},
        )
