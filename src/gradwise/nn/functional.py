"""``gradwise.nn.functional``: the differentiable functions, as in ``torch.nn.functional``."""

from ..functional import *  # noqa: F403
from ..functional import __all__, __getattr__  # noqa: F401 (__getattr__: registered activations)
