"""Ingest of an image folder against a plain read + decode loop over the same files, side by side in one run.

Generates its folder (any size; by default the class proportions of the surveillance-frame set the product
grew from: NormalVideos 947k, Stealing 44.8k, Robbery 41.5k, Burglary 39.5k, Vandalism 13.6k, Assault 10.4k,
Shooting 7.1k, scaled to ``--files``), small JPEGs written with OpenCV in parallel threads, then measures, each
in its own child process so that peak memory does not mix:

- ``balancelab``: the data stage a run executes for ``dataset=image_folder`` (``load_image_folder``: listing,
  the duplicate-aware split, decoding and the cache write), into an empty cache folder;
- ``balancelab_cached``: the same call again, reading that cache;
- ``plain``: a loop that lists the same files (``os.scandir``) and reads + ``cv2.imdecode``s each into one
  preallocated array, with the same number of threads.

Prints each time and peak RSS, and the ratio plain / balancelab (1.0: ingest as fast as the bare decoder).

    python scripts/benchmark_ingest.py --files 110392 --threads 2
    python scripts/benchmark_ingest.py --files 1000000 --folder /tmp/frames --keep
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SURVEILLANCE = {"NormalVideos": 947_000, "Stealing": 44_800, "Robbery": 41_500, "Burglary": 39_500,
                "Vandalism": 13_600, "Assault": 10_400, "Shooting": 7_100}


def class_counts(files: int) -> dict:
    """Per-class counts in the surveillance proportions, summing to ``files`` (each class at least 3)."""
    total = sum(SURVEILLANCE.values())
    counts = {c: max(3, int(files * n / total)) for c, n in SURVEILLANCE.items()}
    counts["NormalVideos"] += files - sum(counts.values())
    return counts


def generate(folder: Path, files: int, side: int, threads: int, duplicate_every: int = 200) -> None:
    """Write ``files`` JPEGs of ``side`` x ``side`` px; every ``duplicate_every``-th file is a byte copy of the one
    before it (so the duplicate-aware split has copies to keep together)."""
    import cv2
    import numpy as np

    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == f"{files}:{side}:{duplicate_every}":
        return
    jobs = []
    for c, n in class_counts(files).items():
        (folder / c).mkdir(parents=True, exist_ok=True)
        jobs += [(folder / c / f"{c}_{i:07d}.jpg", len(jobs) + i) for i in range(n)]

    def write(block):
        rng = np.random.default_rng(block[0][1])
        last = None
        for path, k in block:
            if duplicate_every and k % duplicate_every == 1 and last is not None:
                path.write_bytes(last)
                continue
            small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            img = cv2.resize(small, (side, side), interpolation=cv2.INTER_LINEAR)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
            last = buf.tobytes()
            path.write_bytes(last)

    blocks = [jobs[i:i + 2000] for i in range(0, len(jobs), 2000)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, blocks))
    marker.write_text(f"{files}:{side}:{duplicate_every}")


def measure_balancelab(folder: Path, cache: Path, side: int, threads: int) -> dict:
    from balancelab.data.image_folder import load_image_folder

    cpu_before = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    start = time.perf_counter()
    data = load_image_folder(input_size=side, cache_dir=str(cache), root=str(folder), channels=3,
                             resize_policy="resize", decode_workers=threads, split_seed=0, val_fraction=0.15,
                             test_fraction=0.15, split_manifest=None, imbalance_ratio=1.0, imbalance_profile="none")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(data.train.y) + len(data.val.y) + len(data.test.y),
            "cpu_before": cpu_before}


def measure_plain(folder: Path, side: int, threads: int) -> dict:
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    cpu_before = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    start = time.perf_counter()
    paths = []
    for class_dir in sorted(os.scandir(folder), key=lambda e: e.name):
        if class_dir.is_dir() and not class_dir.name.startswith("."):
            paths += sorted(e.path for e in os.scandir(class_dir.path) if e.name.endswith(".jpg"))
    X = np.empty((len(paths), side, side, 3), np.uint8)

    def read(span):
        for i in range(*span):
            with open(paths[i], "rb") as f:
                X[i] = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)

    # Each thread gets runs of files: a thread pool ignores map's chunksize, and one task per file would
    # charge the plain loop a million task hand-offs that are not decoding.
    n = len(paths)
    step = max(1, -(-n // (4 * threads)))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(read, [(lo, min(n, lo + step)) for lo in range(0, n, step)]))
    return {"seconds": time.perf_counter() - start, "rows": len(paths), "cpu_before": cpu_before}


def child(args) -> None:
    if args.measure == "plain":
        out = measure_plain(Path(args.folder), args.side, args.threads)
    else:
        out = measure_balancelab(Path(args.folder), Path(args.cache), args.side, args.threads)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_mb"] = usage.ru_maxrss / 1024
    out["cpu_s"] = usage.ru_utime + usage.ru_stime - out.pop("cpu_before")
    print(json.dumps(out))


def run_child(what: str, folder: Path, cache: Path, args, profile: bool = False) -> dict:
    cmd = [sys.executable]
    if profile:
        cmd += ["-m", "cProfile", "-o", str(cache.parent / f"{what}.prof")]
    cache.mkdir(parents=True, exist_ok=True)
    cmd += [__file__, "--measure", what, "--folder", str(folder), "--cache", str(cache), "--side", str(args.side),
            "--threads", str(args.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=110_392)
    parser.add_argument("--side", type=int, default=32, help="image side in px (also the input size)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--folder", help="where the images are generated (kept; reused when complete)")
    parser.add_argument("--keep", action="store_true", help="keep a generated temporary folder")
    parser.add_argument("--repeat", type=int, default=3, help="measurements of each, alternated; best is kept")
    parser.add_argument("--profile", action="store_true", help="cProfile the balancelab child (.prof beside cache)")
    parser.add_argument("--measure", choices=("balancelab", "balancelab_cached", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return child(args)

    work = Path(tempfile.mkdtemp(prefix="balancelab-ingest-"))
    folder = Path(args.folder) if args.folder else work / "images"
    try:
        t = time.perf_counter()
        generate(folder, args.files, args.side, args.threads)
        print(f"folder {folder}: {args.files} files, {args.side} px, generated/checked in "
              f"{time.perf_counter() - t:.1f} s", flush=True)
        runs = {"plain": [], "balancelab": [], "balancelab_cached": []}
        # Alternated, each with a cold cache folder: on a shared machine the load changes from one to the next;
        # the best of each is compared (the page cache holds the files for both).
        for r in range(args.repeat):
            cache = work / f"cache{r}"
            runs["plain"].append(run_child("plain", folder, cache, args))
            runs["balancelab"].append(run_child("balancelab", folder, cache, args, profile=args.profile and r == 0))
            runs["balancelab_cached"].append(run_child("balancelab_cached", folder, cache, args))
            shutil.rmtree(cache, ignore_errors=True)
        results = {k: {"seconds": min(x["seconds"] for x in v), "peak_rss_mb": max(x["peak_rss_mb"] for x in v),
                       "rows": v[0]["rows"], "all_seconds": [round(x["seconds"], 2) for x in v],
                       "cpu_s": min(x["cpu_s"] for x in v)}
                   for k, v in runs.items()}
        for name, r in results.items():
            print(f"{name:18s} {r['seconds']:8.2f} s (best of {r['all_seconds']})  CPU {r['cpu_s']:7.2f} s   "
                  f"peak RSS {r['peak_rss_mb']:7.0f} MB   rows {r['rows']}")
        ratio = results["plain"]["seconds"] / results["balancelab"]["seconds"]
        cpu_ratio = results["plain"]["cpu_s"] / results["balancelab"]["cpu_s"]
        print(f"ratio plain / balancelab ingest: {ratio:.2f} wall, {cpu_ratio:.2f} CPU time "
              f"(threads {args.threads}, files {args.files})")
        print(json.dumps({"files": args.files, "threads": args.threads, "ratio": round(ratio, 3),
                          "cpu_ratio": round(cpu_ratio, 3),
                          **{k: {"seconds": round(v["seconds"], 2), "cpu_s": round(v["cpu_s"], 2),
                                 "peak_rss_mb": round(v["peak_rss_mb"])}
                             for k, v in results.items()}}))
        if args.profile:
            print(f"profile: {work / 'balancelab.prof'}")
    finally:
        if not args.keep and not args.profile:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
