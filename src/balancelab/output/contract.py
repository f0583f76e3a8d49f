"""The run folder's contract: the name of every file a run (and a sweep's report) writes, the statuses a job
ends with, and the metrics a report reads by name. Every reader and writer (the pipeline, the sweep report, the statistics,
balance-predict, the run page, the tracker) takes them from here, so a name is typed once.
"""

from __future__ import annotations

from enum import Enum


CONFIG_FILE = "config.yaml"
IDENTITY_FILE = "identity.json"
CLASS_MAPPING_FILE = "class_mapping.json"
DATASET_STATISTICS_FILE = "dataset_statistics.json"
SPLIT_MANIFEST_FILE = "split_manifest.csv"
SKIPPED_FILES_FILE = "skipped_files.txt"
BALANCING_ANALYSIS_FILE = "balancing_analysis.json"
SYNTHETIC_PROVENANCE_FILE = "synthetic_provenance.csv"
SYNTHETIC_SAMPLES_FILE = "synthetic_samples.png"
HISTORY_FILE = "history.csv"
TRAINING_CURVES_FILE = "training_curves.png"
CHECKPOINT_FILE = "best_model.pt"
PREDICTIONS_FILE = "predictions.csv"
TEST_METRICS_FILE = "test_metrics.csv"
CONFUSION_MATRIX_FILE = "confusion_matrix.csv"
CONFUSION_MATRIX_PLOT = "confusion_matrix.png"
CONFIDENCE_ANALYSIS_FILE = "confidence_analysis.csv"
CONFIDENCE_PLOT = "confidence_distribution.png"
THRESHOLD_ANALYSIS_FILE = "threshold_analysis.csv"
ROC_CURVE_FILE = "roc_curve.png"
PR_CURVE_FILE = "pr_curve.png"
SUMMARY_FILE = "experiment_summary.json"  # written last: its presence marks the run finished
FAILURE_FILE = "failure.json"
# Saved while a run trains (two generations), removed when it finishes.
STATE_FILE = "training_state.pt"
PREVIOUS_STATE_FILE = "training_state.prev.pt"
HISTORY_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_f1",
                   "val_balanced_accuracy", "seconds"]
RUN_LOG_FILE = "run.log"
REPORT_FILE = "report.html"  # a run's page, and a sweep's
PREVIOUS_FAILURE_FILE = "failure.previous.json"  # the failure a resumed retry started from
UNREADABLE_SUMMARY_PREFIX = "experiment_summary.unreadable-"  # a summary that did not parse, set aside
# The rows derived from a trained model (evaluation/derived.py): their per-class metrics and predictions.
POSTHOC_LA_METRICS_FILE, POSTHOC_LA_PREDICTIONS_FILE = "test_metrics_posthoc_la.csv", "predictions_posthoc_la.csv"
POSTHOC_TAU_NORM_METRICS_FILE = "test_metrics_posthoc_tau_norm.csv"
POSTHOC_TAU_NORM_PREDICTIONS_FILE = "predictions_posthoc_tau_norm.csv"
CRT_METRICS_FILE, CRT_PREDICTIONS_FILE = "test_metrics_crt.csv", "predictions_crt.csv"
WANDB_RUN_FILE = "wandb_run.json"  # the W&B run id, so a resumed run logs to the same W&B run

# A sweep folder's report (sweep/report.py), beside its job folders; and the ranks across sweeps (sweep/across.py).
COMPARISON_MD, COMPARISON_CSV, COMPARISON_PLOT = "comparison.md", "comparison.csv", "comparison.png"
STATISTICS_FILE = "statistics.csv"
PER_CLASS_DELTA_FILE, PER_CLASS_DELTA_PLOT = "per_class_delta.csv", "per_class_delta.png"
PER_CLASS_RECALL_PLOT = "per_class_recall.png"
SWEEP_SUMMARY_FILE = "sweep_summary.json"
RANKS_MD, RANKS_CSV, CRITICAL_DIFFERENCE_PLOT = "ranks.md", "ranks.csv", "critical_difference.png"


class Status(str, Enum):
    """How a job ended, as ``experiment_summary.json`` (``status``) and the sweep table record it. A ``str``
    enum: it equals, serialises and prints as its value, so files written before it read the same."""

    COMPLETED = "completed"          # trained to its last epoch
    EARLY_STOPPED = "early_stopped"  # stopped by patience on validation macro-F1
    DIVERGED = "diverged"            # a non-finite loss ended training: a failed job, with a summary
    FAILED = "failed"                # failure.json: an error ended the job
    INCOMPLETE = "incomplete"        # neither summary nor failure (running, killed, or unreadable)
    SKIPPED = "skipped"              # the same identity had already finished (inside a sweep)
    LOCKED = "locked"                # another process holds the folder

    def __str__(self) -> str:
        return self.value


FINISHED = (Status.COMPLETED.value, Status.EARLY_STOPPED.value)  # a model was trained and evaluated
FAILED_STATUSES = (Status.DIVERGED.value,)  # a summary with one of these counts as a failed job

# The test-set metrics of a run's summary that a sweep compares (``test_metrics`` keys), by name: reports
# pick from these by name, never by position.
HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "minority_class_recall", "ece")
