"""critical_difference.png: Demšar's critical-difference diagram of average ranks.

The rank axis runs from 1 (best, left) to k. Each experiment hangs from its average rank by an elbow
line to its name: the better half on the left, the rest on the right, so that no lines cross. The
bar labelled CD above the axis is the Nemenyi critical difference drawn to the axis' scale; thick
bars under the axis join the maximal groups of experiments whose average ranks differ by less than
CD (no significant difference inside a group).

The figure is laid out in inches (one axes covering the whole figure, data units = inches): the
margins are measured from the rendered names, so long names widen the figure instead of overlapping.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from balancelab.sweep.statistics import nemenyi_groups  # noqa: E402

FONT_SIZE = 10
ROW_HEIGHT = 0.27     # inches between two name rows
GROUP_HEIGHT = 0.11   # inches between two stacked group bars
AXIS_INCHES_PER_RANK = 0.6


def _text_widths(texts: Sequence[str], font_size: float) -> List[float]:
    """Rendered widths in inches (Agg), so that margins fit the actual names."""
    fig = plt.figure()
    renderer = fig.canvas.get_renderer()
    widths = [fig.text(0, 0, t, fontsize=font_size).get_window_extent(renderer).width / fig.dpi for t in texts]
    plt.close(fig)
    return widths


def _group_levels(spans: Sequence[tuple], gap: float) -> List[int]:
    """Stack the group bars on as few levels as possible: a bar goes on the first level it fits."""
    ends: List[float] = []
    levels = []
    for start, end in spans:
        for level, last in enumerate(ends):
            if start > last + gap:
                ends[level] = end
                levels.append(level)
                break
        else:
            ends.append(end)
            levels.append(len(ends) - 1)
    return levels


def critical_difference_figure(average_ranks: pd.Series, cd: float, groups: Optional[List[List[str]]] = None,
                               title: Optional[str] = None):
    """The diagram for ``average_ranks`` (experiment -> average rank, 1 = best) and critical
    difference ``cd`` (NaN: no bar and no groups). ``groups`` default to
    :func:`balancelab.sweep.statistics.nemenyi_groups`."""
    ranks = average_ranks.astype(float).sort_values(kind="stable")
    k = len(ranks)
    if k < 2:
        raise ValueError(f"A critical-difference diagram needs at least 2 experiments; received {list(ranks.index)}.")
    has_cd = cd is not None and np.isfinite(cd)
    groups = (nemenyi_groups(ranks, cd) if has_cd else []) if groups is None else groups
    names = [str(n) for n in ranks.index]
    labels = [f"{n} ({r:.2f})" for n, r in zip(names, ranks)]
    n_left = math.ceil(k / 2)
    widths = _text_widths(labels, FONT_SIZE)
    left_text, right_text = max(widths[:n_left]), max(widths[n_left:])

    # Horizontal layout (inches): [margin | names | gap | axis (and CD bar) | gap | names | margin].
    margin, gap = 0.15, 0.25
    scale = AXIS_INCHES_PER_RANK if k > 5 else 3.0 / (k - 1)
    axis_span = k - 1
    bar_span = max(axis_span, cd if has_cd else 0.0)   # a CD wider than the axis still drawn to scale
    x0 = margin + left_text + gap

    def x(rank: float) -> float:
        return x0 + (rank - 1) * scale

    width = x0 + bar_span * scale + gap + right_text + margin

    # Vertical layout (inches, downwards): title, CD bar, tick labels, axis, group bars, name rows.
    y = 0.15
    if title:
        title_y, y = y + 0.12, y + 0.4
    if has_cd:
        cd_y, y = y + 0.22, y + 0.4
    tick_label_y, axis_y = y + 0.1, y + 0.3
    group_pad = 0.12
    spans = [(ranks[g].min(), ranks[g].max()) for g in groups]
    levels = _group_levels(spans, gap=0.15)
    n_levels = max(levels) + 1 if levels else 0
    first_row = axis_y + group_pad + n_levels * GROUP_HEIGHT + 0.15
    height = first_row + (n_left - 1) * ROW_HEIGHT + 0.3

    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")

    if title:
        ax.text(width / 2, title_y, title, ha="center", va="center", fontsize=FONT_SIZE + 1)
    if has_cd:
        ax.plot([x(1), x(1 + cd)], [cd_y, cd_y], color="black", linewidth=1.5, gid="cd_bar")
        for end in (x(1), x(1 + cd)):
            ax.plot([end, end], [cd_y - 0.06, cd_y + 0.06], color="black", linewidth=1.5)
        ax.text((x(1) + x(1 + cd)) / 2, cd_y - 0.08, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=FONT_SIZE)

    ax.plot([x(1), x(k)], [axis_y, axis_y], color="black", linewidth=1.2, gid="rank_axis")
    for tick in np.arange(1, k + 0.5, 0.5):
        major = float(tick).is_integer()
        ax.plot([x(tick), x(tick)], [axis_y - (0.09 if major else 0.05), axis_y], color="black", linewidth=1)
        if major and (k <= 20 or tick % 2 == 1 or tick == k):
            ax.text(x(tick), tick_label_y, f"{int(tick)}", ha="center", va="bottom", fontsize=FONT_SIZE - 1)
    ax.text(x(1) - 0.1, axis_y, "average rank", ha="right", va="center", fontsize=FONT_SIZE - 1, color="0.35")

    for (low, high), level in zip(spans, levels):
        bar_y = axis_y + group_pad + level * GROUP_HEIGHT
        ax.plot([x(low) - 0.04, x(high) + 0.04], [bar_y, bar_y], color="black", linewidth=4,
                solid_capstyle="round", gid="group")

    for i, (label, rank) in enumerate(zip(labels, ranks)):
        left = i < n_left
        row = first_row + (i if left else k - 1 - i) * ROW_HEIGHT
        end = x0 - 0.1 if left else x0 + bar_span * scale + 0.1
        ax.plot([x(rank), x(rank), end], [axis_y, row, row], color="0.25", linewidth=1, gid="elbow")
        ax.text(end - 0.05 if left else end + 0.05, row, label, ha="right" if left else "left", va="center",
                fontsize=FONT_SIZE, gid="name")
    return fig
