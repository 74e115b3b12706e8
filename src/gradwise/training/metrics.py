"""Metrics reported by ``fit`` and ``evaluate``: accuracy, mean squared and mean absolute error.

Each metric is computed per batch as a *sum* over the batch's samples and divided by the number
of samples seen, so an epoch's value is the sample mean whatever the batch sizes (Keras reports
training metrics the same way: averaged over the epoch while the weights change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["METRICS", "batch_sum", "check_metrics", "direction"]

# name -> "up" (larger is better) or "down"; EarlyStopping's mode="auto" reads it.
_DIRECTIONS = {"accuracy": "up", "mse": "down", "mae": "down", "loss": "down"}


def _accuracy(out: Any, y: Any, threshold: float) -> Any:
    """Number of correct predictions. One output column: ``out > threshold`` against labels
    0/1 (threshold 0 for logits, 0.5 for probabilities); several columns: ``argmax`` against
    integer labels, or against the ``argmax`` of one-hot/probability targets."""
    if out.ndim == 2 and out.shape[1] > 1:
        pred = out.argmax(axis=1)
        labels = y.argmax(axis=1) if y.ndim == 2 else y
    else:
        pred = out.reshape(-1) > threshold
        labels = y.reshape(-1) > 0.5
    return (pred == labels).sum()


def _mse(out: Any, y: Any, threshold: float) -> Any:
    """Sum over samples of the mean over outputs of ``(out - y)^2``."""
    d = out.reshape(len(out), -1) - y.reshape(len(y), -1)
    return (d * d).mean(axis=1).sum()


def _mae(out: Any, y: Any, threshold: float) -> Any:
    """Sum over samples of the mean over outputs of ``|out - y|``."""
    d = out.reshape(len(out), -1) - y.reshape(len(y), -1)
    return abs(d).mean(axis=1).sum()


METRICS: dict[str, Callable[[Any, Any, float], Any]] = {
    "accuracy": _accuracy,
    "mse": _mse,
    "mae": _mae,
}


def check_metrics(metrics: Any) -> list[str]:
    """Validate a list of metric names; ``None`` means no metric."""
    if metrics is None:
        return []
    if isinstance(metrics, str):
        metrics = [metrics]
    names = list(metrics)
    for m in names:
        if m not in METRICS:
            raise ValueError(f"unknown metric {m!r}; choose from {sorted(METRICS)}")
    return names


def batch_sum(name: str, out: Any, y: Any, threshold: float) -> Any:
    """The metric ``name`` summed over one batch (divide by the sample count for the mean), as
    a 0-d array on the device of ``out`` and ``y`` (NumPy or CuPy arrays)."""
    return METRICS[name](out, y, threshold)


def direction(name: str) -> str | None:
    """``"up"`` when larger values of metric ``name`` are better, ``"down"`` when smaller are,
    None when gradwise does not know the metric."""
    return _DIRECTIONS.get(name)
