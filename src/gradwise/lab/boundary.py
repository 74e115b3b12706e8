"""Decision boundaries of 2D classifiers: the probability map over the plane, one small map per
hidden unit (as TensorFlow Playground draws them), and several models side by side.

A binary classifier's map is ``P(y = 1 | x) = sigmoid(z(x))`` for one logit ``z`` and
``softmax(z(x))_1`` for two; outputs that already are probabilities (a final sigmoid or softmax)
are drawn as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..nn import Dense, Dropout, Module, Sequential
from ..nn.layers import Sigmoid, Softmax
from ..nn.utils import as_input
from ..ops import log_softmax_array, sigmoid_array
from .style import (
    ACTIVATION_CMAP,
    PROBABILITY_CMAP,
    LabFigure,
    grid_over,
    new_figure,
    scatter_classes,
)

__all__ = ["plot_boundaries", "plot_decision_boundary", "plot_hidden_units", "predict_proba"]


def _last_module(model: Module) -> Module:
    while isinstance(model, Sequential) and len(model):
        model = model[-1]
    return model


def _outputs_probabilities(model: Module) -> bool:
    last = _last_module(model)
    if isinstance(last, Sigmoid | Softmax):
        return True
    if isinstance(last, Dense):
        return last.fused_activation == "sigmoid" or isinstance(last.activation, Sigmoid | Softmax)
    return False


def _forward(model: Module, X: np.ndarray) -> np.ndarray:
    """The model's output on ``X`` in eval mode, without a graph; the mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = model(as_input(model, X))
    finally:
        model.train(was_training)
    return backend.to_numpy(out.data)


def predict_proba(model: Module, X: np.ndarray) -> np.ndarray:
    """``P(y = 1 | x)`` for every row of ``X``, shape (n,), from a binary classifier with one
    output (logit or probability) or two (logits or softmax probabilities)."""
    out = _forward(model, X).astype(np.float64)
    out = out.reshape(len(out), -1)
    probs = _outputs_probabilities(model)
    if out.shape[1] == 1:
        return out[:, 0] if probs else sigmoid_array(out[:, 0])
    if out.shape[1] == 2:
        return out[:, 1] if probs else np.exp(log_softmax_array(out, axis=1)[:, 1])
    raise ValueError(
        f"a decision boundary needs a binary classifier with 1 or 2 outputs, got output of shape "
        f"{out.shape}"
    )


def _check_2d(X: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2) for a decision boundary, got {X.shape}")
    return X


def _draw_map(ax, model: Module, X: np.ndarray, y: np.ndarray, X_test: np.ndarray | None,
              y_test: np.ndarray | None, resolution: int, test_label: str = "test"):
    pts_all = X if X_test is None else np.concatenate([X, X_test])
    xx, yy, grid = grid_over(pts_all, resolution)
    p = predict_proba(model, grid).reshape(xx.shape)
    mesh = ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 21), cmap=PROBABILITY_CMAP,
                       vmin=0, vmax=1, alpha=0.85)
    ax.contour(xx, yy, p, levels=[0.5], colors="black", linewidths=1.5)
    ax.plot([], [], color="black", linewidth=1.5, label="boundary P = 0.5")
    scatter_classes(ax, X, y, label_suffix=" (train)")
    if X_test is not None and y_test is not None:
        scatter_classes(ax, X_test, y_test, held_out=True, label_suffix=f" ({test_label})",
                        size=30)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="box")
    return mesh, {"grid_x1": xx[0], "grid_x2": yy[:, 0], "probability": p}


def plot_decision_boundary(model: Module, X: np.ndarray, y: np.ndarray,
                           X_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
                           resolution: int = 200, title: str = "Decision boundary",
                           test_label: str = "test") -> LabFigure:
    """The map of ``P(y = 1 | x)`` over the plane (orange 0, white 0.5, blue 1) with the
    boundary ``P = 0.5`` in black, training points as circles (class 0) and squares (class 1)
    and held-out points as triangles and diamonds, named
    ``test_label`` in the legend (e.g. ``"validation"``). ``fig.data``: ``{"grid_x1",
    "grid_x2", "probability"}`` (the map drawn, probability[i, j] at (grid_x1[j], grid_x2[i]))
    and ``"train_accuracy"`` (and ``"test_accuracy"`` with held-out points): the fraction of
    points on their class's side of the boundary."""
    X = _check_2d(X, "X")
    if X_test is not None:
        X_test = _check_2d(X_test, "X_test")
    fig = new_figure(6.2, 5)
    ax = fig.add_subplot()
    mesh, drawn = _draw_map(ax, model, X, np.asarray(y), X_test, y_test, resolution,
                            test_label)
    fig.data.update(drawn)
    fig.data["train_accuracy"] = _accuracy(model, X, y)
    if X_test is not None and y_test is not None:
        fig.data["test_accuracy"] = _accuracy(model, X_test, y_test)
    fig.colorbar(mesh, ax=ax, label="P(class 1 | x)", ticks=[0, 0.25, 0.5, 0.75, 1])
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.set_title(title)
    return fig


def plot_boundaries(models: Mapping[str, Module], X: np.ndarray, y: np.ndarray,
                    resolution: int = 150, suptitle: str | None = None) -> LabFigure:
    """Decision maps of several models on the same points, side by side, one panel per
    ``{title: model}`` entry: e.g. linear activations (a straight boundary) beside ReLU.
    ``fig.data``: ``{"maps": {title: probability map}, "grid_x1", "grid_x2", "accuracy":
    {title: training accuracy}}``."""
    X = _check_2d(X, "X")
    fig = new_figure(4.2 * len(models) + 0.8, 4.3)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    mesh = None
    maps, accuracy = {}, {}
    for ax, (name, model) in zip(axes, models.items(), strict=True):
        mesh, drawn = _draw_map(ax, model, X, np.asarray(y), None, None, resolution)
        maps[name] = drawn.pop("probability")
        accuracy[name] = _accuracy(model, X, y)
        fig.data.update(drawn)
        ax.set_title(name)
    axes[0].legend(loc="upper right", fontsize=8, framealpha=0.9)
    assert mesh is not None  # models is not empty
    fig.colorbar(mesh, ax=list(axes), label="P(class 1 | x)", ticks=[0, 0.5, 1])
    if suptitle:
        fig.suptitle(suptitle)
    fig.data.update({"maps": maps, "accuracy": accuracy})
    return fig


def _accuracy(model: Module, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of points with ``P(class 1 | x) > 0.5`` exactly where ``y == 1``."""
    return float(((predict_proba(model, X).reshape(-1) > 0.5)
                  == (np.asarray(y).reshape(-1) == 1)).mean())


def _hidden_activations(model: Sequential, grid: np.ndarray) -> list[np.ndarray]:
    """The activations that feed each Dense layer after the first: the hidden units' outputs."""
    mods = list(model)
    denses = [i for i, m in enumerate(mods) if isinstance(m, Dense)]
    if len(denses) < 2:
        raise ValueError(
            f"plot_hidden_units needs a Sequential with at least 2 Dense layers, got {model!r}"
        )
    layers = []
    for stop in denses[1:]:
        prefix = Sequential(*(m for m in mods[:stop] if not isinstance(m, Dropout)))
        layers.append(_forward(prefix, grid).astype(np.float64))
    return layers


def plot_hidden_units(model: Sequential, X: np.ndarray, y: np.ndarray, max_units: int = 16,
                      resolution: int = 60) -> LabFigure:
    """One small map per hidden unit ``a_j(x)`` over the plane (TensorFlow Playground style),
    one row per hidden layer, and the network's output map on the right. A layer whose
    activations are never negative (ReLU) is drawn on a sequential scale from 0 (dark) to its
    largest value; a layer with signs on a diverging orange (< 0), white (0), blue (> 0) scale.
    A unit that is 0 over the whole plane (a dead ReLU) is a grey panel labelled "dead". At
    most ``max_units`` units per layer are drawn and the row's label says how many are left
    out. ``fig.data``: ``{"layers": [{"units", "dead", "drawn", "non_negative", "scales",
    "label"} per layer], "output": P(class 1) map}``; ``scales`` holds, per drawn unit, the
    ``(colour map name, vmin, vmax)`` its map used (``None`` for a dead unit), ``label`` the
    row's text."""
    X = _check_2d(X, "X")
    xx, yy, grid = grid_over(X, resolution)
    layers = _hidden_activations(model, grid)
    ncols = min(max(a.shape[1] for a in layers), max_units) + 1
    fig = new_figure(1.45 * ncols + 0.6, 1.6 * len(layers) + 0.7)
    axes = fig.subplots(len(layers), ncols, squeeze=False)
    extent = (xx.min(), xx.max(), yy.min(), yy.max())
    info = []
    for r, acts in enumerate(layers):
        nonneg = bool(acts.min() >= 0)
        dead = np.abs(acts).max(axis=0) == 0
        scales: list[tuple[str, float, float] | None] = []
        info.append({"units": acts.shape[1], "dead": int(dead.sum()),
                     "drawn": min(acts.shape[1], max_units), "non_negative": nonneg,
                     "scales": scales})
        for c in range(ncols - 1):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= acts.shape[1]:
                ax.axis("off")
                continue
            a = acts[:, c].reshape(xx.shape)
            if dead[c]:
                ax.set_facecolor("#bdbdbd")
                ax.text(0.5, 0.5, "dead\n(0 everywhere)", ha="center", va="center",
                        fontsize=7, transform=ax.transAxes)
                scales.append(None)
            else:
                if nonneg:
                    im = ax.imshow(a, origin="lower", extent=extent, cmap=ACTIVATION_CMAP,
                                   vmin=0, vmax=a.max(), aspect="auto")
                else:
                    vmax = max(np.abs(a).max(), 1e-12)
                    im = ax.imshow(a, origin="lower", extent=extent, cmap=PROBABILITY_CMAP,
                                   vmin=-vmax, vmax=vmax, aspect="auto")
                lo, hi = im.get_clim()
                scales.append((str(im.get_cmap().name), float(lo), float(hi)))
            ax.set_title(f"L{r + 1} unit {c + 1}", fontsize=7)
        left = acts.shape[1] - min(acts.shape[1], max_units)
        scale = "0 (dark) to max" if nonneg else "orange < 0 < blue"
        label = (f"layer {r + 1}: {acts.shape[1]} units\n{int(dead.sum())} dead"
                 + (f", {left} not drawn" if left else "") + f"\n{scale}")
        axes[r, 0].set_ylabel(label, fontsize=7)
        info[-1]["label"] = axes[r, 0].get_ylabel()
    p = predict_proba(model, grid).reshape(xx.shape)
    for r in range(len(layers)):
        ax = axes[r, -1]
        ax.set_xticks([])
        ax.set_yticks([])
        if r:
            ax.axis("off")
            continue
        ax.imshow(p, origin="lower", extent=extent, cmap=PROBABILITY_CMAP, vmin=0, vmax=1,
                  aspect="auto")
        scatter_classes(ax, X, np.asarray(y), size=4)
        ax.set_title("output P(class 1)", fontsize=7)
    fig.suptitle("What each hidden unit computes over the input plane (each map on its own "
                 "scale; grey: dead unit)", fontsize=10)
    fig.data.update({"layers": info, "output": p})
    return fig
