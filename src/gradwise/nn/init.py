"""Weight initializers, in place on a tensor (the draws are taken from NumPy's seeded generator
on the CPU and moved to the tensor's device, so a seed gives the same weights everywhere).

For a Dense weight of shape (in, out): ``fan_in = in``, ``fan_out = out``.

- ``normal(t, std)``: the lecture's ``N(0, sigma^2)``;
- ``glorot_uniform``: ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``; ``glorot_normal``:
  ``N(0, 2 / (fan_in + fan_out))`` (Glorot and Bengio 2010);
- ``he_uniform``: ``a = sqrt(6 / fan_in)``; ``he_normal``: ``N(0, 2 / fan_in)`` (He et al. 2015).

The normal variants are not truncated (PyTorch's choice; Keras truncates).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor
from ..registry import Registry

__all__ = [
    "INITIALIZERS", "INIT_EXCLUDED",
    "constant", "fans", "get", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
    "normal", "ones", "uniform", "zeros",
]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape (in, out); (n, n) for a vector."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    backend.xp_of(t.data).copyto(t.data, backend.to_device(values, t.device).astype(t.dtype))
    return t


def _gen(generator: Any) -> np.random.Generator:
    return generator if generator is not None else backend.default_generator("cpu")


def normal(t: Tensor, std: float = 1.0, mean: float = 0.0, generator: Any = None) -> Tensor:
    """Fill with samples of ``N(mean, std^2)``."""
    if std < 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    return _fill(t, _gen(generator).normal(mean, std, size=t.shape))


def uniform(t: Tensor, low: float = 0.0, high: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples of ``U(low, high)``."""
    if high < low:
        raise ValueError(f"uniform: high ({high}) must be >= low ({low})")
    return _fill(t, _gen(generator).uniform(low, high, size=t.shape))


def glorot_uniform(t: Tensor, generator: Any = None) -> Tensor:
    """Glorot/Xavier uniform: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``."""
    fi, fo = fans(t.shape)
    a = math.sqrt(6.0 / (fi + fo))
    return uniform(t, -a, a, generator)


def glorot_normal(t: Tensor, generator: Any = None) -> Tensor:
    """Glorot/Xavier normal: ``N(0, 2 / (fan_in + fan_out))``."""
    fi, fo = fans(t.shape)
    return normal(t, math.sqrt(2.0 / (fi + fo)), generator=generator)


def he_uniform(t: Tensor, generator: Any = None) -> Tensor:
    """He/Kaiming uniform: ``U(-a, a)`` with ``a = sqrt(6 / fan_in)``."""
    fi, _ = fans(t.shape)
    a = math.sqrt(6.0 / fi)
    return uniform(t, -a, a, generator)


def he_normal(t: Tensor, generator: Any = None) -> Tensor:
    """He/Kaiming normal: ``N(0, 2 / fan_in)``."""
    fi, _ = fans(t.shape)
    return normal(t, math.sqrt(2.0 / fi), generator=generator)


def constant(t: Tensor, value: float) -> Tensor:
    backend.xp_of(t.data).copyto(t.data, value, casting="unsafe")
    return t


def zeros(t: Tensor, generator: Any = None) -> Tensor:
    return constant(t, 0.0)


def ones(t: Tensor, generator: Any = None) -> Tensor:
    return constant(t, 1.0)


#: the initializers by the names ``Dense(weight_init=...)`` and configs use
INITIALIZERS: Registry[Callable[..., Tensor]] = Registry("initializer", {
    "zeros": zeros,
    "ones": ones,
    "normal": normal,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal,
})

#: the initializers of INITIALIZERS a hidden layer's weights do not take from a config: constant
#: ones never break the symmetry between units
INIT_EXCLUDED = ("zeros", "ones")


def get(name: str | Callable[..., Tensor]) -> Callable[..., Tensor]:
    """An initializer by name (``"glorot_uniform"``, ``"he_normal"``, ...) or a callable as is."""
    if callable(name):
        return name
    return INITIALIZERS.get(name)
