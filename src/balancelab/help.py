"""`balance-run --help`: config groups and options, read from the packaged YAML files.

Kept free of torch (and of Hydra's composition) so that it answers instantly.
"""

from __future__ import annotations

from importlib import resources

GROUP_HELP = {
    "model": "network (torchvision or small CNN)",
    "dataset": "data source and split",
    "balancing": "technique applied to the training split",
    "augmentation": "offline augmentation preset (for balancing=offline_augmentation)",
    "loss": "training criterion",
    "optimizer": "optimiser and its lr / weight decay",
    "scheduler": "learning-rate schedule",
    "trainer": "epochs, batch size, device, early stopping",
    "logger": "experiment tracking",
    "experiment": "named experiments of the 8-experiment grid",
    "launcher": "where sweep jobs run (local, parallel, SLURM)",
}


def config_groups() -> dict:
    """{group: [options]} from the packaged configs folder."""
    root = resources.files("balancelab.configs")
    groups = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith(("_", ".")) and entry.name != "hydra":
            options = sorted(f.name[:-5] for f in entry.iterdir() if f.name.endswith(".yaml"))
            if options:
                groups[entry.name] = options
    return groups


def default_choices() -> dict:
    import yaml

    text = resources.files("balancelab.configs").joinpath("config.yaml").read_text()
    defaults = yaml.safe_load(text).get("defaults", [])
    return {k: v for d in defaults if isinstance(d, dict) for k, v in d.items() if not k.startswith("override")}


def render_help(program: str = "balance-run") -> str:
    groups = config_groups()
    defaults = default_choices()
    lines = [
        f"{program}: train and evaluate one class-imbalance experiment (Hydra app).",
        "",
        f"Usage: {program} [group=option ...] [key=value ...] [-m for a multirun]",
        f"  e.g. {program} model=resnet18 balancing=smote loss=focal trainer.epochs=20",
        f"       {program} -m balancing=none,random_oversampling seed=0,1,2",
        "",
        "Config groups (default marked *):",
    ]
    for group, options in groups.items():
        marked = [f"{o}*" if defaults.get(group) == o else o for o in options]
        lines.append(f"  {group:<13} {', '.join(marked)}")
        if group in GROUP_HELP:
            lines.append(f"  {'':<13} ({GROUP_HELP[group]})")
    lines += [
        "",
        "Top-level keys: seed=42  overwrite=false  output_root=outputs  cache_dir=${output_root}/.cache  use_cache=true",
        "",
        "Sweeps: balance-sweep [group=...] [experiments=[...]] [seeds=[0,1,2]] [launcher=basic|parallel|slurm|local]",
        "        (plain multiruns: balance-run -m ... hydra/launcher=parallel|slurm|local)",
        "",
        "Other flags (Hydra): --cfg job (print the composed config), --info, --hydra-help, -m/--multirun.",
        "The run folder is <output_root>/runs/<model>_balance_<technique>_<loss>_<dataset>_seed<seed>;",
        "a finished one is never overwritten unless overwrite=true.",
    ]
    return "\n".join(lines)
