"""Small sweeps with known truth for the statistics tests: jobs tables and predictions.csv frames."""

import numpy as np
import pandas as pd

from balancelab.sweep import statistics as st


def predictions_frame(ids, y, pred):
    return pd.DataFrame({"source_id": ids, "true_index": y, "true_class": [f"c{v}" for v in y], "pred_index": pred,
                         "pred_class": [f"c{v}" for v in pred], "confidence": 0.5})


def jobs_frame(values, metric="macro_f1", failed=()):
    """values: {experiment: {seed: value}} -> a jobs table like sweep.jobs.jobs_table's."""
    rows = [{"job": f"{e}_seed{s}", "experiment": e, "seed": s, "status": "completed", metric: v}
            for e, per_seed in values.items() for s, v in per_seed.items()]
    rows += [{"job": f"{e}_seed{s}", "experiment": e, "seed": s, "status": "failed", metric: np.nan} for e, s in failed]
    return pd.DataFrame(rows)


def from_predictions(predictions, y, minority_index=0, failed=()):
    """{(experiment, seed): predicted class indices} -> (jobs table whose metrics agree with them, frames)."""
    ids = np.array([f"img{i:05d}" for i in range(len(y))])
    rows, frames = [], {}
    for (experiment, seed), pred in predictions.items():
        frames[(experiment, seed)] = predictions_frame(ids, y, pred)
        rows.append({"job": f"{experiment}_seed{seed}", "experiment": experiment, "seed": seed, "status": "completed",
                     **{m: st.metric_value(y, pred, m, minority_index) for m in st.TESTED_METRICS}})
    rows += [{"job": f"{e}_seed{s}", "experiment": e, "seed": s, "status": "failed"} for e, s in failed]
    return pd.DataFrame(rows), frames


def same_images_fluke(n_fixed=23, n_broken=17, seeds=(0, 1, 2), per_class=36, k=10, seed=0):
    """Issue 19's fabricated sweep: focal_loss is baseline's predictions except that it fixes the same
    ``n_fixed`` test images and breaks the same ``n_broken`` ones in every seed (baseline: ~80 % correct, a new
    model per seed)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), per_class)
    n = len(y)
    hard = rng.choice(n, n_fixed + n_broken, replace=False)
    fixed, broken = hard[:n_fixed], hard[n_fixed:]
    predictions = {}
    for s in seeds:
        base = np.where(rng.random(n) < 0.8, y, (y + rng.integers(1, k, n)) % k)
        base[fixed] = (y[fixed] + 1) % k      # baseline wrong on them in every seed ...
        base[broken] = y[broken]               # ... and right on these
        focal = base.copy()
        focal[fixed] = y[fixed]
        focal[broken] = (y[broken] + 2) % k
        predictions[("baseline", s)], predictions[("focal_loss", s)] = base, focal
    return y, predictions


def consistent_gain_grid(gain_share=0.5, seed_sd=0.005, seeds=(0, 1, 2), per_class=150, k=10, n_null=8, n_gain=7,
                         seed=0):
    """A 16-experiment grid on a balanced 1,500-image test set: baseline, ``n_null`` techniques that do nothing
    and ``n_gain`` that fix ``gain_share`` of the baseline's errors (about 5 macro-F1 points) in every seed; each
    model's accuracy also moves by its seed's luck (sd ``seed_sd``)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), per_class)
    n = len(y)
    difficulty = rng.normal(0, 1, n)

    def model(extra_fix):
        luck = rng.normal(0, seed_sd)
        correct = rng.random(n) < np.clip(0.88 + luck + 0.05 * difficulty, 0, 1)
        pred = np.where(correct, y, (y + rng.integers(1, k, n)) % k)
        fix = (pred != y) & (rng.random(n) < extra_fix)
        pred[fix] = y[fix]
        return pred

    predictions = {}
    names = ["baseline"] + [f"null{i}" for i in range(n_null)] + [f"gain{i}" for i in range(n_gain)]
    for name in names:
        for s in seeds:
            predictions[(name, s)] = model(gain_share if name.startswith("gain") else 0.0)
    return y, predictions


def same_videos_sweep(n_fixed=20, n_broken=16, n_videos=300, frames=20, seeds=(0, 1, 2), n_null=4, k=10, seed=0):
    """A test set of ``n_videos`` "videos" of ``frames`` near-duplicate frames each (a video is right or wrong as
    a whole, plus 2 % frame noise); baseline and ``n_null`` techniques that do nothing are new models per seed, and
    ``fluke_videos`` is baseline's predictions except that it fixes the same ``n_fixed`` videos and breaks the
    same ``n_broken`` in every seed (issue 19's review: 20 fixed vs 16 broken, an exact sign test p = 0.62).

    Returns (y, {(experiment, seed): predicted class indices}, source ids, {source_id: video})."""
    rng = np.random.default_rng(seed)
    video_class = np.repeat(np.arange(k), n_videos // k)
    y = np.repeat(video_class, frames)
    video = np.repeat(np.arange(n_videos), frames)
    difficulty = rng.normal(0, 1, n_videos)

    def model():
        video_right = 1.0 + difficulty + rng.normal(0, 0.3, n_videos) > 0
        right = np.repeat(video_right, frames) ^ (rng.random(len(y)) < 0.02)
        return np.where(right, y, (y + 1) % k)

    base = {s: model() for s in seeds}
    majority_right = np.array([[np.mean(base[s][video == v] == y[video == v]) > 0.5 for v in range(n_videos)]
                               for s in seeds])
    always_wrong = np.flatnonzero(~majority_right.any(0))
    always_right = np.flatnonzero(majority_right.all(0))
    fixed = rng.choice(always_wrong, n_fixed, replace=False)
    broken = rng.choice(always_right, n_broken, replace=False)
    predictions = {}
    for s in seeds:
        predictions[("baseline", s)] = base[s]
        technique = base[s].copy()
        fix, brk = np.isin(video, fixed), np.isin(video, broken)
        technique[fix], technique[brk] = y[fix], (y[brk] + 1) % k
        predictions[("fluke_videos", s)] = technique
        for j in range(n_null):
            predictions[(f"null{j}", s)] = model()
    ids = np.array([f"v{v:04d}/f{i:06d}.png" for i, v in enumerate(video)])
    return y, predictions, ids, {i: f"v{v:04d}" for i, v in zip(ids, video)}
