"""Gradient clipping: keep one large gradient from throwing the parameters far away."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0) -> Tensor:
    """Rescale all gradients together, in place, so that their total norm is at most
    ``max_norm``, as ``torch.nn.utils.clip_grad_norm_`` does::

        n = || (||g_1||, ..., ||g_k||) ||        (the norm of all gradients as one vector)
        g_i <- g_i * min(1, max_norm / (n + 1e-6))

    ``norm_type`` is 2 (Euclidean) by default, or ``inf`` (largest absolute value). Returns the
    total norm before clipping as a 0-d tensor on the gradients' device. When a gradient holds
    a NaN the norm is NaN and the gradients are left as they are (PyTorch would turn them all
    into NaN). Nothing is read back to the host, so on a GPU clipping does not make the step
    wait.
    """
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm!r}")
    if not (norm_type == math.inf or norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type!r}")
    grads = _grads(parameters)
    if not grads:
        return Tensor(0.0)
    xp = backend.xp_of(grads[0])
    if norm_type == math.inf:
        norms = [xp.abs(g).max() if g.size else xp.zeros((), g.dtype) for g in grads]
        total = xp.stack(norms).max()
    else:
        norms = [xp.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads]
        total = xp.linalg.norm(xp.stack(norms), ord=norm_type)
    coef = max_norm / (total + 1e-6)
    coef = xp.where(coef < 1.0, coef, 1.0)  # NaN compares false: a NaN norm changes nothing
    if xp is not np or coef < 1.0:  # on the CPU the test is free, and skips a pass over the grads
        for g in grads:
            g *= coef.astype(g.dtype)
    return Tensor(total, dtype=total.dtype)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient element into ``[-clip_value, clip_value]``, in place."""
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    for g in _grads(parameters):
        xp = backend.xp_of(g)
        xp.clip(g, -clip_value, clip_value, out=g)
