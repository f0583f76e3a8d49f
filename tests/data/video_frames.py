"""A folder of "video frames": every frame of a clip is the clip's image plus a little noise.

Frames of one clip are near-duplicates (never byte-identical), the case the duplicate-aware split cannot
see and a group-aware split must keep together.
"""

from pathlib import Path
from typing import Dict

import numpy as np
from PIL import Image

# Clip numbers are unique across classes, so the rule needs no class to tell clips apart.
CLIP_RULE = r"(clip\d+)_frame"


def clip_of(path: str) -> str:
    """The clip a frame's file name says it came from (independent of balancelab's rule code)."""
    return Path(path).name.split("_frame")[0]


def write_clips(root: Path, clips_per_class: Dict[str, int], frames: int = 5, size: int = 12, seed: int = 0,
                sub_folders: bool = False) -> Dict[str, str]:
    """root/<class>/clip<k>_frame<j>.png (or root/<class>/clip<k>/frame<j>.png); returns {clip: class}."""
    rng = np.random.default_rng(seed)
    owner, k = {}, 0
    for cls, n_clips in clips_per_class.items():
        for _ in range(n_clips):
            clip = f"clip{k:03d}"
            base = rng.integers(20, 235, (size, size, 3))
            # Clips differ in length, so the split has to balance unequal groups.
            for j in range(frames + k % 3):
                frame = np.clip(base + rng.integers(-4, 5, base.shape), 0, 255).astype(np.uint8)
                path = root / cls / clip / f"frame{j:02d}.png" if sub_folders else root / cls / f"{clip}_frame{j:02d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(frame).save(path)
            owner[clip], k = cls, k + 1
    return owner
