"""Loss kernels: squared error and the cross-entropies, fused with their activations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ..backend import xp_of
from .activations import _log_softmax, _sigmoid, _softplus

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction == "mean":
        if loss.dtype.itemsize >= 4:
            # what ndarray.mean computes (sum, then divide), without its Python-level wrapper
            return loss.sum() / loss.size
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _reduce_grad(g: Any, shape: tuple[int, ...], reduction: str) -> Any:
    """The gradient of the reduction, as an array broadcastable to ``shape``."""
    if reduction == "mean":
        return g * (1.0 / (math.prod(shape) or 1))
    return g


def _target_like(target: Any, like: Tensor, name: str) -> Any:
    t = backend.to_device(target.data if isinstance(target, Tensor) else target, like.device)
    if t.shape != like.shape:
        raise ValueError(
            f"{name}: input has shape {tuple(like.shape)} but target has shape {tuple(t.shape)}; "
            "they must match (reshape the target, e.g. y.reshape(-1, 1))"
        )
    return t.astype(like.data.dtype, copy=False)


class MSE(Function):
    """Mean squared error ``(x - y)^2``; ``dx = 2 (x - y) g``."""

    __slots__ = ("target", "reduction", "diff")

    def __init__(self, target: Any, reduction: str) -> None:
        self.target, self.reduction = target, reduction

    def forward(self, x: Any) -> Any:
        self.diff = x - self.target
        return _reduce(self.diff * self.diff, self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        g = _reduce_grad(g, self.diff.shape, self.reduction)
        return (self.diff * (2 * g),)


class BCEWithLogits(Function):
    """Binary cross-entropy of ``sigmoid(z)`` against ``y``, from logits and stably:
    ``l = max(z, 0) - z y + log1p(e^-|z|)``; ``dz = sigmoid(z) - y``."""

    __slots__ = ("y", "reduction", "z")

    def __init__(self, target: Any, reduction: str) -> None:
        self.y, self.reduction = target, reduction

    def forward(self, z: Any) -> Any:
        self.z = z
        return _reduce(_softplus(z) - z * self.y, self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        g = _reduce_grad(g, self.z.shape, self.reduction)
        return ((_sigmoid(self.z) - self.y) * g,)


class BCE(Function):
    """Binary cross-entropy of probabilities: ``l = -(y log p + (1 - y) log(1 - p))``, each log
    clamped at -100 as PyTorch does; ``dp = (p - y) / max(p (1 - p), 1e-12)``."""

    __slots__ = ("y", "reduction", "p")

    def __init__(self, target: Any, reduction: str) -> None:
        self.y, self.reduction = target, reduction

    def forward(self, p: Any) -> Any:
        xp = xp_of(p)
        if p.size:
            backend.check((p.min() < 0) | (p.max() > 1),
                          "BCELoss needs probabilities in [0, 1]; for logits use BCEWithLogitsLoss")
        self.p = p
        y = self.y
        with np.errstate(divide="ignore"):
            lp = xp.log(p)
            l1p = xp.log1p(-p)
        # the same arithmetic as -(y lp + (1 - y) l1p), in place on the fresh log arrays
        xp.maximum(lp, -100, out=lp)
        xp.maximum(l1p, -100, out=l1p)
        lp *= y
        l1p *= 1 - y
        lp += l1p
        return -_reduce(lp, self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        p, y = self.p, self.y
        g = _reduce_grad(g, p.shape, self.reduction)
        denom = 1 - p
        denom *= p
        xp_of(p).maximum(denom, 1e-12, out=denom)
        grad = p - y
        grad /= denom
        grad *= g
        return (grad,)


class CrossEntropy(Function):
    """Softmax cross-entropy from logits ``x`` (N, C) and integer labels (N,) or class
    probabilities (N, C): ``l = -sum_c y_c log softmax(x)_c``; ``dx = softmax(x) - y``."""

    __slots__ = ("labels", "reduction", "logp", "soft")

    def __init__(self, labels: Any, reduction: str, soft: bool) -> None:
        self.labels, self.reduction, self.soft = labels, reduction, soft

    def forward(self, x: Any) -> Any:
        logp = _log_softmax(x, -1)
        self.logp = logp
        if self.soft:
            loss = -(self.labels * logp).sum(axis=-1)
        else:
            loss = -xp_of(x).take_along_axis(logp, self.labels[:, None], axis=-1)[:, 0]
        return _reduce(loss, self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        xp = xp_of(g)
        logp = self.logp
        grad = xp.exp(logp)
        if self.soft:
            grad -= self.labels
        else:
            grad[xp.arange(len(grad)), self.labels] -= 1
        if self.reduction == "none":
            return (grad * g[:, None],)
        if self.reduction == "mean":
            g = g * (1.0 / max(len(grad), 1))
        grad *= g
        return (grad,)
