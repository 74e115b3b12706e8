"""Adagrad: per-coordinate learning rates from the sum of all past squared gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import fused
from .optimizer import Optimizer, ParamsT, check_range, with_weight_decay

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan and Singer 2011, diagonal form), in PyTorch's form::

        g <- g + lambda theta                              (weight_decay lambda)
        clr = lr / (1 + (t - 1) lr_decay)
        s <- s + g^2                                       (s_0 = initial_accumulator_value)
        theta <- theta - clr g / (sqrt(s) + eps)

    ``eps`` (the paper's delta) is outside the square root; the state exists from construction.
    A parameter group's own ``initial_accumulator_value`` starts that group's sums (PyTorch
    uses the constructor's value for every group).
    """

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, maximize: bool = False, *,
                 implementation: str = "auto") -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "eps": eps, "maximize": maximize},
                         implementation=implementation)

    def _check(self, group: Mapping[str, Any]) -> None:
        check_range("Adagrad", "lr", group["lr"], 0.0)
        check_range("Adagrad", "lr_decay", group["lr_decay"], 0.0)
        check_range("Adagrad", "weight_decay", group["weight_decay"], 0.0)
        check_range("Adagrad", "initial_accumulator_value",
                    group["initial_accumulator_value"], 0.0)
        check_range("Adagrad", "eps", group["eps"], 0.0, open_low=True)

    def _state(self, group: Mapping[str, Any]) -> dict[str, float]:
        return {"sum": group["initial_accumulator_value"]}

    def _eager_state(self) -> bool:
        return True

    def _n_scratch(self, group: Mapping[str, Any]) -> int:
        return 2

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        g = g + group["weight_decay"] * p
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        acc = state["sum"]
        acc += g * g
        p -= clr * g / (np.sqrt(acc) + group["eps"])

    def _fused_update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                      step: int) -> None:
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        fused.adagrad(p, g, state["sum"], float(clr), float(group["eps"]),
                      float(group["weight_decay"]))

    def _update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                step: int, scratch: list[Any]) -> None:
        s, d = scratch[0], scratch[1]
        acc = state["sum"]
        g = with_weight_decay(p, g, group["weight_decay"], d)
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        np.multiply(g, g, out=s)
        acc += s
        np.sqrt(acc, out=s)
        s += group["eps"]
        np.divide(g, s, out=s)
        s *= -clr
        p += s
