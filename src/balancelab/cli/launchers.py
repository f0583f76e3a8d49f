"""Short names of the Hydra launchers (configs/hydra/launcher/) and the plugin each needs, with the message
for a plugin that is not installed."""

from __future__ import annotations

from typing import Optional

LAUNCHERS = {"basic": None, "parallel": "parallel", "joblib": "parallel", "slurm": "slurm", "submitit_slurm": "slurm",
             "local": "local", "submitit_local": "local"}
LAUNCHER_PLUGINS = {"parallel": ("hydra_plugins.hydra_joblib_launcher", "joblib"),
                    "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
                    "local": ("hydra_plugins.hydra_submitit_launcher", "slurm")}


def install_hint(extra: str) -> str:
    return f'pip install "balancelab[{extra}]" (in a clone: pip install -e ".[{extra}]")'


def missing_launcher_plugin(launcher: str) -> Optional[str]:
    """The message for a launcher whose Hydra plugin is not installed (None when it is, or needs none)."""
    import importlib.util

    if launcher not in LAUNCHER_PLUGINS:
        return None
    module, extra = LAUNCHER_PLUGINS[launcher]
    if importlib.util.find_spec(module) is None:
        return f"launcher={launcher} needs its Hydra plugin: {install_hint(extra)}."
    if launcher == "slurm":
        import shutil

        if shutil.which("sbatch") is None:  # submitit submits with sbatch; without it every job would fail
            return ("launcher=slurm submits jobs with SLURM's sbatch, which is not on this machine's PATH: run it on "
                    "a SLURM login node, or use launcher=local (submitit's local executor: the same protocol, here) "
                    "or launcher=parallel.")
    return None
