"""report.html of one run: its headline numbers and plots on one self-contained page.

Built from the files of a finished run folder only (experiment_summary.json, test_metrics.csv, the
PNGs), so it can be rebuilt at any time and never needs the model or the data. Writing it must never
fail a run whose results are already on disk: errors are logged, not raised.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import pandas as pd

from balancelab.output import atomic, html
from balancelab.output.contract import (BALANCING_ANALYSIS_FILE, CONFIDENCE_PLOT, CONFIG_FILE, CONFUSION_MATRIX_FILE,
                                        CONFUSION_MATRIX_PLOT, DATASET_STATISTICS_FILE, HISTORY_FILE, PR_CURVE_FILE,
                                        PREDICTIONS_FILE, REPORT_FILE, ROC_CURVE_FILE, RUN_LOG_FILE, SUMMARY_FILE,
                                        SYNTHETIC_SAMPLES_FILE, TEST_METRICS_FILE, THRESHOLD_ANALYSIS_FILE,
                                        TRAINING_CURVES_FILE)
from balancelab.output.run_folder import read_summary

log = logging.getLogger("balancelab")

HEADLINE = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"),
            ("weighted_f1", "weighted F1"), ("minority_class_recall", "minority-class recall"), ("ece", "ECE"),
            ("roc_auc", "ROC AUC"), ("average_precision", "average precision"), ("threshold", "threshold"))
PLOTS = ((TRAINING_CURVES_FILE, "Training curves"), (CONFUSION_MATRIX_PLOT, "Confusion matrix (test)"),
         (CONFIDENCE_PLOT, "Confidence of the test predictions"), (ROC_CURVE_FILE, "ROC curve (test)"),
         (PR_CURVE_FILE, "Precision-recall curve (test)"),
         (SYNTHETIC_SAMPLES_FILE, "Real vs generated training images"))
LINKED_FILES = (SUMMARY_FILE, CONFIG_FILE, HISTORY_FILE, PREDICTIONS_FILE, TEST_METRICS_FILE,
                CONFUSION_MATRIX_FILE, THRESHOLD_ANALYSIS_FILE, BALANCING_ANALYSIS_FILE,
                DATASET_STATISTICS_FILE, RUN_LOG_FILE)


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _epoch_facts(summary: dict) -> list:
    """The best epoch and what picked it; for a run on a frozen pretrained backbone (trainer.epochs=0), which has
    no representation epoch, what its representation is and the epoch of the classifier head trained on it."""
    representation = summary.get("representation") or {}
    head = (summary.get("feature_balancing") or {}).get("head") or {}
    if not representation.get("training") and head:
        # A trained representation with a head re-trained on its features: two epochs chosen, each with its score
        # (best_val_macro_f1 is the head's: the representation's epoch never had it).
        return [("representation: best epoch (its validation macro-F1)",
                 f"{summary.get('best_epoch')} of {summary.get('epochs_run')} "
                 f"({_number(summary.get('representation_best_val_macro_f1'))})"),
                ("classifier head re-trained on its features: best epoch (its validation macro-F1)",
                 f"{head.get('best_epoch', '—')} of {head.get('epochs', '—')} "
                 f"({_number(summary.get('best_val_macro_f1'))})")]
    if not representation.get("training"):
        return [("best epoch (its validation macro-F1, arg-max rule: what picked it)",
                 f"{summary.get('best_epoch')} of {summary.get('epochs_run')} "
                 f"({_number(summary.get('best_val_macro_f1'))})")]
    return [("representation", f"{representation['training']} ({representation.get('weights')})"),
            ("classifier head on its features: best epoch (its validation macro-F1)",
             f"{head.get('best_epoch', '—')} of {head.get('epochs', '—')} "
             f"({_number(summary.get('best_val_macro_f1'))})")]


def run_report_html(run_dir: Path) -> str:
    """The page's HTML (raises if the run folder has no readable experiment_summary.json)."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    test = summary.get("test") or {}
    validation = summary.get("validation_at_best_epoch") or {}
    title = summary.get("run_name") or run_dir.name
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts.append(html.facts([
        ("status", summary.get("status")), ("message", summary.get("message") or "—"),
        ("model", summary.get("model")), ("dataset", summary.get("dataset")),
        ("balancing", summary.get("balancing")), ("loss", summary.get("loss")), ("seed", summary.get("seed")),
        *_epoch_facts(summary),
        ("minority class", test.get("minority_class", "—")),
        ("decision rule", json.dumps(test.get("decision_rule")) if test.get("decision_rule") else "—"),
    ]))
    if test:
        rows = [{"metric": label, "test": _number(test.get(key)),
                 "validation (best epoch, run's decision rule)": _number(validation.get(key))}
                for key, label in HEADLINE if test.get(key) is not None]
        parts += ["<h2>Headline metrics</h2>", html.table(pd.DataFrame(rows), text_columns=["metric"])]
    else:
        parts.append('<p class="warning">No test metrics: no epoch finished with a usable model.</p>')
    per_class = run_dir / TEST_METRICS_FILE
    if per_class.is_file():
        frame = pd.read_csv(per_class).round(4)
        parts += ["<h2>Per-class test metrics</h2>", html.table(frame, text_columns=["class"])]
    images = [html.image_from_file(run_dir / name, caption, caption) for name, caption in PLOTS]
    parts += ["<h2>Plots</h2>", '<div class="grid">' + "".join(i for i in images if i) + "</div>"]
    links = [f'<li><a href="{html.escape(name)}">{html.escape(name)}</a></li>' for name in LINKED_FILES
             if (run_dir / name).is_file()]
    parts += ["<h2>Files</h2>", f"<ul>{''.join(links)}</ul>"]
    return html.page(f"balancelab run {title}", "\n".join(parts))


def write_run_report(run_dir: str | Path) -> Optional[Path]:
    """Write ``run_dir``/report.html; on any error log it and return None (the run stays valid)."""
    try:
        return atomic.write_text(Path(run_dir) / REPORT_FILE, run_report_html(Path(run_dir)))
    except Exception as exc:  # a report is a view of the results: it must never cost the results
        log.warning("Could not write %s in %s (%s: %s); the run's results are unaffected.", REPORT_FILE, run_dir,
                    type(exc).__name__, exc)
        return None
