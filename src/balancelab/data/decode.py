"""Decode one image file to uint8 (size, size, channels), or say why it cannot be used."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from balancelab.data.listing import IMAGE_EXTENSIONS, is_image_file  # noqa: F401 - one definition, light module


def _to_uint8_mode(img: Image.Image, channels: int) -> np.ndarray:
    """Any PIL mode (L, LA, P, RGB, RGBA, CMYK, I;16, I, F) -> uint8 array with ``channels`` channels."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        img = Image.fromarray(gray, mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite transparency onto white rather than letting it turn black.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    img = img.convert("L" if channels == 1 else "RGB")
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if channels == 1 else arr


def fit_to_square(arr: np.ndarray, size: int, policy: str) -> np.ndarray:
    """resize: squash to size x size; center_crop: resize the short side, then crop the centre."""
    h, w = arr.shape[:2]
    if policy == "center_crop" and h != w:
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        arr = cv2.resize(arr, (nw, nh), interpolation=interp).reshape(nh, nw, -1)
        top, left = (nh - size) // 2, (nw - size) // 2
        return np.ascontiguousarray(arr[top:top + size, left:left + size])
    interp = cv2.INTER_AREA if size < max(h, w) else cv2.INTER_CUBIC
    return cv2.resize(arr, (size, size), interpolation=interp).reshape(size, size, -1)


def decode_image(path: str, size: int, channels: int, policy: str) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """(image, None) or (None, reason)."""
    p = Path(path)
    try:
        if p.stat().st_size == 0:
            return None, "empty file (0 bytes)"
        with Image.open(p) as img:
            img.load()  # forces a full decode: truncated files fail here
            img = ImageOps.exif_transpose(img)
            arr = _to_uint8_mode(img, channels)
    except UnidentifiedImageError:
        return None, "not a readable image (unknown or corrupt format)"
    except (OSError, SyntaxError, ValueError) as exc:
        return None, f"corrupt or truncated: {exc}"
    if arr.size == 0 or min(arr.shape[:2]) == 0:
        return None, "image has no pixels"
    return fit_to_square(arr, size, policy), None
