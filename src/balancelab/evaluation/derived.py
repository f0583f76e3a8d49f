"""Results a finished run derives from its trained model without training it again (post-hoc logit
adjustment, tau-normalisation) or by re-training only its classifier (cRT): their names, where the run
summary keeps them and the files a run writes for each.

One place for these names, so that the run that writes the files and the sweep report that reads them
cannot drift apart. Each derived result becomes a row of its own in a sweep comparison, labelled
``<experiment> + <label>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from balancelab.output.contract import (CRT_METRICS_FILE, CRT_PREDICTIONS_FILE, POSTHOC_LA_METRICS_FILE,
                                        POSTHOC_LA_PREDICTIONS_FILE, POSTHOC_TAU_NORM_METRICS_FILE,
                                        POSTHOC_TAU_NORM_PREDICTIONS_FILE)


@dataclass(frozen=True)
class DerivedResult:
    label: str  # the row suffix in a sweep comparison: "<experiment> + <label>"
    block: str  # experiment_summary.json key
    key: Optional[str]  # key inside the block (None: the block itself is the result)
    metrics_file: str  # per-class test metrics, as test_metrics.csv
    predictions_file: str  # test predictions (source_id, true/pred index and class), as predictions.csv
    description: str  # what the row is, in words, for the comparison table

    def result_of(self, summary: dict) -> Optional[dict]:
        """The result's block in a run summary (None when the run has none, or skipped it)."""
        block = summary.get(self.block) or {}
        result = block.get(self.key) if self.key else block
        return result if isinstance(result, dict) and result.get("test") else None


POSTHOC_LA = DerivedResult("posthoc_la", "posthoc", "logit_adjustment", POSTHOC_LA_METRICS_FILE,
                           POSTHOC_LA_PREDICTIONS_FILE, "post-hoc logit adjustment of the trained model")
POSTHOC_TAU_NORM = DerivedResult("posthoc_tau_norm", "posthoc", "tau_normalisation",
                                 POSTHOC_TAU_NORM_METRICS_FILE, POSTHOC_TAU_NORM_PREDICTIONS_FILE,
                                 "tau-normalisation of the trained model's classifier")
# "cRT", not "crt": in a sweep with the `crt` experiment the rows read `crt` (its model before cRT, marked
# so) and `crt + cRT` (after it), which a reader cannot take for one another.
CRT = DerivedResult("cRT", "crt", None, CRT_METRICS_FILE, CRT_PREDICTIONS_FILE,
                    "classifier re-trained on class-balanced batches (cRT), backbone of the trained model")
DERIVED_RESULTS = (POSTHOC_LA, POSTHOC_TAU_NORM, CRT)
BY_LABEL = {d.label: d for d in DERIVED_RESULTS}
BY_POSTHOC_METHOD = {d.key: d for d in DERIVED_RESULTS if d.block == "posthoc"}


def predictions_table(y_true, pred, source_ids, class_names: Sequence[str], probs=None) -> pd.DataFrame:
    """A derived result's test predictions in predictions.csv's layout (source_id, true_index, true_class,
    pred_index, pred_class[, confidence, prob_<class>...]), so that a sweep can bootstrap it like a run."""
    y_true, pred = np.asarray(y_true, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    table = pd.DataFrame({"source_id": np.asarray(source_ids), "true_index": y_true,
                          "true_class": [class_names[i] for i in y_true], "pred_index": pred,
                          "pred_class": [class_names[i] for i in pred]})
    if probs is not None:
        probs = np.asarray(probs)
        table["confidence"] = probs[np.arange(len(pred)), pred]
        for i, name in enumerate(class_names):
            table[f"prob_{name}"] = probs[:, i]
    return table
