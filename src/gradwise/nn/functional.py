"""``gradwise.nn.functional``: the differentiable functions, as in ``torch.nn.functional``."""

from ..functional import *  # noqa: F403
from ..functional import __all__  # noqa: F401
