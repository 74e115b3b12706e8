"""The lecture's own pictures, each drawn from numbers computed here and returned with the
figure (``fig = ...; fig.data``, see :class:`~gradwise.lab.style.LabFigure`), so that a test
can check the lesson, not just the drawing:

- :func:`perceptron_line`: ``y = g(1 + 3 x1 - 2 x2)`` is a line in the plane; the point
  (-1, 2) gives ``g(-6) = 0.0025``.
- :func:`will_i_pass`: the synthetic "Will I pass this class?" set; an untrained network is
  wrong about the student x = [4, 5], training fixes it.
- :func:`gradient_descent_steps` (and :func:`save_gradient_descent_gif`): gradient descent on a
  real two-parameter loss, step by step.
- :func:`fitting_three_ways`: under-, well- and over-fitting of the same 1D data.
- :func:`dropout_study`: the units dropout removes for two batches, and curves with and without
  dropout on data that overfits.
- :func:`early_stopping_study`: a run that overfits, its U-shaped validation loss and the stop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import FormatStrFormatter, NullLocator

from .. import backend, optim
from ..autograd import Tensor, no_grad
from ..data import train_test_split
from ..data import will_i_pass as will_i_pass_data
from ..io import atomic_path
from ..nn import BCEWithLogitsLoss, Dense, Dropout, Module, Sequential
from ..nn.utils import flat_parameters, set_flat
from ..training.loop import fit
from ._model import flat_grad, loss_on
from .boundary import predict_proba
from .style import (
    BEST_COLOR,
    CLASS_COLORS,
    LOSS_CMAP,
    PATIENCE_COLOR,
    PROBABILITY_CMAP,
    TRAIN_COLOR,
    VAL_COLOR,
    LabFigure,
    LabGif,
    new_figure,
    scatter_classes,
)

__all__ = ["dropout_study", "early_stopping_study", "fitting_three_ways", "minibatch_study",
           "gradient_descent_steps", "perceptron_line", "save_gradient_descent_gif",
           "will_i_pass"]


def _sigmoid(z: np.ndarray | float) -> Any:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def perceptron_line(w0: float = 1.0, w: tuple[float, float] = (3.0, -2.0),
                    point: tuple[float, float] = (-1.0, 2.0)) -> LabFigure:
    """The perceptron ``y = sigmoid(w0 + w1 x1 + w2 x2)`` of the lecture (``w0 = 1``,
    ``w = [3, -2]``) drawn over the plane: the line ``w0 + w . x = 0`` where ``y = 0.5``, the
    half-plane ``z > 0`` (``y > 0.5``, blue) and ``z < 0`` (``y < 0.5``, orange), and the
    worked example ``x = (-1, 2)``: ``z = 1 - 3 - 4 = -6``, ``y = sigmoid(-6) = 0.0025``.
    ``fig.data``: ``{"z", "y_hat", "line_x1", "line_x2", "z_grid", "grid"}``."""
    x = np.array(point, dtype=np.float64)
    z = w0 + float(np.dot(w, x))
    y_hat = float(_sigmoid(z))
    fig = new_figure(6, 5)
    ax = fig.add_subplot()
    g = np.linspace(-4, 4, 201)
    xx, yy = np.meshgrid(g, g)
    zz = w0 + w[0] * xx + w[1] * yy
    mesh = ax.contourf(xx, yy, _sigmoid(zz), levels=np.linspace(0, 1, 21), cmap=PROBABILITY_CMAP,
                       alpha=0.8)
    line_x1 = g
    line_x2 = -(w0 + w[0] * g) / w[1]
    keep = np.abs(line_x2) <= 4
    ax.plot(line_x1[keep], line_x2[keep], color="black", linewidth=2,
            label=f"{w0:g} + {w[0]:g} x1 {'-' if w[1] < 0 else '+'} {abs(w[1]):g} x2 = 0")
    ax.plot(*x, marker="*", markersize=16, color="black", linestyle="none",
            label=f"x = ({x[0]:g}, {x[1]:g}): z = {z:g}, y = sigmoid({z:g}) = {y_hat:.4f}")
    # each side's label 3 units from the line along its normal (inside the window)
    normal = np.array(w, dtype=np.float64) / np.linalg.norm(w)
    foot = -w0 * normal / np.linalg.norm(w)
    for side, text in ((1, "z > 0\ny > 0.5"), (-1, "z < 0\ny < 0.5")):
        tx, ty = np.clip(foot + side * 3.0 * normal, -3.3, 3.3)
        ax.text(tx, ty, text, ha="center", va="center", fontsize=11)
    fig.colorbar(mesh, ax=ax, label="y = sigmoid(z)", ticks=[0, 0.5, 1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax.set_title(f"The perceptron is a line: y = g({w0:g} {'-' if w[0] < 0 else '+'} "
                 f"{abs(w[0]):g} x1 {'-' if w[1] < 0 else '+'} {abs(w[1]):g} x2)")
    fig.data.update({"z": z, "y_hat": y_hat, "line_x1": line_x1[keep], "line_x2": line_x2[keep],
                     "z_grid": zz, "grid": g})
    return fig


def _pass_model() -> Sequential:
    return Sequential(Dense(2, 3, activation="sigmoid"), Dense(3, 1))


def will_i_pass(n: int = 200, epochs: int = 300, student: tuple[float, float] = (4.0, 5.0),
                seed: int = 0, max_tries: int = 50) -> LabFigure:
    """The lecture's "Will I pass this class?" on :func:`gradwise.data.will_i_pass` (synthetic:
    x1 lectures attended and x2 hours on the final project, both U(0, 12); pass where
    ``0.6 x1 + 0.8 x2 - 7 + noise > 0``). A 2-3-1 network (sigmoid hidden units), the
    features divided by 12. The first initialization seed from ``seed`` on whose untrained
    network is wrong about ``student`` is used (the lecture's point: an untrained network
    guesses); it is trained with Adam (full batches) for ``epochs`` and asked again. The figure
    shows the data, both probability maps and the student; ``fig.data``: ``{"truth", "before",
    "after", "init_seed", "accuracy", "model"}``."""
    X, y = will_i_pass_data(n=n, seed=seed)
    s = np.asarray(student, dtype=np.float32)
    truth = int(0.6 * s[0] + 0.8 * s[1] - 7 > 0)
    Xs, ss = X / 12.0, s[None, :] / 12.0
    for init in range(seed, seed + max_tries):
        backend.manual_seed(init)
        model = _pass_model()
        before = float(predict_proba(model, ss)[0])
        if (before > 0.5) != bool(truth):
            break
    else:
        raise ValueError(f"will_i_pass: no seed in [{seed}, {seed + max_tries}) gives an "
                         "untrained network that is wrong about the student")
    initial = flat_parameters(model)
    loss = BCEWithLogitsLoss()
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(epochs):
        opt.zero_grad()
        loss_on(model, loss, Xs, y).backward()
        opt.step()
    after = float(predict_proba(model, ss)[0])
    accuracy = float(((predict_proba(model, Xs) > 0.5) == (y == 1)).mean())
    trained = flat_parameters(model)
    fig = new_figure(11, 4.6)
    axes = fig.subplots(1, 2)
    g = np.linspace(0, 12, 121)
    xx, yy = np.meshgrid(g, g)
    grid = np.column_stack([xx.ravel(), yy.ravel()]) / 12.0
    mesh: Any = None
    for ax, weights, p, name in ((axes[0], initial, before, "untrained"),
                                 (axes[1], trained, after, f"trained ({epochs} epochs)")):
        set_flat(model, weights)
        mesh = ax.contourf(xx, yy, predict_proba(model, grid).reshape(xx.shape),
                           levels=np.linspace(0, 1, 21), cmap=PROBABILITY_CMAP, alpha=0.8)
        scatter_classes(ax, X, y, size=14)
        right = (p > 0.5) == bool(truth)
        ax.plot(*s, marker="*", markersize=18, color="black", linestyle="none",
                label=f"you: x = [{s[0]:g}, {s[1]:g}], P(pass) = {p:.2f} "
                      f"({'right' if right else 'wrong'})")
        ax.set_title(f"{name}: predicted {'pass' if p > 0.5 else 'fail'}, actual "
                     f"{'pass' if truth else 'fail'}")
        ax.set_xlabel("x1: lectures attended")
        ax.set_ylabel("x2: hours spent on the final project")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3,
                  frameon=False)  # below the axes: never over a point
    set_flat(model, trained)
    fig.colorbar(mesh, ax=list(axes), label="P(pass)")
    fig.suptitle("Will I pass this class? (synthetic data: pass where 0.6 x1 + 0.8 x2 - 7 + "
                 "noise > 0; class 1 = pass)", fontsize=10)
    fig.data.update({"truth": truth, "before": before, "after": after, "init_seed": init,
                     "accuracy": accuracy, "model": model})
    return fig


def _logistic_1d(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lectures attended (scaled to [0, 1]) against passing: a 1D slice of the pass data."""
    X, y = will_i_pass_data(n=n, seed=seed)
    return X[:, :1] / 12.0, (X[:, 0] + X[:, 1] > 9).astype(np.int64)


def gradient_descent_steps(lr: float = 2.0, steps: int = 60, start: tuple[float, float] = (6.0,
                           -4.0), resolution: int = 81) -> LabFigure:
    """Gradient descent ``W <- W - lr dJ/dW`` on the two parameters ``(w0, w1)`` of
    ``sigmoid(w0 + w1 x)`` (logistic regression, BCE loss ``J``) on a 1D set: the loss surface
    ``J(w0, w1)`` on a grid, the path of ``steps`` full-batch steps from ``start`` with the
    gradient at each point from backpropagation. ``fig.data``: ``{"path", "loss",
    "grid_w0", "grid_w1", "surface"}``."""
    X, y = _logistic_1d()
    model = Dense(1, 1)
    loss = BCEWithLogitsLoss()
    path = [np.array([start[1], start[0]])]  # flat order: weight w1, then bias w0
    values = []
    for _ in range(steps + 1):
        set_flat(model, path[-1])
        for p in model.parameters():
            p.grad = None
        value = loss_on(model, loss, X, y)
        value.backward()
        values.append(value.item())
        if len(path) <= steps:
            path.append(path[-1] - lr * flat_grad(model))
    pts = np.array(path)[:, ::-1]  # (w0, w1)
    lo = np.minimum(pts.min(axis=0), -4) - 1
    hi = np.maximum(pts.max(axis=0), 8) + 1
    g0, g1 = np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    W0, W1 = np.meshgrid(g0, g1)
    z = W0[..., None] + W1[..., None] * X[:, 0]
    surface = np.mean(np.logaddexp(0, z) - z * y, axis=-1)
    fig = new_figure(11, 4.5)
    ax, ax2 = fig.subplots(1, 2)
    cs = ax.contourf(W0, W1, surface, levels=30, cmap=LOSS_CMAP)
    fig.colorbar(cs, ax=ax, label="J(w0, w1)")
    ax.plot(pts[:, 0], pts[:, 1], color="white", marker="o", markersize=4, linewidth=1.2,
            label=f"gradient descent, lr = {lr:g}")
    ax.plot(*pts[0], marker="s", color="red", markersize=9, linestyle="none",
            label=f"iteration 0: ({pts[0, 0]:.3g}, {pts[0, 1]:.3g})")
    ax.set_xlabel("$w_0$ (bias)")
    ax.set_ylabel("$w_1$ (weight)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Loss surface and the steps W <- W - lr dJ/dW")
    ax2.plot(np.arange(len(values)), values, color=TRAIN_COLOR, marker=".")
    ax2.set_xlabel("Iteration")
    ax2.set_ylabel("J(W)")
    ax2.set_title("Loss at each iteration")
    ax2.grid(alpha=0.3)
    fig.data.update({"path": pts, "loss": np.array(values), "grid_w0": g0, "grid_w1": g1,
                     "surface": surface})
    return fig


def save_gradient_descent_gif(data: dict[str, Any], path: str | os.PathLike,
                              fps: int = 4) -> LabGif:
    """The steps of :func:`gradient_descent_steps` (``fig.data`` of that figure) as an animated
    GIF, "iteration k" with the current weights in the title, written atomically. Each of the
    returned :class:`~gradwise.lab.style.LabGif`'s ``frames`` holds ``step``, ``trail`` (the
    points drawn, (k + 1, 2)) and ``title``."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    pts = data["path"]
    fig = new_figure(5.6, 4.6, dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    W0, W1 = np.meshgrid(data["grid_w0"], data["grid_w1"])
    cs = ax.contourf(W0, W1, data["surface"], levels=30, cmap=LOSS_CMAP)
    fig.colorbar(cs, ax=ax, label="J(w0, w1)")
    (trail,) = ax.plot([], [], color="white", marker="o", markersize=4)
    ax.set_xlabel("$w_0$")
    ax.set_ylabel("$w_1$")
    # lay out for the widest title (the longest numbers), so no frame's title is cut off
    title = ax.set_title(max((f"iteration {t}: ({pts[t, 0]:.3f}, {pts[t, 1]:.3f}), "
                              f"J = {data['loss'][t]:.3f}" for t in range(len(pts))), key=len))
    fig.canvas.draw()
    fig.set_layout_engine("none")

    def draw(t: int) -> list[Any]:
        trail.set_data(pts[:t + 1, 0], pts[:t + 1, 1])
        title.set_text(f"iteration {t}: ({pts[t, 0]:.3f}, {pts[t, 1]:.3f}), "
                       f"J = {data['loss'][t]:.3f}")
        drawn[t] = {"step": t, "trail": np.column_stack(trail.get_data()).astype(np.float64),
                    "title": title.get_text()}
        return [trail, title]

    target = Path(path)
    drawn: dict[int, dict[str, Any]] = {}
    with atomic_path(target) as tmp:
        FuncAnimation(fig, draw, frames=len(pts), blit=False).save(
            tmp, writer=PillowWriter(fps=fps))
    return LabGif(target, [drawn[t] for t in range(len(pts))])


def fitting_three_ways(n: int = 30, degrees: tuple[int, int, int] = (1, 4, 15),
                       noise: float = 0.25, seed: int = 0) -> LabFigure:
    """Under-, well- and over-fitting of the same 1D data, as on the lecture's three panels:
    least-squares polynomials of ``degrees`` (a line, a moderate curve, a wiggle through every
    point) fitted to ``n`` noisy samples of ``sin(2 pi x)`` on [0, 1], and scored on ``n``
    fresh samples. ``fig.data``: ``{"degrees", "train_mse", "val_mse"}``."""
    rng = np.random.default_rng(seed)
    x, xv = rng.uniform(0, 1, n), rng.uniform(0, 1, n)

    def target(t: np.ndarray) -> np.ndarray:
        return np.sin(2 * np.pi * t)

    y = target(x) + noise * rng.standard_normal(n)
    yv = target(xv) + noise * rng.standard_normal(n)
    dense = np.linspace(0, 1, 400)
    fig = new_figure(12, 3.9)
    axes = fig.subplots(1, 3, sharey=True)
    train, val = [], []
    names = ("Underfitting", "Ideal fit", "Overfitting")
    for ax, d, name in zip(axes, degrees, names, strict=True):
        # Chebyshev basis on [-1, 1]: well conditioned for high degrees.
        coef = np.polynomial.chebyshev.chebfit(2 * x - 1, y, d)

        def f(t: np.ndarray, c: np.ndarray = coef) -> np.ndarray:
            return np.polynomial.chebyshev.chebval(2 * t - 1, c)

        train.append(float(np.mean((f(x) - y) ** 2)))
        val.append(float(np.mean((f(xv) - yv) ** 2)))
        ax.plot(dense, np.clip(f(dense), -3, 3), color=BEST_COLOR, linewidth=2,
                label=f"degree-{d} polynomial")
        ax.plot(dense, target(dense), color="black", linestyle=":", label="true function")
        ax.scatter(x, y, color=TRAIN_COLOR, s=16, marker="o", zorder=3, label="training")
        ax.scatter(xv, yv, color=VAL_COLOR, s=16, marker="^", zorder=3, label="validation")
        ax.set_title(f"{name}\ntrain MSE {train[-1]:.3f}, validation MSE {val[-1]:.3f}",
                     fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylim(-2, 2)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("y")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("The same data, three models: too simple, right, too complex")
    fig.data.update({"degrees": degrees, "train_mse": train, "val_mse": val})
    return fig


def _overfit_data(n: int, seed: int) -> tuple[np.ndarray, ...]:
    from ..data import moons

    X, y = moons(n=2 * n, noise=0.35, seed=seed)
    return tuple(train_test_split(X, y, test_size=0.5, seed=seed, stratify=y))


def _net(width: int, dropout: float) -> Sequential:
    layers: list[Module] = [Dense(2, width, activation="relu")]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(width, width, activation="relu"))
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(width, 1))
    return Sequential(*layers)


def early_stopping_study(n: int = 60, width: int = 128, epochs: int = 300, patience: int = 30,
                         seed: int = 0) -> LabFigure:
    """A run that overfits (``n`` noisy two-moons training points, a 2-w-w-1 ReLU network
    without dropout, Adam, batches of 16): the training loss falls all along while the
    validation loss falls, bottoms out and climbs again (the classic U). The full run is
    drawn, and where ``EarlyStopping(patience)`` would have stopped (the first epoch
    ``patience`` epochs past the best validation loss) and the best epoch whose weights it
    restores are marked. ``fig.data``: ``{"train_loss", "val_loss", "best_epoch", "stop_epoch"}``
    (epochs counted from 1)."""
    Xa, Xb, ya, yb = _overfit_data(n, seed)
    backend.manual_seed(seed)
    model = _net(width, 0.0)
    h = fit(model, BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.01), (Xa, ya),
            epochs=epochs, batch_size=16, validation_data=(Xb, yb), verbose=0, seed=seed,
            train_eval=True).history
    tr, va = np.array(h["train_eval_loss"]), np.array(h["val_loss"])
    best = int(np.argmin(va)) + 1
    stop = min(best + patience, epochs)
    fig = new_figure(6.6, 4.3)
    ax = fig.add_subplot()
    e = np.arange(1, epochs + 1)
    ax.plot(e, tr, color=TRAIN_COLOR, label="training loss (eval mode)")
    ax.plot(e, va, color=VAL_COLOR, linestyle="--", label="validation loss")
    ax.axvspan(best, stop, color=PATIENCE_COLOR, alpha=0.2,
               label=f"patience ({patience} epochs without improvement)")
    ax.axvline(stop, color="black", linestyle=":", label=f"early stopping stops (epoch {stop})")
    ax.plot(best, va[best - 1], marker="*", markersize=15, color=BEST_COLOR,
            markeredgecolor="black", linestyle="none",
            label=f"best validation loss (epoch {best}): weights restored")
    ax.set_ylim(0, min(va.max(), 3 * va.min() + 1) * 1.05)
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    ax.set_title(f"Early stopping on a run that overfits ({n} training points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.data.update({"train_loss": tr, "val_loss": va, "best_epoch": best, "stop_epoch": stop})
    return fig


def _draw_network(ax: Any, sizes: list[int], masks: list[np.ndarray], title: str) -> None:
    xs = np.arange(len(sizes))
    pos = [np.linspace(-1, 1, s) if s > 1 else np.zeros(1) for s in sizes]
    for i in range(len(sizes) - 1):
        for a in range(sizes[i]):
            for b in range(sizes[i + 1]):
                alive = (masks[i][a] if 0 < i < len(sizes) - 1 else True) and (
                    masks[i + 1][b] if 0 < i + 1 < len(sizes) - 1 else True)
                ax.plot([xs[i], xs[i + 1]], [pos[i][a], pos[i + 1][b]],
                        color="gray" if alive else "none", linewidth=0.6, zorder=1)
    for i, s in enumerate(sizes):
        for a in range(s):
            on = masks[i][a] if 0 < i < len(sizes) - 1 else True
            ax.plot(xs[i], pos[i][a], marker="o", markersize=13,
                    color=CLASS_COLORS[1] if on else "white", markeredgecolor="black",
                    zorder=2)
            if not on:
                ax.plot(xs[i], pos[i][a], marker="x", markersize=11, color="black", zorder=3)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def dropout_study(n: int = 60, width: int = 128, epochs: int = 200, p: float = 0.5,
                  seed: int = 0) -> LabFigure:
    """Dropout (Srivastava et al., JMLR 2014): each training step zeroes every hidden unit
    with probability ``p`` (and scales the rest by ``1/(1-p)``). Left: the units the real
    ``nn.Dropout`` drops in a small 2-6-6-1 network for two batches (crossed out). Right: the
    same 2-w-w-1 network trained on ``n`` noisy two-moons points with and without dropout
    (same seed, Adam): the gap between validation and training loss (eval mode) is smaller
    with dropout. ``fig.data``: ``{"masks", "gap_without", "gap_with", "histories"}`` (the gaps
    averaged over the last fifth of the epochs)."""
    backend.manual_seed(seed)
    drop = Dropout(p)
    drop.train()
    masks = []
    for _ in range(2):
        with no_grad():
            out = drop(Tensor(np.ones((1, 12)))).numpy()[0]
        masks.append([np.ones(2, bool), out[:6] > 0, out[6:] > 0, np.ones(1, bool)])
    Xa, Xb, ya, yb = _overfit_data(n, seed)
    hist = {}
    for name, rate in (("without dropout", 0.0), (f"dropout p = {p:g}", p)):
        backend.manual_seed(seed)
        model = _net(width, rate)
        hist[name] = fit(model, BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.01),
                         (Xa, ya), epochs=epochs, batch_size=16, validation_data=(Xb, yb),
                         verbose=0, seed=seed, train_eval=True).history
    tail = max(1, epochs // 5)
    gaps = {k: float(np.mean(np.array(h["val_loss"][-tail:])
                             - np.array(h["train_eval_loss"][-tail:]))) for k, h in hist.items()}
    fig = new_figure(13, 4.2)
    axes = fig.subplots(1, 4, width_ratios=[1, 1, 1.6, 1.6])
    for i in range(2):
        _draw_network(axes[i], [2, 6, 6, 1], masks[i], f"batch {i + 1}: dropped units crossed")
    for ax, (name, h) in zip(axes[2:], hist.items(), strict=True):
        e = np.arange(1, epochs + 1)
        ax.plot(e, h["train_eval_loss"], color=TRAIN_COLOR, label="training (eval mode)")
        ax.plot(e, h["val_loss"], color=VAL_COLOR, linestyle="--", label="validation")
        ax.set_title(f"{name}: final gap {gaps[name]:.2f}", fontsize=9)
        ax.set_xlabel("Epoch")
        ax.set_ylim(0, 1.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[2].set_ylabel("Loss")
    fig.suptitle(f"Dropout: random units removed at every step; on {n} noisy points it narrows "
                 "the gap between training and validation loss", fontsize=10)
    names = list(hist)
    fig.data.update({"masks": masks, "gap_without": gaps[names[0]], "gap_with": gaps[names[1]],
                     "histories": hist})
    return fig


def minibatch_study(batch_sizes: tuple[int, ...] = (1, 8, 32, 128), steps: int = 150,
                    lr: float = 0.1, lrs: tuple[float, ...] = tuple(np.geomspace(0.03, 30, 13)),
                    n: int = 256, seed: int = 0) -> LabFigure:
    """Mini-batches: the same 2-16-1 network on two-moons trained with plain SGD for ``steps``
    steps at each batch size ``B`` (gradient ``(1/B) sum_k dJ_k/dW``). Left: the full-data
    loss after every step at learning rate ``lr``; its roughness (the fraction of steps that
    raise the full-data loss) falls as ``B`` grows. Right: the largest learning rate in
    ``lrs`` whose run ends finite and below its start, per batch size: single samples
    (B = 1) tolerate clearly smaller rates than large batches; between middle sizes the
    measured edge is not always ordered (curvature, not noise, sets it there). ``fig.data``:
    ``{"curves", "roughness", "largest_stable"}`` keyed by batch size."""
    from ..data import moons

    X, y = moons(n=n, noise=0.15, seed=seed)
    loss = BCEWithLogitsLoss()
    backend.manual_seed(seed)
    model = Sequential(Dense(2, 16, activation="relu"), Dense(16, 1))
    start = flat_parameters(model)
    rng = np.random.default_rng(seed)
    orders = rng.integers(0, n, size=(steps, max(batch_sizes)))

    def run(b: int, rate: float) -> np.ndarray:
        set_flat(model, start)
        opt = optim.SGD(model.parameters(), lr=rate)
        out = np.full(steps + 1, np.nan)
        with no_grad():
            out[0] = loss_on(model, loss, X, y).item()
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps):
                idx = orders[t, :b]
                opt.zero_grad()
                loss_on(model, loss, X[idx], y[idx]).backward()
                opt.step()
                with no_grad():
                    out[t + 1] = loss_on(model, loss, X, y).item()
                if not np.isfinite(out[t + 1]) or out[t + 1] > 1e3:
                    break
        return out

    curves = {b: run(b, lr) for b in batch_sizes}
    rough = {b: float(np.mean(np.diff(c) > 0)) for b, c in curves.items()}
    stable: dict[int, float] = {}
    for b in batch_sizes:
        ok = [r for r in lrs if (lambda c: np.isfinite(c).all() and c[-1] < c[0])(run(b, r))]
        stable[b] = float(max(ok)) if ok else float("nan")
    set_flat(model, start)
    fig = new_figure(11, 4.2)
    ax, ax2 = fig.subplots(1, 2)
    styles = ["-", "--", "-.", ":"]
    for i, (b, c) in enumerate(curves.items()):
        ax.plot(np.arange(len(c)), c, linestyle=styles[i % 4], linewidth=1.4,
                label=f"B = {b}: {rough[b]:.0%} of steps go up")
    ax.set_xlabel("Step")
    ax.set_ylabel("Full-data training loss")
    ax.set_title(f"Larger batches: smoother descent (SGD, lr = {lr:g})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    bs = list(stable)
    ax2.plot(bs, [stable[b] for b in bs], marker="o", color=BEST_COLOR)
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xticks(bs, [str(b) for b in bs])  # the batch sizes measured, not powers of 2
    ax2.xaxis.set_minor_locator(NullLocator())
    ax2.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax2.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    for b in bs:  # each measured rate written at its point (log ticks are sparse)
        top = stable[b] >= max(lrs)
        ax2.annotate(f"{stable[b]:.3g}" + (" (the largest tried)" if top else ""),
                     (b, stable[b]), textcoords="offset points", xytext=(0, 7), ha="center",
                     fontsize=8)
    ax2.margins(x=0.1, y=0.2)
    ax2.set_xlabel("Batch size B")
    ax2.set_ylabel("Largest stable learning rate")
    ax2.set_title(f"Largest stable learning rate per batch size\n(stable: finite and below "
                  f"the start after {steps} steps; {len(lrs)} rates from {min(lrs):.3g} to "
                  f"{max(lrs):.3g})", fontsize=9)
    ax2.grid(alpha=0.3, which="both")
    fig.data.update({"curves": curves, "roughness": rough, "largest_stable": stable})
    return fig
