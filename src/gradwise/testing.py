"""``gradcheck``: compare reverse-mode gradients with float64 central differences.

For a function ``f`` and a fixed random weighting ``v`` of its output, the scalar
``J(x) = sum(v * f(x))`` has the analytical gradient that backpropagation returns, and the
numerical one ``(J(x + eps e) - J(x - eps e)) / (2 eps)`` along a direction ``e``. Small inputs are
checked element by element (``e`` = each unit vector); large ones along ``n_directions`` random
unit directions, which costs the same for any size (as Chainer's ``check_backward``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import Tensor, no_grad

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(AssertionError):
    """Analytical and numerical gradients disagree."""


def _scalar(fn: Callable[..., Any], inputs: Sequence[Tensor], v: np.ndarray | None) -> float:
    with no_grad():
        out = fn(*inputs)
    data = np.asarray(out.numpy(), dtype=np.float64)
    return float(np.sum(data * v)) if v is not None else float(np.sum(data))


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6,
              atol: float = 1e-7, rtol: float = 1e-5, max_elementwise: int = 64,
              n_directions: int = 8, seed: int = 0) -> bool:
    """Check ``fn``'s gradients with respect to every input that requires grad.

    Inputs must be float64. Returns True, or raises :class:`GradcheckError` naming the input,
    the element or direction, and both values.
    """
    for i, t in enumerate(inputs):
        if t.requires_grad and t.dtype != np.float64:
            raise ValueError(f"gradcheck needs float64 inputs; input {i} is {t.dtype}")
    rng = np.random.default_rng(seed)
    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    v = rng.standard_normal(out.shape)
    (out * Tensor(v, dtype=np.float64)).sum().backward()
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            continue
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(t.grad, dtype=np.float64)
        x = t.data
        original = x.copy()
        if x.size <= max_elementwise:
            directions: list[tuple[str, int | None]] = [
                (f"element {np.unravel_index(j, x.shape)}", j) for j in range(x.size)]
        else:
            directions = [(f"random direction {k}", None) for k in range(n_directions)]
        for label, j in directions:
            if j is None:
                e = rng.standard_normal(x.shape)
                e /= np.linalg.norm(e)
            else:
                e = np.zeros(x.shape)
                e.flat[j] = 1.0
            x[...] = original + eps * e
            plus = _scalar(fn, inputs, v)
            x[...] = original - eps * e
            minus = _scalar(fn, inputs, v)
            x[...] = original
            numeric = (plus - minus) / (2 * eps)
            exact = float(np.sum(analytic * e))
            if not abs(numeric - exact) <= atol + rtol * abs(numeric):
                raise GradcheckError(
                    f"gradient of input {i} (shape {t.shape}) along {label}: "
                    f"backprop gives {exact!r}, central differences give {numeric!r}"
                )
    return True
