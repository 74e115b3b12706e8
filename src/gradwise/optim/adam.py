"""Adam, its AMSGrad variant, and AdamW (decoupled weight decay)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import fused
from .optimizer import Optimizer, ParamsT, check_range, lerp_, with_weight_decay

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma and Ba 2014, Algorithm 1), in PyTorch's form::

        g <- g + lambda theta                    (weight_decay lambda: an L2 penalty)
        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        v_max <- max(v_max, v)                   (amsgrad: Reddi et al. 2018; raw v)
        theta <- theta - lr/(1 - beta1^t) * m / (sqrt(v or v_max)/sqrt(1 - beta2^t) + eps)

    ``eps`` sits outside the square root and after the bias correction, as in the paper; ``t``
    counts this parameter's steps.
    """

    elementwise = True

    _decoupled = False

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False,
                 maximize: bool = False, *,
                 implementation: str = "auto") -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad,
                                  "maximize": maximize},
                         implementation=implementation)

    def _check(self, group: Mapping[str, Any]) -> None:
        name = type(self).__name__
        check_range(name, "lr", group["lr"], 0.0)
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_range(name, "betas[0]", betas[0], 0.0, 1.0, open_high=True)
        check_range(name, "betas[1]", betas[1], 0.0, 1.0, open_high=True)
        check_range(name, "eps", group["eps"], 0.0, open_low=True)
        check_range(name, "weight_decay", group["weight_decay"], 0.0)

    def _state(self, group: Mapping[str, Any]) -> dict[str, float]:
        names = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
        if group["amsgrad"]:
            names["max_exp_avg_sq"] = 0.0
        return names

    def _n_scratch(self, group: Mapping[str, Any]) -> int:
        return 2

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if self._decoupled:
            p *= 1.0 - lr * wd
        else:
            g = g + wd * p
        m[...] = beta1 * m + (1.0 - beta1) * g
        v[...] = beta2 * v + (1.0 - beta2) * g * g
        if group["amsgrad"]:
            v_max = state["max_exp_avg_sq"]
            v_max[...] = np.maximum(v_max, v)
            v = v_max
        m_hat = m / (1.0 - beta1**step)
        v_hat = v / (1.0 - beta2**step)
        p -= lr * m_hat / (np.sqrt(v_hat) + group["eps"])

    def _fused_update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                      step: int) -> None:
        (beta1, beta2) = group["betas"]
        fused.adam(p, g, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                   float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                   float(group["weight_decay"]), self._decoupled, step)

    def _update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                step: int, scratch: list[Any]) -> None:
        s, d = scratch[0], scratch[1]
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if self._decoupled:
            if wd:
                p *= 1.0 - lr * wd
        else:
            g = with_weight_decay(p, g, wd, d)
        lerp_(m, g, 1.0 - beta1, s)
        v *= beta2
        np.multiply(g, 1.0 - beta2, out=s)
        s *= g
        v += s
        step_size = lr / (1.0 - beta1**step)
        bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
        if group["amsgrad"]:
            v = state["max_exp_avg_sq"]
            np.maximum(v, state["exp_avg_sq"], out=v)
        # m / (sqrt(v)/c + eps) == c m / (sqrt(v) + eps c): one pass fewer
        np.sqrt(v, out=s)
        s += group["eps"] * bias_correction2_sqrt
        np.divide(m, s, out=s)
        s *= -step_size * bias_correction2_sqrt
        p += s


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (Loshchilov and Hutter 2019), PyTorch's form::

        theta <- theta (1 - lr lambda)           (before the Adam step; weight_decay lambda)

    then the :class:`Adam` update without the L2 term. The default ``weight_decay`` is 1e-2.
    """

    _decoupled = True

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False,
                 maximize: bool = False, *,
                 implementation: str = "auto") -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize,
                         implementation=implementation)
