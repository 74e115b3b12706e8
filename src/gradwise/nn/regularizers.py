"""Weight regularization: a penalty on the weights added to the training loss.

``L1L2(l1, l2)`` computes, over every weight matrix ``W`` of a model (parameters of 2 or more
axes; biases are not penalized),

    R(W) = l1 * sum |W|  +  (l2 / 2) * sum W^2,

so that ``dR/dW = l1 * sign(W) + l2 * W``. This is TensorFlow Playground's convention
(Smilkov, Carter et al. 2016, ``regularization.ts``: L1 ``|w|`` with derivative ``sign(w)``, L2
``w^2 / 2`` with derivative ``w``, both times the "regularization rate"), i.e. the weight-decay
form of the lecture's ``J(W) + lambda Omega(W)`` (Goodfellow, Bengio and Courville 2016, 7.1).
Keras's ``regularizers.l2(l)`` is ``l * sum W^2`` without the half: it equals ``L1L2(l2=2 * l)``
here; Keras's ``l1(l)`` equals ``L1L2(l1=l)``.

``gw.fit(..., regularization=L1L2(l2=1e-3))`` adds ``R(W)`` to every training batch's loss
(so the training loss in the history includes it, as in Keras); validation and evaluation
losses do not include it.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from .. import functional as F
from ..autograd import Tensor
from .module import Module

__all__ = ["L1L2", "get_regularizer"]


class L1L2:
    """The penalty ``l1 * sum |W| + (l2 / 2) * sum W^2`` over a model's weight matrices."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        for name, v in (("l1", l1), ("l2", l2)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not (
                    math.isfinite(v) and v >= 0):
                raise ValueError(f"regularization rate {name} must be a finite number >= 0, "
                                 f"got {v!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __setattr__(self, name: str, value: Any) -> None:
        # the rates are read when a step is recorded (gw.compile): a new rate records again
        backend.state_version += 1
        super().__setattr__(name, value)

    def __call__(self, model: Module) -> Tensor | None:
        """The penalty of ``model``'s weights as a 0-d Tensor (None when both rates are 0)."""
        terms: list[Tensor] = []
        for p in model.parameters():
            if p.ndim < 2:
                continue
            if self.l1:
                terms.append(F.mul(F.sum(F.abs(p)), self.l1))
            if self.l2:
                terms.append(F.mul(F.sum(F.mul(p, p)), self.l2 / 2))
        if not terms:
            return None
        total = terms[0]
        for t in terms[1:]:
            total = F.add(total, t)
        return total

    def __repr__(self) -> str:
        return f"L1L2(l1={self.l1}, l2={self.l2})"


def get_regularizer(name: str, rate: float) -> L1L2 | None:
    """``"l1"`` -> ``L1L2(l1=rate)``, ``"l2"`` -> ``L1L2(l2=rate)``, ``"none"`` -> None."""
    if name == "none":
        return None
    if name == "l1":
        return L1L2(l1=rate)
    if name == "l2":
        return L1L2(l2=rate)
    raise ValueError(f"unknown regularization {name!r}: expected 'none', 'l1' or 'l2'")
