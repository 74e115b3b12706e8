"""One look for every figure of the lab: the two classes in TensorFlow Playground's orange and
blue (a pair that stays apart for red-green colour-blind readers, see :func:`simulate_cvd`) with
a marker shape of their own, colour maps, sizes.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so they render
headless, leave no global state behind and are freed as soon as they are no longer referenced.

The lab's one convention for the numbers a figure draws: every figure function returns a
:class:`LabFigure` (a matplotlib ``Figure``, so ``fig.savefig`` works as before) whose
:attr:`LabFigure.data` maps names to the numbers drawn (arrays, floats, ints, strings, and
dicts or lists of them; the keys are listed in each function's docstring), and every GIF
function returns a :class:`LabGif` whose :attr:`LabGif.frames` records, frame by frame, what
was drawn, read back from the frame's artists. Tests assert the lesson on these numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

__all__ = ["ACTIVATION_CMAP", "BEST_COLOR", "BLUE", "CLASS_COLORS", "CLASS_MARKERS",
           "CVD_MATRICES", "GREEN", "HELD_OUT_MARKERS", "LOSS_CMAP", "OPTIMIZER_COLORS",
           "ORANGE", "PATIENCE_COLOR", "PROBABILITY_CMAP", "RED", "TRAIN_COLOR", "VAL_COLOR",
           "LabFigure", "LabGif", "delta_e", "grid_over", "new_figure", "scatter_classes",
           "simulate_cvd"]

ORANGE = "#f59322"
BLUE = "#0877bd"
GREEN = "#1a9641"
RED = "#d7191c"
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"
BEST_COLOR = "#2ca02c"
PATIENCE_COLOR = "#ffbf00"
CLASS_COLORS = (ORANGE, BLUE)
"""Class 0 is drawn orange and class 1 blue (TensorFlow Playground's pair), on every figure."""
CLASS_MARKERS = ("o", "s")
"""Class 0 as circles and class 1 as squares, so the classes differ in shape as well."""
HELD_OUT_MARKERS = ("^", "D")
"""Held-out points: class 0 as triangles and class 1 as diamonds."""

PROBABILITY_CMAP = LinearSegmentedColormap.from_list(
    "gradwise_orange_blue", [ORANGE, "#fbc98f", "#ffffff", "#84bbde", BLUE]
)
"""Orange (P(class 1) = 0) through white (0.5) to blue (1)."""

ACTIVATION_CMAP = "viridis"
"""Sequential map for values that are never negative (ReLU activations)."""

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


class LabFigure(Figure):
    """A headless matplotlib figure that carries the numbers it draws in :attr:`data` (empty
    until the figure function fills it; keys documented by each figure function)."""

    data: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data = {}


@dataclass(frozen=True)
class LabGif:
    """An animated GIF the lab wrote: its ``path`` and, for each frame written, a dict of what
    that frame draws (read back from the frame's artists; keys documented by the GIF function).
    ``os.fspath(gif)`` is the path, so it opens like one."""

    path: Path
    frames: list[dict[str, Any]] = field(default_factory=list)

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def new_figure(width: float, height: float, dpi: int = 100) -> LabFigure:
    """A headless :class:`LabFigure` of ``width`` x ``height`` inches, constrained layout."""
    return LabFigure(figsize=(width, height), dpi=dpi, layout="constrained")


def scatter_classes(ax: Any, X: np.ndarray, y: np.ndarray, held_out: bool = False,
                    label_suffix: str = "", size: float = 18) -> None:
    """Points of class 0 as orange circles and class 1 as blue squares (held-out points:
    triangles and diamonds), outlined so they show on any background."""
    y = np.asarray(y).reshape(-1)
    markers = HELD_OUT_MARKERS if held_out else CLASS_MARKERS
    for cls, (color, marker) in enumerate(zip(CLASS_COLORS, markers, strict=True)):
        pts = X[y == cls]
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], c=color, s=size, marker=marker, edgecolors="black",
                       linewidths=0.5, label=f"class {cls}{label_suffix}", zorder=3)


# Machado, Oliveira and Fernandes, "A Physiologically-based Model for Simulation of Color Vision
# Deficiency", IEEE TVCG 15(6), 2009: the matrices for severity 1.0, applied to linear sRGB.
CVD_MATRICES = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def simulate_cvd(color: str, kind: str) -> np.ndarray:
    """The sRGB colour (3 floats in [0, 1]) that a dichromat of ``kind`` (protanopia,
    deuteranopia or tritanopia) sees for ``color``: ``srgb(M lin(rgb))`` with Machado et al.'s
    (2009) matrix ``M`` at severity 1."""
    from matplotlib.colors import to_rgb

    if kind not in CVD_MATRICES:
        raise ValueError(f"simulate_cvd: kind must be one of {sorted(CVD_MATRICES)}, got {kind!r}")
    return _to_srgb(CVD_MATRICES[kind] @ _to_linear(np.array(to_rgb(color))))


def delta_e(rgb1: np.ndarray, rgb2: np.ndarray) -> float:
    """CIE76 colour difference ``||Lab1 - Lab2||`` of two sRGB colours (D65 white): about 2.3
    is just noticeable; two class colours should differ by tens."""
    def lab(rgb: np.ndarray) -> np.ndarray:
        m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                      [0.0193, 0.1192, 0.9505]])
        xyz = m @ _to_linear(np.asarray(rgb, dtype=np.float64)) / np.array([0.95047, 1.0,
                                                                            1.08883])
        f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])
    return float(np.linalg.norm(lab(rgb1) - lab(rgb2)))


def grid_over(X: np.ndarray, resolution: int, margin: float = 0.15) -> tuple[np.ndarray, ...]:
    """A ``resolution`` x ``resolution`` grid over the bounding box of ``X`` widened by
    ``margin`` of its extent on each side: returns ``(xx, yy, points)`` with points (r*r, 2)."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = (hi - lo) * margin + 1e-6
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])
