"""The numba kernels behind :mod:`gradwise.optim.fused` (imported only when numba is installed
and the kernels are used; compiled once and kept in numba's cache).

Every kernel uses NumPy's error model (division by zero gives inf/nan, no exception branch),
which lets LLVM vectorize the loops; no ``fastmath``: the operations and their order are those
of the NumPy path, so the results are bit-identical.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

_inline = numba.njit(inline="always", cache=True, error_model="numpy")


@_inline
def _adam_element(i: int, p: Any, g: Any, m: Any, v: Any, vmax: Any, wd: Any, decay: Any,
                  w: Any, small_w: bool, b2: Any, one_minus_b2: Any, eps_c: Any, scale: Any,
                  amsgrad: bool) -> None:
    gi = g[i]
    if wd != 0:  # coupled L2: g + wd p, as with_weight_decay (p * wd, then + g)
        gi = p[i] * wd + gi
    pi = p[i]
    if decay != 1:  # AdamW: p (1 - lr wd) before the step
        pi = pi * decay
    mi = m[i]
    if small_w:  # lerp_: m + (g - m) w, or g - (g - m)(1 - w) for w >= 0.5
        mi = mi + (gi - mi) * w
    else:
        mi = gi - (gi - mi) * w
    m[i] = mi
    vi = v[i] * b2 + (gi * one_minus_b2) * gi
    v[i] = vi
    if amsgrad:  # np.maximum: NaN propagates
        vm = vmax[i]
        if vm == vm and (vi != vi or vi > vm):
            vm = vi
        vmax[i] = vm
        vi = vm
    p[i] = pi + (mi / (np.sqrt(vi) + eps_c)) * scale


@_inline
def _adam_plain(p: Any, g: Any, m: Any, v: Any, lo: int, hi: int, w: Any, b2: Any,
                one_minus_b2: Any, eps_c: Any, scale: Any) -> None:
    # the common case (no weight decay, no AMSGrad, beta1 > 0.5), branch-free so that LLVM
    # vectorizes it: the same operations as _adam_element
    for i in range(lo, hi):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * w
        m[i] = mi
        vi = v[i] * b2 + (gi * one_minus_b2) * gi
        v[i] = vi
        p[i] = p[i] + (mi / (np.sqrt(vi) + eps_c)) * scale


@_inline
def _adam_span(p: Any, g: Any, m: Any, v: Any, vmax: Any, lo: int, hi: int, wd: Any,
               decay: Any, w: Any, small_w: bool, b2: Any, one_minus_b2: Any, eps_c: Any,
               scale: Any, amsgrad: bool) -> None:
    if wd == 0 and decay == 1 and small_w and not amsgrad:
        _adam_plain(p, g, m, v, lo, hi, w, b2, one_minus_b2, eps_c, scale)
    else:
        for i in range(lo, hi):
            _adam_element(i, p, g, m, v, vmax, wd, decay, w, small_w, b2, one_minus_b2, eps_c,
                          scale, amsgrad)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def adam(p: Any, g: Any, m: Any, v: Any, vmax: Any, wd: Any, decay: Any, w: Any,
                small_w: bool, b2: Any, one_minus_b2: Any, eps_c: Any, scale: Any,
                amsgrad: bool) -> None:
    """Adam over the whole span (see :func:`gradwise.optim.fused.adam`)."""
    _adam_span(p, g, m, v, vmax, 0, p.shape[0], wd, decay, w, small_w, b2, one_minus_b2, eps_c,
               scale, amsgrad)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def sgd(p: Any, g: Any, b: Any, wd: Any, mu: Any, first: bool, damp: Any, one_minus_damp: Any,
        nesterov: bool, neg_lr: Any) -> None:
    """SGD with momentum, dampening and Nesterov as :meth:`gradwise.optim.SGD._update`
    (``b`` is unused without momentum)."""
    for i in range(p.shape[0]):
        d = g[i]
        if wd != 0:
            d = p[i] * wd + d
        if mu != 0:
            if first:
                bi = d
            else:
                bi = b[i] * mu
                if damp != 0:
                    d = d * one_minus_damp
                bi = bi + d
            b[i] = bi
            d = bi * mu + d if nesterov else bi
        p[i] = p[i] + d * neg_lr


@numba.njit(nogil=True, cache=True, error_model="numpy")
def rmsprop(p: Any, g: Any, v: Any, gbar: Any, b: Any, wd: Any, alpha: Any,
            one_minus_alpha: Any, centered: bool, w: Any, small_w: bool, eps: Any, mu: Any,
            neg_lr: Any, zero: Any) -> None:
    """RMSprop (centered, with momentum) as :meth:`gradwise.optim.RMSprop._update`."""
    for i in range(p.shape[0]):
        gi = g[i]
        if wd != 0:
            gi = p[i] * wd + gi
        vi = v[i] * alpha + (gi * one_minus_alpha) * gi
        v[i] = vi
        if centered:
            gb = gbar[i]
            gb = gb + (gi - gb) * w if small_w else gi - (gi - gb) * w
            gbar[i] = gb
            s = vi - gb * gb
            if not s > 0 and s == s:  # np.maximum(s, 0.0): +0.0 for -0.0, NaN stays
                s = zero
            s = np.sqrt(s)
        else:
            s = np.sqrt(vi)
        s = gi / (s + eps)
        if mu > 0:
            bi = b[i] * mu + s
            b[i] = bi
            s = bi * neg_lr
        else:
            s = s * neg_lr
        p[i] = p[i] + s


@numba.njit(nogil=True, cache=True, error_model="numpy")
def adagrad(p: Any, g: Any, acc: Any, wd: Any, eps: Any, neg_clr: Any) -> None:
    """Adagrad as :meth:`gradwise.optim.Adagrad._update`."""
    for i in range(p.shape[0]):
        gi = g[i]
        if wd != 0:
            gi = p[i] * wd + gi
        a = acc[i] + gi * gi
        acc[i] = a
        p[i] = p[i] + (gi / (np.sqrt(a) + eps)) * neg_clr


@numba.njit(nogil=True, cache=True, error_model="numpy")
def adadelta(p: Any, g: Any, u: Any, a: Any, wd: Any, rho: Any, one_minus_rho: Any, eps: Any,
             lr: Any, scale: bool) -> None:
    """Adadelta as :meth:`gradwise.optim.Adadelta._update`."""
    for i in range(p.shape[0]):
        gi = g[i]
        if wd != 0:
            gi = p[i] * wd + gi
        ui = u[i] * rho + (gi * one_minus_rho) * gi
        u[i] = ui
        delta = (np.sqrt(a[i] + eps) / np.sqrt(ui + eps)) * gi
        a[i] = a[i] * rho + (delta * one_minus_rho) * delta
        if scale:
            delta = delta * lr
        p[i] = p[i] - delta
