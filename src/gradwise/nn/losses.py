"""Losses as modules. ``reduction="mean"`` (the default) is the lecture's empirical loss
``J(W) = (1/n) sum_i L(f(x_i; W), y_i)``; ``"sum"`` and ``"none"`` are also available.
``reduction`` is the only positional option; PyTorch's other options (``weight``,
``pos_weight``, ``ignore_index``, ``label_smoothing``) are keywords."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..autograd import Tensor
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss", "MSELoss",
           "get_loss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F.check_reduction(reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class MSELoss(_Loss):
    """Mean squared error ``(y_hat - y)^2``, for regression."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|y_hat - y|`` (PyTorch's ``L1Loss``, Keras's MAE)."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


class HuberLoss(_Loss):
    """Huber loss: ``d^2 / 2`` for ``|d| < delta``, ``delta (|d| - delta / 2)`` beyond."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities ``-w (y log p + (1 - y) log(1 - p))``."""

    def __init__(self, reduction: str = "mean", *, weight: Any = None) -> None:
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.reduction, weight=self.weight)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of ``sigmoid(z)``, computed from the logits ``z`` stably; optional
    per-element ``weight`` and per-class ``pos_weight`` as in PyTorch."""

    def __init__(self, reduction: str = "mean", *, weight: Any = None,
                 pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.reduction,
                                                  weight=self.weight, pos_weight=self.pos_weight)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy from logits (N, C) and integer labels (N,) or probabilities (N, C);
    PyTorch's ``weight``, ``ignore_index`` (None: every label counts) and ``label_smoothing``."""

    def __init__(self, reduction: str = "mean", *, weight: Any = None,
                 ignore_index: int | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, self.reduction, weight=self.weight,
                               ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)


_LOSSES = {
    "mse": MSELoss,
    "bce": BCELoss,
    "bce_with_logits": BCEWithLogitsLoss,
    "cross_entropy": CrossEntropyLoss,
    "l1": L1Loss,
    "mae": L1Loss,
    "huber": HuberLoss,
}


def get_loss(name: str | Module, reduction: str = "mean") -> Module:
    """A loss module by name (``"mse"``, ``"bce"``, ``"bce_with_logits"``, ``"cross_entropy"``,
    ``"l1"`` or ``"mae"``, ``"huber"``)."""
    if isinstance(name, Module):
        return name
    try:
        return _LOSSES[name](reduction=reduction)
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(_LOSSES)}") from None
