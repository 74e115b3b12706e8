"""Differentiable primitives: arithmetic, matmul, reductions, shape ops, activations, losses.

Each op is a :class:`~gradwise.autograd.Function` whose docstring states what it computes and
its derivative. Everything is written once against the array namespace of its inputs, so it runs
on NumPy and CuPy alike. Operands that are not tensors (Python numbers, arrays) take the dtype of
the tensor they meet, so a float32 graph stays float32; two floating tensors of different
dtypes are an error rather than a silent promotion.

The lecture's building blocks that always come together are fused into one node each: the Dense
layer ``g(x @ W + b)`` (:func:`linear`), sigmoid with binary cross-entropy
(:func:`binary_cross_entropy_with_logits`) and softmax with cross-entropy (:func:`cross_entropy`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import backend
from .autograd import Function, Tensor, _wrap
from .backend import xp_of

__all__ = [
    "abs", "add", "binary_cross_entropy", "binary_cross_entropy_with_logits", "clip",
    "concatenate", "cross_entropy", "div", "dropout", "exp", "getitem", "leaky_relu", "linear",
    "log", "log_softmax", "logsumexp", "matmul", "max", "mean", "min", "mse_loss", "mul", "neg",
    "pow", "relu", "reshape", "sigmoid", "softmax", "softplus", "sqrt", "stack", "sub", "sum",
    "tanh", "transpose", "where",
]

_builtin_abs, _builtin_max, _builtin_min, _builtin_sum = abs, max, min, sum


# --- helpers ----------------------------------------------------------------------------------

def _as_tensor(x: Any, like: Tensor) -> Tensor:
    """Wrap a non-tensor operand as a constant with the dtype and device of ``like``."""
    if isinstance(x, Tensor):
        return x
    xp = xp_of(like.data)
    arr = xp.asarray(x)
    if like.data.dtype.kind == "f":
        if arr.dtype != like.data.dtype and arr.dtype.kind in "biuf":
            arr = arr.astype(like.data.dtype)
    elif arr.dtype.kind == "f" and arr.dtype != backend.get_default_dtype():
        arr = arr.astype(backend.get_default_dtype())  # as gw.tensor: floats take the default
    return _wrap(arr)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two tensor operands with a common dtype; mixing float32 and float64 tensors is refused."""
    if not isinstance(a, Tensor):
        a = _as_tensor(a, b)
    elif not isinstance(b, Tensor):
        b = _as_tensor(b, a)
    da, db = a.data.dtype, b.data.dtype
    if da != db:
        if da.kind == "f" and db.kind == "f":
            raise TypeError(
                f"operands have dtypes {da} and {db}: gradwise never promotes silently; "
                f"convert one with .to(dtype=...)"
            )
        if da.kind == "f":
            b = _wrap(b.data.astype(da)) if not b.requires_grad else b
        elif db.kind == "f":
            a = _wrap(a.data.astype(db)) if not a.requires_grad else a
    return a, b


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient back to ``shape`` (the input's shape before broadcasting)."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _broadcast_error(op: str, a: Any, b: Any) -> ValueError:
    return ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast")


def _norm_axis(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < _builtin_max(ndim, 1):
            raise ValueError(f"axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(int(ax) % _builtin_max(ndim, 1))
    return tuple(out)


def _expand_reduced(g: Any, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """Reshape the gradient of a reduction so it broadcasts against the input."""
    if keepdims or axis is None and g.ndim == 0:
        return g
    axes = _norm_axis(axis, len(shape))
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    return g.reshape(kept)


# --- arithmetic -------------------------------------------------------------------------------

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


# --- reductions -------------------------------------------------------------------------------

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
        self.scale = 1.0 / (x.size // _builtin_max(y.size, 1)) if x.size else 0.0
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


def _squeeze(y: Any, axis: Any, ndim: int) -> Any:
    return y.reshape(()) if axis is None else y.squeeze(axis=_norm_axis(axis, ndim))


# --- shape ops --------------------------------------------------------------------------------

class Reshape(Function):
    """``x.reshape(shape)``; the gradient is reshaped back."""

    __slots__ = ("new", "old")

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.new = shape

    def forward(self, x: Any) -> Any:
        self.old = x.shape
        try:
            return x.reshape(self.new)
        except ValueError:
            raise ValueError(
                f"cannot reshape a tensor of shape {x.shape} into {self.new}"
            ) from None

    def backward(self, g: Any) -> tuple[Any]:
        return (g.reshape(self.old),)


class Transpose(Function):
    """``x.transpose(axes)``; the gradient is transposed by the inverse permutation."""

    __slots__ = ("axes",)

    def __init__(self, axes: tuple[int, ...] | None) -> None:
        self.axes = axes

    def forward(self, x: Any) -> Any:
        return x.transpose(self.axes)

    def backward(self, g: Any) -> tuple[Any]:
        if self.axes is None:
            return (g.transpose(),)
        return (g.transpose(np.argsort(self.axes)),)


def _has_array_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(not isinstance(p, int | slice | type(None) | type(Ellipsis)) for p in parts)


def _index_data(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(p.data if isinstance(p, Tensor) else p for p in index)
    return index


class GetItem(Function):
    """``x[index]`` (slices, integers, integer and boolean arrays); the gradient is scattered
    back, accumulating where an index repeats."""

    __slots__ = ("index", "shape", "dtype")

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, x: Any) -> Any:
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, g: Any) -> tuple[Any]:
        xp = xp_of(g)
        gx = xp.zeros(self.shape, dtype=self.dtype)
        if _has_array_index(self.index):
            xp.add.at(gx, self.index, g)
        else:
            gx[self.index] = g
        return (gx,)


class Concatenate(Function):
    """``concatenate(xs, axis)``; each input receives its slice of the gradient."""

    __slots__ = ("axis", "bounds")

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        xp = xp_of(xs[0])
        self.bounds = np.cumsum([x.shape[self.axis] for x in xs])[:-1]
        try:
            return xp.concatenate(xs, axis=self.axis)
        except ValueError:
            raise ValueError(
                f"concatenate along axis {self.axis}: shapes {[tuple(x.shape) for x in xs]} "
                "differ in another axis"
            ) from None

    def backward(self, g: Any) -> tuple[Any, ...]:
        return tuple(xp_of(g).split(g, self.bounds.tolist(), axis=self.axis))


class Stack(Function):
    """``stack(xs, axis)``; each input receives its slice of the gradient."""

    __slots__ = ("axis",)

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        try:
            return xp_of(xs[0]).stack(xs, axis=self.axis)
        except ValueError:
            raise ValueError(
                f"stack needs equal shapes, got {[tuple(x.shape) for x in xs]}"
            ) from None

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        return tuple(xp.take(g, i, axis=self.axis) for i in range(g.shape[self.axis]))


class Where(Function):
    """``where(cond, a, b)``; ``da = g`` where cond holds, ``db = g`` elsewhere."""

    __slots__ = ("cond", "sa", "sb")

    def __init__(self, cond: Any) -> None:
        self.cond = cond

    def forward(self, a: Any, b: Any) -> Any:
        self.sa, self.sb = a.shape, b.shape
        return xp_of(a).where(self.cond, a, b)

    def backward(self, g: Any) -> tuple[Any, Any]:
        xp = xp_of(g)
        zero = xp.zeros((), dtype=g.dtype)
        ga = unbroadcast(xp.where(self.cond, g, zero), self.sa) if self.needs[0] else None
        gb = unbroadcast(xp.where(self.cond, zero, g), self.sb) if self.needs[1] else None
        return ga, gb


# --- elementwise math -------------------------------------------------------------------------

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


# --- activations ------------------------------------------------------------------------------

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


# --- the fused Dense layer --------------------------------------------------------------------

_FUSED_ACTIVATIONS = (None, "relu", "sigmoid", "tanh")


class Linear(Function):
    """The Dense layer ``y = g(x @ W + b)`` in one node (W of shape (in, out)).

    Backward: ``dz = dy * g'(z)`` (from the saved output), ``dW = x^T dz``, ``db = sum_rows dz``,
    ``dx = dz W^T``. ``g`` is one of None (linear), ``"relu"``, ``"sigmoid"``, ``"tanh"``.
    """

    __slots__ = ("act", "x", "w", "y")

    def __init__(self, act: str | None) -> None:
        self.act = act

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        if x.shape[-1] != w.shape[0]:
            raise ValueError(
                f"Dense layer expects {w.shape[0]} input features, got input of shape "
                f"{tuple(x.shape)} ({x.shape[-1]} features)"
            )
        z = x @ w
        if b is not None:
            z += b
        act = self.act
        if act == "relu":
            xp_of(z).maximum(z, 0, out=z)
        elif act == "sigmoid":
            z = _sigmoid(z)
        elif act == "tanh":
            xp_of(z).tanh(z, out=z)
        self.x, self.w, self.y = x, w, z
        return z

    def backward(self, g: Any) -> tuple[Any, ...]:
        act, y = self.act, self.y
        if act == "relu":
            dz = g * (y > 0)
        elif act == "sigmoid":
            dz = g * (y * (1 - y))
        elif act == "tanh":
            dz = g * (1 - y * y)
        else:
            dz = g
        x, w = self.x, self.w
        needs = self.needs
        gx = dz @ w.T if needs[0] else None
        gw = gb = None
        if x.ndim != 2:
            x, dz = x.reshape(-1, x.shape[-1]), dz.reshape(-1, dz.shape[-1])
        xp = xp_of(dz)
        if needs[1]:
            buf = _fresh_grad_buffer(self.inputs[1])
            if buf is None:
                gw = x.T @ dz
            else:
                xp.matmul(x.T, dz, out=buf)
        if len(needs) == 3 and needs[2]:
            buf = _fresh_grad_buffer(self.inputs[2])
            if buf is None:
                gb = dz.sum(axis=0)
            else:
                dz.sum(axis=0, out=buf)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


def _fresh_grad_buffer(param: Tensor) -> Any:
    """The optimizer's flat-buffer view for ``param``'s gradient when the backward pass is about
    to fill it for the first time (``.grad`` is None), else None.

    A kernel that writes its gradient straight into the returned array (``out=``) sets
    ``param.grad`` to it and returns None for that input, which saves the copy that
    ``_accumulate_leaf`` would make; later contributions are then added into it in place.
    """
    buf = param._grad_buffer
    if buf is None or param.grad is not None or param._node is not None:
        return None
    param.grad = buf
    return buf


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None,
           activation: str | None = None) -> Tensor:
    """``g(x @ W + b)`` in one fused node: the lecture's ``y = g(w0 + X^T W)``.

    ``activation`` is None (linear), ``"relu"``, ``"sigmoid"`` or ``"tanh"``.
    """
    if activation not in _FUSED_ACTIVATIONS:
        raise ValueError(
            f"linear: activation must be one of {_FUSED_ACTIVATIONS}, got {activation!r}"
        )
    if not isinstance(x, Tensor):
        x = _as_tensor(x, weight)
    if x.data.dtype != weight.data.dtype:
        if x.data.dtype.kind == "f":
            raise TypeError(
                f"input has dtype {x.data.dtype} but the layer's weights are {weight.data.dtype}; "
                "convert the input or the model with .to(dtype=...)"
            )
        x = _wrap(x.data.astype(weight.data.dtype))
    fn = Linear(activation)
    return fn(x, weight) if bias is None else fn(x, weight, bias)


# --- losses -----------------------------------------------------------------------------------

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
    t = target.data if isinstance(target, Tensor) else xp_of(like.data).asarray(target)
    if t.shape != like.shape:
        raise ValueError(
            f"{name}: input has shape {tuple(like.shape)} but target has shape {tuple(t.shape)}; "
            "they must match (reshape the target, e.g. y.reshape(-1, 1))"
        )
    return t.astype(like.data.dtype, copy=False)


class MSE(Function):
    """Mean squared error ``(x - y)^2``; ``dx = 2 (x - y) g``."""

    __slots__ = ("reduction", "diff")

    def __init__(self, target: Any, reduction: str) -> None:
        self.diff, self.reduction = target, reduction

    def forward(self, x: Any) -> Any:
        self.diff = x - self.diff
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
        if p.size and (float(p.min()) < 0 or float(p.max()) > 1):
            raise ValueError(
                "BCELoss needs probabilities in [0, 1]; for logits use BCEWithLogitsLoss"
            )
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
            g = g * (1.0 / _builtin_max(len(grad), 1))
        grad *= g
        return (grad,)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``J = mean((input - target)^2)`` (the lecture's regression loss)."""
    _check_reduction(reduction)
    return MSE(_target_like(target, input, "mse_loss"), reduction)(input)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits, ``J = mean(softplus(z) - z y)``, finite for any z."""
    _check_reduction(reduction)
    y = _target_like(target, input, "binary_cross_entropy_with_logits")
    return BCEWithLogits(y, reduction)(input)


def binary_cross_entropy(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on probabilities, ``J = -mean(y log p + (1 - y) log(1 - p))``."""
    _check_reduction(reduction)
    y = _target_like(target, input, "binary_cross_entropy")
    return BCE(y, reduction)(input)


def cross_entropy(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy ``J = -mean(log softmax(x)[label])`` from logits of shape (N, C).

    ``target`` holds integer class labels of shape (N,) in ``[0, C)``, or class probabilities of
    shape (N, C).
    """
    _check_reduction(reduction)
    if input.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {tuple(input.shape)}")
    xp = xp_of(input.data)
    t = target.data if isinstance(target, Tensor) else xp.asarray(target)
    n, c = input.shape
    if t.dtype.kind in "iu":
        if t.shape != (n,):
            raise ValueError(
                f"cross_entropy: {n} rows of logits need {n} integer labels of shape ({n},), "
                f"got labels of shape {tuple(t.shape)}"
            )
        if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise ValueError(f"cross_entropy: label {bad} is out of range for {c} classes [0, {c})")
        return CrossEntropy(t, reduction, soft=False)(input)
    if t.shape != (n, c):
        raise ValueError(
            f"cross_entropy: targets must be integer labels of shape ({n},) or class "
            f"probabilities of shape ({n}, {c}), got {t.dtype} of shape {tuple(t.shape)}"
        )
    return CrossEntropy(t.astype(input.dtype, copy=False), reduction, soft=True)(input)


# --- dropout ----------------------------------------------------------------------------------

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


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator: Any = None) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014): each unit is zeroed with probability ``p`` and
    the kept ones are scaled by ``1 / (1 - p)``, so ``E[y] = x``. The identity when not training
    or ``p == 0``. ``generator`` defaults to the device's seeded generator."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    xp = xp_of(x.data)
    if p == 1:
        mask = xp.zeros(x.shape, dtype=x.dtype)
    else:
        gen = generator if generator is not None else backend.default_generator(x.device)
        u = gen.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64)
        mask = (u >= p).astype(x.dtype)
        mask *= 1.0 / (1.0 - p)
    return _Dropout(mask)(x)


# --- the public functional API ----------------------------------------------------------------

def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting."""
    return Add()(*_pair(a, b))


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting."""
    return Sub()(*_pair(a, b))


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting."""
    return Mul()(*_pair(a, b))


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting."""
    return Div()(*_pair(a, b))


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors torch.pow
    """``a ** b``; a constant exponent takes the cheaper ``c x^(c-1)`` path."""
    if isinstance(a, Tensor) and isinstance(b, int | float | np.number):
        return PowScalar(float(b) if not isinstance(b, int) else b)(a)
    return Pow()(*_pair(a, b))


def neg(x: Tensor) -> Tensor:
    """``-x``."""
    return Neg()(x)


def matmul(a: Any, b: Any) -> Tensor:
    """The matrix product ``a @ b`` (batched over leading axes)."""
    return MatMul()(*_pair(a, b))


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes by default)."""
    if axis is not None:
        _norm_axis(axis, x.ndim)
    return Sum(axis, keepdims)(x)


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes by default)."""
    if axis is not None:
        _norm_axis(axis, x.ndim)
    return Mean(axis, keepdims)(x)


def max(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; the gradient is split among tied maxima."""
    if axis is not None:
        _norm_axis(axis, x.ndim)
    return Max(axis, keepdims)(x)


def min(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis`` (``-max(-x)``)."""
    return neg(max(neg(x), axis=axis, keepdims=keepdims))


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (one dimension may be -1)."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return Reshape(tuple(int(s) for s in shape))(x)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Permute the axes (reverse them when none are given)."""
    if len(axes) == 1 and isinstance(axes[0], tuple | list):
        axes = tuple(axes[0])
    if not axes:
        return Transpose(None)(x)
    perm = _norm_axis(axes, x.ndim)  # non-negative, so that argsort inverts it in backward
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes "
                         f"of a tensor of shape {x.shape}")
    return Transpose(perm)(x)


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]``; repeated integer indices accumulate their gradients."""
    return GetItem(_index_data(index))(x)


def exp(x: Tensor) -> Tensor:
    """``e^x``."""
    return Exp()(x)


def log(x: Tensor) -> Tensor:
    """The natural logarithm."""
    return Log()(x)


def sqrt(x: Tensor) -> Tensor:
    """The square root."""
    return Sqrt()(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    """The absolute value."""
    return Abs()(x)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Values limited to ``[min, max]``."""
    if min is None and max is None:
        raise ValueError("clip needs min, max or both")
    return Clip(min, max)(x)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    ts = _same_kind(tensors)
    return Concatenate(axis)(*ts)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return Stack(axis)(*_same_kind(tensors))


def _same_kind(tensors: Sequence[Any]) -> list[Tensor]:
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    if first is None:
        first = _wrap(xp_of(tensors[0]).asarray(tensors[0]))
    ts = [_as_tensor(t, first) for t in tensors]
    dtypes = {t.data.dtype for t in ts}
    if len(dtypes) > 1:
        raise TypeError(f"tensors have different dtypes {sorted(map(str, dtypes))}")
    return ts


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``condition`` holds, else ``b``."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        xp = xp_of(condition.data) if isinstance(condition, Tensor) else np
        a = _wrap(xp.asarray(a, dtype=backend.get_default_dtype()))
    a, b = _pair(a, b)
    cond = condition.data if isinstance(condition, Tensor) else xp_of(a.data).asarray(condition)
    return Where(cond.astype(bool, copy=False))(a, b)


def sigmoid(x: Tensor) -> Tensor:
    """The logistic function ``1 / (1 + e^-x)``, stable for any x."""
    return Sigmoid()(x)


def tanh(x: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return Tanh()(x)


def relu(x: Tensor) -> Tensor:
    """``max(0, x)``."""
    return ReLU()(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` for positive x, ``negative_slope * x`` otherwise."""
    return LeakyReLU(negative_slope)(x)


def softplus(x: Tensor) -> Tensor:
    """``log(1 + e^x)``, stable for any x."""
    return Softplus()(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``e^x / sum e^x`` along ``axis``."""
    _norm_axis(axis, x.ndim)
    return Softmax(axis)(x)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``log softmax(x)`` along ``axis``, stable for any x."""
    _norm_axis(axis, x.ndim)
    return LogSoftmax(axis)(x)


def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log sum e^x`` over ``axis``, stable for any x."""
    if axis is not None:
        _norm_axis(axis, x.ndim)
    return LogSumExp(axis, keepdims)(x)


# --- tensor methods ---------------------------------------------------------------------------

def _compare(op: str) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        return _wrap(getattr(self.data, op)(o))
    method.__name__ = op
    return method


def _bind_methods() -> None:
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: sub(a, b)
    T.__rsub__ = lambda a, b: sub(b, a)
    T.__mul__ = lambda a, b: mul(a, b)
    T.__rmul__ = lambda a, b: mul(b, a)
    T.__truediv__ = lambda a, b: div(a, b)
    T.__rtruediv__ = lambda a, b: div(b, a)
    T.__pow__ = lambda a, b: pow(a, b)
    T.__rpow__ = lambda a, b: pow(_as_tensor(b, a), a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__neg__ = neg
    T.__getitem__ = getitem
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        setattr(T, op, _compare(op))
    T.T = property(lambda x: transpose(x))
    T.transpose = transpose
    T.reshape = reshape
    T.flatten = lambda x, start_axis=1: reshape(x, (*x.shape[:start_axis], -1))
    T.sum = sum
    T.mean = mean
    T.max = max
    T.min = min
    T.exp = exp
    T.log = log
    T.sqrt = sqrt
    T.abs = abs
    T.clip = clip
    T.sigmoid = sigmoid
    T.tanh = tanh
    T.relu = relu
    T.leaky_relu = leaky_relu
    T.softplus = softplus
    T.softmax = softmax
    T.log_softmax = log_softmax
    T.logsumexp = logsumexp
    T.argmax = lambda x, axis=None: _wrap(x.data.argmax(axis=axis))


_bind_methods()
