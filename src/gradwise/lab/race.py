"""The optimizer race: SGD, momentum, Nesterov, Adagrad, Adadelta, RMSprop and Adam from one
starting point on classic 2D test surfaces, run by the real ``gw.optim`` classes.

The two coordinates are one ``gw.nn.Parameter`` of shape (2,); each step computes the surface
with gradwise ops, calls ``.backward()`` and ``optimizer.step()``, exactly as training does.
Surfaces: Beale (1958), Rosenbrock (1960), the saddle ``x^2 - y^2`` and the ill-conditioned
quadratic ``(x^2 + 25 y^2) / 2``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm

from .. import optim
from ..io import atomic_path
from ..nn import Parameter
from .style import LOSS_CMAP, OPTIMIZER_COLORS, LabFigure, LabGif, new_figure

__all__ = ["SURFACES", "VARIANTS", "Surface", "WindowExit", "make_optimizer", "plot_race",
           "run_race", "save_race_gif", "window_exits"]


@dataclass(frozen=True)
class Surface:
    """A 2D test function ``f(x, y)`` (written with gradwise ops, so it is differentiable and
    also evaluates on NumPy grids), its start, drawing window, minimum and learning rates."""

    name: str
    f: Callable[[Any, Any], Any]
    start: tuple[float, float]
    window: tuple[float, float, float, float]
    minimum: tuple[float, float] | None
    lr: Mapping[str, float]
    steps: int


def _beale(x: Any, y: Any) -> Any:
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2
            + (2.625 - x + x * y**3) ** 2)


def _rosenbrock(x: Any, y: Any) -> Any:
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _saddle(x: Any, y: Any) -> Any:
    return x * x - y * y


def _quadratic(x: Any, y: Any) -> Any:
    return 0.5 * (x * x + 25 * y * y)


SURFACES: dict[str, Surface] = {
    "beale": Surface("Beale", _beale, (1.0, 1.5), (-0.5, 4.0, -1.5, 2.0), (3.0, 0.5),
                     {"SGD": 1e-3, "Momentum": 1e-3, "Nesterov": 1e-3, "Adagrad": 0.5,
                      "Adadelta": 1.0, "RMSprop": 0.01, "Adam": 0.05}, 300),
    "rosenbrock": Surface("Rosenbrock", _rosenbrock, (-1.2, 1.0), (-2.0, 2.0, -1.0, 3.0),
                          (1.0, 1.0),
                          {"SGD": 1e-3, "Momentum": 2e-4, "Nesterov": 2e-4, "Adagrad": 0.5,
                           "Adadelta": 1.0, "RMSprop": 0.01, "Adam": 0.05}, 2000),
    "saddle": Surface("Saddle x² − y²", _saddle, (-1.5, 1e-3), (-2.0, 2.0, -2.0, 2.0), None,
                      {"SGD": 0.02, "Momentum": 0.02, "Nesterov": 0.02, "Adagrad": 0.1,
                       "Adadelta": 1.0, "RMSprop": 0.01, "Adam": 0.02}, 100),
    "quadratic": Surface("Ill-conditioned quadratic (x² + 25y²)/2", _quadratic, (-4.5, 1.2),
                         (-5.0, 5.0, -2.0, 2.0), (0.0, 0.0),
                         {"SGD": 0.07, "Momentum": 0.01, "Nesterov": 0.01, "Adagrad": 1.0,
                          "Adadelta": 1.0, "RMSprop": 0.05, "Adam": 0.1}, 150),
}

#: the race's named variants: a registered optimizer (its name in ``optim.OPTIMIZERS``) and the
#: hyperparameters it races with. Every other registered optimizer races under its own name
#: with its defaults (give it a learning rate: ``lr={name: rate}`` or ``equal_lr``).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "SGD": ("sgd", {}),
    "Momentum": ("sgd", {"momentum": 0.9}),
    "Nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
    "Adagrad": ("adagrad", {}),
    "Adadelta": ("adadelta", {}),
    "RMSprop": ("rmsprop", {}),
    "Adam": ("adam", {}),
}


def _variant(name: str) -> tuple[type, dict[str, Any]]:
    """The optimizer class and hyperparameters of a race entry: a variant of
    :data:`VARIANTS`, or any optimizer registered in ``optim.OPTIMIZERS`` (read now)."""
    if name in VARIANTS:
        registered, hyper = VARIANTS[name]
    elif isinstance(name, str) and name.lower() in optim.OPTIMIZERS:
        registered, hyper = name.lower(), {}
    else:
        raise ValueError(f"unknown optimizer {name!r}; choose from {list(VARIANTS)} or "
                         f"{list(optim.OPTIMIZERS)}")
    try:
        return optim.OPTIMIZERS[registered], hyper
    except KeyError:
        raise ValueError(f"race variant {name!r}: optimizer {registered!r} is not registered "
                         "in optim.OPTIMIZERS") from None


def _surface(surface: str | Surface) -> Surface:
    if isinstance(surface, Surface):
        return surface
    try:
        return SURFACES[surface]
    except KeyError:
        raise ValueError(f"unknown surface {surface!r}; choose one of {sorted(SURFACES)}") from None


def make_optimizer(name: str, params: Sequence[Parameter], lr: float) -> Any:
    """The race's optimizer ``name`` (a variant of :data:`VARIANTS`: "SGD", "Momentum",
    "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam"; or any name in ``optim.OPTIMIZERS``)
    over ``params`` with learning rate ``lr`` and its other defaults."""
    cls, hyper = _variant(name)
    return cls(list(params), lr=lr, **hyper)


def run_race(surface: str | Surface, steps: int | None = None,
             optimizers: Sequence[str] | None = None, start: tuple[float, float] | None = None,
             lr: Mapping[str, float] | None = None,
             equal_lr: float | None = None) -> dict[str, np.ndarray]:
    """Run each optimizer for ``steps`` steps (default: the surface's) from ``start`` (default:
    the surface's) on ``surface``, with the surface's learning rates updated by ``lr`` (or, with
    ``equal_lr``, one learning rate for all, so that only the update rules differ). The
    optimizers default to :data:`VARIANTS`; any registered optimizer may race (a name in
    ``optim.OPTIMIZERS`` without a tuned rate needs one in ``lr`` or ``equal_lr``); returns
    ``{name: points}`` with points of shape (steps + 1, 2), row 0 the start. A run that leaves
    the finite numbers stops, and its remaining rows are NaN."""
    s = _surface(surface)
    rates = race_rates(s, lr, equal_lr)
    start = s.start if start is None else start
    steps = s.steps if steps is None else steps
    out = {}
    names = list(optimizers or VARIANTS)
    for name in names:
        _variant(name)
        if name not in rates and equal_lr is None:
            raise ValueError(f"no learning rate for {name!r} on the {s.name} surface: give "
                             f"lr={{{name!r}: rate}} (--lr {name}=RATE) or equal_lr")
    for name in names:
        p = Parameter(np.array(start, dtype=np.float64), dtype=np.float64)
        rate = rates[name] if equal_lr is None else float(equal_lr)
        opt = make_optimizer(name, [p], rate)
        path = np.full((steps + 1, 2), np.nan)
        path[0] = start
        for t in range(1, steps + 1):
            opt.zero_grad()
            loss = s.f(p[0], p[1])
            loss.backward()
            opt.step()
            if not np.isfinite(p.data).all() or np.abs(p.data).max() > 1e6:
                break
            path[t] = p.data
        out[name] = path
    return out


def race_rates(surface: str | Surface, lr: Mapping[str, float] | None = None,
               equal_lr: float | None = None) -> dict[str, float]:
    """The learning rate of each optimizer in a race: the surface's tuned rates updated by
    ``lr``, or ``equal_lr`` for every optimizer."""
    s = _surface(surface)
    if equal_lr is not None:
        if not equal_lr > 0:
            raise ValueError(f"equal_lr must be positive, got {equal_lr!r}")
        return dict.fromkeys(s.lr, float(equal_lr))
    return dict(s.lr) | dict(lr or {})


@dataclass(frozen=True)
class WindowExit:
    """Where a trajectory first leaves the drawing window: ``step`` is the first iteration whose
    point lies outside the window (or, for a run that stopped on non-finite numbers, the first
    step it has no point for), ``point`` where the straight segment from the last point inside
    to that one crosses the window's border (for a stopped run, the last point inside), and
    ``stopped`` whether the run stopped there (left the finite numbers)."""

    step: int
    point: tuple[float, float]
    stopped: bool = False


def window_exits(paths: Mapping[str, np.ndarray],
                 surface: str | Surface) -> dict[str, WindowExit | None]:
    """For each optimizer, where its path first leaves the surface's window ``(x0, x1, y0, y1)``
    (inside: ``x0 <= x <= x1`` and ``y0 <= y <= y1``), or None when it stays inside for every
    step. The crossing of the segment ``p -> q`` (``p`` inside, ``q`` outside) is
    ``p + s (q - p)`` with ``s`` the smallest of ``(edge - p_i) / (q_i - p_i)`` over the edges
    that ``q`` is beyond. These are the marks :func:`plot_race` and :func:`save_race_gif` draw."""
    x0, x1, y0, y1 = _surface(surface).window
    lo, hi = np.array([x0, y0]), np.array([x1, y1])
    out: dict[str, WindowExit | None] = {}
    for name, pts in paths.items():
        pts = np.asarray(pts, dtype=np.float64)
        finite = np.isfinite(pts).all(axis=1)
        inside = finite & (pts >= lo).all(axis=1) & (pts <= hi).all(axis=1)
        if inside.all():
            out[name] = None
            continue
        t = int(np.argmin(inside))
        if t == 0:
            first = np.clip(pts[0], lo, hi) if finite[0] else lo
            out[name] = WindowExit(0, (float(first[0]), float(first[1])), not finite[0])
            continue
        p, q = pts[t - 1], pts[t]
        if not finite[t]:
            out[name] = WindowExit(t, (float(p[0]), float(p[1])), True)
            continue
        d = q - p
        fractions = [((hi if q[i] > hi[i] else lo)[i] - p[i]) / d[i]
                     for i in range(2) if q[i] > hi[i] or q[i] < lo[i]]
        cross = np.clip(p + min(fractions) * d, lo, hi)
        out[name] = WindowExit(t, (float(cross[0]), float(cross[1])))
    return out


def _exit_note(ex: WindowExit) -> str:
    return f"{'diverged' if ex.stopped else 'left the window'} at step {ex.step}"


def _draw_exit(ax: Any, name: str, ex: WindowExit, visible: bool = True) -> Any:
    """An 'X' in the optimizer's colour on the border where it left (drawn over the border,
    not clipped); the legend says at which step (a note beside each 'X' would pile up where
    several leave close together, as on the saddle)."""
    (mark,) = ax.plot([ex.point[0]], [ex.point[1]], marker="X",
                      color=OPTIMIZER_COLORS.get(name), markersize=15, markeredgecolor="black",
                      markeredgewidth=1.2, linestyle="none", clip_on=False, zorder=8,
                      visible=visible, gid=f"window-exit:{name}")
    return mark


def _rate_note(s: Surface, rates: Mapping[str, float], paths: Mapping[str, Any]) -> str:
    """What the learning rates of the optimizers drawn are: one for all, each the surface's
    tuned rate, or (some changed by the caller) as the legend gives them."""
    shown = {name: rates[name] for name in paths if name in rates}
    if len(set(shown.values())) == 1:
        return "one learning rate for all"
    if all(s.lr.get(name) == r for name, r in shown.items()):
        return "each its own tuned rate"
    return "learning rates as in the legend"


def _point(line: Any) -> tuple[float, float]:
    """The (first) point a one-point line artist draws."""
    x, y = np.asarray(line.get_xdata(), dtype=np.float64), np.asarray(line.get_ydata(),
                                                                        dtype=np.float64)
    return float(x[0]), float(y[0])


LINE_STYLES = {"SGD": ("-", "o"), "Momentum": ("--", "s"), "Nesterov": (":", "^"),
               "Adagrad": ("-.", "D"), "Adadelta": ("-", "v"), "RMSprop": ("--", "P"),
               "Adam": (":", "X")}
"""Line style and marker of each optimizer, so that paths on top of each other stay visible."""


def _values(s: Surface, pts: np.ndarray) -> np.ndarray:
    return np.asarray(s.f(pts[..., 0], pts[..., 1]), dtype=np.float64)


def _draw_contours(ax: Any, s: Surface) -> Any:
    x0, x1, y0, y1 = s.window
    xx, yy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    zz = _values(s, np.stack([xx, yy], axis=-1))
    if zz.min() > 0:
        lo = max(zz.min(), 1e-3)
        filled = ax.contourf(xx, yy, zz, levels=np.geomspace(lo, zz.max(), 30), cmap=LOSS_CMAP,
                             norm=LogNorm(lo, zz.max()), alpha=0.6)
        ax.contour(xx, yy, zz, levels=np.geomspace(lo, zz.max(), 15), colors="k",
                   linewidths=0.3, alpha=0.5)
    else:
        filled = ax.contourf(xx, yy, zz, levels=30, cmap=LOSS_CMAP, alpha=0.6)
        ax.contour(xx, yy, zz, levels=15, colors="k", linewidths=0.3, alpha=0.5)
    if s.minimum is not None:
        ax.plot(*s.minimum, marker="*", color="#ffd700", markersize=16, markeredgecolor="k",
                linestyle="none", label="minimum", zorder=5)
    ax.plot(*s.start, marker="o", color="white", markersize=8, markeredgecolor="k",
            linestyle="none", label="start", zorder=5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return filled


def plot_race(paths: Mapping[str, np.ndarray], surface: str | Surface,
              lr: Mapping[str, float] | None = None, equal_lr: float | None = None) -> LabFigure:
    """Trajectories over the contours of the surface (left) and the value of the surface
    along each trajectory per iteration (right). Each optimizer has its own colour, line style
    and marker, and the legend gives its learning rate (``lr``/``equal_lr`` as passed to
    :func:`run_race`). A path that leaves the window gets an 'X' in its colour where it crosses
    the border, a note and "left the window at step t" in the legend (see
    :func:`window_exits`). ``fig.data``: ``{"paths", "values"`` (per optimizer: the points and
    the surface's value drawn), ``"rates"`` (the learning rates in the legend), ``"exits"``
    (:func:`window_exits`), ``"exit_marks"`` (optimizer: (x, y) of each 'X' drawn),
    ``"labels"`` (the legend's labels)``}``."""
    rates = race_rates(surface, lr, equal_lr)
    s = _surface(surface)
    fig = new_figure(13, 5.2)
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.25, 1])
    filled = _draw_contours(ax, s)
    positive = filled.levels.min() > 0
    cbar = fig.colorbar(filled, ax=ax, label="f(x, y)" + (" (log scale)" if positive else ""),
                        format="%.3g")
    cbar.ax.yaxis.set_label_position("left")  # apart from the right panel's own y label
    values = {name: _values(s, pts) for name, pts in paths.items()}
    exits = window_exits(paths, s)
    exit_marks: dict[str, tuple[float, float]] = {}
    for i, (name, pts) in enumerate(paths.items()):
        color = OPTIMIZER_COLORS.get(name)
        style, marker = LINE_STYLES.get(name, ("-", "o"))
        width = 3.5 - 2.0 * i / max(len(paths) - 1, 1)  # earlier lines wider: overlaps show
        label = f"{name} (lr {rates[name]:g})" if name in rates else name
        ex = exits[name]
        if ex is not None:
            label += f", {_exit_note(ex)}"
            mark = _draw_exit(ax, name, ex)
            exit_marks[name] = _point(mark)
        every = max(1, len(pts) // 12)
        ax.plot(pts[:, 0], pts[:, 1], color=color, linewidth=width, linestyle=style,
                marker=marker, markevery=(i % every, every), markersize=6,
                markeredgecolor="black", label=label, zorder=4 + (len(paths) - i) * 0.01)
        ax2.plot(np.arange(len(pts)), values[name], color=color, linewidth=width,
                 linestyle=style, label=label)
    ax.legend(fontsize=8, loc="best", framealpha=0.9)
    ax.set_title(f"{s.name}:\ntrajectories from the same start ({_rate_note(s, rates, paths)})",
                 pad=12 if any(exits.values()) else None)
    vals = np.concatenate(list(values.values()))
    if np.nanmin(vals) > 0:
        ax2.set_yscale("log")
        ax2.set_ylim(bottom=max(np.nanmin(vals), 1e-12))
        scale = " (log scale)"
    else:
        ax2.set_yscale("symlog", linthresh=1.0)
        scale = " (symmetric log scale)"
    ax2.set_xlabel("Iteration")
    ax2.set_ylabel("f(x, y)" + scale)
    ax2.set_title("Value of the surface per iteration")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.data.update({"paths": dict(paths), "values": values, "rates": rates, "exits": exits,
                     "exit_marks": exit_marks,
                     "labels": ax.get_legend_handles_labels()[1]})
    return fig


def save_race_gif(paths: Mapping[str, np.ndarray], surface: str | Surface,
                  path: str | os.PathLike, frames: int = 60, fps: int = 12,
                  lr: Mapping[str, float] | None = None, equal_lr: float | None = None
                  ) -> LabGif:
    """Save the race as an animated GIF, "iteration 0, 1, 2, ...", each optimizer a ball with
    its trail (matplotlib's ``FuncAnimation`` with ``PillowWriter``), a colour bar of the
    surface, each optimizer's learning rate in the legend, and a note in the title on the
    first frame that all balls start at one point (they overlap there). From the step a ball
    leaves the window on (:func:`window_exits`), an 'X' in its colour marks where it crossed
    the border and its legend entry says so; written atomically. Each of the returned
    :class:`~gradwise.lab.style.LabGif`'s ``frames`` is read back from that frame's artists:
    ``{"step", "balls": {name: (x, y)}, "exit_marks": {name: (x, y)}`` (the visible 'X's only),
    ``"legend": [texts], "title"}``."""
    rates = race_rates(surface, lr, equal_lr)
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    s = _surface(surface)
    n = len(next(iter(paths.values())))
    ticks = np.unique(np.linspace(0, n - 1, max(2, frames)).round().astype(int))
    fig = new_figure(6.4, 5.2, dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    filled = _draw_contours(ax, s)
    positive = filled.levels.min() > 0
    cbar = fig.colorbar(filled, ax=ax, label="f(x, y)" + (" (log scale)" if positive else ""),
                        format="%.3g")
    cbar.ax.yaxis.set_label_position("left")
    trails, balls = {}, {}
    for name in paths:
        color = OPTIMIZER_COLORS.get(name)
        style, _ = LINE_STYLES.get(name, ("-", "o"))
        label = f"{name} (lr {rates[name]:g})" if name in rates else name
        (trails[name],) = ax.plot([], [], color=color, linewidth=2, linestyle=style,
                                  label=label, zorder=4)
        (balls[name],) = ax.plot([], [], marker="o", color=color, markersize=9,
                                 markeredgecolor="k", linestyle="none", zorder=6)
    exits = window_exits(paths, s)
    marks = {name: _draw_exit(ax, name, ex) for name, ex in exits.items() if ex is not None}
    legend = ax.legend(fontsize=7, loc="best", framealpha=0.9)
    by_label = {text.get_text(): text for text in legend.get_texts()}
    entries = {name: by_label[str(trails[name].get_label())] for name in paths}
    plain = {name: text.get_text() for name, text in entries.items()}
    title = ax.set_title("", pad=12 if marks else None)
    mode = _rate_note(s, rates, paths)
    drawn: dict[int, dict[str, Any]] = {}

    def draw(t: int) -> list[Any]:
        for name, pts in paths.items():
            trails[name].set_data(pts[:t + 1, 0], pts[:t + 1, 1])
            last = pts[:t + 1][np.isfinite(pts[:t + 1, 0])][-1]
            balls[name].set_data([last[0]], [last[1]])
            ex = exits[name]
            if ex is not None:
                gone = t >= ex.step
                marks[name].set_visible(gone)
                entries[name].set_text(plain[name] + (f", {_exit_note(ex)}" if gone else ""))
        title.set_text(f"{s.name}: iteration {t}\n" + (
            "(all start at the white dot, on top of each other)" if t == 0 else f"({mode})"))
        drawn[int(t)] = {  # what this frame shows, read back from its artists
            "step": int(t),
            "balls": {name: _point(b) for name, b in balls.items()},
            "exit_marks": {name: _point(m) for name, m in marks.items() if m.get_visible()},
            "legend": [text.get_text() for text in legend.get_texts()],
            "title": title.get_text()}
        return [*trails.values(), *balls.values(), title]  # marks and legend: blit is off

    # Lay out once, not on every frame, for the widest legend (the last frame: every exit
    # noted) and the longest title; then pin the legend where "best" put it, so it does not
    # jump from frame to frame as the balls move.
    draw(int(ticks[-1]))
    title.set_text(f"{s.name}: iteration {n - 1}\n"
                   "(all start at the white dot, on top of each other)")
    fig.canvas.draw()
    fig.set_layout_engine("none")
    box = legend.get_window_extent().transformed(ax.transAxes.inverted())
    legend.set_loc("lower left")
    legend.borderaxespad = 0.0
    legend.set_bbox_to_anchor((box.x0, box.y0), transform=ax.transAxes)

    target = Path(path)
    with atomic_path(target) as tmp:
        FuncAnimation(fig, draw, frames=ticks, blit=False).save(tmp, writer=PillowWriter(fps=fps))
    return LabGif(target, [drawn[int(t)] for t in ticks])
