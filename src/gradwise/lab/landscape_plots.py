"""Figures of loss landscapes (Li et al. 2018): 1D curves, contour and filled-contour maps with
the training trajectory, and 3D surfaces. Loss is drawn on a logarithmic colour scale, since it
grows by orders of magnitude away from a minimum."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.colors import LogNorm

from .landscape import Landscape
from .style import LOSS_CMAP, TRAIN_COLOR, VAL_COLOR, LabFigure, new_figure

__all__ = ["plot_landscape_1d", "plot_landscape_2d", "plot_surface_3d"]


def _loss_range(loss: np.ndarray) -> tuple[float, float]:
    finite = loss[np.isfinite(loss)]
    if not finite.size:
        raise ValueError("the landscape has no finite loss value to draw")
    lo = max(float(finite.min()), 1e-12)
    hi = max(float(np.percentile(finite, 99)), lo * 1.01)
    return lo, hi


def plot_landscape_1d(coords: np.ndarray, loss: np.ndarray, accuracy: np.ndarray | None = None,
                      xlabel: str = "step along the direction", title: str = "Loss along a line",
                      marks: Mapping[str, float] | None = None,
                      held_out: tuple[np.ndarray, np.ndarray | None, str] | None = None
                      ) -> LabFigure:
    """Loss (left axis; log scale when it spans more than a factor 20) and, for classifiers,
    accuracy (right axis) along a line in weight space; ``marks`` names points on it, e.g.
    ``{"initial": 0, "final": 1}``. ``held_out = (loss, accuracy, name)`` adds the same curves
    on held-out data (thinner, dotted), as Li et al. (2018) draw train and test curves.
    ``fig.data``: ``{"coords", "loss", "accuracy", "held_out_loss", "held_out_accuracy"``
    (the curves drawn, None when absent), ``"log_scale"``, ``"marks": {name: (coord, loss)}``
    ``}``."""
    coords, loss = np.asarray(coords), np.asarray(loss)
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    train_tag = " (training)" if held_out is not None else ""
    ax.plot(coords, loss, color=TRAIN_COLOR, linewidth=2, label="loss" + train_tag)
    if held_out is not None:
        ax.plot(coords, held_out[0], color=TRAIN_COLOR, linewidth=1.2, linestyle=":",
                label=f"loss ({held_out[2]})")
    lo, hi = _loss_range(loss if held_out is None else np.concatenate([loss, held_out[0]]))
    log = hi / lo > 20
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Loss (log scale)" if log else "Loss", color=TRAIN_COLOR)
    ax.grid(alpha=0.3)
    handles = ax.get_lines()
    if accuracy is not None and np.isfinite(accuracy).any():
        ax2 = ax.twinx()
        handles += ax2.plot(coords, accuracy, color=VAL_COLOR, linestyle="--",
                            label="accuracy" + train_tag)
        if held_out is not None and held_out[1] is not None:
            handles += ax2.plot(coords, held_out[1], color=VAL_COLOR, linewidth=1.2,
                                linestyle=(0, (1, 2)), label=f"accuracy ({held_out[2]})")
        ax2.set_ylabel("Accuracy", color=VAL_COLOR)
        ax2.set_ylim(-0.02, 1.02)
    marked: dict[str, tuple[float, float]] = {}
    for name, x in (marks or {}).items():
        i = int(np.argmin(np.abs(coords - x)))
        marked[name] = (float(coords[i]), float(loss[i]))
        handles += ax.plot(coords[i], loss[i], marker="o", markersize=9, linestyle="none",
                           markeredgecolor="black", label=f"{name} ({x:g})")
    fig.legend(handles=handles, fontsize=8, loc="outside lower center",
               ncols=min(len(handles), 4))  # below the axes: never over a curve
    ax.set_title(title)
    drew_acc = accuracy is not None and np.isfinite(accuracy).any()
    fig.data.update({
        "coords": coords, "loss": loss, "accuracy": accuracy if drew_acc else None,
        "held_out_loss": None if held_out is None else np.asarray(held_out[0]),
        "held_out_accuracy": (None if held_out is None or held_out[1] is None or not drew_acc
                              else np.asarray(held_out[1])),
        "log_scale": log, "marks": marked})
    return fig


def _draw_trajectory(ax, trajectory: np.ndarray) -> None:
    ax.plot(trajectory[:, 0], trajectory[:, 1], color="white", linewidth=3, zorder=4)
    ax.plot(trajectory[:, 0], trajectory[:, 1], color="black", marker=".", markersize=5,
            linewidth=1.2, label="training trajectory", zorder=5)
    ax.plot(*trajectory[0], marker="o", color="#d7191c", markersize=9, markeredgecolor="black",
            linestyle="none", label="initial weights", zorder=6)
    ax.plot(*trajectory[-1], marker="*", color="#ffd700", markersize=15, markeredgecolor="black",
            linestyle="none", label="trained weights", zorder=6)


def plot_landscape_2d(land: Landscape, filled: bool = True, xlabel: str = "direction 1",
                      ylabel: str = "direction 2", title: str = "Loss landscape",
                      trajectory: np.ndarray | None = None, equal_aspect: bool = False
                      ) -> LabFigure:
    """The loss over the plane as filled contours (``filled``) or labelled contour lines, with
    accuracy beside it for classifiers, the trained weights at (0, 0) (a star) and, if given,
    the training trajectory projected onto the plane (shape (T, 2)). ``equal_aspect`` draws
    one unit the same length on both axes (for PCA coordinates, which are distances in weight
    space: a stretched axis would distort the valley's shape). ``fig.data``: ``{"x", "y",
    "loss"`` (NaN where not computed), ``"accuracy"`` (None when not drawn), ``"loss_range"``
    (the colour scale's (lo, hi)), ``"trajectory"`` (or None), ``"panels"``, ``"aspect"``
    (per panel)``}``."""
    loss = np.where(land.done[:, None], land.loss, np.nan)
    lo, hi = _loss_range(loss)
    shown = np.clip(loss, lo, hi)
    levels = np.geomspace(lo, hi, 30)
    has_acc = np.isfinite(land.accuracy[land.done]).any()
    fig = new_figure(6.2 * (2 if has_acc else 1), 5.2)
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    xx, yy = np.meshgrid(land.x, land.y)
    ax = axes[0]
    norm = LogNorm(lo, hi)
    if filled:
        cs = ax.contourf(xx, yy, shown, levels=levels, cmap=LOSS_CMAP, norm=norm)
        fig.colorbar(cs, ax=ax, label="Loss (log scale)", ticks=np.geomspace(lo, hi, 7),
                     format="%.3g")
    else:
        cs = ax.contour(xx, yy, shown, levels=levels[::2], cmap=LOSS_CMAP, norm=norm,
                        linewidths=1)
        ax.clabel(cs, cs.levels[::3], fontsize=7, fmt="%.3g")
        fig.colorbar(cs, ax=ax, label="Loss (log scale)", ticks=np.geomspace(lo, hi, 7),
                     format="%.3g")
    panels = [(ax, "Loss")]
    if has_acc:
        acc = np.where(land.done[:, None], land.accuracy, np.nan)
        cs2 = axes[1].contourf(xx, yy, acc, levels=np.linspace(0, 1, 21), cmap="magma",
                               vmin=0, vmax=1)
        fig.colorbar(cs2, ax=axes[1], label="Accuracy")
        panels.append((axes[1], "Accuracy"))
    for a, name in panels:
        if trajectory is not None:
            _draw_trajectory(a, np.asarray(trajectory))
        else:
            a.plot(0, 0, marker="*", color="#ffd700", markersize=15, markeredgecolor="black",
                   linestyle="none", label="trained weights")
        a.set_xlabel(xlabel)
        a.set_ylabel(ylabel)
        a.set_title(name)
        a.set_xlim(land.x[0], land.x[-1])
        a.set_ylim(land.y[0], land.y[-1])
        if equal_aspect:
            a.set_aspect("equal", adjustable="box")
    axes[0].legend(fontsize=8, loc="upper right", framealpha=0.85)
    fig.suptitle(title)
    fig.data.update({"x": land.x, "y": land.y, "loss": loss,
                     "accuracy": acc if has_acc else None, "loss_range": (lo, hi),
                     "trajectory": None if trajectory is None else np.asarray(trajectory),
                     "panels": [name for _, name in panels],
                     "aspect": [a.get_aspect() for a, _ in panels]})
    return fig


def plot_surface_3d(land: Landscape, xlabel: str = "direction 1", ylabel: str = "direction 2",
                    title: str = "Loss surface", trajectory: np.ndarray | None = None,
                    trajectory_loss: np.ndarray | None = None) -> LabFigure:
    """The loss over the plane as a 3D surface, ``log10`` of the loss on the vertical axis;
    with ``trajectory`` (T, 2) and its losses on the plane, the path is drawn on the surface.
    ``fig.data``: ``{"x", "y", "log10_loss"`` (the surface's heights), ``"trained"`` (the
    star's (x, y, z)), ``"trajectory"`` ((T, 3) path drawn, or None)``}``."""
    loss = np.where(land.done[:, None], land.loss, np.nan)
    lo, hi = _loss_range(loss)
    z = np.log10(np.clip(loss, lo, hi))
    fig = new_figure(7, 5.6)
    ax = fig.add_subplot(projection="3d", computed_zorder=False)  # the path stays on top
    xx, yy = np.meshgrid(land.x, land.y)
    ax.plot_surface(xx, yy, z, cmap=LOSS_CMAP, linewidth=0, antialiased=True,
                    rcount=min(len(land.y), 80), ccount=min(len(land.x), 80))
    path = None
    if trajectory is not None and trajectory_loss is not None:
        tz = np.log10(np.clip(trajectory_loss, lo, hi))
        path = np.column_stack([trajectory[:, 0], trajectory[:, 1], tz])
        ax.plot(trajectory[:, 0], trajectory[:, 1], tz, color="black", marker=".",
                linewidth=1.5, zorder=10, label="training trajectory")
        ax.plot([trajectory[0, 0]], [trajectory[0, 1]], [tz[0]], marker="o", color="#d7191c",
                markersize=8, markeredgecolor="black", linestyle="none", zorder=11,
                label="initial weights")
    i, j = int(np.argmin(np.abs(land.y))), int(np.argmin(np.abs(land.x)))
    ax.plot([land.x[j]], [land.y[i]], [z[i, j]], marker="*", color="#ffd700", markersize=15,
            markeredgecolor="black", linestyle="none", zorder=12, label="trained weights")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_xlabel(xlabel, labelpad=10)
    ax.set_ylabel(ylabel, labelpad=10)
    ax.set_zlabel("log10(loss)", labelpad=8)
    ax.view_init(elev=35, azim=-60)
    ax.set_box_aspect(None, zoom=0.85)  # keep the axis labels inside the figure
    ax.set_title(title)
    fig.data.update({"x": land.x, "y": land.y, "log10_loss": z,
                     "trained": (float(land.x[j]), float(land.y[i]), float(z[i, j])),
                     "trajectory": path})
    return fig
