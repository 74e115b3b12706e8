"""Inverted dropout's mask multiplication."""

from __future__ import annotations

from typing import Any

from ..autograd import Function


class _Dropout(Function):
    """Inverted dropout: ``y = x m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``; ``dx = g m / (1 - p)``
    (Srivastava et al. 2014)."""

    __slots__ = ("mask",)

    def __init__(self, mask: Any) -> None:
        self.mask = mask

    def forward(self, x: Any) -> Any:
        return x * self.mask

    def backward(self, g: Any) -> tuple[Any]:
        return (g * self.mask,)
