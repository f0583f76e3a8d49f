"""The run's one decision rule: how probabilities become a predicted class and its confidence.

Multi-class runs predict the arg-max. Two-class runs predict the positive class (index 1) when
P(positive) >= the threshold chosen on validation. Every file and number of a run (predictions,
confusion matrix, per-class metrics, confidence histogram, calibration) uses the same rule, so
they agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

POSITIVE_INDEX = 1  # two-class tasks: index 0 is the negative class, index 1 the positive one


@dataclass(frozen=True)
class DecisionRule:
    threshold: Optional[float] = None  # None: arg-max; a number: P(positive) >= threshold

    def predict(self, probs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(predicted index, confidence = the probability of the predicted class) for (N, C) probabilities."""
        if self.threshold is None:
            pred = probs.argmax(1)
        else:
            pred = (probs[:, POSITIVE_INDEX] >= self.threshold).astype(np.int64)
        return pred, probs[np.arange(len(pred)), pred]

    def calibration_target(self, probs: np.ndarray, y_true: np.ndarray, pred: np.ndarray, confidence: np.ndarray):
        """(probability, event, what it is) whose calibration the run reports.

        With a threshold the arg-max confidence is not what the decision uses; what is calibrated is
        P(positive) against the positive rate. Otherwise the top-label confidence against correctness.
        """
        if self.threshold is None:
            return confidence, pred == y_true, "confidence of the predicted class"
        return probs[:, POSITIVE_INDEX], y_true == POSITIVE_INDEX, "P(positive)"

    def describe(self, class_names) -> dict:
        if self.threshold is None:
            return {"rule": "argmax"}
        return {"rule": "threshold", "threshold": self.threshold, "positive_class": class_names[POSITIVE_INDEX],
                "positive_index": POSITIVE_INDEX}
