"""Activation functions with numerically stable forward passes and the lecture's derivatives."""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import xp_of
from .util import _expand_reduced, _squeeze


def _sigmoid(z: Any) -> Any:
    """Stable logistic ``1 / (1 + e^-z)``: ``e^z / (1 + e^z)`` for negative z (no overflow)."""
    xp = xp_of(z)
    e = xp.exp(-xp.abs(z))
    r = 1 / (1 + e)
    return xp.where(z >= 0, r, e * r)


def _softplus(z: Any) -> Any:
    """Stable ``log(1 + e^z) = max(z, 0) + log1p(e^-|z|)``."""
    xp = xp_of(z)
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


class Sigmoid(Function):
    """The logistic function ``g(z) = 1 / (1 + e^-z)``; ``g'(z) = g(z)(1 - g(z))``."""

    __slots__ = ("y",)

    def forward(self, z: Any) -> Any:
        self.y = _sigmoid(z)
        return self.y

    def backward(self, g: Any) -> tuple[Any]:
        y = self.y
        return (g * y * (1 - y),)


class Tanh(Function):
    """``g(z) = tanh z``; ``g'(z) = 1 - g(z)^2``."""

    __slots__ = ("y",)

    def forward(self, z: Any) -> Any:
        self.y = xp_of(z).tanh(z)
        return self.y

    def backward(self, g: Any) -> tuple[Any]:
        y = self.y
        return (g * (1 - y * y),)


class ReLU(Function):
    """The rectified linear unit ``g(z) = max(0, z)``; ``g'(z) = 1`` for ``z > 0``, else 0 (at 0).
    ``-inf`` maps to 0 and NaN stays NaN, as in ``torch.relu``."""

    __slots__ = ("mask",)

    def forward(self, z: Any) -> Any:
        self.mask = z > 0
        return xp_of(z).maximum(z, 0)

    def backward(self, g: Any) -> tuple[Any]:
        return (g * self.mask,)


class LeakyReLU(Function):
    """``g(z) = z`` for ``z > 0`` else ``slope z``; ``g'(z) = 1`` or ``slope``."""

    __slots__ = ("slope", "mask")

    def __init__(self, slope: float) -> None:
        self.slope = slope

    def forward(self, z: Any) -> Any:
        self.mask = z > 0
        return xp_of(z).where(self.mask, z, z * self.slope)

    def backward(self, g: Any) -> tuple[Any]:
        return (xp_of(g).where(self.mask, g, g * self.slope),)


class Softplus(Function):
    """``g(z) = log(1 + e^z)``, computed stably; ``g'(z) = sigmoid(z)``."""

    __slots__ = ("z",)

    def forward(self, z: Any) -> Any:
        self.z = z
        return _softplus(z)

    def backward(self, g: Any) -> tuple[Any]:
        return (g * _sigmoid(self.z),)


class ELU(Function):
    """The exponential linear unit (Clevert, Unterthiner and Hochreiter 2016):
    ``g(z) = z`` for ``z > 0``, else ``alpha (e^z - 1)``; ``g'(z) = 1`` for ``z > 0``, else
    ``alpha e^z = g(z) + alpha`` (``alpha`` at 0, as ``torch.nn.functional.elu``)."""

    __slots__ = ("alpha", "mask", "y")

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def forward(self, z: Any) -> Any:
        xp = xp_of(z)
        self.mask = z > 0
        self.y = xp.where(self.mask, z, self.alpha * xp.expm1(xp.minimum(z, 0)))
        return self.y

    def backward(self, g: Any) -> tuple[Any]:
        return (g * xp_of(g).where(self.mask, 1, self.y + self.alpha),)

    @staticmethod
    def derivative_from_output(y: Any) -> Any:
        """``g'(z)`` from ``y = g(z)`` for the default ``alpha = 1`` (the fused Dense kernel):
        1 where ``y > 0``, else ``y + 1``."""
        return xp_of(y).where(y > 0, 1, y + 1)


def _log_softmax(x: Any, axis: int) -> Any:
    """``x - m - log sum exp(x - m)`` with ``m = max x``: no exp overflows."""
    xp = xp_of(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """``s_i = e^{x_i} / sum_j e^{x_j}`` along ``axis``; ``dx = s (g - sum(g s))``."""

    __slots__ = ("axis", "y")

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        xp = xp_of(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, g: Any) -> tuple[Any]:
        y = self.y
        return (y * (g - (g * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """``log softmax(x)`` along ``axis``, stably; ``dx = g - softmax(x) sum(g)``."""

    __slots__ = ("axis", "y")

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        self.y = _log_softmax(x, self.axis)
        return self.y

    def backward(self, g: Any) -> tuple[Any]:
        xp = xp_of(g)
        return (g - xp.exp(self.y) * g.sum(axis=self.axis, keepdims=True),)


class LogSumExp(Function):
    """``log sum_i e^{x_i}`` along ``axis`` (``m + log sum e^{x - m}``); ``dx = g softmax(x)``."""

    __slots__ = ("axis", "keepdims", "x", "y")

    def __init__(self, axis: Any, keepdims: bool) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Any) -> Any:
        xp = xp_of(x)
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        self.x = x
        self.y = m + xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True))
        return self.y if self.keepdims else _squeeze(self.y, self.axis, x.ndim)

    def backward(self, g: Any) -> tuple[Any]:
        g = _expand_reduced(g, self.x.shape, self.axis, self.keepdims)
        return (g * xp_of(g).exp(self.x - self.y),)
