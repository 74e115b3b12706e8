"""Arithmetic ops with broadcasting: ``+ - * / **``, negation and the matrix product."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function
from ..backend import xp_of
from .util import _broadcast_error, unbroadcast


class Add(Function):
    """``a + b`` with broadcasting; ``da = db = g`` summed back to each shape."""

    __slots__ = ("sa", "sb")

    def forward(self, a: Any, b: Any) -> Any:
        self.sa, self.sb = a.shape, b.shape
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    def backward(self, g: Any) -> tuple[Any, Any]:
        return unbroadcast(g, self.sa), unbroadcast(g, self.sb)


class Sub(Function):
    """``a - b``; ``da = g``, ``db = -g``."""

    __slots__ = ("sa", "sb")

    def forward(self, a: Any, b: Any) -> Any:
        self.sa, self.sb = a.shape, b.shape
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    def backward(self, g: Any) -> tuple[Any, Any]:
        return unbroadcast(g, self.sa), -unbroadcast(g, self.sb) if self.needs[1] else None


class Mul(Function):
    """``a * b``; ``da = g b``, ``db = g a``."""

    __slots__ = ("a", "b")

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b = self.a, self.b
        ga = unbroadcast(g * b, a.shape) if self.needs[0] else None
        gb = unbroadcast(g * a, b.shape) if self.needs[1] else None
        return ga, gb


class Div(Function):
    """``a / b``; ``da = g / b``, ``db = -g a / b^2``."""

    __slots__ = ("a", "b")

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b = self.a, self.b
        ga = unbroadcast(g / b, a.shape) if self.needs[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if self.needs[1] else None
        return ga, gb


class PowScalar(Function):
    """``x ** c`` for a constant exponent; ``dx = g c x^(c-1)``."""

    __slots__ = ("c", "x")

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: Any) -> Any:
        self.x = x
        return x ** self.c

    def backward(self, g: Any) -> tuple[Any]:
        c = self.c
        if c == 0:
            return (xp_of(g).zeros_like(g),)
        if c == 2:
            return (g * (2 * self.x),)
        return (g * (c * self.x ** (c - 1)),)


class Pow(Function):
    """``a ** b`` for tensors; ``da = g b a^(b-1)``, ``db = g a^b log a``."""

    __slots__ = ("a", "b", "y")

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        try:
            self.y = a ** b
        except ValueError:
            raise _broadcast_error("pow", a, b) from None
        return self.y

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b, y = self.a, self.b, self.y
        ga = unbroadcast(g * b * a ** (b - 1), a.shape) if self.needs[0] else None
        gb = None
        if self.needs[1]:
            xp = xp_of(a)
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * y * xp.log(a)
            # as PyTorch: a zero base with a non-negative exponent has zero exponent-gradient
            gb = unbroadcast(xp.where((a == 0) & (b >= 0), 0, gb).astype(y.dtype), b.shape)
        return ga, gb


class Neg(Function):
    """``-x``; ``dx = -g``."""

    __slots__ = ()

    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, g: Any) -> tuple[Any]:
        return (-g,)


class MatMul(Function):
    """``a @ b`` (matrix product, batched over leading axes); ``da = g b^T``, ``db = a^T g``."""

    __slots__ = ("a", "b")

    def forward(self, a: Any, b: Any) -> Any:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul needs at least 1-D operands, got shapes {a.shape} and {b.shape}"
            )
        ka = a.shape[-1]
        kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if ka != kb:
            raise ValueError(
                f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned "
                f"({ka} columns against {kb} rows)"
            )
        self.a, self.b = a, b
        try:
            return a @ b
        except ValueError:
            raise _broadcast_error("matmul", a, b) from None

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b = self.a, self.b
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            ga = g * b if self.needs[0] else None
            gb = g * a if self.needs[1] else None
        elif a.ndim == 1:  # (k) @ (..., k, m) -> (..., m)
            if self.needs[0]:
                ga = unbroadcast((b @ g[..., None])[..., 0], a.shape)
            if self.needs[1]:
                gb = unbroadcast(a[:, None] * g[..., None, :], b.shape)
        elif b.ndim == 1:  # (..., n, k) @ (k) -> (..., n)
            if self.needs[0]:
                ga = unbroadcast(g[..., None] * b, a.shape)
            if self.needs[1]:
                gb = unbroadcast((a.swapaxes(-1, -2) @ g[..., None])[..., 0], b.shape)
        else:
            if self.needs[0]:
                ga = unbroadcast(g @ b.swapaxes(-1, -2), a.shape)
            if self.needs[1]:
                gb = unbroadcast(a.swapaxes(-1, -2) @ g, b.shape)
        return ga, gb
