"""NumPy's bundled OpenBLAS through its C API (what threadpoolctl does): the library itself
(:func:`openblas`, also used by the benchmarks) and its thread count.

When several Python threads each run matrix products, OpenBLAS threads of their own would
oversubscribe the cores; ``blas_threads(1)`` gives each product one thread for the duration.
With another BLAS (MKL, Accelerate) or none found, it changes nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np

__all__ = ["blas_threads", "openblas"]


@cache
def openblas() -> Any:
    """NumPy's bundled OpenBLAS (scipy-openblas), opened with ctypes, or None."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                  "libscipy_openblas*.so*"))
    return ctypes.CDLL(libs[0]) if libs else None


@cache
def _api() -> tuple[Any, Any] | None:
    lib = openblas()
    if lib is None:
        return None
    for suffix in ("64_", ""):
        get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
        set_ = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
        if get is not None and set_ is not None:
            return get, set_
    return None


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with OpenBLAS limited to ``n`` threads, then restore the previous count."""
    api = _api()
    if api is None:
        yield
        return
    get, set_ = api
    before = get()
    set_(n)
    try:
        yield
    finally:
        set_(before)
