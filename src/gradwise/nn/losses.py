"""Losses as modules. ``reduction="mean"`` (the default) is the lecture's empirical loss
``J(W) = (1/n) sum_i L(f(x_i; W), y_i)``; ``"sum"`` and ``"none"`` are also available.
``reduction`` is the only positional option; PyTorch's other options (``weight``,
``pos_weight``, ``ignore_index``, ``label_smoothing``) are keywords."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from .. import functional as F
from ..autograd import Function, Tensor
from ..ops import losses, target_like
from ..registry import Registry
from .module import Module
from .registered import register_op, registered_module, unregister_op

__all__ = ["LOSSES", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss",
           "Loss", "MSELoss", "get_loss", "register_loss", "registered_loss_class",
           "unregister_loss"]


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


#: the loss modules by the names ``get_loss``, ``fit(loss=...)`` and configs
#: (``training.loss``) use; add one with :func:`register_loss` (see CONTRIBUTING.md)
LOSSES: Registry[Callable[..., Module]] = Registry("loss", {
    "mse": MSELoss,
    "bce": BCELoss,
    "bce_with_logits": BCEWithLogitsLoss,
    "cross_entropy": CrossEntropyLoss,
    "l1": L1Loss,
    "mae": L1Loss,
    "huber": HuberLoss,
})


class Loss(_Loss):
    """The module of a loss op made by :func:`register_loss`: ``forward(input, target) =
    op(target, reduction, *options)(input)``, the target of the input's shape. Subclasses set
    ``op``; their docstring is the op's (the loss and its derivative)."""

    op: ClassVar[type[Function]]

    def __init__(self, reduction: str = "mean", *args: Any, **kwargs: Any) -> None:
        super().__init__(reduction)
        self.args, self.kwargs = args, kwargs

    def forward(self, input: Tensor, target: Any) -> Tensor:
        y = target_like(target, input, type(self).__name__)
        make: Callable[..., Function] = self.op  # built as op(target, reduction, *options)
        return make(y, self.reduction, *self.args, **self.kwargs)(input)


def register_loss(name: str, op: type[Function]) -> type[Module]:
    """Register the loss op ``op`` (a ``Function`` built as ``op(target, reduction, *options)``
    whose ``forward(input)`` returns the reduced loss) under ``name``; returns its module class.

    It then appears as ``gw.nn.<OpName>Loss``, ``F.<name>_loss(input, target, reduction)``
    and ``LOSSES[name]`` (read by ``get_loss``, ``fit(loss=name)`` and the config's
    ``training.loss``). Registering a name again replaces it."""
    return register_op(LOSSES, name, op, Loss, op.__name__ + "Loss", f"{name}_loss",
                       F.loss_function)


def unregister_loss(name: str) -> None:
    """Remove a loss from :data:`LOSSES` and its function (no error when it is absent)."""
    unregister_op(LOSSES, name, f"{name}_loss")


def registered_loss_class(name: str) -> type[Module] | None:
    """The module class named ``name`` that :func:`register_loss` made, or None."""
    return registered_module(LOSSES, Loss, name)


# the built-in losses made from their op and one registration each
register_loss("logcosh", losses.LogCosh)


def get_loss(name: str | Module, reduction: str = "mean") -> Module:
    """A loss module by name (``"mse"``, ``"bce"``, ``"bce_with_logits"``, ``"cross_entropy"``,
    ``"l1"`` or ``"mae"``, ``"huber"``, ``"logcosh"`` or any other in :data:`LOSSES`)."""
    if isinstance(name, Module):
        return name
    return LOSSES.get(name)(reduction=reduction)
