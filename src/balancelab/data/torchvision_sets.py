"""MNIST, Fashion-MNIST, CIFAR-10/100 from torchvision's on-disk formats, made long-tailed.

The training set follows a long-tail profile (LDAM-DRW's convention: n_i = n_max * ratio^(-i/(C-1))
with n_max the per-class count of the full set; 12,406 images for CIFAR-10 at ratio 100); a
validation split is held out of it, stratified; the test set stays balanced as published.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from balancelab.data.dataset import DataSplits, ImageSet
from balancelab.data.longtail import make_long_tailed
from balancelab.data.resize import resize_images
from balancelab.data.split import stratified_split
from balancelab.errors import DataError

SOURCES = {
    "mnist": ("MNIST", "MNIST/raw/: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw/: the same four idx files as MNIST"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py/: data_batch_1..5, test_batch, batches.meta"),
    "cifar100": ("CIFAR100", "cifar-100-python/: train, test, meta"),
}


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


def load_torchvision(cfg, input_size: int) -> DataSplits:
    name = cfg.name
    root = Path(cfg.root).expanduser()
    train_ds, test_ds = _open(name, root, True, cfg.download), _open(name, root, False, cfg.download)
    X_tr, y_tr = _arrays(train_ds)
    X_te, y_te = _arrays(test_ds)
    classes = [str(c) for c in train_ds.classes]
    lt = make_long_tailed(y_tr, len(classes), cfg.imbalance_ratio, cfg.imbalance_profile, cfg.split_seed)
    tr_idx, va_idx, _ = _two_way(y_tr[lt], cfg.val_fraction, cfg.split_seed)
    tr_idx, va_idx = lt[tr_idx], lt[va_idx]
    if cfg.channels != X_tr.shape[-1]:
        X_tr, X_te = _channels(X_tr, cfg.channels), _channels(X_te, cfg.channels)
    ids_tr = np.array([f"{name}:train:{i}" for i in range(len(y_tr))])
    ids_te = np.array([f"{name}:test:{i}" for i in range(len(y_te))])
    train = ImageSet(resize_images(X_tr[tr_idx], input_size), y_tr[tr_idx], ids_tr[tr_idx])
    val = ImageSet(resize_images(X_tr[va_idx], input_size), y_tr[va_idx], ids_tr[va_idx])
    test = ImageSet(resize_images(X_te, input_size), y_te, ids_te)
    return DataSplits(train, val, test, classes,
                      notes={"source": f"torchvision.datasets.{SOURCES[name][0]}", "root": str(root),
                             "long_tailed_train_total": int(len(lt))})


def _two_way(y, val_fraction, seed):
    """Hold a stratified validation share out of the long-tailed training set."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    tr, va = train_test_split(index, test_size=val_fraction, random_state=seed, stratify=stratify)
    return np.sort(tr), np.sort(va), None


def _channels(X, channels):
    if channels == 1:
        return np.rint(X.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None].astype(np.uint8)
    return np.repeat(X, 3, axis=-1)
