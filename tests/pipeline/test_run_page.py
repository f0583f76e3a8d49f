"""report.html of a run: self-contained (no script, no network), built from the run folder's files only."""

import base64
import json
import logging
import re
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import pandas as pd

from balancelab.pipeline.run_page import write_run_report


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sources, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.sources.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])


def parse(text):
    parser = Collect()
    parser.feed(text)
    return parser


def assert_self_contained(text):
    parser = parse(text)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    for src in parser.sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    return parser


def finished_run(folder):
    folder.mkdir()
    summary = {"run_name": "r<1>", "status": "completed", "model": "small_cnn", "dataset": "digits_lt",
               "balancing": "smote", "loss": "ce", "seed": 0, "best_epoch": 2, "epochs_run": 2,
               "best_val_macro_f1": 0.81,
               "test": {"accuracy": 0.9, "balanced_accuracy": 0.85, "macro_f1": 0.8, "minority_class": "9",
                        "minority_class_recall": 0.5, "ece": 0.05},
               "validation_at_best_epoch": {"macro_f1": 0.81, "accuracy": 0.92}}
    (folder / "experiment_summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"class": ["0", "9"], "recall": [0.9, 0.5]}).to_csv(folder / "test_metrics.csv", index=False)
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    fig.savefig(folder / "training_curves.png")
    plt.close(fig)
    return folder


def test_run_report_shows_headline_metrics_and_embeds_the_plots(tmp_path):
    folder = finished_run(tmp_path / "run")
    path = write_run_report(folder)
    text = path.read_text()
    parser = assert_self_contained(text)
    assert len(parser.sources) == 1  # only the PNG that exists
    assert "0.8000" in text and "0.8100" in text and "minority-class recall" in text
    assert "r&lt;1&gt;" in text  # names are escaped
    assert "experiment_summary.json" in parser.links and "test_metrics.csv" in parser.links


def test_a_report_error_is_logged_never_raised(tmp_path, caplog):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "experiment_summary.json").write_text("{ not json")
    with caplog.at_level(logging.WARNING, logger="balancelab"):
        assert write_run_report(folder) is None
    assert "report.html" in caplog.text and "unaffected" in caplog.text
    assert not (folder / "report.html").exists()
