"""Reductions: ``sum``, ``mean`` and ``max`` over axes."""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import xp_of
from .util import _expand_reduced, _squeeze


class Sum(Function):
    """``sum(x, axis)``; each input element receives the gradient of its sum."""

    __slots__ = ("axis", "keepdims", "shape")

    def __init__(self, axis: Any, keepdims: bool) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Any) -> Any:
        self.shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g: Any) -> tuple[Any]:
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims)
        return (xp_of(g).broadcast_to(g, self.shape),)


class Mean(Function):
    """``mean(x, axis)``; each input element receives ``g / n``."""

    __slots__ = ("axis", "keepdims", "shape", "scale")

    def __init__(self, axis: Any, keepdims: bool) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Any) -> Any:
        self.shape = x.shape
        y = x.mean(axis=self.axis, keepdims=self.keepdims)
        self.scale = 1.0 / (x.size // max(y.size, 1)) if x.size else 0.0
        return y

    def backward(self, g: Any) -> tuple[Any]:
        g = _expand_reduced(g * self.scale, self.shape, self.axis, self.keepdims)
        return (xp_of(g).broadcast_to(g, self.shape),)


class Max(Function):
    """``max(x, axis)``; the gradient goes to the maximal elements, split evenly among ties
    (as ``torch.amax``)."""

    __slots__ = ("axis", "keepdims", "x", "y")

    def __init__(self, axis: Any, keepdims: bool) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Any) -> Any:
        if x.size == 0:
            raise ValueError("max of an empty tensor")
        self.x = x
        self.y = x.max(axis=self.axis, keepdims=True)
        return self.y if self.keepdims else _squeeze(self.y, self.axis, x.ndim)

    def backward(self, g: Any) -> tuple[Any]:
        g = _expand_reduced(g, self.x.shape, self.axis, self.keepdims)
        mask = (self.x == self.y).astype(g.dtype)
        mask /= mask.sum(axis=self.axis, keepdims=True)
        return (mask * g,)
