"""Training curves: loss and metrics per epoch from a ``History``, early stopping marked on them,
and the under-/overfitting picture of validation loss against model capacity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..autograd import no_grad
from .style import BEST_COLOR, PATIENCE_COLOR, TRAIN_COLOR, VAL_COLOR, LabFigure, new_figure

__all__ = ["capacity_study", "plot_capacity", "plot_history"]


def _as_dict(history: Any) -> dict[str, list[float]]:
    data = getattr(history, "history", history)
    if not isinstance(data, Mapping):
        raise TypeError(
            f"plot_history takes a History or a dict of lists, got {type(history).__name__}"
        )
    return {k: [float(v) for v in vals] for k, vals in data.items()}


def _pretty(name: str) -> str:
    return {"loss": "Loss", "acc": "Accuracy", "accuracy": "Accuracy", "lr": "Learning rate",
            "mae": "Mean absolute error", "mse": "Mean squared error"}.get(name, name)


def _mark_early_stopping(ax: Any, es: Any, n_epochs: int, legend: bool) -> int | None:
    best = getattr(es, "best_epoch", None)
    if best is None:
        return None
    best1 = int(best) + 1
    patience = int(getattr(es, "patience", 0))
    last = min(best1 + patience, n_epochs)
    if last > best1:
        ax.axvspan(best1, last, color=PATIENCE_COLOR, alpha=0.18,
                   label=f"patience window ({patience} epochs)" if legend else None)
    ax.axvline(best1, color=BEST_COLOR, linestyle="--", linewidth=1.5,
               label=f"best epoch ({best1})" if legend else None)
    return best1


def plot_history(history: Any, early_stopping: Any = None,
                 title: str = "Training curves", diverged_at: int | None = None) -> LabFigure:
    """Train (solid) and validation (dashed) curves of every recorded quantity, one panel each,
    against the epoch (counted from 1); the learning rate gets a panel when it changes. When
    the history has ``train_eval_*`` (``fit(..., train_eval=True)``), the training set's value
    in eval mode at the end of each epoch is drawn dotted on the same panel, and each curve's
    label says what it is (the solid curve is the running mean of dropout-on batches).

    With an ``EarlyStopping`` (Keras semantics: ``best_epoch`` 0-based), the best epoch is a
    green dashed line, the ``patience`` epochs after it are shaded, and when
    ``restore_best_weights`` is set a star marks the monitored value that the restored weights
    reproduce. One legend below the panels names every curve and mark.

    ``diverged_at`` (an epoch counted from 1) marks a run whose loss became non-finite there:
    a red line labelled "diverged", and no early-stopping marks (nothing was restored).

    ``fig.data``: ``{"panels": [quantity per panel], "curves": {history key: values drawn},
    "best_epoch": the epoch marked best (from 1) or None, "restored": (epoch, value) of the
    star or None, "diverged_at": the epoch marked diverged or None, "labels": {panel: legend
    labels}}``.
    """
    if diverged_at is not None:
        early_stopping = None
    h = _as_dict(history)
    names = [k for k in h if not k.startswith(("val_", "train_eval_")) and k != "lr"]
    names += [k[4:] for k in h if k.startswith("val_") and k[4:] not in h]
    lr = h.get("lr")
    show_lr = lr is not None and len(set(lr)) > 1
    if not names and not show_lr:
        raise ValueError(f"history has nothing to plot: keys {sorted(h)}")
    panels = names + (["lr"] if show_lr else [])
    fig = new_figure(4.6 * len(panels), 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    monitor = getattr(early_stopping, "monitor", "val_loss")
    drawn: dict[str, list[float]] = {}
    marked: int | None = None
    restored: tuple[int, float] | None = None
    for i, (ax, name) in enumerate(zip(axes, panels, strict=True)):
        if name == "lr":
            assert lr is not None  # show_lr
            ax.plot(np.arange(1, len(lr) + 1), lr, color="gray", marker=".")
            ax.set_yscale("log")
            drawn["lr"] = lr
        both = "train_eval_" + name in h
        for key, color, style, label in (
                (name, TRAIN_COLOR, "-", "training, mean over the epoch's batches"
                 + (" (dropout on)" if both else "") if both else "train"),
                ("train_eval_" + name, TRAIN_COLOR, ":",
                 "training set, eval mode at epoch end"),
                ("val_" + name, VAL_COLOR, "--",
                 "validation, eval mode" if both else "validation")):
            if name == "lr" or key not in h:
                continue
            vals = h[key]
            drawn[key] = vals
            ax.plot(np.arange(1, len(vals) + 1), vals, color=color, linestyle=style,
                    marker="." if len(vals) <= 50 else None, label=label)
        n = max(len(v) for v in h.values())
        if early_stopping is not None:
            marked = _mark_early_stopping(ax, early_stopping, n, legend=i == 0)
            best = getattr(early_stopping, "best_epoch", None)
            if (getattr(early_stopping, "restore_best_weights", False) and best is not None
                    and monitor in h and monitor in (name, "val_" + name)
                    and getattr(early_stopping, "best_weights", True) is not None):
                ax.plot(int(best) + 1, h[monitor][int(best)], marker="*", markersize=15,
                        color=BEST_COLOR, markeredgecolor="black", linestyle="none",
                        label="restored weights", zorder=4)
                restored = (int(best) + 1, h[monitor][int(best)])
        if diverged_at is not None:
            ax.axvline(diverged_at, color="#d7191c", linewidth=1.5,
                       label=f"diverged (epoch {diverged_at})" if i == 0 else None)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(_pretty(name))
        ax.set_title(_pretty(name))
        ax.grid(alpha=0.3)
        if n <= 12:
            ax.set_xticks(np.arange(1, n + 1))
    # One legend for all panels, below them: a legend inside a panel hides part of a curve.
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        ncols = max(1, min(3, int(fig.get_figwidth() // 3.9)))
        rows = -(-len(entries) // ncols)
        fig.set_figheight(fig.get_figheight() + 0.22 * rows)
        fig.legend(list(entries.values()), list(entries), fontsize=8, ncols=ncols,
                   loc="outside lower center")
    fig.suptitle(title)
    fig.data.update({"panels": panels, "curves": drawn, "best_epoch": marked,
                     "restored": restored, "diverged_at": diverged_at,
                     "labels": {name: ax.get_legend_handles_labels()[1]
                                for ax, name in zip(axes, panels, strict=True)}})
    return fig


def plot_capacity(capacities: Sequence[float], train_loss: Sequence[float],
                  val_loss: Sequence[float], xlabel: str = "Hidden units (model capacity)",
                  title: str = "Under- and overfitting") -> LabFigure:
    """Final training and validation loss of models of growing capacity: training loss keeps
    falling, validation loss falls (underfitting), reaches a minimum and rises (overfitting).
    ``fig.data``: ``{"capacities", "train_loss", "val_loss"`` (arrays drawn), ``"best"``
    (the capacity marked best: least validation loss)``}``."""
    cap = np.asarray(capacities, dtype=float)
    tr, va = np.asarray(train_loss, dtype=float), np.asarray(val_loss, dtype=float)
    if not len(cap) == len(tr) == len(va) or len(cap) == 0:
        raise ValueError(
            f"capacities, train_loss and val_loss must have one equal, non-zero length; got "
            f"{len(cap)}, {len(tr)}, {len(va)}"
        )
    fig = new_figure(6, 4.2)
    ax = fig.add_subplot()
    ax.plot(cap, tr, color=TRAIN_COLOR, marker="o", label="training loss")
    ax.plot(cap, va, color=VAL_COLOR, marker="s", linestyle="--", label="validation loss")
    best = int(np.argmin(va))
    ax.axvline(cap[best], color=BEST_COLOR, linestyle=":",
               label=f"best validation ({cap[best]:g})")
    ax.axvspan(cap.min(), cap[best], color="#9ecae1", alpha=0.15, label="underfitting side")
    ax.axvspan(cap[best], cap.max(), color="#fcbba1", alpha=0.2, label="overfitting side")
    if cap.min() > 0 and cap.max() / cap.min() > 20:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Loss after training")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.data.update({"capacities": cap, "train_loss": tr, "val_loss": va,
                     "best": float(cap[best])})
    return fig


def capacity_study(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                   y_val: np.ndarray, widths: Sequence[int] = (1, 2, 4, 16, 64, 256),
                   epochs: int = 2000, seed: int = 0) -> LabFigure:
    """Train a 2-w-w-1 ReLU network for each hidden width ``w`` (full-batch Adam, no dropout,
    no early stopping, same seed) and draw :func:`plot_capacity` of the final training and
    validation losses: small networks underfit, large ones fit the noise of a small training
    set. ``fig.data``: :func:`plot_capacity`'s."""
    from ..nn import BCEWithLogitsLoss, Dense, Sequential
    from ._model import loss_on, train_full_batch

    loss = BCEWithLogitsLoss()
    train, val = [], []
    for w in widths:
        backend.manual_seed(seed)
        model = Sequential(Dense(X_train.shape[1], w, activation="relu"),
                           Dense(w, w, activation="relu"), Dense(w, 1))
        train_full_batch(model, loss, X_train, y_train, epochs, lr=0.01)
        with no_grad():
            train.append(loss_on(model, loss, X_train, y_train).item())
            val.append(loss_on(model, loss, X_val, y_val).item())
    return plot_capacity(widths, train, val, xlabel="Hidden units per layer (model capacity)",
                         title=f"Under- and overfitting: {len(X_train)} training points, "
                               f"{epochs} epochs")
