"""RMSprop: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import fused
from .optimizer import Optimizer, ParamsT, check_range, lerp_, with_weight_decay

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton, Neural Networks for Machine Learning, lecture 6e; the centered form is
    Graves 2013), in PyTorch's form::

        g <- g + lambda theta                              (weight_decay lambda)
        v <- alpha v + (1 - alpha) g^2
        centered:  gbar <- alpha gbar + (1 - alpha) g,  d = sqrt(max(v - gbar^2, 0)) + eps
        otherwise: d = sqrt(v) + eps
        momentum mu > 0:  b <- mu b + g / d,  theta <- theta - lr b
        otherwise:        theta <- theta - lr g / d

    ``eps`` is outside the square root. The centered variance is clamped at 0, so rounding can
    never make it take the square root of a negative number (PyTorch would give NaN there).
    """

    elementwise = True

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, maximize: bool = False, *,
                 implementation: str = "auto") -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered, "maximize": maximize},
                         implementation=implementation)

    def _check(self, group: Mapping[str, Any]) -> None:
        check_range("RMSprop", "lr", group["lr"], 0.0)
        check_range("RMSprop", "alpha", group["alpha"], 0.0, 1.0)
        check_range("RMSprop", "eps", group["eps"], 0.0, open_low=True)
        check_range("RMSprop", "weight_decay", group["weight_decay"], 0.0)
        check_range("RMSprop", "momentum", group["momentum"], 0.0)

    def _state(self, group: Mapping[str, Any]) -> dict[str, float]:
        names = {"square_avg": 0.0}
        if group["momentum"] > 0:
            names["momentum_buffer"] = 0.0
        if group["centered"]:
            names["grad_avg"] = 0.0
        return names

    def _n_scratch(self, group: Mapping[str, Any]) -> int:
        return 2

    def _flat_ok(self, group: Mapping[str, Any], steps: list[int]) -> bool:
        return True

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        alpha, mu, lr, eps = group["alpha"], group["momentum"], group["lr"], group["eps"]
        g = g + group["weight_decay"] * p
        v = state["square_avg"]
        v[...] = alpha * v + (1.0 - alpha) * g * g
        if group["centered"]:
            gbar = state["grad_avg"]
            gbar[...] = alpha * gbar + (1.0 - alpha) * g
            d = np.sqrt(np.maximum(v - gbar * gbar, 0.0)) + eps
        else:
            d = np.sqrt(v) + eps
        if mu > 0:
            b = state["momentum_buffer"]
            b[...] = mu * b + g / d
            p -= lr * b
        else:
            p -= lr * g / d

    def _fused_update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                      step: int) -> None:
        fused.rmsprop(p, g, state["square_avg"],
                      state["grad_avg"] if group["centered"] else None,
                      state["momentum_buffer"] if group["momentum"] > 0 else None,
                      float(group["lr"]), float(group["alpha"]), float(group["eps"]),
                      float(group["weight_decay"]), float(group["momentum"]))

    def _update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                step: int, scratch: list[Any]) -> None:
        s, d = scratch[0], scratch[1]
        alpha, mu, lr = group["alpha"], group["momentum"], group["lr"]
        v = state["square_avg"]
        g = with_weight_decay(p, g, group["weight_decay"], d)
        v *= alpha
        np.multiply(g, 1.0 - alpha, out=s)
        s *= g
        v += s
        if group["centered"]:
            gbar = state["grad_avg"]
            lerp_(gbar, g, 1.0 - alpha, s)
            np.multiply(gbar, gbar, out=s)
            np.subtract(v, s, out=s)
            np.maximum(s, 0.0, out=s)
            np.sqrt(s, out=s)
        else:
            np.sqrt(v, out=s)
        s += group["eps"]
        np.divide(g, s, out=s)
        if mu > 0:
            b = state["momentum_buffer"]
            b *= mu
            b += s
            np.multiply(b, -lr, out=s)
        else:
            s *= -lr
        p += s
