"""Adadelta: an adaptive learning rate from running averages of squared gradients and steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import fused
from .optimizer import Optimizer, ParamsT, check_range, with_weight_decay

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, Algorithm 1), in PyTorch's form::

        g <- g + lambda theta                              (weight_decay lambda)
        u <- rho u + (1 - rho) g^2
        delta = sqrt(a + eps) / sqrt(u + eps) * g
        a <- rho a + (1 - rho) delta^2
        theta <- theta - lr delta

    The paper has no learning rate; ``lr=1.0`` (the default) is the paper's update.
    """

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, maximize: bool = False, *,
                 implementation: str = "auto") -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize},
                         implementation=implementation)

    def _check(self, group: Mapping[str, Any]) -> None:
        check_range("Adadelta", "lr", group["lr"], 0.0)
        check_range("Adadelta", "rho", group["rho"], 0.0, 1.0)
        check_range("Adadelta", "eps", group["eps"], 0.0, open_low=True)
        check_range("Adadelta", "weight_decay", group["weight_decay"], 0.0)

    def _state(self, group: Mapping[str, Any]) -> dict[str, float]:
        return {"square_avg": 0.0, "acc_delta": 0.0}

    def _n_scratch(self, group: Mapping[str, Any]) -> int:
        return 3

    def _flat_ok(self, group: Mapping[str, Any], steps: list[int]) -> bool:
        return True

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        rho, eps = group["rho"], group["eps"]
        g = g + group["weight_decay"] * p
        u, a = state["square_avg"], state["acc_delta"]
        u[...] = rho * u + (1.0 - rho) * g * g
        delta = np.sqrt(a + eps) / np.sqrt(u + eps) * g
        a[...] = rho * a + (1.0 - rho) * delta * delta
        p -= group["lr"] * delta

    def _fused_update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                      step: int) -> None:
        fused.adadelta(p, g, state["square_avg"], state["acc_delta"], float(group["lr"]),
                       float(group["rho"]), float(group["eps"]), float(group["weight_decay"]))

    def _update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                step: int, scratch: list[Any]) -> None:
        s, delta, d = scratch[0], scratch[1], scratch[2]
        rho, eps = group["rho"], group["eps"]
        u, a = state["square_avg"], state["acc_delta"]
        g = with_weight_decay(p, g, group["weight_decay"], d)
        u *= rho
        np.multiply(g, 1.0 - rho, out=s)
        s *= g
        u += s
        np.add(u, eps, out=s)
        np.sqrt(s, out=s)
        np.add(a, eps, out=delta)
        np.sqrt(delta, out=delta)
        delta /= s
        delta *= g
        a *= rho
        np.multiply(delta, 1.0 - rho, out=s)
        s *= delta
        a += s
        if group["lr"] != 1.0:
            delta *= group["lr"]
        p -= delta
