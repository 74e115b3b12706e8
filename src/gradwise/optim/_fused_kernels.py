"""The numba kernels behind :mod:`gradwise.optim.fused` (imported only when numba is installed
and the kernels are used; compiled once and kept in numba's cache).

Each optimizer's update of one element is an inlined function whose options are boolean
arguments; a factory (one per optimizer, memoized) compiles the loop over a span for one
combination of options, passed as constants of the closure, so the compiler removes the
branches of the others and vectorizes the loop (SIMD ``sqrt`` and division). Every kernel uses
NumPy's error model (division by zero gives inf/nan, no exception branch), and no
``fastmath``: the operations and their order are those of the NumPy path, so the results are
bit-identical.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numba
import numpy as np

_inline = numba.njit(inline="always", cache=True, error_model="numpy")
_loop = numba.njit(nogil=True, cache=True, error_model="numpy")  # compiles a factory's loop


@_inline
def _grad(i: int, p: Any, g: Any, wd: Any, coupled: bool) -> Any:
    """``g + wd p`` (coupled L2, as ``with_weight_decay``: ``p * wd``, then ``+ g``), or ``g``."""
    gi = g[i]
    if coupled:
        gi = p[i] * wd + gi
    return gi


@_inline
def _ema_square(v: Any, i: int, gi: Any, decay: Any, one_minus_decay: Any) -> Any:
    """``v <- decay v + ((1 - decay) g) g`` in place (``v *= decay``, ``s = g (1 - decay)``,
    ``s *= g``, ``v += s``); the new ``v``."""
    vi = v[i] * decay + (gi * one_minus_decay) * gi
    v[i] = vi
    return vi


@_inline
def _adam(i: int, p: Any, g: Any, m: Any, v: Any, vmax: Any, wd: Any, decay: Any, w: Any,
          b2: Any, one_minus_b2: Any, eps_c: Any, scale: Any, small_w: bool, amsgrad: bool,
          coupled: bool, decoupled: bool) -> None:
    gi = _grad(i, p, g, wd, coupled)
    pi = p[i]
    if decoupled:  # AdamW: p (1 - lr wd) before the step
        pi = pi * decay
    mi = m[i]
    if small_w:  # lerp_: m + (g - m) w, or g - (g - m)(1 - w) for w >= 0.5
        mi = mi + (gi - mi) * w
    else:
        mi = gi - (gi - mi) * w
    m[i] = mi
    vi = _ema_square(v, i, gi, b2, one_minus_b2)
    if amsgrad:  # np.maximum: NaN propagates
        vm = vmax[i]
        if vm == vm and (vi != vi or vi > vm):
            vm = vi
        vmax[i] = vm
        vi = vm
    p[i] = pi + (mi / (np.sqrt(vi) + eps_c)) * scale


@cache
def adam(small_w: bool, amsgrad: bool, coupled: bool, decoupled: bool) -> Any:
    """The Adam loop for one combination of options (see :func:`gradwise.optim.fused.adam`)."""

    def kernel(p: Any, g: Any, m: Any, v: Any, vmax: Any, wd: Any, decay: Any, w: Any, b2: Any,
               one_minus_b2: Any, eps_c: Any, scale: Any) -> None:
        for i in range(p.shape[0]):
            _adam(i, p, g, m, v, vmax, wd, decay, w, b2, one_minus_b2, eps_c, scale, small_w,
                  amsgrad, coupled, decoupled)

    return _loop(kernel)


@_inline
def _sgd(i: int, p: Any, g: Any, b: Any, wd: Any, mu: Any, one_minus_damp: Any, neg_lr: Any,
         coupled: bool, momentum: bool, first: bool, dampening: bool, nesterov: bool) -> None:
    d = _grad(i, p, g, wd, coupled)
    if momentum:
        if first:
            bi = d
        else:
            bi = b[i] * mu
            if dampening:
                d = d * one_minus_damp
            bi = bi + d
        b[i] = bi
        if nesterov:
            d = bi * mu + d
        else:
            d = bi
    p[i] = p[i] + d * neg_lr


@cache
def sgd(coupled: bool, momentum: bool, first: bool, dampening: bool, nesterov: bool) -> Any:
    """The SGD loop for one combination of options (see :func:`gradwise.optim.fused.sgd`)."""

    def kernel(p: Any, g: Any, b: Any, wd: Any, mu: Any, one_minus_damp: Any,
               neg_lr: Any) -> None:
        for i in range(p.shape[0]):
            _sgd(i, p, g, b, wd, mu, one_minus_damp, neg_lr, coupled, momentum, first,
                 dampening, nesterov)

    return _loop(kernel)


@_inline
def _rmsprop(i: int, p: Any, g: Any, v: Any, gbar: Any, b: Any, wd: Any, alpha: Any,
             one_minus_alpha: Any, w: Any, eps: Any, mu: Any, neg_lr: Any, zero: Any,
             coupled: bool, centered: bool, small_w: bool, momentum: bool) -> None:
    gi = _grad(i, p, g, wd, coupled)
    vi = _ema_square(v, i, gi, alpha, one_minus_alpha)
    if centered:
        gb = gbar[i]
        if small_w:
            gb = gb + (gi - gb) * w
        else:
            gb = gi - (gi - gb) * w
        gbar[i] = gb
        s = vi - gb * gb
        if not s > 0 and s == s:  # np.maximum(s, 0.0): +0.0 for -0.0, NaN stays
            s = zero
        s = np.sqrt(s)
    else:
        s = np.sqrt(vi)
    s = gi / (s + eps)
    if momentum:
        bi = b[i] * mu + s
        b[i] = bi
        s = bi * neg_lr
    else:
        s = s * neg_lr
    p[i] = p[i] + s


@cache
def rmsprop(coupled: bool, centered: bool, small_w: bool, momentum: bool) -> Any:
    """The RMSprop loop for one combination of options (see
    :func:`gradwise.optim.fused.rmsprop`)."""

    def kernel(p: Any, g: Any, v: Any, gbar: Any, b: Any, wd: Any, alpha: Any,
               one_minus_alpha: Any, w: Any, eps: Any, mu: Any, neg_lr: Any, zero: Any) -> None:
        for i in range(p.shape[0]):
            _rmsprop(i, p, g, v, gbar, b, wd, alpha, one_minus_alpha, w, eps, mu, neg_lr, zero,
                     coupled, centered, small_w, momentum)

    return _loop(kernel)


@_inline
def _adagrad(i: int, p: Any, g: Any, acc: Any, wd: Any, eps: Any, neg_clr: Any,
             coupled: bool) -> None:
    gi = _grad(i, p, g, wd, coupled)
    a = acc[i] + gi * gi
    acc[i] = a
    p[i] = p[i] + (gi / (np.sqrt(a) + eps)) * neg_clr


@cache
def adagrad(coupled: bool) -> Any:
    """The Adagrad loop (see :func:`gradwise.optim.fused.adagrad`)."""

    def kernel(p: Any, g: Any, acc: Any, wd: Any, eps: Any, neg_clr: Any) -> None:
        for i in range(p.shape[0]):
            _adagrad(i, p, g, acc, wd, eps, neg_clr, coupled)

    return _loop(kernel)


@_inline
def _adadelta(i: int, p: Any, g: Any, u: Any, a: Any, wd: Any, rho: Any, one_minus_rho: Any,
              eps: Any, lr: Any, coupled: bool, scaled: bool) -> None:
    gi = _grad(i, p, g, wd, coupled)
    ui = _ema_square(u, i, gi, rho, one_minus_rho)
    delta = (np.sqrt(a[i] + eps) / np.sqrt(ui + eps)) * gi
    a[i] = a[i] * rho + (delta * one_minus_rho) * delta
    if scaled:
        delta = delta * lr
    p[i] = p[i] - delta


@cache
def adadelta(coupled: bool, scaled: bool) -> Any:
    """The Adadelta loop (see :func:`gradwise.optim.fused.adadelta`)."""

    def kernel(p: Any, g: Any, u: Any, a: Any, wd: Any, rho: Any, one_minus_rho: Any, eps: Any,
               lr: Any) -> None:
        for i in range(p.shape[0]):
            _adadelta(i, p, g, u, a, wd, rho, one_minus_rho, eps, lr, coupled, scaled)

    return _loop(kernel)
