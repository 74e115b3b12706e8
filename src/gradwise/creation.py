"""Tensor constructors: ``zeros``, ``ones``, ``full``, ``arange``, ``eye``, ``randn``, ``rand``."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backend
from .autograd import Tensor, wrap

__all__ = ["arange", "eye", "full", "ones", "ones_like", "rand", "randn", "zeros", "zeros_like"]


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _make(arr: Any, requires_grad: bool) -> Tensor:
    t = wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _dtype(dtype: Any) -> np.dtype:
    return backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)


def zeros(*shape: Any, dtype: Any = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    xp = backend.xp_for(backend.normalize_device(device))
    return _make(xp.zeros(_shape(shape), dtype=_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    xp = backend.xp_for(backend.normalize_device(device))
    return _make(xp.ones(_shape(shape), dtype=_dtype(dtype)), requires_grad)


def full(shape: Any, value: float, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``value``."""
    xp = backend.xp_for(backend.normalize_device(device))
    return _make(xp.full(_shape((shape,)), value, dtype=_dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return _make(backend.xp_of(t.data).zeros_like(t.data), requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return _make(backend.xp_of(t.data).ones_like(t.data), requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           device: str | None = None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; integers stay integers unless ``dtype`` says."""
    xp = backend.xp_for(backend.normalize_device(device))
    if stop is None:
        start, stop = 0, start
    arr = xp.arange(start, stop, step)
    if dtype is not None:
        arr = arr.astype(backend.as_dtype(dtype))
    elif arr.dtype.kind == "f":
        arr = arr.astype(backend.get_default_dtype())
    return wrap(arr)


def eye(n: int, dtype: Any = None, device: str | None = None) -> Tensor:
    """The n x n identity matrix."""
    xp = backend.xp_for(backend.normalize_device(device))
    return wrap(xp.eye(n, dtype=_dtype(dtype)))


def _sample(method: str, shape: tuple[Any, ...], dtype: Any, device: str | None,
            generator: Any, requires_grad: bool) -> Tensor:
    """Draw with ``generator.<method>`` (default: the device's seeded generator); float16 is
    drawn in float64 and rounded, since the generators draw float32 and float64 only."""
    dev = backend.normalize_device(device)
    gen = generator if generator is not None else backend.default_generator(dev)
    d = _dtype(dtype)
    arr = getattr(gen, method)(_shape(shape), dtype=d if d in (np.float32, np.float64) else None)
    return _make(arr.astype(d, copy=False), requires_grad)


def randn(*shape: Any, dtype: Any = None, device: str | None = None, generator: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Samples of the standard normal N(0, 1) from the seeded generator."""
    return _sample("standard_normal", shape, dtype, device, generator, requires_grad)


def rand(*shape: Any, dtype: Any = None, device: str | None = None, generator: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Samples of the uniform distribution on [0, 1) from the seeded generator."""
    return _sample("random", shape, dtype, device, generator, requires_grad)
