import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from balancelab.output import atomic
from balancelab.sweep.critical_difference import critical_difference_figure
from balancelab.sweep.statistics import nemenyi_groups

NAMES = ["baseline", "random_oversampling", "smote", "adasyn", "offline_augmentation_focal_loss_with_a_long_name",
         "smote_focal", "class_weighted_cross_entropy", "focal", "ldam_drw", "balanced_softmax", "decoupled_crt",
         "logit_adjustment", "mixup_remix", "class_balanced_focal_loss_effective_number", "tau_norm"]


def lines(fig, gid):
    return [line for line in fig.axes[0].get_lines() if line.get_gid() == gid]


def texts(fig, gid):
    return [t for t in fig.axes[0].texts if t.get_gid() == gid]


def rank_to_x(fig, k):
    """The figure's rank -> x mapping, read back from the drawn axis (ranks 1..k)."""
    (axis,) = lines(fig, "rank_axis")
    x = axis.get_xdata()
    return lambda rank: x[0] + (rank - 1) * (x[1] - x[0]) / (k - 1)


@pytest.mark.parametrize("k, cd", [(2, 1.2), (3, 2.6), (8, 2.0), (15, 4.0)])
def test_diagram_to_scale_with_groups_and_no_overlapping_names(k, cd):
    ranks = pd.Series(np.linspace(1.2, k - 0.3, k) + np.random.default_rng(k).uniform(-0.2, 0.2, k), index=NAMES[:k])
    fig = critical_difference_figure(ranks, cd, title="test")
    try:
        x = rank_to_x(fig, k)
        (bar,) = lines(fig, "cd_bar")
        assert bar.get_xdata() == pytest.approx([x(1), x(1 + cd)])  # drawn to the axis' scale, even beyond it
        groups = nemenyi_groups(ranks, cd)
        drawn = sorted((min(line.get_xdata()), max(line.get_xdata())) for line in lines(fig, "group"))
        expected = sorted((x(ranks[g].min()), x(ranks[g].max())) for g in groups)
        assert len(drawn) == len(groups) >= 1
        assert np.allclose(drawn, expected, atol=0.05)  # bar ends stick out by a hair

        names = texts(fig, "name")
        assert sorted(t.get_text().rsplit(" (", 1)[0] for t in names) == sorted(NAMES[:k])
        for elbow, (name, rank) in zip(lines(fig, "elbow"), ranks.sort_values(kind="stable").items()):
            assert elbow.get_xdata()[0] == pytest.approx(x(rank))  # each name hangs from its rank
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in names]
        figure_box = fig.bbox
        for i, box in enumerate(boxes):
            assert box.x0 >= figure_box.x0 and box.x1 <= figure_box.x1 and box.y0 >= 0 and box.y1 <= figure_box.y1
            assert not any(box.overlaps(other) for other in boxes[i + 1:])
    finally:
        plt.close(fig)


def test_undefined_cd_draws_ranks_only(tmp_path):
    fig = critical_difference_figure(pd.Series({"a": 1.5, "b": 1.5, "c": 3.0}), np.nan)
    assert not lines(fig, "cd_bar") and not lines(fig, "group") and len(texts(fig, "name")) == 3
    atomic.save_figure(tmp_path / "critical_difference.png", fig)
    assert (tmp_path / "critical_difference.png").stat().st_size > 1000


def test_one_experiment_is_refused():
    with pytest.raises(ValueError, match="at least 2 experiments"):
        critical_difference_figure(pd.Series({"a": 1.0}), 1.0)


def test_a_cd_wider_than_the_rank_axis_stays_inside_the_figure():
    fig = critical_difference_figure(pd.Series({"a": 1.2, "b": 1.8}), 3.0)  # three times the axis
    try:
        (bar,) = lines(fig, "cd_bar")
        x = rank_to_x(fig, 2)
        assert bar.get_xdata() == pytest.approx([x(1), x(4)])
        left, right = fig.axes[0].get_xlim()
        assert all(left <= v <= right for line in fig.axes[0].get_lines() for v in line.get_xdata())
    finally:
        plt.close(fig)
