"""MNIST, Fashion-MNIST, CIFAR-10/100 from torchvision's on-disk formats, made long-tailed.

The training set follows a long-tail profile (LDAM-DRW's convention: n_i = n_max * ratio^(-i/(C-1))
with n_max the per-class count of the full set; 12,406 images for CIFAR-10 at ratio 100), its images
chosen by LDAM-DRW's own rule for every one of these datasets (``longtail.ldam_drw_long_tailed``: a
``RandomState(split_seed)`` shuffles each class in turn, the first n_i are kept). The
validation set is balanced: ``val_per_class`` images of every class, drawn from the original training
images the profile left unused, so it can score every class and costs the tail nothing. The head
class(es) use all their images, so theirs come out of their long-tail selection (CIFAR-10 at ratio
100: class 0 trains on 4,950 of 5,000 with 50 per class); the notes record it. The test set stays
balanced as published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from balancelab.data.channels import convert_channels
from balancelab.data.dataset import DataSplits, ImageSet
from balancelab.data.longtail import ldam_drw_long_tailed
from balancelab.data.resize import resize_images
from balancelab.data.sources import TORCHVISION_SOURCES as SOURCES
from balancelab.errors import DataError


def _open(name: str, root: Path, train: bool, download: bool):
    import torchvision

    cls_name, layout = SOURCES[name]
    try:
        return getattr(torchvision.datasets, cls_name)(str(root), train=train, download=download)
    except RuntimeError as exc:
        raise DataError(
            f"dataset={name}: the files are not in {root} ({exc}). Expected {root}/{layout}. "
            f"Fetch them once on a machine with a network: balance-run dataset={name} dataset.download=true "
            f"dataset.root={root} (or python -c \"import torchvision; torchvision.datasets.{cls_name}('{root}', "
            f"download=True)\"), then copy the folder here."
        ) from None
    except Exception as exc:  # URLError and friends when download=true has no network
        raise DataError(f"dataset={name}: downloading to {root} failed ({exc}). Copy the files to "
                        f"{root}/{layout} instead and use dataset.download=false.") from None


def _arrays(ds):
    X = np.asarray(ds.data)
    if hasattr(X, "numpy"):
        X = X.numpy()
    X = X.astype(np.uint8)
    if X.ndim == 3:
        X = X[..., None]
    return X, np.asarray(ds.targets, dtype=np.int64)


def load_torchvision(*, source: str, input_size: int, root: str, download: bool, channels: int, split_seed: int,
                     val_per_class: int, imbalance_ratio: float, imbalance_profile: str) -> DataSplits:
    if source not in SOURCES:
        raise DataError(f"dataset.source={source!r} is not a torchvision dataset balancelab reads; valid: "
                        f"{', '.join(SOURCES)}.")
    name = source
    root = Path(root).expanduser()
    train_ds, test_ds = _open(name, root, True, download), _open(name, root, False, download)
    X_tr, y_tr = _arrays(train_ds)
    X_te, y_te = _arrays(test_ds)
    classes = [str(c) for c in train_ds.classes]
    lt = ldam_drw_long_tailed(y_tr, len(classes), imbalance_ratio, imbalance_profile, split_seed)
    tr_idx, va_idx, shortfall = balanced_validation(y_tr, lt, int(val_per_class), split_seed, classes,
                                                    f"dataset={name}")
    ids_tr = np.array([f"{name}:train:{i}" for i in range(len(y_tr))])
    ids_te = np.array([f"{name}:test:{i}" for i in range(len(y_te))])

    def image_set(X, y, ids, index):
        return ImageSet(resize_images(convert_channels(X[index], channels), input_size), y[index], ids[index])

    train, val = image_set(X_tr, y_tr, ids_tr, tr_idx), image_set(X_tr, y_tr, ids_tr, va_idx)
    test = image_set(X_te, y_te, ids_te, np.arange(len(y_te)))

    def by_name(index):
        return {n: int(c) for n, c in zip(classes, np.bincount(y_tr[index], minlength=len(classes)))}

    return DataSplits(train, val, test, classes,
                      notes={"source": f"torchvision.datasets.{SOURCES[name][0]}", "root": str(root),
                             "long_tail_selection": f"LDAM-DRW's (RandomState({split_seed}) shuffles each class, "
                                                    f"the first n_i are kept)",
                             "long_tailed_train_total": int(len(lt)),
                             "profile_counts": by_name(lt), "train_counts": by_name(tr_idx),
                             "val_per_class": int(val_per_class),
                             "classes_short_of_unused_images": {classes[c]: n for c, n in shortfall.items()}})


# The validation draw uses a random stream of its own, apart from the long-tail draw's.
_VALIDATION_STREAM = 1


def balanced_validation(y: np.ndarray, selected: np.ndarray, per_class: int, seed: int,
                        class_names: List[str], what: str) -> Tuple[np.ndarray, np.ndarray, Dict[int, int]]:
    """(train indices, validation indices, {class: shortfall}) for the long-tail selection ``selected``.

    Each class's ``per_class`` validation images are drawn from its images outside ``selected``; a
    class with fewer unused images than that (the head, which the profile uses whole) takes the
    shortfall out of its selection, which is the only case where training loses images.
    """
    rng = np.random.default_rng((seed, _VALIDATION_STREAM))
    in_selection = np.zeros(len(y), dtype=bool)
    in_selection[selected] = True
    train, val, shortfall = [], [], {}
    for c, class_name in enumerate(class_names):
        members = np.flatnonzero(y == c)
        if len(members) < per_class + 1:
            raise DataError(f"{what}: class '{class_name}' has {len(members)} training image(s); "
                            f"dataset.val_per_class={per_class} needs at least {per_class + 1} "
                            f"({per_class} for validation, 1 to train on). Lower dataset.val_per_class.")
        chosen, unused = members[in_selection[members]], members[~in_selection[members]]
        if len(unused) >= per_class:
            val.append(rng.choice(unused, size=per_class, replace=False))
        else:
            short = per_class - len(unused)
            taken = rng.choice(chosen, size=short, replace=False)
            val.append(np.concatenate([unused, taken]))
            chosen = np.setdiff1d(chosen, taken)
            shortfall[c] = int(short)
        train.append(chosen)
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val)), shortfall
