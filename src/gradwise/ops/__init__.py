"""The ``Function`` classes behind :mod:`gradwise.functional`, one file per kind of op.

Each op has a ``forward`` on raw arrays and a ``backward`` that applies the chain rule; each
docstring states what it computes and its derivative. :mod:`gradwise.functional` is the public
interface to them.
"""

from .activations import _log_softmax as log_softmax_array
from .activations import _sigmoid as sigmoid_array
from .dense import FUSED_ACTIVATIONS, activate_, register_fused, unregister_fused
from .losses import _check_reduction as check_reduction
from .losses import _target_like as target_like
from .shape import _index_data as index_data
from .util import _norm_axis as norm_axis

# array-level kernels (no graph) and argument checks that the layers above use
__all__ = ["FUSED_ACTIVATIONS", "activate_", "check_reduction", "index_data",
           "log_softmax_array", "norm_axis", "register_fused", "sigmoid_array", "target_like",
           "unregister_fused"]
