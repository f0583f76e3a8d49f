"""Figure fixes: rows in rank order, readable labels, whole-number epochs."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from balancelab.evaluation import plots
from balancelab.sweep import plots as sweep_plots


def per_class():
    return pd.DataFrame({"experiment": ["a_first", "a_first", "z_best", "z_best", "baseline", "baseline"],
                         "class": ["0", "1"] * 3, "recall": [0.2, 0.95, 0.9, 0.3, 0.5, 0.5],
                         "recall_delta": [-0.3, 0.45, 0.4, -0.2, 0, 0]})


def test_per_class_heatmap_rows_follow_the_rank_order_and_labels_stay_readable():
    fig = sweep_plots.per_class_heatmap(per_class(), order=["z_best", "baseline", "a_first"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z_best", "baseline", "a_first"]
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    assert colours["0.95"] == "black" and colours["0.20"] == "white"  # dark text on viridis' light end
    plt.close(fig)


def test_per_class_delta_rows_follow_the_rank_order_without_baseline():
    fig = sweep_plots.per_class_delta_heatmap(per_class(), order=["z_best", "baseline", "a_first"])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["z_best", "a_first"]
    plt.close(fig)


def test_training_curves_have_whole_epoch_ticks():
    history = pd.DataFrame({"epoch": [1, 2], "lr": [0.1, 0.1], "train_loss": [1, 0.5], "val_loss": [1, 0.6],
                            "train_accuracy": [0.5, 0.6], "val_accuracy": [0.5, 0.6], "val_macro_f1": [0.4, 0.5],
                            "val_balanced_accuracy": [0.4, 0.5]})
    fig = plots.training_curves(history)
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


def history(epochs):
    e = np.arange(1, epochs + 1)
    falling = 1.0 / e
    return pd.DataFrame({"epoch": e, "lr": 0.1 * falling, "train_loss": falling, "val_loss": falling + 0.1,
                         "train_accuracy": 1 - falling / 2, "val_accuracy": 1 - falling / 2,
                         "val_macro_f1": 1 - falling / 2, "val_balanced_accuracy": 1 - falling / 2})


def assert_readable_epoch_axes(fig, epochs):
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low - 1e-9 <= t <= high + 1e-9]
        labels = [t.get_text().replace("\u2212", "-") for t in ax.get_xticklabels() if t.get_text()]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert labels and all(label.lstrip("-").isdigit() for label in labels), labels  # "1", never "0.945"
        assert low <= 1 and high >= epochs
        for line in ax.get_lines():
            x = line.get_xdata()
            assert len(x) == epochs
            if epochs <= plots.MARKER_EPOCHS:  # a single point is invisible as a line without a marker
                assert line.get_marker() not in (None, "", " ", "None") and line.get_markersize() >= 4


@pytest.mark.parametrize("epochs", [1, 3, 30])
def test_training_curves_read_at_1_3_and_30_epochs(epochs):
    fig = plots.training_curves(history(epochs))
    assert_readable_epoch_axes(fig, epochs)
    assert all(len(ax.get_lines()) for ax in fig.axes)
    plt.close(fig)


@pytest.mark.parametrize("epochs", [1, 3, 30])
def test_best_seed_curves_read_at_1_3_and_30_epochs(epochs):
    fig = sweep_plots.best_seed_curves({"baseline (job a)": history(epochs), "smote (job b)": history(epochs)})
    assert_readable_epoch_axes(fig, epochs)
    assert all(len(ax.get_lines()) == 2 for ax in fig.axes)
    plt.close(fig)


def test_confidence_histogram_names_what_it_plots():
    """Thresholded two-class runs plot the probability of the predicted class, which is not the maximum
    softmax probability (it can be below 0.5)."""
    fig = plots.confidence_distribution(np.array([0.3, 0.9, 0.6]), np.array([True, False, True]))
    label = fig.axes[0].get_xlabel()
    assert "probability of the predicted class" in label and "max softmax" not in label
    plt.close(fig)
    fig = plots.confidence_distribution(np.array([0.3, 0.9]), np.array([True, False]),
                                        decision="P(positive) >= 0.31")
    assert "P(positive) >= 0.31" in fig.axes[0].get_title()
    plt.close(fig)
