"""Checks that need a CUDA device; skipped (not failed) without one."""

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import cuda_only

pytestmark = [pytest.mark.gpu, cuda_only]


def test_mixed_precision_training_on_cuda():
    from balancelab.training.batches import DeviceImages, OnlineAugmentation
    from balancelab.training.loop import TrainSettings, fit
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
    settings = TrainSettings(epochs=3, batch_size=32, seed=0, augment=OnlineAugmentation(max_shift=0.1),
                             amp_dtype=amp_dtype(dev, True), progress="log")
    result = fit(model, data, data, nn.CrossEntropyLoss(), opt, sched, settings)
    assert result.status == "completed" and result.best_val_macro_f1 > 0.9


def _separable(n=128, size=8):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    X = (rng.random((n, size, size, 1)) * 40).astype(np.uint8)
    X[y == 1] += 200
    return X, y


@pytest.mark.parametrize("compile_model", [False, True])
def test_channels_last_bf16_and_compile_train_and_checkpoint_like_the_plain_model(compile_model):
    from tests.conftest import build_option

    def build_model(name, num_classes, in_channels, input_size):
        return build_option("model", name, num_classes=num_classes, in_channels=in_channels, input_size=input_size)

    from balancelab.training.batches import DeviceImages
    from balancelab.training.loop import TrainSettings, fit
    from balancelab.training.runtime import amp_dtype, prepare_for_device, seed_everything

    seed_everything(0, deterministic=False)
    assert torch.backends.cudnn.benchmark
    dev = torch.device("cuda")
    X, y = _separable(size=16)
    data = DeviceImages(X, y, dev, [0.5], [0.3])
    plain_keys = list(build_model("small_cnn", 2, 1, 16).state_dict())
    model = prepare_for_device(build_model("small_cnn", 2, 1, 16), dev, compile_model=compile_model)
    assert model.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    settings = TrainSettings(epochs=3, batch_size=32, seed=0, amp_dtype=amp_dtype(dev, True), progress="log")
    assert settings.amp_dtype in (torch.bfloat16, torch.float16)
    result = fit(model, data, data, nn.CrossEntropyLoss(), opt, sched, settings)
    assert result.status == "completed" and result.best_val_macro_f1 > 0.9
    assert list(result.best_state) == plain_keys  # a compiled model's checkpoint loads into a plain one
    build_model("small_cnn", 2, 1, 16).load_state_dict(result.best_state)


def test_the_training_benchmark_reports_mfu_on_a_known_gpu(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from balancelab.training.throughput import peak_tflops

    script = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_training.py"
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(script), "--pairs", "1", "--out", str(out), "model=small_cnn"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = result["variants"]["rows"]
    assert {(r["autocast"], r["channels_last"], r["compile"]) for r in rows} >= {(None, False, False), ("bfloat16", True, True)}
    known = peak_tflops(result["machine"]["gpu"], torch.bfloat16) is not None
    assert all((r["mfu"] is not None) == known for r in rows if r["autocast"] == "bfloat16")
    assert all(r["mfu"] is None or 0 < r["mfu"] < 1 for r in rows)


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
