"""Optimizers, learning-rate schedules and gradient clipping (``gw.optim``).

``SGD``, ``Adam``, ``AdamW``, ``Adadelta``, ``Adagrad`` and ``RMSprop`` follow PyTorch's update
equations and defaults step for step; each writes its update rule for one parameter (the
paper's equation) and, being elementwise, updates a model's contiguous parameters and gradients
as one flat span, so a step costs a fixed handful of array operations (see :mod:`.optimizer`).
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer, ParamsT
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["OPTIMIZERS", "SCHEDULES", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer",
           "RMSprop", "clip_grad_norm_", "clip_grad_value_", "get", "schedules"]

#: the optimizers by the names configs use
OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer", {
    "sgd": SGD, "adam": Adam, "adamw": AdamW, "adadelta": Adadelta, "adagrad": Adagrad,
    "rmsprop": RMSprop,
})

#: the learning-rate schedules by the names configs use (``[schedule] name = ...``), stepped
#: once per epoch; PyTorch's by their own names (linear, constant, polynomial, onecycle)
SCHEDULES: Registry[type[schedules.LRSchedule | schedules.ReduceLROnPlateau]] = Registry(
    "schedule", {
    "step": schedules.StepLR, "exponential": schedules.ExponentialLR,
    "cosine": schedules.CosineAnnealingLR, "warmup": schedules.LinearWarmup,
    "plateau": schedules.ReduceLROnPlateau, "linear": schedules.LinearLR,
    "constant": schedules.ConstantLR, "polynomial": schedules.PolynomialLR,
    "onecycle": schedules.OneCycleLR,
})


def get(name: str, params: ParamsT, **hyper: Any) -> Optimizer:
    """An optimizer by (case-insensitive) name: ``get("adam", model.parameters(), lr=1e-3)``."""
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(OPTIMIZERS.unknown(name))
    return OPTIMIZERS[key](params, **hyper)
