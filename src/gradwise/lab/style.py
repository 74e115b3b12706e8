"""One look for every figure of the lab: the lecture's green vs red points, colour maps, sizes.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so they render
headless, leave no global state behind and are freed as soon as they are no longer referenced.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

GREEN = "#1a9641"
RED = "#d7191c"
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"
BEST_COLOR = "#2ca02c"
PATIENCE_COLOR = "#ffbf00"
CLASS_COLORS = (RED, GREEN)
"""Class 0 is drawn red and class 1 green, on every figure."""

PROBABILITY_CMAP = LinearSegmentedColormap.from_list(
    "gradwise_red_green", ["#d7191c", "#fdae61", "#ffffff", "#a6d96a", "#1a9641"]
)
"""Red (P(class 1) = 0) through white (0.5) to green (1)."""

LOSS_CMAP = "viridis"

OPTIMIZER_COLORS = {
    "SGD": "#1f77b4",
    "Momentum": "#ff7f0e",
    "Nesterov": "#2ca02c",
    "Adagrad": "#d62728",
    "Adadelta": "#9467bd",
    "RMSprop": "#8c564b",
    "Adam": "#e377c2",
}


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A headless figure of ``width`` x ``height`` inches with a constrained layout."""
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def scatter_classes(ax: Any, X: np.ndarray, y: np.ndarray, marker: str = "o",
                    label_suffix: str = "", size: float = 18) -> None:
    """Points of class 0 in red and class 1 in green, outlined so they show on any background."""
    y = np.asarray(y).reshape(-1)
    for cls, color in enumerate(CLASS_COLORS):
        pts = X[y == cls]
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], c=color, s=size, marker=marker, edgecolors="black",
                       linewidths=0.5, label=f"class {cls}{label_suffix}", zorder=3)


def grid_over(X: np.ndarray, resolution: int, margin: float = 0.15) -> tuple[np.ndarray, ...]:
    """A ``resolution`` x ``resolution`` grid over the bounding box of ``X`` widened by
    ``margin`` of its extent on each side: returns ``(xx, yy, points)`` with points (r*r, 2)."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = (hi - lo) * margin + 1e-6
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])
