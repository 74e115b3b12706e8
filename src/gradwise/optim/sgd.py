"""Stochastic gradient descent with momentum and Nesterov momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import fused
from .optimizer import Optimizer, ParamsT, check_range, with_weight_decay

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (Robbins and Monro 1951; Kiefer and Wolfowitz 1952), with
    the momentum of Sutskever et al. 2013, in PyTorch's form::

        g <- g + lambda theta                              (weight_decay lambda)
        b_1 = g_1;   b_t = mu b_{t-1} + (1 - tau) g_t      (momentum mu, dampening tau)
        d = g_t + mu b_t  (nesterov)   or   d = b_t  (momentum)   or   d = g_t
        theta <- theta - lr d

    The learning rate stays outside the buffer, so changing it rescales the whole step at once.
    Nesterov momentum needs ``momentum > 0`` and ``dampening == 0``.
    """

    elementwise = True

    _has_step = False

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, maximize: bool = False, *,
                 implementation: str = "auto") -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov,
                                  "maximize": maximize},
                         implementation=implementation)

    def _check(self, group: Mapping[str, Any]) -> None:
        check_range("SGD", "lr", group["lr"], 0.0)
        check_range("SGD", "momentum", group["momentum"], 0.0)
        check_range("SGD", "dampening", group["dampening"], 0.0, 1.0)
        check_range("SGD", "weight_decay", group["weight_decay"], 0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: nesterov=True needs momentum > 0 and dampening == 0, got momentum="
                f"{group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _state(self, group: Mapping[str, Any]) -> dict[str, float]:
        return {"momentum_buffer": 0.0} if group["momentum"] else {}

    def _n_scratch(self, group: Mapping[str, Any]) -> int:
        return 2 if group["nesterov"] else 1

    def _flat_ok(self, group: Mapping[str, Any], steps: list[int]) -> bool:
        return not group["momentum"] or min(steps) > 0 or max(steps) == 0

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        g = g + group["weight_decay"] * p
        mu = group["momentum"]
        if mu:
            b = state["momentum_buffer"]
            b[...] = g if step == 1 else mu * b + (1.0 - group["dampening"]) * g
            g = g + mu * b if group["nesterov"] else b
        p -= group["lr"] * g

    def _fused_update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                      step: int) -> None:
        fused.sgd(p, g, state.get("momentum_buffer"), float(group["lr"]),
                  float(group["momentum"]), float(group["dampening"]),
                  float(group["weight_decay"]), bool(group["nesterov"]), step == 1)

    def _update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                step: int, scratch: list[Any]) -> None:
        s = scratch[0]
        mu, lr = group["momentum"], group["lr"]
        d = with_weight_decay(p, g, group["weight_decay"], s)
        if mu:
            b = state["momentum_buffer"]
            if step == 1:
                b[...] = d
            else:
                b *= mu
                if group["dampening"]:
                    d = np.multiply(d, 1.0 - group["dampening"], out=s)
                b += d
            if group["nesterov"]:
                t = scratch[1]
                np.multiply(b, mu, out=t)
                t += d
                d = t
            else:
                d = b
        np.multiply(d, -lr, out=s)
        p += s
