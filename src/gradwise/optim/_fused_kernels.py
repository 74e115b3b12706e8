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

_CHUNK = 1 << 14  # elements per task of the parallel kernel
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
def adam_serial(p: Any, g: Any, m: Any, v: Any, vmax: Any, wd: Any, decay: Any, w: Any,
                small_w: bool, b2: Any, one_minus_b2: Any, eps_c: Any, scale: Any,
                amsgrad: bool) -> None:
    """Adam over the whole span on this thread (see :func:`gradwise.optim.fused.adam`)."""
    _adam_span(p, g, m, v, vmax, 0, p.shape[0], wd, decay, w, small_w, b2, one_minus_b2, eps_c,
               scale, amsgrad)


@numba.njit(nogil=True, cache=True, parallel=True, error_model="numpy")
def adam_parallel(p: Any, g: Any, m: Any, v: Any, vmax: Any, wd: Any, decay: Any, w: Any,
                  small_w: bool, b2: Any, one_minus_b2: Any, eps_c: Any, scale: Any,
                  amsgrad: bool) -> None:
    """Adam over the span in chunks of :data:`_CHUNK` elements spread over numba's threads."""
    n = p.shape[0]
    for c in numba.prange((n + _CHUNK - 1) // _CHUNK):
        _adam_span(p, g, m, v, vmax, c * _CHUNK, min(n, (c + 1) * _CHUNK), wd, decay, w,
                   small_w, b2, one_minus_b2, eps_c, scale, amsgrad)
