"""Which training budget a sweep's jobs had (``trainer.budget``: equal epochs or equal optimiser steps), and
whether it was the same for every job: a comparison at unequal budgets must say so.

With ``budget=epochs`` a technique that enlarges the training set (oversampling, SMOTE) takes more
optimiser steps per epoch than one that does not, so equal epochs are not equal training; with
``budget=steps`` every job makes the same number of updates.
"""

from __future__ import annotations

from typing import Dict, List

import pandas as pd


def _steps_text(steps: int) -> str:
    return f"{int(steps):,}"


def budget_facts(jobs: pd.DataFrame) -> Dict[str, object]:
    """{kind, epochs, steps_per_experiment, same_steps, stopped_before_their_budget, text} from the trained rows of
    a jobs table (columns ``budget``, ``epochs``, ``planned_steps``, ``steps_done``; see
    balancelab.sweep.jobs.jobs_table). Steps are the optimiser steps each job made."""
    trained = jobs[jobs["row_kind"] == "trained"] if "row_kind" in jobs else jobs
    kinds = sorted({str(k) for k in trained.get("budget", pd.Series(dtype=object)).dropna()})
    epochs = sorted({int(e) for e in trained.get("epochs", pd.Series(dtype=float)).dropna()})
    # The steps each job made (steps_done); a summary older than that column records only its plan.
    column = "steps_done" if "steps_done" in trained and trained["steps_done"].notna().any() else "planned_steps"
    planned = trained.dropna(subset=[column]) if column in trained else trained.iloc[0:0]
    per_experiment = {str(e): int(round(g[column].mean())) for e, g in planned.groupby("experiment", sort=False)}
    job_steps = {int(s) for s in planned[column]} if len(planned) else set()
    cut_short = []
    if column == "steps_done" and "planned_steps" in planned:
        short = planned[planned["steps_done"] < planned["planned_steps"]]
        cut_short = [f"{r['experiment']} seed {r['seed']} ({int(r['steps_done']):,} of {int(r['planned_steps']):,})"
                     for _, r in short.iterrows()]
    facts: Dict[str, object] = {"kind": kinds[0] if len(kinds) == 1 else ("mixed" if kinds else None),
                                "epochs": epochs, "steps_per_experiment": per_experiment,
                                "same_steps_for_every_job": len(job_steps) == 1 if job_steps else None,
                                "stopped_before_their_budget": cut_short}
    parts: List[str] = []
    if not kinds:
        parts.append("Training budget: not recorded in these jobs' config.yaml.")
    elif len(kinds) > 1:
        by_kind = {k: sorted({str(e) for e in trained.loc[trained["budget"] == k, "experiment"]}) for k in kinds}
        parts.append("Training budgets differ between jobs: " + "; ".join(
            f"trainer.budget={k} ({', '.join(v)})" for k, v in by_kind.items())
            + ". Their comparison is not at an equal budget.")
    elif epochs == [0]:  # trainer.epochs=0: the pretrained backbone taken frozen; only feature-space heads trained
        parts.append("Training budget: no representation training (trainer.epochs=0: the pretrained backbone as "
                     "built, frozen); every job trained only its classifier head on the features, "
                     "trainer.feature_head_epochs epochs.")
    else:
        kind = kinds[0]
        parts.append(f"Training budget: trainer.budget={kind}"
                     + (f", {epochs[0]} epoch{'' if epochs[0] == 1 else 's'} per job" if len(epochs) == 1 else ""))
        if kind == "steps" and len(job_steps) == 1:
            parts[-1] += f": every job made {_steps_text(next(iter(job_steps)))} optimiser steps."
        elif job_steps and len(job_steps) == 1:
            parts[-1] += f"; every job made {_steps_text(next(iter(job_steps)))} optimiser steps."
        elif job_steps:
            listed = ", ".join(f"{e} {_steps_text(s)}" for e, s in per_experiment.items())
            parts[-1] += (f"; optimiser steps per job differ: {listed}"
                          + (" (an enlarged training set takes more steps per epoch; trainer.budget=steps gives "
                             "every job the same number)." if kind == "epochs" else "."))
        else:
            parts[-1] += "; the jobs' summaries do not record their optimiser steps."
    heads = (trained.dropna(subset=["head_steps"]) if "head_steps" in trained else trained.iloc[0:0])
    facts["head_steps_per_experiment"] = {str(e): int(round(g["head_steps"].mean()))
                                          for e, g in heads.groupby("experiment", sort=False)}
    if facts["head_steps_per_experiment"]:
        parts.append("The feature-space rows also trained a classifier on the representation's features: "
                     + ", ".join(f"{e} {_steps_text(s)} optimiser steps of the head"
                                 for e, s in facts["head_steps_per_experiment"].items())
                     + " (trainer.feature_head_epochs; not counted above).")
    if cut_short:
        parts.append("Early stopping ended some jobs before their budget (optimiser steps made of planned): "
                     + ", ".join(cut_short) + ".")
    if len(epochs) > 1:
        parts.append("trainer.epochs differs between jobs: " + ", ".join(map(str, epochs)) + ".")
    facts["text"] = " ".join(parts)
    return facts
