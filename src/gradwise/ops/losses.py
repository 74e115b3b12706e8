"""Loss kernels: squared error and the cross-entropies, fused with their activations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ..backend import xp_of
from .activations import _log_softmax, _sigmoid, _softplus
from .util import unbroadcast

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


class _Pointwise(Function):
    """A regression loss ``l(d)`` of the difference ``d = x - y`` (the target broadcast to
    ``x``), reduced; ``dx = l'(d) g`` summed back over the axes a broadcast target added.
    Subclasses give ``loss(d)`` and ``dloss(d)``."""

    __slots__ = ("target", "reduction", "diff", "shape")

    def __init__(self, target: Any, reduction: str) -> None:
        self.target, self.reduction = target, reduction

    def loss(self, d: Any) -> Any:
        raise NotImplementedError

    def dloss(self, d: Any) -> Any:
        raise NotImplementedError

    def forward(self, x: Any) -> Any:
        self.shape = x.shape
        self.diff = x - self.target
        return _reduce(self.loss(self.diff), self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        g = _reduce_grad(g, self.diff.shape, self.reduction)
        return (unbroadcast(self.dloss(self.diff) * g, self.shape),)


class MSE(_Pointwise):
    """Mean squared error ``(x - y)^2``; ``dx = 2 (x - y) g`` (summed back over the axes a
    broadcast target added)."""

    __slots__ = ()

    def loss(self, d: Any) -> Any:
        return d * d

    def dloss(self, d: Any) -> Any:
        return 2 * d


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


def _check_probabilities(p: Any) -> None:
    """BCE's input must be probabilities: checked on the device (raised at the next read)."""
    if p.size:
        backend.check_range(p, 0, 1, "BCELoss needs probabilities in [0, 1]; for logits use "
                            "BCEWithLogitsLoss")


class BCE(Function):
    """Binary cross-entropy of probabilities: ``l = -(y log p + (1 - y) log(1 - p))``, each log
    clamped at -100 as PyTorch does; ``dp = (p - y) / max(p (1 - p), 1e-12)``."""

    __slots__ = ("y", "reduction", "p")

    def __init__(self, target: Any, reduction: str) -> None:
        self.y, self.reduction = target, reduction

    def forward(self, p: Any) -> Any:
        xp = xp_of(p)
        _check_probabilities(p)
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


class WeightedBCE(Function):
    """Weighted binary cross-entropy of probabilities (PyTorch's ``BCELoss(weight=w)``):
    ``l = -w (y max(log p, -100) + (1 - y) max(log(1 - p), -100))``;
    ``dp = w (p - y) / max(p (1 - p), 1e-12)``."""

    __slots__ = ("y", "w", "reduction", "p")

    def __init__(self, target: Any, weight: Any, reduction: str) -> None:
        self.y, self.w, self.reduction = target, weight, reduction

    def forward(self, p: Any) -> Any:
        xp = xp_of(p)
        _check_probabilities(p)
        self.p = p
        with np.errstate(divide="ignore"):
            lp = xp.maximum(xp.log(p), -100)
            l1p = xp.maximum(xp.log1p(-p), -100)
        return _reduce(-(self.y * lp + (1 - self.y) * l1p) * self.w, self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        p = self.p
        g = _reduce_grad(g, p.shape, self.reduction)
        denom = xp_of(p).maximum(p * (1 - p), 1e-12)
        return ((p - self.y) / denom * self.w * g,)


class WeightedBCEWithLogits(Function):
    """PyTorch's ``BCEWithLogitsLoss(weight=w, pos_weight=q)`` from logits ``z``:
    ``l = w ((1 - y) z + c softplus(-z))`` with ``c = 1 + (q - 1) y`` (``-log sigmoid(z) =
    softplus(-z)``); ``dz = w ((1 - y) - c sigmoid(-z))``. ``w`` broadcasts against ``z``, ``q``
    along the last (class) axis."""

    __slots__ = ("y", "w", "c", "reduction", "z")

    def __init__(self, target: Any, weight: Any, pos_weight: Any, reduction: str) -> None:
        self.y, self.w, self.reduction = target, weight, reduction
        self.c = 1 if pos_weight is None else (pos_weight - 1) * target + 1

    def forward(self, z: Any) -> Any:
        self.z = z
        loss = (1 - self.y) * z + self.c * _softplus(-z)
        if self.w is not None:
            loss = loss * self.w
        return _reduce(loss, self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        g = _reduce_grad(g, self.z.shape, self.reduction)
        grad = (1 - self.y) - self.c * _sigmoid(-self.z)
        if self.w is not None:
            grad = grad * self.w
        return (grad * g,)


class WeightedCrossEntropy(Function):
    """Softmax cross-entropy with per-row class coefficients ``Q`` (N, C) and a normaliser
    ``D``, which covers PyTorch's ``weight``, ``label_smoothing`` and ``ignore_index``:
    ``l_i = -sum_c Q_ic log softmax(x_i)_c``, reduced as ``sum_i l_i / D`` for ``"mean"``;
    ``dx_i = softmax(x_i) sum_c Q_ic - Q_i`` (the rows of a softmax sum to one)."""

    __slots__ = ("q", "denom", "reduction", "logp")

    def __init__(self, q: Any, denom: Any, reduction: str) -> None:
        self.q, self.denom, self.reduction = q, denom, reduction

    def forward(self, x: Any) -> Any:
        self.logp = _log_softmax(x, -1)
        loss = -(self.q * self.logp).sum(axis=-1)
        if self.reduction == "mean":
            return loss.sum() / self.denom
        return _reduce(loss, self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        xp = xp_of(g)
        grad = xp.exp(self.logp) * self.q.sum(axis=-1, keepdims=True) - self.q
        if self.reduction == "none":
            return (grad * g[:, None],)
        if self.reduction == "mean":
            g = g / self.denom
        return (grad * g,)


class L1(_Pointwise):
    """Absolute error ``|x - y|`` (PyTorch's ``L1Loss``, Keras's MAE); ``dx = sign(x - y) g``
    (0 where ``x = y``, as PyTorch)."""

    __slots__ = ()

    def loss(self, d: Any) -> Any:
        return xp_of(d).abs(d)

    def dloss(self, d: Any) -> Any:
        return xp_of(d).sign(d)


class LogCosh(_Pointwise):
    """Log-cosh loss ``log(cosh(x - y))`` (smooth: ``d^2 / 2`` near 0, ``|d| - log 2`` far
    away), computed stably as ``|d| + log1p(e^(-2|d|)) - log 2``; ``dx = tanh(x - y) g``."""

    __slots__ = ()

    def loss(self, d: Any) -> Any:
        xp = xp_of(d)
        a = xp.abs(d)
        return a + xp.log1p(xp.exp(-2 * a)) - math.log(2)

    def dloss(self, d: Any) -> Any:
        return xp_of(d).tanh(d)


class Huber(Function):
    """Huber loss (Huber 1964) with threshold ``delta``, on ``d = x - y``:
    ``l = d^2 / 2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)``;
    ``dx = clip(d, -delta, delta) g``."""

    __slots__ = ("target", "delta", "reduction", "diff", "shape")

    def __init__(self, target: Any, delta: float, reduction: str) -> None:
        self.target, self.delta, self.reduction = target, delta, reduction

    def forward(self, x: Any) -> Any:
        xp = xp_of(x)
        self.shape = x.shape
        d = self.diff = x - self.target
        a = xp.abs(d)
        loss = xp.where(a < self.delta, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))
        return _reduce(loss, self.reduction)

    def backward(self, g: Any) -> tuple[Any]:
        g = _reduce_grad(g, self.diff.shape, self.reduction)
        grad = xp_of(self.diff).clip(self.diff, -self.delta, self.delta) * g
        return (unbroadcast(grad, self.shape),)
