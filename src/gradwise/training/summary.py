"""A run's ``summary.json``: its outcome (:class:`Status`), final and best metrics, best epoch,
early stopping and the saved model's metrics on every split (:func:`summarize`, strict JSON via
:func:`clean`); the exit status of ``gradwise train`` (:func:`exit_status`) and the one line
that explains a divergence (:func:`divergence_line`)."""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

from .. import nn
from .callbacks import EarlyStopping
from .loop import evaluate
from .prepare import Splits

__all__ = ["EXIT_DIVERGED", "Status", "clean", "divergence_line", "exit_status", "summarize"]

EXIT_DIVERGED = 3  # exit status of `gradwise train` when the loss diverged


class Status(enum.StrEnum):
    """How a run ended: every epoch ran or early stopping ended it (``completed``), a
    non-finite loss stopped it (``diverged``), or SIGINT/SIGTERM did (``interrupted``)."""

    COMPLETED = "completed"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"


def exit_status(summary: dict[str, Any]) -> int:
    """The exit status of ``gradwise train`` for a run's summary: 0 completed,
    :data:`EXIT_DIVERGED` (3) diverged, 130 after SIGINT and 143 after SIGTERM."""
    status = summary.get("status")
    if status == Status.DIVERGED:
        return EXIT_DIVERGED
    if status == Status.INTERRUPTED:
        return 143 if summary.get("signal") == "SIGTERM" else 130
    return 0


def _best_index(values: list[float]) -> int | None:
    finite = [i for i, v in enumerate(values) if math.isfinite(v)]
    return min(finite, key=lambda i: values[i]) if finite else None


def summarize(history: Any, es: EarlyStopping | None, model: nn.Module, loss: nn.Module,
              metric_names: list[str], splits: Splits, tcfg: dict[str, Any],
              evaluate_model: bool = True, upto: int | None = None) -> dict[str, Any]:
    """The summary's metrics. ``upto``: only the first ``upto`` epochs count for the best
    epoch (a run that diverged or was interrupted: those whose weights were kept)."""
    h = history.history
    n = len(history.epoch)
    best: int | None
    if es is not None and es.best is not None:
        best = es.best_epoch - history.epoch[0]
        monitor = es.monitor
    else:
        monitor = "val_loss" if "val_loss" in h else "loss"
        best = _best_index(h[monitor][:upto]) if monitor in h else None
    splits_eval = {"train": (splits.X_train, splits.y_train), "validation":
                   (splits.X_val, splits.y_val), "test": (splits.X_test, splits.y_test)}
    saved = {name: evaluate(model, loss, xy, metric_names, batch_size=1024)
             for name, xy in splits_eval.items() if xy[0] is not None} if evaluate_model else {}
    return {
        "epochs_run": n,
        "epochs_max": tcfg["epochs"],
        "stopped_early": bool(es is not None and es.stopped_epoch > 0),
        "monitor": monitor,
        "best_epoch": None if best is None else history.epoch[best] + 1,
        "restored_best_weights": bool(es is not None and es.restore_best_weights
                                      and es.best_weights is not None),
        "final": {k: v[-1] for k, v in h.items()},
        "best": {} if best is None else {k: v[best] for k, v in h.items()},
        "saved_model": saved,
    }


def clean(obj: Any) -> Any:
    """A copy of ``obj`` for strict JSON: non-finite floats become None."""
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _lr_hint(lr: Any) -> str:
    if isinstance(lr, int | float) and lr > 0:
        return (f"try a lower learning rate (optimizer.lr = {lr:g} now, e.g. --set "
                f"optimizer.lr={lr / 10:g})")
    return "try a lower learning rate (--set optimizer.lr=...)"


def divergence_line(summary: dict[str, Any]) -> str:
    """One line: where the loss became non-finite, what to try and which weights were kept."""
    d = summary["diverged"]
    where = f"epoch {d['epoch']}" + ("" if d.get("step") is None else f", step {d['step']}")
    loss = d.get("loss", "nan")
    kept = summary.get("weights_epoch")
    weights = ("kept no weights (no epoch ended with finite weights)" if kept is None else
               f"kept the weights after epoch {kept} (the last finite ones) in "
               "model.safetensors")
    return (f"diverged: the {d.get('where', 'training loss')} became {loss} at {where}; "
            f"{_lr_hint(d.get('lr'))}; {weights}")
