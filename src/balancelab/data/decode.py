"""Decode one image file to uint8 (size, size, channels), or say why it cannot be used.

A plain 8-bit JPEG (1 or 3 components, no EXIF, ending in its end-of-image marker) is decoded by OpenCV,
three times faster than Pillow on small frames and giving the same pixels (both run libjpeg-turbo's default
decoder; the grey conversion is Pillow's formula). Every other file (PNG, TIFF, EXIF-rotated, CMYK, 12-bit,
truncated or damaged) is decoded by Pillow, which also says why a file cannot be used.
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Optional, Tuple

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

UNREADABLE = (-1, -1, -1)  # the (size, mtime_ns, ctime_ns) recorded for a file that cannot be opened
# OpenCV 4.10+ decodes straight to RGB (libjpeg-turbo's RGB output: the same pixels as BGR, then swapped).
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)

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
    if h == w == size:  # already square at size: cv2.resize would copy it unchanged
        return arr.reshape(size, size, -1)
    if policy == "center_crop" and h != w:
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        arr = cv2.resize(arr, (nw, nh), interpolation=interp).reshape(nh, nw, -1)
        top, left = (nh - size) // 2, (nw - size) // 2
        return np.ascontiguousarray(arr[top:top + size, left:left + size])
    interp = cv2.INTER_AREA if size < max(h, w) else cv2.INTER_CUBIC
    return cv2.resize(arr, (size, size), interpolation=interp).reshape(size, size, -1)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _plain_jpeg(data: bytes) -> bool:
    """An 8-bit JPEG of 1 or 3 components, without EXIF, complete (ends with its EOI marker)."""
    if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
        return False
    at, end = 2, len(data) - 4
    while at < end:
        if data[at] != 0xFF:
            return False
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        length = (data[at + 2] << 8) | data[at + 3]
        if marker == 0xE1 and data[at + 4:at + 8] == b"Exif":
            return False  # orientation: Pillow's exif_transpose is the one rule
        if marker in _SOF:
            return data[at + 4] == 8 and data[at + 9] in (1, 3)
        if marker == 0xDA:  # start of scan before a frame header: not a JPEG we know
            return False
        at += 2 + length
    return False


def _decode_plain_jpeg(data: bytes, channels: int) -> Optional[np.ndarray]:
    if channels == 3 and _IMREAD_RGB is not None:
        return cv2.imdecode(np.frombuffer(data, np.uint8), _IMREAD_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        return None
    if channels == 3:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    # Pillow's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 (a grey JPEG's Y comes back unchanged)
    b, g, r = (bgr[..., k].astype(np.uint32) for k in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[..., None]


def read_and_decode(path: str, size: int, channels: int, policy: str):
    """(image or None, reason or None, SHA-256 of the file's bytes or None when it cannot be read, (size,
    mtime_ns, ctime_ns) of the file as read): one read of the file gives the image, the digest the duplicate-aware split
    needs and the file's identity for the decoded cache (from the descriptor the bytes were read through, so
    the record is of the bytes decoded, never of a later version; for a file that cannot be opened, as
    :func:`file_identity` gives it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return None, f"cannot be read: {exc}", None, file_identity(path)
    st = None
    try:
        st = os.fstat(fd)
        # One read asking for one byte more than the descriptor's size: getting exactly that size is the whole
        # file; anything else (grown since, a short read) reads on to the end.
        data = os.read(fd, st.st_size + 1)
        if len(data) != st.st_size:
            parts = [data]
            while parts[-1]:
                parts.append(os.read(fd, 1 << 20))
            data = b"".join(parts)
    except OSError as exc:
        return (None, f"cannot be read: {exc}", None,
                (st.st_size, st.st_mtime_ns, st.st_ctime_ns) if st is not None else file_identity(path))
    finally:
        os.close(fd)
    image, reason = decode_bytes(data, size, channels, policy)
    return image, reason, hashlib.sha256(data).digest(), (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_identity(path: str) -> Tuple[int, int, int]:
    """(size, mtime_ns, ctime_ns) of the file at ``path`` (symlinks followed), ``UNREADABLE`` when it is not there.
    The change time is the kernel's: ``cp -p`` and ``rsync -a`` restore the modification time of new pixels of the
    same size, not it."""
    try:
        st = os.stat(path)
    except OSError:
        return UNREADABLE
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def decode_image(path: str, size: int, channels: int, policy: str) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """(image, None) or (None, reason)."""
    image, reason, _, _ = read_and_decode(path, size, channels, policy)
    return image, reason


def decode_bytes(data: bytes, size: int, channels: int, policy: str) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """(image, None) or (None, reason) for the bytes of an image file."""
    if not data:
        return None, "empty file (0 bytes)"
    try:
        plain = _plain_jpeg(data)
    except IndexError:  # a marker cut short: Pillow says what is wrong
        plain = False
    if plain:
        arr = _decode_plain_jpeg(data, channels)
        if arr is not None and arr.size:
            return fit_to_square(arr, size, policy), None
    try:
        with Image.open(io.BytesIO(data)) as img:
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
