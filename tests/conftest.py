"""Shared fixtures: composed configs, tiny image data, and the installed console scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BIN = Path(sys.executable).parent
# Settings that make an end-to-end run take seconds on a CPU.
TINY = ["model=small_cnn", "model.input_size=16", "trainer.epochs=2", "trainer.batch_size=64",
        "trainer.num_threads=1", "logger=none"]


def compose(overrides=()):
    from hydra import compose as hydra_compose, initialize_config_module

    with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


@pytest.fixture
def composed():
    return compose


def noise_image_folder(root: Path, classes, shape, spread: float, seed: int = 0) -> Path:
    """An image folder of PNGs: for each (class, count, grey level) of ``classes``, ``count`` images of ``shape``
    (H, W, 3) drawn around that level with ``spread``, so the classes are told apart by brightness."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, count, level in classes:
        (root / name).mkdir(parents=True)
        for i in range(count):
            image = np.clip(rng.normal(level, spread, shape), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


def run_cli(args, cwd, script="balance-run", timeout=600, env_extra=None):
    """Run an installed console script; returns CompletedProcess with text output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled", **(env_extra or {})}
    env = {k: v for k, v in env.items() if v is not None}  # None removes a variable
    exe = BIN / script
    assert exe.exists(), f"{script} is not installed in {BIN}"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def assert_refused_without_heavy_imports(argv, expected: str) -> None:
    """preflight(argv) refuses with a message holding ``expected``, in a fresh interpreter that imports none of
    the loaders' libraries (torch, OpenCV, scikit-learn, pandas, SciPy take seconds to import)."""
    import sys

    code = ("import sys; from balancelab.cli.preflight import preflight; "
            f"m = preflight({list(argv)!r}); "
            f"assert m and {expected!r} in m, m; "
            "heavy = [n for n in ('torch', 'cv2', 'sklearn', 'pandas', 'scipy') if n in sys.modules]; "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def digit_images():
    """Real images (sklearn digits at 16x16), not noise: the balancers' tests use these."""
    from balancelab.data.digits import load_digit_images
    from balancelab.data.resize import resize_images

    X, y = load_digit_images()
    return resize_images(X, 16), y


@pytest.fixture
def imbalanced_digits(digit_images):
    """Three classes with 40, 12 and 6 images."""
    X, y = digit_images
    index = np.concatenate([np.flatnonzero(y == 0)[:40], np.flatnonzero(y == 1)[:12], np.flatnonzero(y == 2)[:6]])
    return X[index], y[index]


cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def run_folder(root, prefix):
    """The one run folder under `root/runs` whose name is `prefix` plus the identity hash."""
    matches = sorted(p for p in (Path(root) / "runs").glob(f"{prefix}_*") if p.is_dir() and len(p.name) == len(prefix) + 9)
    assert len(matches) == 1, f"expected one run folder {prefix}_<hash>, found {[m.name for m in matches]}"
    return matches[0]


def options_of(group):
    """The shipped options of a config group (the registry tests follow: a new option is tested unedited)."""
    from balancelab.options.catalog import config_groups

    return config_groups()[group]


def option_node(group, option, keys=None):
    """The composed config node of ``group=option`` with ``keys`` merged in (typed by its schema)."""
    from omegaconf import OmegaConf

    return OmegaConf.merge(compose([f"{group}={option}"])[group], keys or {})


def build_option(group, option, keys=None, **facts):
    """The component of ``group=option`` built as a run builds it, with the group's contract facts."""
    from balancelab.options.build import build

    return build(option_node(group, option, keys), group, **facts)


@pytest.fixture(autouse=True)
def _balancelab_logging_as_it_was():
    """A test that runs a command in-process (balance-sweep's sweep(), a report) lets setup_logging add a
    console handler on pytest's captured stderr, which is closed after the test: a later test of the same
    worker would then log into a closed file ("--- Logging error ---"). Remove what a test added."""
    import logging

    logger = logging.getLogger("balancelab")
    saved, propagate, level = logger.handlers[:], logger.propagate, logger.level
    yield
    for handler in logger.handlers[:]:
        if handler not in saved:
            logger.removeHandler(handler)
    # setup_logging also stops propagation (its own console handler prints once): a later test's caplog, which
    # listens at the root, would then see nothing
    logger.propagate, logger.level = propagate, level
