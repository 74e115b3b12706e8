"""The lab's thread control: ``blas_threads(n)`` is :func:`gradwise.threads.limit`.

When several Python threads each run matrix products, OpenBLAS threads of their own would
oversubscribe the cores; ``blas_threads(1)`` gives each product one thread for the duration.
With another BLAS (MKL, Accelerate) or none found, it changes nothing.
"""

from __future__ import annotations

from ..threads import limit as blas_threads
from ..threads import openblas

__all__ = ["blas_threads", "openblas"]
