"""Every shipped configuration keeps its identity hash (the suffix of its run folder's name).

A key added to an option's schema enters the resolved config of every run of that option, and so its identity:
finished runs and sweep jobs of that option would no longer be found (trained again), their saved training
states no longer resumed. The hashes below were taken from the shipped configs; a change that moves one fails
here, naming the configs and the fix. Regenerate (only for a change meant to make new experiments) with
``BALANCELAB_PIN_IDENTITIES=1 pytest tests/test_identity_pinned.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from omegaconf import OmegaConf

from balancelab.cli.compose import compose_job
from balancelab.identity import identity_hash, resolved_without_name

PINNED = Path(__file__).parent / "data" / "identity_hashes.json"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Options that need more than their name to compose (a folder of images, a weights file).
NEEDS_MORE = {"dataset=image_folder": ["dataset.root=/nonexistent"]}


def shipped_configs():
    """The default run, every named experiment, and every option of every group against the defaults."""
    argvs = [[]]
    argvs += [[f"experiment={p.stem}"] for p in sorted((CONFIGS / "experiment").glob("*.yaml"))]
    argvs += [[f"recipe={p.stem}"] for p in sorted((CONFIGS / "recipe").glob("*.yaml"))]
    for group in ("model", "dataset", "balancing", "loss", "optimizer", "scheduler", "augmentation", "trainer"):
        for p in sorted((CONFIGS / group).glob("*.yaml")):
            choice = f"{group}={p.stem}"
            argvs.append([choice, *NEEDS_MORE.get(choice, [])])
    return argvs


def current_hashes() -> dict:
    out = {}
    for argv in shipped_configs():
        cfg = compose_job(argv)
        out[" ".join(argv) or "(default)"] = identity_hash(resolved_without_name(cfg))
    return out


def test_every_shipped_config_keeps_its_identity():
    now = current_hashes()
    if os.environ.get("BALANCELAB_PIN_IDENTITIES") == "1":
        PINNED.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(PINNED.read_text())
    moved = {k: (pinned[k], now[k]) for k in pinned if k in now and pinned[k] != now[k]}
    assert not moved, (
        f"The identity of {len(moved)} shipped config(s) changed: "
        + "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in sorted(moved.items())[:8])
        + ". Their finished runs and sweep jobs would not be found again. A key added to a schema enters the "
          "identity of every run of its option: add (key, its value when off, keys used only with it) to "
          "ADDED_LATER in src/balancelab/identity.py so that runs without it keep their hash. If the change is "
          "meant to make these new experiments, re-pin with BALANCELAB_PIN_IDENTITIES=1 (tests/test_identity_pinned.py).")
    missing = sorted(set(now) - set(pinned))
    assert not missing, (f"Shipped config(s) without a pinned identity: {missing}. Pin them with "
                         f"BALANCELAB_PIN_IDENTITIES=1 pytest tests/test_identity_pinned.py.")


def test_a_key_added_later_is_left_out_at_its_off_value_whatever_its_type(monkeypatch):
    """ADDED_LATER compared with ``is``: only None and booleans were ever recognised as off, so a float, string
    or list key added later changed every run's hash although it was off."""
    from balancelab import identity as identity_module

    monkeypatch.setattr(identity_module, "ADDED_LATER",
                        (("model.zero_init", 0.0, ()), ("loss.mode", "plain", ()), ("trainer.milestones", [], ()),
                         ("trainer.flag", False, ())))
    base = {"model": {"name": "m"}, "loss": {"name": "ce"}, "trainer": {"epochs": 3}}
    with_off = {"model": {"name": "m", "zero_init": float("0.0")}, "loss": {"name": "ce", "mode": "".join(["pl", "ain"])},
                "trainer": {"epochs": 3, "milestones": [], "flag": False}}
    assert identity_module.identity_hash(with_off) == identity_module.identity_hash(base)
    # On is on: a value that differs from off, or the same value of another type, stays in the identity.
    for key, value in (("zero_init", 0.5), ("zero_init", 0)):
        on = {**with_off, "model": {"name": "m", key: value}}
        assert identity_module.identity_hash(on) != identity_module.identity_hash(base)
    assert identity_module.identity_hash({**with_off, "trainer": {"epochs": 3, "milestones": [], "flag": 0}}) \
        != identity_module.identity_hash(base)


# On 2026-12-08 the embedded default data (dataset=mnist_lt) took a training recipe of its own (Adam at 0.002,
# cosine, 15 epochs, trainer.budget=steps; configs/recipe/mnist_lt.yaml), which made new experiments of every
# config composed on it. The runs made before must still be found by whoever gives the earlier settings back.
BEFORE_RECIPE = Path(__file__).parent / "data" / "identity_hashes_before_mnist_lt_recipe.json"
OPTIMIZER_LR_BEFORE = {"adam": "0.0005", "adamw": "0.0005", "sgd": "0.05"}


def _with_the_settings_before_the_recipe(argv: list) -> list:
    chosen = dict(a.split("=", 1) for a in argv if "=" in a and "." not in a.split("=", 1)[0])
    previous = [f"optimizer.lr={OPTIMIZER_LR_BEFORE[chosen.get('optimizer', 'adam')]}", "trainer.epochs=30",
                "trainer.budget=epochs"]
    if "scheduler" not in chosen:
        previous.append("scheduler=step")
    return [*argv, *previous]


def test_configs_composed_with_the_settings_before_the_recipe_find_their_earlier_runs():
    before = json.loads(BEFORE_RECIPE.read_text())
    moved = {}
    for argv in shipped_configs():
        key = " ".join(argv) or "(default)"
        if key not in before:
            continue
        cfg = compose_job(argv)
        if cfg.dataset.name == "mnist_lt" and not any(a.startswith("recipe=") for a in argv):
            cfg = compose_job(_with_the_settings_before_the_recipe(argv))
        if identity_hash(resolved_without_name(cfg)) != before[key]:
            moved[key] = before[key]
    assert not moved, f"Configs whose runs made before the mnist_lt recipe are no longer found: {sorted(moved)}"
