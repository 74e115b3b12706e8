"""Elementwise math: ``exp``, ``log``, ``sqrt``, ``abs`` and ``clip``."""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import xp_of


class Exp(Function):
    """``e^x``; ``dx = g e^x``."""

    __slots__ = ("y",)

    def forward(self, x: Any) -> Any:
        self.y = xp_of(x).exp(x)
        return self.y

    def backward(self, g: Any) -> tuple[Any]:
        return (g * self.y,)


class Log(Function):
    """``log x``; ``dx = g / x``."""

    __slots__ = ("x",)

    def forward(self, x: Any) -> Any:
        self.x = x
        return xp_of(x).log(x)

    def backward(self, g: Any) -> tuple[Any]:
        return (g / self.x,)


class Sqrt(Function):
    """``sqrt x``; ``dx = g / (2 sqrt x)``."""

    __slots__ = ("y",)

    def forward(self, x: Any) -> Any:
        self.y = xp_of(x).sqrt(x)
        return self.y

    def backward(self, g: Any) -> tuple[Any]:
        return (g / (2 * self.y),)


class Abs(Function):
    """``|x|``; ``dx = g sign(x)`` (0 at 0, as PyTorch)."""

    __slots__ = ("x",)

    def forward(self, x: Any) -> Any:
        self.x = x
        return xp_of(x).abs(x)

    def backward(self, g: Any) -> tuple[Any]:
        return (g * xp_of(g).sign(self.x),)


class Clip(Function):
    """``clip(x, lo, hi)``; ``dx = g`` where ``lo <= x <= hi``, else 0 (as ``torch.clamp``)."""

    __slots__ = ("lo", "hi", "mask")

    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo, self.hi = lo, hi

    def forward(self, x: Any) -> Any:
        xp = xp_of(x)
        mask = xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            mask &= x >= self.lo
        if self.hi is not None:
            mask &= x <= self.hi
        self.mask = mask
        return xp.clip(x, self.lo, self.hi).astype(x.dtype, copy=False)

    def backward(self, g: Any) -> tuple[Any]:
        return (g * self.mask,)
