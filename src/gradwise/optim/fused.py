"""Fused CPU kernels for the elementwise optimizers, compiled by numba (``gradwise[fast]``).

NumPy has no fused ``a * x + y``: Adam's update is a dozen array passes (see
:meth:`gradwise.optim.Adam._update`), each reading and writing whole arrays. With numba
installed, :class:`~gradwise.optim.Adam` and :class:`~gradwise.optim.AdamW` update each element
in one pass instead, reading ``p, g, m, v`` once and writing ``p, m, v`` once; SGD, RMSprop,
Adagrad and Adadelta likewise. The kernels run on the calling thread: a version spread over two
threads by numba (``prange``) made the 784-1000-1000-10 training step 2.2 times slower on the
2-core machine (27.0 against 12.2 ms), fighting OpenBLAS's worker, which still spins on the
other core after the backward pass's matrix products. The kernel performs the same floating-point
operations in the same order and precision as the NumPy path (scalars rounded to the array's
dtype first, no fused multiply-add, no reassociation), so both give bit-identical results;
``tests/test_fused.py`` checks that on every option.

Without numba nothing here is imported and the NumPy path runs. ``GRADWISE_FUSED=0`` turns the
kernels off (``set_enabled(False)`` in a program).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np

__all__ = ["adadelta", "adagrad", "adam", "available", "enabled", "rmsprop", "set_enabled", "sgd",
           "usable"]


_switch: bool | None = None


def available() -> bool:
    """Whether numba is installed."""
    return importlib.util.find_spec("numba") is not None


def enabled() -> bool:
    """Whether the optimizers use the fused kernels: numba is installed and they were not turned
    off (``GRADWISE_FUSED=0`` or ``set_enabled(False)``)."""
    global _switch
    if _switch is None:
        _switch = os.environ.get("GRADWISE_FUSED", "1").strip() != "0" and available()
    return _switch


def usable(dtype: Any) -> bool:
    """Whether the kernels run for parameters of ``dtype`` (float32 and float64, when
    :func:`enabled`)."""
    return dtype in (np.float32, np.float64) and enabled()


def set_enabled(on: bool) -> None:
    """Use (True, when numba is installed) or bypass (False) the fused kernels."""
    global _switch
    if on and not available():
        raise RuntimeError("the fused optimizer kernels need numba: pip install 'gradwise[fast]'")
    _switch = bool(on)


def _kernels() -> Any:
    from . import _fused_kernels  # compiles (or loads from numba's cache) on first use

    return _fused_kernels


def adam(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: np.ndarray | None,
         lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
         decoupled: bool, step: int) -> None:
    """One Adam/AdamW step on 1-D contiguous arrays, in place on ``p``, ``m``, ``v`` (and
    ``vmax`` with AMSGrad), the same arithmetic as :meth:`gradwise.optim.Adam._update`::

        g' = g + wd p                     (Adam's coupled L2; AdamW: p <- p (1 - lr wd) first)
        m <- m + (1 - beta1)(g' - m)
        v <- beta2 v + (1 - beta2) g'^2,   v_max <- max(v_max, v)   (AMSGrad)
        p <- p - lr/(1 - beta1^t) * m / (sqrt(v)/sqrt(1 - beta2^t) + eps)

    written as ``p + (m / (sqrt(v) + eps c)) (-lr c / (1 - beta1^t))`` with
    ``c = sqrt(1 - beta2^t)`` (Kingma and Ba 2014, Algorithm 1; Loshchilov and Hutter 2019).
    """
    dt = p.dtype.type
    step_size = lr / (1.0 - beta1**step)
    bc2 = (1.0 - beta2**step) ** 0.5
    w = 1.0 - beta1
    small_w = w < 0.5
    coupled = bool(weight_decay) and not decoupled
    decay = bool(weight_decay) and decoupled
    kernel = _kernels().adam(small_w, vmax is not None, coupled, decay)
    kernel(p, g, m, v, vmax if vmax is not None else m[:1], dt(weight_decay),
           dt(1.0 - lr * weight_decay), dt(w if small_w else 1.0 - w), dt(beta2),
           dt(1.0 - beta2), dt(eps * bc2), dt(-step_size * bc2))


def sgd(p: np.ndarray, g: np.ndarray, b: np.ndarray | None, lr: float, momentum: float,
        dampening: float, weight_decay: float, nesterov: bool, first: bool) -> None:
    """One SGD step (Polyak momentum, dampening, Nesterov; Sutskever et al. 2013) as
    :meth:`gradwise.optim.SGD._update`::

        d = g + wd p;  b <- d (first step) or mu b + (1 - tau) d;  d = d + mu b (Nesterov) or b
        p <- p - lr d
    """
    dt = p.dtype.type
    kernel = _kernels().sgd(bool(weight_decay), bool(momentum), first, bool(dampening),
                            nesterov)
    kernel(p, g, b if b is not None else p[:1], dt(weight_decay), dt(momentum),
           dt(1.0 - dampening), dt(-lr))


def rmsprop(p: np.ndarray, g: np.ndarray, v: np.ndarray, gbar: np.ndarray | None,
            b: np.ndarray | None, lr: float, alpha: float, eps: float, weight_decay: float,
            momentum: float) -> None:
    """One RMSprop step (Hinton, Lecture 6e; centered: Graves 2013) as
    :meth:`gradwise.optim.RMSprop._update`::

        v <- alpha v + (1 - alpha) g^2;  gbar <- alpha gbar + (1 - alpha) g   (centered)
        s = g / (sqrt(v - gbar^2 or v) + eps);  b <- mu b + s  (momentum);  p <- p - lr (b or s)
    """
    dt = p.dtype.type
    w = 1.0 - alpha
    small_w = w < 0.5
    kernel = _kernels().rmsprop(bool(weight_decay), gbar is not None, small_w, momentum > 0)
    kernel(p, g, v, gbar if gbar is not None else p[:1], b if b is not None else p[:1],
           dt(weight_decay), dt(alpha), dt(1.0 - alpha), dt(w if small_w else 1.0 - w), dt(eps),
           dt(momentum), dt(-lr), dt(0.0))


def adagrad(p: np.ndarray, g: np.ndarray, acc: np.ndarray, clr: float, eps: float,
            weight_decay: float) -> None:
    """One Adagrad step (Duchi et al. 2011) as :meth:`gradwise.optim.Adagrad._update`::

        acc <- acc + g^2;  p <- p - clr g / (sqrt(acc) + eps)
    """
    dt = p.dtype.type
    _kernels().adagrad(bool(weight_decay))(p, g, acc, dt(weight_decay), dt(eps), dt(-clr))


def adadelta(p: np.ndarray, g: np.ndarray, u: np.ndarray, a: np.ndarray, lr: float, rho: float,
             eps: float, weight_decay: float) -> None:
    """One Adadelta step (Zeiler 2012, Algorithm 1) as :meth:`gradwise.optim.Adadelta._update`::

        u <- rho u + (1 - rho) g^2;  delta = sqrt(a + eps) / sqrt(u + eps) g
        a <- rho a + (1 - rho) delta^2;  p <- p - lr delta
    """
    dt = p.dtype.type
    _kernels().adadelta(bool(weight_decay), lr != 1.0)(p, g, u, a, dt(weight_decay), dt(rho),
                                                       dt(1.0 - rho), dt(eps), dt(lr))
