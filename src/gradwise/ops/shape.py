"""Shape ops: reshape, transpose, indexing, concatenate, stack and where."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function, Tensor
from ..backend import xp_of
from .util import unbroadcast


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
