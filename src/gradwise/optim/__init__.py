"""Optimizers, learning-rate schedules and gradient clipping (``gw.optim``).

``SGD``, ``Adam``, ``AdamW``, ``Adadelta``, ``Adagrad`` and ``RMSprop`` follow PyTorch's update
equations and defaults step for step; each writes its update rule for one parameter (the
paper's equation) and, being elementwise, updates a model's contiguous parameters and gradients
as one flat span, so a step costs a fixed handful of array operations (see :mod:`.optimizer`).
"""

from __future__ import annotations

from typing import Any

from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer, ParamsT
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["OPTIMIZERS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop",
           "clip_grad_norm_", "clip_grad_value_", "get", "schedules"]

#: the optimizers by the names configs use
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adam": Adam, "adamw": AdamW, "adadelta": Adadelta, "adagrad": Adagrad,
    "rmsprop": RMSprop,
}


def get(name: str, params: ParamsT, **hyper: Any) -> Optimizer:
    """An optimizer by (case-insensitive) name: ``get("adam", model.parameters(), lr=1e-3)``."""
    cls = OPTIMIZERS.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    return cls(params, **hyper)
