"""Metrics reported by ``fit`` and ``evaluate``: accuracy, mean squared and mean absolute error,
precision, recall, F1 and the area under the ROC curve.

Accuracy, MSE and MAE are computed per batch as a *sum* over the batch's samples and divided by
the number of samples seen, so an epoch's value is the sample mean whatever the batch sizes
(Keras reports training metrics the same way: averaged over the epoch while the weights change).
Precision, recall, F1 and AUC are not means over samples: they are computed once per pass from
all its outputs and targets (:class:`EpochMetric`), with scikit-learn's definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..registry import Registry

__all__ = ["EPOCH_METRICS", "METRICS", "EpochMetric", "batch_sum", "check_metrics", "direction"]

# name -> "up" (larger is better) or "down"; EarlyStopping's mode="auto" reads it.
_DIRECTIONS = {"accuracy": "up", "mse": "down", "mae": "down", "loss": "down",
               "precision": "up", "recall": "up", "f1": "up", "auc": "up"}


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


#: the metrics summed batch by batch, by the names ``fit(metrics=...)`` and configs use
METRICS: Registry[Callable[[Any, Any, float], Any]] = Registry("metric", {
    "accuracy": _accuracy,
    "mse": _mse,
    "mae": _mae,
})


def check_metrics(metrics: Any) -> list[str]:
    """Validate a list of metric names; ``None`` means no metric."""
    if metrics is None:
        return []
    if isinstance(metrics, str):
        metrics = [metrics]
    names = list(metrics)
    for m in names:
        if m not in METRICS and m not in EPOCH_METRICS:
            raise ValueError(
                f"unknown metric {m!r}; choose from {sorted([*METRICS, *EPOCH_METRICS])}")
    return names


def batch_sum(name: str, out: Any, y: Any, threshold: float) -> Any:
    """The metric ``name`` summed over one batch (divide by the sample count for the mean), as
    a 0-d array on the device of ``out`` and ``y`` (NumPy or CuPy arrays)."""
    return METRICS[name](out, y, threshold)


def direction(name: str) -> str | None:
    """``"up"`` when larger values of metric ``name`` are better, ``"down"`` when smaller are,
    None when gradwise does not know the metric."""
    return _DIRECTIONS.get(name)


# --- metrics of a whole pass ------------------------------------------------------------------

def _labels_and_predictions(out: np.ndarray, y: np.ndarray,
                            threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True labels, predicted labels and the classes to average over. One output column:
    labels ``y > 0.5`` and predictions ``out > threshold`` (class 1 is the positive class);
    several: ``argmax`` (of one-hot targets too), every class seen in either."""
    if out.ndim == 2 and out.shape[1] > 1:
        pred = out.argmax(axis=1)
        true = y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64)
        return true, pred, np.union1d(true, pred)
    return (y.reshape(-1) > 0.5).astype(np.int64), (out.reshape(-1) > threshold).astype(
        np.int64), np.array([1])


def _counts(out: np.ndarray, y: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """True positives, false positives and false negatives of each averaged class."""
    true, pred, classes = _labels_and_predictions(out, y, threshold)
    t = true[:, None] == classes[None, :]
    p = pred[:, None] == classes[None, :]
    return (t & p).sum(0), (~t & p).sum(0), (t & ~p).sum(0)


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    """The mean over classes of ``num / den``, a class with ``den = 0`` counting 0 (as
    scikit-learn's ``zero_division``)."""
    r = np.divide(num, den, out=np.zeros(len(num)), where=den > 0)
    return float(r.mean()) if len(r) else 0.0


def _precision(out: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """Precision ``TP / (TP + FP)`` (binary; macro average over classes for several outputs)."""
    tp, fp, _ = _counts(out, y, threshold)
    return _ratio(tp, tp + fp)


def _recall(out: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """Recall ``TP / (TP + FN)`` (binary; macro average over classes for several outputs)."""
    tp, _, fn = _counts(out, y, threshold)
    return _ratio(tp, tp + fn)


def _f1(out: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """F1 ``2 TP / (2 TP + FP + FN)``, the harmonic mean of precision and recall (binary;
    the macro average of the per-class F1 for several outputs)."""
    tp, fp, fn = _counts(out, y, threshold)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _binary_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (Hanley and McNeil 1982):
    ``(R_+ - n_+ (n_+ + 1) / 2) / (n_+ n_-)`` with ``R_+`` the sum of the positives' ranks, tied
    scores sharing their average rank (the trapezoidal ROC area). NaN without both classes."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    r_pos = avg_rank[inverse.reshape(-1)][positive].sum()
    return float((r_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _auc(out: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """ROC AUC of the scores (logits or probabilities: the AUC depends only on their order).
    Several outputs: one-vs-rest macro average over the classes of the softmax probabilities
    (the outputs themselves when their rows already sum to 1), as scikit-learn's
    ``roc_auc_score(multi_class="ovr")``."""
    if out.ndim == 2 and out.shape[1] > 1:
        prob = out
        if not np.allclose(out.sum(axis=1), 1.0) or (out < 0).any():
            e = np.exp(out - out.max(axis=1, keepdims=True))
            prob = e / e.sum(axis=1, keepdims=True)
        true = y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64)
        return float(np.mean([_binary_auc(prob[:, k], true == k) for k in range(out.shape[1])]))
    return _binary_auc(out.reshape(-1), y.reshape(-1) > 0.5)


#: the metrics of a whole pass (computed from every output of the pass, on the host)
EPOCH_METRICS: Registry[Callable[[np.ndarray, np.ndarray, float], float]] = Registry(
    "epoch metric", {
        "precision": _precision,
        "recall": _recall,
        "f1": _f1,
        "auc": _auc,
    })


class EpochMetric:
    """A metric of a whole pass: :meth:`add` each batch's outputs and targets (NumPy or CuPy
    arrays), :meth:`result` computes the metric over all of them (on the host)."""

    def __init__(self, name: str, threshold: float) -> None:
        self.fn, self.threshold = EPOCH_METRICS[name], threshold
        self.outs: list[Any] = []
        self.ys: list[Any] = []

    def add(self, out: Any, y: Any) -> None:
        self.outs.append(out)
        self.ys.append(y)

    def result(self, gather: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
        """The metric over every output added; ``gather`` (data-parallel training) joins the
        outputs and targets of all ranks first (the metrics do not depend on row order)."""
        out = np.concatenate([backend.to_numpy(o) for o in self.outs] or [np.empty(0)])
        y = np.concatenate([backend.to_numpy(t) for t in self.ys] or [np.empty(0)])
        if gather is not None:
            out, y = gather(out), gather(y)
        if not len(out):
            return float("nan")
        return self.fn(out.astype(np.float64), y, self.threshold)
