#!/usr/bin/env python
"""Benchmark: balancelab's SMOTE (or ADASYN) stage against plain imbalanced-learn, same data, one run.

Prints wall time and peak traced memory (tracemalloc: NumPy and Python allocations) of each, the
ratio of our peak to the balanced output array, and how often the two neighbour searches agree.

    python scripts/benchmark_smote.py                     # CPU, 64x64x3, ~3k images
    python scripts/benchmark_smote.py --size 96 --n-max 2000 --device cuda
    python scripts/benchmark_smote.py --technique adasyn
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np


def make_images(size: int, n_max: int, ratio: float, seed: int = 0):
    """Long-tailed RGB images built from the bundled digits (each copy jittered, so none repeat)."""
    from balancelab.data.digits import load_digit_images
    from balancelab.data.longtail import long_tail_counts
    from balancelab.data.resize import resize_images

    X0, y0 = load_digit_images()
    X0 = resize_images(X0, size)
    counts = long_tail_counts(n_max, 10, ratio, "exponential")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c, n in enumerate(counts):
        pool = np.flatnonzero(y0 == c)
        picks = rng.choice(pool, n, replace=True)
        base = X0[picks].astype(np.int16)
        tint = rng.integers(0, 60, (n, 1, 1, 3))
        noise = rng.integers(-12, 13, (n, size, size, 3))
        images.append(np.clip(base + tint + noise, 0, 255).astype(np.uint8))
        labels.append(np.full(n, c))
    return np.concatenate(images), np.concatenate(labels)


def measure(fn):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def neighbour_agreement(X, y, k, device):
    """Mean share of each row's k same-class neighbours found by both searches."""
    from sklearn.neighbors import NearestNeighbors

    from balancelab.balancing.neighbors import ImageNearestNeighbors, SharedFeatures

    feats = SharedFeatures(X.reshape(len(X), -1))
    shares = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if len(rows) <= k:
            continue
        Z = np.column_stack([rows.astype(float), np.zeros(len(rows))])
        ours = ImageNearestNeighbors(k + 1, feats, "torch", device).fit(Z).kneighbors(Z, return_distance=False)[:, 1:]
        F = X[rows].reshape(len(rows), -1).astype(np.float64)
        ref = NearestNeighbors(n_neighbors=k + 1).fit(F).kneighbors(F, return_distance=False)[:, 1:]
        shares += [len(set(a) & set(b)) / k for a, b in zip(ours, ref)]
    return float(np.mean(shares))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n-max", type=int, default=1000)
    parser.add_argument("--ratio", type=float, default=10)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--technique", choices=["smote", "adasyn"], default="smote")
    parser.add_argument("--skip-plain", action="store_true", help="skip plain imblearn (slow at large sizes)")
    args = parser.parse_args()

    import torch
    from imblearn.over_sampling import ADASYN, SMOTE

    from balancelab.balancing import make_balancer

    X, y = make_images(args.size, args.n_max, args.ratio)
    print(f"data: {len(y)} images {X.shape[1:]} uint8 ({X.nbytes / 1e6:.1f} MB), class counts {np.bincount(y).tolist()}")
    print(f"machine: torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k_param = "k_neighbors" if args.technique == "smote" else "n_neighbors"
        balancer = make_balancer(args.technique, random_state=0, knn_backend="torch", device=args.device,
                                 **{k_param: args.k})
        (X_res, _), ours_s, ours_peak = measure(lambda: balancer.fit_resample(X, y))
    out_bytes = X_res.nbytes
    print(f"balancelab {args.technique:<6}: {ours_s:8.2f} s   peak {ours_peak / 1e6:8.1f} MB   "
          f"= {ours_peak / out_bytes:.2f} x the balanced output ({out_bytes / 1e6:.1f} MB uint8)")

    if not args.skip_plain:
        flat = X.reshape(len(X), -1).astype(np.float64)  # what imblearn needs: a 2-D float matrix
        plain = SMOTE(random_state=0, k_neighbors=args.k) if args.technique == "smote" else \
            ADASYN(random_state=0, n_neighbors=args.k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                (Xp, _), plain_s, plain_peak = measure(lambda: plain.fit_resample(flat, y))
            except RuntimeError as exc:  # ADASYN's 0/0 case on well-separated classes
                tracemalloc.stop()
                print(f"plain imblearn   : failed ({exc})")
                plain_s = None
        if plain_s is None:
            args.skip_plain = True
    if not args.skip_plain:
        plain_peak += flat.nbytes  # the float copy made to call it belongs to its cost
        del flat, Xp
        print(f"plain imblearn   : {plain_s:8.2f} s   peak {plain_peak / 1e6:8.1f} MB   "
              f"= {plain_peak / out_bytes:.2f} x the balanced output")
        print(f"ratios (plain / ours): time {plain_s / ours_s:.2f}x, peak memory {plain_peak / ours_peak:.2f}x")
    print(f"neighbour-set agreement with sklearn NearestNeighbors (k={args.k}): "
          f"{100 * neighbour_agreement(X, y, args.k, args.device):.2f}%")


if __name__ == "__main__":
    main()
