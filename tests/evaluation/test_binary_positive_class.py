"""Two-class artifacts name the positive class: which class P(positive), precision and recall are about."""

import matplotlib.pyplot as plt
import numpy as np

from balancelab.evaluation import binary

Y = np.array([0, 0, 1, 1, 0, 1])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])


def test_threshold_table_names_the_positive_class():
    table = binary.threshold_table(Y, P, "test", positive_class="blight")
    assert (table["positive_class"] == "blight").all()


def test_roc_and_pr_figures_name_the_positive_class():
    for make in (binary.roc_figure, binary.pr_figure):
        fig = make(Y, P, 0.5, positive_class="blight")
        ax = fig.axes[0]
        assert "blight" in ax.get_title() and "blight" in ax.get_ylabel() + ax.get_xlabel()
        plt.close(fig)
