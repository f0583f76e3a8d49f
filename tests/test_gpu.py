"""Checks that need a CUDA device; skipped (not failed) without one."""

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import cuda_only

pytestmark = [pytest.mark.gpu, cuda_only]


def test_mixed_precision_training_on_cuda():
    from balancelab.training.batches import DeviceImages, OnlineAugmentation
    from balancelab.training.loop import fit
    from balancelab.training.runtime import amp_dtype

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 128)
    X = (rng.random((128, 8, 8, 1)) * 40).astype(np.uint8)
    X[y == 1] += 200
    dev = torch.device("cuda")
    data = DeviceImages(X, y, dev, [0.5], [0.3])
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 2)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    result = fit(model, data, y, data, y, nn.CrossEntropyLoss(), opt, sched, 3, 32,
                 OnlineAugmentation(max_shift=0.1), False, 0, amp_dtype=amp_dtype(dev, True), progress="log")
    assert result.status == "completed" and result.best_val_macro_f1 > 0.9


def test_gpu_knn_matches_cpu(digit_images):
    from balancelab.balancing.neighbors import ImageNearestNeighbors, SharedFeatures

    X, y = digit_images
    rows = np.flatnonzero(y == 3)
    Z = np.column_stack([rows.astype(float), np.zeros(len(rows))])
    feats = SharedFeatures(X.reshape(len(X), -1))
    gpu = ImageNearestNeighbors(6, feats, "torch", "cuda").fit(Z).kneighbors(Z, return_distance=False)
    cpu = ImageNearestNeighbors(6, feats, "sklearn").fit(Z).kneighbors(Z, return_distance=False)
    assert np.mean([len(set(a) & set(b)) / 6 for a, b in zip(gpu, cpu)]) > 0.99


def test_smote_on_cuda_is_a_true_interpolation(imbalanced_digits):
    from balancelab.balancing import make_balancer

    X, y = imbalanced_digits
    balancer = make_balancer("smote", random_state=0, k_neighbors=3, device="cuda")
    X_res, _ = balancer.fit_resample(X, y)
    p = balancer.report_["synthetic_parents"]
    a, b, t = (np.asarray(p[k]) for k in ("a", "b", "t"))
    expected = X[a] + t[:, None, None, None] * (X[b].astype(float) - X[a])
    assert np.abs(X_res[balancer.provenance_ < 0] - expected).max() <= 0.5 + 1e-4
