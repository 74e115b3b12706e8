"""The ``Function`` classes behind :mod:`gradwise.functional`, one file per kind of op.

Each op has a ``forward`` on raw arrays and a ``backward`` that applies the chain rule; each
docstring states what it computes and its derivative. :mod:`gradwise.functional` is the public
interface to them.
"""

from .activations import _log_softmax as log_softmax_array
from .activations import _sigmoid as sigmoid_array
from .dense import FUSED_ACTIVATIONS, activate_

# array-level kernels (no graph) that layers above may use
__all__ = ["FUSED_ACTIVATIONS", "activate_", "log_softmax_array", "sigmoid_array"]
