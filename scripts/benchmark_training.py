#!/usr/bin/env python
"""Benchmark: balancelab's training loop against the same steps on synthetic tensors, in one process.

pipeline efficiency = (time of the same training steps - forward, backward, optimizer step, same
model, batch sizes and input shape - on random tensors already on the device, plus the same
validation forward passes) / (wall time of an epoch of ``balancelab.training.loop.fit``, with its
state checkpoint, early-stopping bookkeeping and validation). 1.0: the loop adds nothing.

Real and synthetic epochs alternate (A B A B ...) so that a machine shared with other work slows
both alike; the figure reported is the median of the per-pair ratios. Also: images/s for training
and evaluation, FLOPs per image (torch.utils.flop_counter) and, on CUDA, model FLOP utilisation for
bf16 autocast / channels_last / torch.compile on and off. Writes a JSON with the machine.

    python scripts/benchmark_training.py                       # the default experiment's model and data
    python scripts/benchmark_training.py --quick               # one pair, no variants (smoke test)
    python scripts/benchmark_training.py model=small_cnn trainer.batch_size=64 --threads 1
    python scripts/benchmark_training.py trainer.data_on_device=false   # batches streamed from the host
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch


def compose(overrides):
    from hydra import compose as hydra_compose, initialize_config_module

    with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
        return hydra_compose("config", overrides=["logger=none", *overrides])


class Setup:
    """The default experiment's data, model and optimisation, built the way balancelab.experiment builds them."""

    def __init__(self, cfg, device: torch.device):
        from omegaconf import OmegaConf

        from balancelab.balancing.apply import balance_training_set
        from balancelab.options.build import build
        from balancelab.training.batches import OnlineAugmentation, channel_stats
        from balancelab.training.placement import keep_on_device, place
        from balancelab.training.runtime import amp_dtype

        self.cfg, self.device = cfg, device
        plain = OmegaConf.to_container(cfg, resolve=True)
        self.plain = plain
        # The run's cache: an image folder's images are then read from the decoded-image file on disk, as a run
        # reads them (streamed from there with trainer.data_on_device=false).
        splits = build(plain["dataset"], "dataset", name=plain["dataset"]["name"], input_size=cfg.model.input_size,
                       cache_dir=plain["cache_dir"] if plain["use_cache"] else None)
        self.names = splits.class_names
        balanced = balance_training_set(splits.train.X, splits.train.y, plain["balancing"], self.names, cfg.seed,
                                        None, device.type)
        mean, std = channel_stats(splits.train.X)
        # trainer.data_on_device=false measures the streamed path (batches gathered on the host by a thread).
        self.on_device = keep_on_device(plain["trainer"]["data_on_device"], [balanced.X, splits.val.X], device)
        self.train = place(balanced.X, balanced.y, device, mean, std, self.on_device)
        self.val = place(splits.val.X, splits.val.y, device, mean, std, self.on_device)
        self.channels = splits.image_shape[-1]
        self.counts = splits.train.class_counts(len(self.names))
        self.augment = OnlineAugmentation(**plain["dataset"].get("online_augmentation", {}))
        self.amp = amp_dtype(device, cfg.trainer.amp)

    def model(self, channels_last: bool = False):
        from balancelab.options.build import build

        model = build(self.plain["model"], "model", num_classes=len(self.names), in_channels=self.channels,
                      input_size=self.plain["model"]["input_size"]).to(self.device)
        return model.to(memory_format=torch.channels_last) if channels_last else model

    def optimisation(self, model):
        from balancelab.options.build import build

        counts = [int(c) for c in self.counts]
        criterion = build(self.plain["loss"], "loss", num_classes=len(self.names), class_counts=counts,
                          trained_counts=counts, balanced_batches=False).to(self.device)
        optimizer = build(self.plain["optimizer"], "optimizer")(model.parameters())
        scheduler = build(self.plain["scheduler"], "scheduler", optimizer=optimizer,
                          total_epochs=self.plain["trainer"]["epochs"])
        return criterion, optimizer, scheduler


def loop_settings(setup: Setup, epochs: int):
    from balancelab.training.loop import TrainSettings

    t = setup.cfg.trainer
    return TrainSettings(epochs=epochs, batch_size=t.batch_size, seed=setup.cfg.seed, patience=0,
                         augment=setup.augment, amp_dtype=setup.amp, grad_clip_norm=t.grad_clip_norm,
                         progress="log", state_every_s=t.state_every_s, precise_bn_images=t.precise_bn_images)


class TimedStore:
    """balancelab's state store, timing its writes (a short benchmark writes more often than a run does)."""

    def __init__(self, folder: Path):
        from balancelab.training.state import TrainingStateStore

        self.inner = TrainingStateStore(folder, "benchmark")
        self.path, self.folder, self.seconds, self.writes = self.inner.path, self.inner.folder, 0.0, 0

    @property
    def loaded_from(self):
        return self.inner.loaded_from

    def load(self, model=None, optimizer=None):
        return self.inner.load(model, optimizer)

    def save(self, state):
        start = time.perf_counter()
        self.inner.save(state)
        self.seconds, self.writes = self.seconds + time.perf_counter() - start, self.writes + 1


def real_epoch(setup: Setup, model, epochs: int) -> tuple[float, float, int]:
    """Wall time per epoch of balancelab's fit (training, validation, best-state copy, state writes),
    the seconds spent writing the state, and the number of writes."""
    from balancelab.training.loop import fit

    criterion, optimizer, scheduler = setup.optimisation(model)
    with tempfile.TemporaryDirectory() as folder:
        store = TimedStore(Path(folder))
        start = time.perf_counter()
        fit(model, setup.train, setup.val, criterion, optimizer, scheduler, loop_settings(setup, epochs), store=store)
        return (time.perf_counter() - start) / epochs, store.seconds / epochs, store.writes


def writes_per_epoch(epochs: int, epoch_seconds: float, every_s: float) -> float:
    """State writes per epoch in a full run of ``epochs``: after the first and last epoch, and every ``every_s``."""
    if not every_s or epochs <= 2:
        return 1.0
    return min(1.0, (2 + (epochs - 2) * epoch_seconds / every_s) / epochs)


def synthetic(setup: Setup, model, channels_last: bool = False, amp=None):
    from balancelab.training.throughput import SyntheticSteps

    criterion, optimizer, _ = setup.optimisation(model)
    return SyntheticSteps(model, optimizer, criterion, in_channels=setup.channels,
                          input_size=setup.cfg.model.input_size, num_classes=len(setup.names), device=setup.device,
                          amp_dtype=amp, channels_last=channels_last, seed=setup.cfg.seed)


def efficiency(setup: Setup, pairs: int, epochs: int) -> dict:
    """Real and synthetic epochs in alternation; the ratio per pair, with state writes counted as often
    as a full run of ``trainer.epochs`` makes them (a benchmark of a few epochs writes after every one)."""
    from balancelab.training.precise_bn import batch_norm_layers, pass_batch_sizes
    from balancelab.training.throughput import eval_batch_sizes, loop_batch_sizes

    settings = loop_settings(setup, epochs)
    train_sizes = loop_batch_sizes(len(setup.train), settings.batch_size)
    # Before each validation the loop recomputes batch-norm statistics: forward passes the floor has too.
    precise_sizes = (pass_batch_sizes(len(setup.train), settings.precise_bn_images, settings.batch_size)
                     if batch_norm_layers(setup.model()) else [])
    eval_sizes = eval_batch_sizes(len(setup.val), settings.evaluation_batch_size) + precise_sizes
    steps = synthetic(setup, setup.model(), amp=setup.amp)
    steps.train(train_sizes[:2])  # warm-up: lazy optimizer state, allocator, kernel choice
    steps.evaluate(eval_sizes[:1])
    real_model = setup.model()
    real_epoch(setup, copy.deepcopy(real_model), 1)  # warm-up of the real path
    real, writes_s, train_s, eval_s, ratios, raw = [], [], [], [], [], []
    for _ in range(pairs):
        r, w, n_writes = real_epoch(setup, copy.deepcopy(real_model), epochs)
        tr = sum(steps.train(train_sizes) for _ in range(epochs)) / epochs
        ev = sum(steps.evaluate(eval_sizes) for _ in range(epochs)) / epochs
        per_write = w * epochs / max(n_writes, 1)
        full_run = r - w + per_write * writes_per_epoch(setup.cfg.trainer.epochs, r, setup.cfg.trainer.state_every_s)
        real.append(full_run), writes_s.append(per_write), train_s.append(tr), eval_s.append(ev)
        ratios.append((tr + ev) / full_run), raw.append((tr + ev) / r)
    n_train, n_val = sum(train_sizes), len(setup.val)
    return {
        "pipeline_efficiency": statistics.median(ratios), "pipeline_efficiency_pairs": ratios,
        "pipeline_efficiency_writing_state_every_epoch": statistics.median(raw),
        "real_epoch_seconds": real, "state_write_seconds": writes_s,
        "synthetic_train_seconds": train_s, "synthetic_eval_seconds": eval_s,
        "train_images_per_epoch": n_train, "val_images": n_val, "steps_per_epoch": len(train_sizes),
        "precise_bn_images_per_epoch": sum(precise_sizes),
        "eval_batch_size": settings.evaluation_batch_size,
        "real_images_per_second": n_train / statistics.median(real),
        "synthetic_train_images_per_second": n_train / statistics.median(train_s),
        "synthetic_eval_images_per_second": (n_val + sum(precise_sizes)) / statistics.median(eval_s),
    }


def variants(setup: Setup, steps_per_variant: int, with_compile: bool) -> list:
    """Synthetic training and evaluation throughput with autocast, channels_last and compile on and off."""
    from balancelab.training.throughput import peak_tflops, training_step_flops

    device, bs, size = setup.device, setup.cfg.trainer.batch_size, setup.cfg.model.input_size
    x = torch.randn(bs, setup.channels, size, size, device=device)
    y = torch.randint(0, len(setup.names), (bs,), device=device)
    probe = setup.model()
    flops_per_image = training_step_flops(probe, x, y, torch.nn.functional.cross_entropy) / bs
    amp_options = [None, torch.bfloat16] if device.type == "cuda" and torch.cuda.is_bf16_supported() else [None]
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    rows = []
    for compiled in ([False, True] if with_compile else [False]):
        for channels_last in (False, True):
            for amp in amp_options:
                model = setup.model(channels_last)
                if compiled:
                    model = torch.compile(model)
                steps = synthetic(setup, model, channels_last, amp)
                sizes = [bs] * steps_per_variant
                steps.train(sizes[:3]), steps.evaluate(sizes[:3])  # warm-up (and compilation)
                train_s, eval_s = steps.train(sizes), steps.evaluate(sizes)
                dtype = amp or torch.float32
                achieved = flops_per_image * bs * len(sizes) / train_s
                peak = peak_tflops(gpu, dtype) if gpu else None
                rows.append({
                    "autocast": str(amp).replace("torch.", "") if amp else None, "channels_last": channels_last,
                    "compile": compiled, "train_images_per_second": bs * len(sizes) / train_s,
                    "eval_images_per_second": bs * len(sizes) / eval_s, "achieved_tflops": achieved / 1e12,
                    "mfu": achieved / (peak * 1e12) if peak else None,
                    "mfu_note": None if peak or not gpu else f"no peak known for {gpu} in {dtype}; MFU omitted",
                })
    return [{"flops_per_training_image": flops_per_image, "rows": rows}]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the experiment (model=..., trainer.batch_size=...)")
    parser.add_argument("--quick", action="store_true", help="one real/synthetic pair of one epoch, no variants")
    parser.add_argument("--pairs", type=int, default=3, help="real/synthetic pairs (default 3)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per measurement (default 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to warm up)")
    parser.add_argument("--out", default="outputs/benchmark_training.json", help="JSON written here")
    args = parser.parse_args(argv)
    logging.getLogger("balancelab").setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    from balancelab.training.runtime import seed_everything, select_device
    from balancelab.training.throughput import machine_info

    cfg = compose(args.overrides)
    seed_everything(cfg.seed, cfg.trainer.deterministic)
    device = select_device(cfg.trainer.device)
    machine = machine_info(device)
    setup = Setup(cfg, device)
    pairs = 1 if args.quick else args.pairs
    result = {
        "command": "python scripts/benchmark_training.py " + " ".join(
            [*args.overrides, *(["--quick"] if args.quick else []), f"--pairs={pairs}", f"--epochs={args.epochs}",
             f"--threads={args.threads}"]),
        "experiment": {"model": cfg.model.name, "input_size": cfg.model.input_size, "dataset": cfg.dataset.name,
                       "batch_size": cfg.trainer.batch_size, "optimizer": cfg.optimizer.name,
                       "images": "on the device" if setup.on_device else "streamed from the host",
                       "autocast": str(setup.amp).replace("torch.", "") if setup.amp else None},
        "machine": machine,
        "loop": efficiency(setup, pairs, args.epochs),
    }
    if not args.quick:
        with_compile = args.compile or device.type == "cuda"
        result["variants"] = variants(setup, 20 if device.type == "cuda" else 5, with_compile)[0]
    result["machine"]["load_average_end"] = machine_info(device)["load_average"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    report(result, out)
    return result


def report(result: dict, out: Path) -> None:
    loop, m = result["loop"], result["machine"]
    print(f"{result['experiment']} on {m['device']} ({m['gpu'] or m['cpu_model']}, {m['cpu_cores']} cores, "
          f"{m['torch_threads']} torch threads, load {m['load_average']})")
    print(f"pipeline efficiency {loop['pipeline_efficiency']:.3f}  (pairs: "
          + ", ".join(f"{r:.3f}" for r in loop["pipeline_efficiency_pairs"]) + f"; "
          f"{loop['pipeline_efficiency_writing_state_every_epoch']:.3f} writing the state every epoch, "
          f"{statistics.median(loop['state_write_seconds']):.3f} s a write)")
    print(f"real loop: {loop['real_images_per_second']:.0f} train img/s incl. validation; synthetic: "
          f"{loop['synthetic_train_images_per_second']:.0f} train img/s, {loop['synthetic_eval_images_per_second']:.0f} eval img/s")
    if "variants" in result:
        v = result["variants"]
        print(f"{v['flops_per_training_image'] / 1e6:.1f} MFLOP per training image (forward + backward)")
        print("autocast  channels_last  compile  train img/s  eval img/s  TFLOP/s  MFU")
        for r in v["rows"]:
            mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
            print(f"{str(r['autocast']):9s} {str(r['channels_last']):14s} {str(r['compile']):8s} "
                  f"{r['train_images_per_second']:11.0f} {r['eval_images_per_second']:11.0f} "
                  f"{r['achieved_tflops']:8.4f} {mfu}")
            if r["mfu_note"]:
                print(f"  note: {r['mfu_note']}")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
