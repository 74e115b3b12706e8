"""Learning rates: the same model, initialization and mini-batches trained at several learning
rates (too small, stable, diverging), and the learning-rate range test of Smith ("Cyclical
Learning Rates for Training Neural Networks", WACV 2017)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import optim
from ..autograd import no_grad
from ..errors import ConfigError
from ..nn import Module
from ..nn.utils import flat_parameters, set_flat
from ._model import loss_on
from .style import BEST_COLOR, TRAIN_COLOR, VAL_COLOR, LabFigure, new_figure

__all__ = ["LRRangeTest", "choose_learning_rates", "classify_curves", "compare_learning_rates",
           "lr_range_test", "plot_lr_comparison", "plot_lr_range_test", "suggest_lr"]


def _batches(n: int, batch_size: int, epochs: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [idx for _ in range(epochs) for idx in np.array_split(
        rng.permutation(n), max(1, -(-n // batch_size)))]


def compare_learning_rates(model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
                           lrs: Sequence[float] = (0.01, 1.0, 10.0), epochs: int = 50,
                           batch_size: int = 32, optimizer: str = "sgd",
                           seed: int = 0) -> dict[float, np.ndarray]:
    """Train from the model's current weights once per learning rate, with the same shuffled
    mini-batches, and return ``{lr: loss}`` with the full-data training loss before training
    and after each epoch (shape (epochs + 1,); NaN after a run diverges). The model's weights
    are restored afterwards. Dropout is off (eval mode), so only the learning rate differs."""
    start = flat_parameters(model)
    was_training = model.training
    model.eval()
    n_batches = max(1, -(-len(X) // batch_size))
    batches = _batches(len(X), batch_size, epochs, seed)
    curves = {}
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            for lr in lrs:
                set_flat(model, start)
                opt = optim.get(optimizer, model.parameters(), lr=lr)
                curve = np.full(epochs + 1, np.nan)
                with no_grad():
                    curve[0] = loss_on(model, loss, X, y).item()
                for i, idx in enumerate(batches):
                    opt.zero_grad()
                    loss_on(model, loss, X[idx], y[idx]).backward()
                    opt.step()
                    if (i + 1) % n_batches == 0:
                        with no_grad():
                            value = loss_on(model, loss, X, y).item()
                        if not np.isfinite(value) or value > 1e6 * max(curve[0], 1e-12):
                            break
                        curve[(i + 1) // n_batches] = value
                curves[float(lr)] = curve
        finally:
            set_flat(model, start)
            model.train(was_training)
    return curves


def classify_curves(curves: dict[float, np.ndarray]) -> dict[float, str]:
    """What each learning rate's loss curve (loss before training and after each epoch) does,
    measured on the curves themselves:

    - ``"too large: diverges"``: the loss leaves the finite numbers or ends above 2x its start
      (it grows without bound);
    - ``"too large: oscillates"``: it does not blow up but does not settle either: it rises in
      at least a quarter of the epochs and ends above 80% of its start;
    - ``"too small: barely moves"``: it gains less than 20% of the best run's decrease;
    - ``"good: converges"``: it gains at least 80% of the best decrease, never rises above its
      start, and its last quarter changes by less than 10% of that decrease;
    - ``"slow"``: anything in between."""
    gains, out = {}, {}
    for lr, c in curves.items():
        c = np.asarray(c, dtype=np.float64)
        fin = c[np.isfinite(c)]
        if not np.isfinite(c).all() or fin[-1] > 2 * c[0]:
            out[lr] = "too large: diverges"
            continue
        rises = int((np.diff(c) > 0).sum())
        if rises >= 0.25 * (len(c) - 1) and c[-1] > 0.8 * c[0]:
            out[lr] = "too large: oscillates"
            continue
        gains[lr] = c[0] - c[-1]
    best = max(gains.values(), default=0.0)
    for lr, g in gains.items():
        c = np.asarray(curves[lr], dtype=np.float64)
        tail = c[-max(2, len(c) // 4):]
        if g < 0.2 * best:
            out[lr] = "too small: barely moves"
        elif g >= 0.8 * best and np.ptp(tail) < 0.1 * best and c[1:].max() <= c[0]:
            out[lr] = "good: converges"
        else:
            out[lr] = "slow"
    return {lr: out[lr] for lr in curves}


def choose_learning_rates(model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
                          candidates: Sequence[float] = tuple(np.geomspace(1e-4, 1e2, 13)),
                          epochs: int = 30, batch_size: int = 32, optimizer: str = "sgd",
                          seed: int = 0) -> dict[float, np.ndarray]:
    """Pick three learning rates by measurement, so each panel of :func:`plot_lr_comparison`
    shows what its title says: train at every candidate (:func:`compare_learning_rates`),
    classify the curves (:func:`classify_curves`) and return ``{lr: curve}`` for the largest
    rate that is too small, the good rate with the lowest final loss, and the smallest rate
    that is too large. Raises ValueError naming the verdicts when one kind is missing."""
    curves = compare_learning_rates(model, loss, X, y, lrs=candidates, epochs=epochs,
                                    batch_size=batch_size, optimizer=optimizer, seed=seed)
    verdicts = classify_curves(curves)
    small = [lr for lr, v in verdicts.items() if v.startswith("too small")]
    good = [lr for lr, v in verdicts.items() if v.startswith("good")]
    large = [lr for lr, v in verdicts.items() if v.startswith("too large")]
    if not (small and good and large):
        found = {f"{lr:g}": v for lr, v in verdicts.items()}
        raise ValueError(f"choose_learning_rates: the candidates need a too-small, a good and a "
                         f"too-large rate; measured {found}")
    best = min(good, key=lambda lr: curves[lr][-1])
    return {lr: curves[lr] for lr in (max(small), best, min(large))}


def plot_lr_comparison(curves: dict[float, np.ndarray],
                       title: str = "One model, one initialization, one batch order: "
                                    "three learning rates, chosen by measurement") -> LabFigure:
    """One panel per learning rate with its training loss per epoch, titled with its measured
    verdict (:func:`classify_curves`), on a shared y-axis. ``fig.data``: ``{"curves":
    {lr: losses drawn}, "verdicts": {lr: panel's verdict}, "left_finite": {lr: first epoch
    with a non-finite loss, or None}, "y_max": the top of the shared loss axis}``. When one
    curve spikes above 4 times the starting loss the axis stops at 3 times it and the points
    above are marked at its top edge with their largest value, so the other curves stay
    readable."""
    verdicts = classify_curves(curves)
    colors = {"too small: barely moves": VAL_COLOR, "good: converges": BEST_COLOR,
              "too large: diverges": "#cc79a7", "too large: oscillates": "#cc79a7",
              "slow": "gray"}
    fig = new_figure(4.2 * len(curves), 3.9)
    axes = fig.subplots(1, len(curves), sharey=True, squeeze=False)[0]
    finite = np.concatenate([c[np.isfinite(c)] for c in curves.values()])
    left: dict[float, int | None] = dict.fromkeys(curves)
    for ax, (lr, c) in zip(axes, curves.items(), strict=True):
        ax.plot(np.arange(len(c)), c, color=colors[verdicts[lr]], marker=".", linewidth=2)
        if not np.isfinite(c[-1]):
            k = int(np.isfinite(c).sum())
            left[lr] = k
            ax.axvline(k - 0.5, color="#cc79a7", linestyle=":",
                       label="loss left the finite numbers")
            ax.legend(fontsize=8)
        ax.set_title(f"lr = {lr:.3g}: {verdicts[lr]}", color=colors[verdicts[lr]])
        ax.set_xlabel("Epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Training loss")
    top = max(finite.max(), finite[0]) * 1.1
    start = max(float(c[0]) for c in curves.values())  # one initialization: one start
    if top > 4 * start:  # one spike would flatten every other curve: cut the axis, say so
        top = 3 * start
        for ax, c in zip(axes, curves.values(), strict=True):
            off = np.flatnonzero(np.isfinite(c) & (c > top))
            if len(off):
                ax.plot(off, np.full(len(off), top), marker="^", color="#cc79a7",
                        linestyle="none", clip_on=False, zorder=5,
                        label=f"off the scale (up to {np.nanmax(c[off]):.3g})")
                ax.legend(fontsize=8, loc="upper right")
    axes[0].set_ylim(0, top)
    fig.suptitle(title)
    fig.data.update({"curves": dict(curves), "verdicts": verdicts, "left_finite": left,
                     "y_max": float(top)})
    return fig


def _local_slopes(x: np.ndarray, y: np.ndarray, half: int) -> np.ndarray:
    """Least-squares slope of ``y`` against ``x`` in a window of ``2 half + 1`` points."""
    out = np.empty(len(x))
    for i in range(len(x)):
        sl = slice(max(0, i - half), min(len(x), i + half + 1))
        xs, ys = x[sl] - x[sl].mean(), y[sl] - y[sl].mean()
        out[i] = (xs * ys).sum() / max((xs * xs).sum(), 1e-300)
    return out


RULES = ("minimum/10", "steepest")


def suggest_lr(lrs: np.ndarray, losses: np.ndarray, rule: str = "minimum/10",
               skip_start: float = 0.1, window: float = 0.1) -> float:
    """A learning rate read off a (smoothed) range-test curve.

    ``rule="minimum/10"`` (default): one tenth of the rate at the loss minimum, ``lr* =
    argmin_lr L(lr) / 10``. Past the minimum the loss blows up, so the minimum marks the edge
    of stability, and a tenth of it trains fast with a margin (Smith 2017, sec. 3.3 reads the
    upper bound where the loss stops falling; fastai's ``lr_find`` suggests the minimum / 10,
    Howard and Gugger, "Fastai: A Layered API for Deep Learning", Information 2020).

    ``rule="steepest"``: the rate where the loss falls fastest per unit of ``log(lr)`` (each
    slope a least-squares fit over a ``window`` fraction of the points, searched from the
    ``skip_start`` fraction to the minimum). Kept for comparison: on a loss with a long plateau
    (the spiral) the steepest point sits at the first small dip, far too low to train well.
    """
    if rule not in RULES:
        raise ValueError(f"suggest_lr: rule must be one of {RULES}, got {rule!r}")
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(losses)
    lrs, losses = lrs[finite], losses[finite]
    if len(lrs) < 3:
        raise ConfigError(f"suggest_lr needs at least 3 finite losses, got {len(lrs)}: the "
                          "loss diverged at once; lower --max-lr or --min-lr")
    if rule == "minimum/10":
        return float(max(lrs[int(np.argmin(losses))] / 10, lrs[0]))
    slope = _local_slopes(np.log(lrs), losses, max(1, int(len(lrs) * window / 2)))
    start = min(int(len(lrs) * skip_start), len(lrs) - 2)
    stop = max(int(np.argmin(losses)), start + 1) + 1
    return float(lrs[start + int(np.argmin(slope[start:stop]))])


@dataclass
class LRRangeTest:
    """The result of :func:`lr_range_test`: learning rates tried, the raw and smoothed
    mini-batch losses, the rate at the smoothed minimum, the suggested learning rate and the
    rule that chose it (see :func:`suggest_lr`)."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    minimum: float = float("nan")
    rule: str = "minimum/10"


def lr_range_test(model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
                  optimizer: str = "sgd", min_lr: float = 1e-6, max_lr: float = 10.0,
                  steps: int = 300, batch_size: int = 32, seed: int = 0, beta: float = 0.98,
                  diverge: float = 4.0, smooth: float = 0.1, rule: str = "minimum/10",
                  **hyper: float) -> LRRangeTest:
    """Smith's range test: one mini-batch step per learning rate, the rate growing
    geometrically from ``min_lr`` to ``max_lr`` over ``steps`` steps (``lr_t = min_lr
    (max_lr / min_lr)^(t / (steps - 1))``), recording each batch's loss; stops once a
    bias-corrected exponential moving average of the loss (``beta``) exceeds ``diverge`` times
    its best. The recorded curve is smoothed with a centred moving average over a ``smooth``
    fraction of the steps (centred, so it does not lag behind the learning rate as a running
    average would), and the suggestion is :func:`suggest_lr` of it with ``rule``.

    300 steps (about 12 epochs of the default spiral) let the loss settle at each decade of
    rates; many more let the small rates train the network before the large ones are
    reached, which moves the minimum (and the suggestion) down. The model's weights are
    restored afterwards."""
    if not 0 < min_lr < max_lr:
        raise ValueError(f"need 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if steps < 10:
        raise ValueError(f"lr_range_test: steps must be at least 10, got {steps}")
    start = flat_parameters(model)
    lrs = np.geomspace(min_lr, max_lr, steps)
    batches = _batches(len(X), batch_size, -(-steps * batch_size // len(X)), seed)
    opt = optim.get(optimizer, model.parameters(), lr=min_lr, **hyper)
    was_training = model.training
    raw: list[float] = []
    avg, best = 0.0, np.inf
    try:
        for t, lr in enumerate(lrs):
            for group in opt.param_groups:
                group["lr"] = float(lr)
            opt.zero_grad()
            idx = batches[t]
            value = loss_on(model, loss, X[idx], y[idx])
            value.backward()
            opt.step()
            raw.append(value.item())
            avg = beta * avg + (1 - beta) * raw[-1]
            running = avg / (1 - beta ** (t + 1))
            best = min(best, running)
            if not np.isfinite(running) or running > diverge * best:
                break
    finally:
        set_flat(model, start)
        model.train(was_training)
    n = len(raw)
    smoothed = _centred_mean(np.array(raw), max(1, int(smooth * steps / 2)))
    finite = np.isfinite(smoothed)
    minimum = float(lrs[:n][finite][int(np.argmin(smoothed[finite]))]) if finite.any() \
        else float("nan")
    return LRRangeTest(lrs[:n], np.array(raw), smoothed,
                       suggest_lr(lrs[:n], smoothed, rule=rule), minimum, rule)


def _centred_mean(values: np.ndarray, half: int) -> np.ndarray:
    """Mean over the window ``[i - half, i + half]`` (shrunk at the ends) of each point."""
    c = np.concatenate([[0.0], np.cumsum(values)])
    i = np.arange(len(values))
    lo, hi = np.maximum(i - half, 0), np.minimum(i + half + 1, len(values))
    return (c[hi] - c[lo]) / (hi - lo)


def plot_lr_range_test(result: LRRangeTest,
                       title: str = "Learning-rate range test (Smith 2017)",
                       current_lr: float | None = None) -> LabFigure:
    """Mini-batch loss against the learning rate (log scale), raw and smoothed, with the
    smoothed minimum, the suggested learning rate and (``current_lr``) the rate the config
    uses now marked. ``fig.data``: ``{"lrs", "losses", "smoothed"`` (the curves drawn),
    ``"minimum", "suggestion", "current_lr"`` (the rates marked; ``minimum`` None when not
    finite)``}``."""
    fig = new_figure(6.8, 5.2)
    ax = fig.add_subplot()
    ax.plot(result.lrs, result.losses, color=TRAIN_COLOR, alpha=0.3, label="mini-batch loss")
    ax.plot(result.lrs, result.smoothed, color=TRAIN_COLOR, linewidth=2,
            label="smoothed loss (centred moving mean)")

    def at(lr: float) -> float:
        return float(result.smoothed[int(np.argmin(np.abs(np.log(result.lrs / lr))))])

    if np.isfinite(result.minimum):
        ax.plot(result.minimum, at(result.minimum), marker="v", color="black", markersize=8,
                linestyle="none", label=f"smoothed minimum at lr = {result.minimum:.2g}")
    why = "minimum / 10" if result.rule == "minimum/10" else "loss falls fastest"
    ax.axvline(result.suggestion, color=BEST_COLOR, linestyle="--")
    ax.plot(result.suggestion, at(result.suggestion), marker="o", color=BEST_COLOR,
            markersize=9, markeredgecolor="black", linestyle="none",
            label=f"suggested lr = {result.suggestion:.2g} ({why})")
    if current_lr is not None:
        ax.axvline(current_lr, color="dimgray", linestyle=":", linewidth=2,
                   label=f"config's current lr = {current_lr:.2g}")
    ax.set_xscale("log")
    finite = result.smoothed[np.isfinite(result.smoothed)]
    lo = finite.min()
    hi = finite[:int(np.argmin(finite)) + 1].max()  # the part before the blow-up
    pad = 0.15 * (hi - lo) + 1e-12
    ax.set_ylim(lo - pad, hi + 3 * pad)
    ax.set_xlim(result.lrs[0], result.lrs[-1])
    ax.set_xlabel("Learning rate (log scale), growing every mini-batch")
    ax.set_ylabel("Training loss (mini-batch)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    fig.legend(fontsize=8, loc="outside lower center", ncols=2)  # below: never over the curve
    fig.data.update({"lrs": result.lrs, "losses": result.losses, "smoothed": result.smoothed,
                     "minimum": float(result.minimum) if np.isfinite(result.minimum) else None,
                     "suggestion": float(result.suggestion), "current_lr": current_lr})
    return fig
