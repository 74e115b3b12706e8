"""The fused Dense layer ``g(x @ W + b)``: one graph node forward and backward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

from ..autograd import Function, Tensor, take_grad_slot
from ..backend import xp_of
from .activations import _sigmoid

#: the activations the fused Dense kernel computes itself (None: linear); the one list of them.
#: ReLU, sigmoid and tanh are written inline in :func:`activate_` and :meth:`Linear.backward`;
#: the others are added by :func:`register_fused` (``gw.nn.register_activation`` calls it).
FUSED_ACTIVATIONS: list[str | None] = [None, "relu", "sigmoid", "tanh"]
_INLINE = frozenset(FUSED_ACTIVATIONS)


class FusedActivation(NamedTuple):
    """What the fused kernel needs of an activation: ``forward(z) = g(z)`` (it may overwrite
    ``z``) and ``derivative_from_output(y) = g'(z)`` written with ``y = g(z)`` alone (the
    kernel keeps only its output)."""

    forward: Callable[[Any], Any]
    derivative_from_output: Callable[[Any], Any]


_KERNELS: dict[str, FusedActivation] = {}


def register_fused(name: str, forward: Callable[[Any], Any],
                   derivative_from_output: Callable[[Any], Any]) -> None:
    """Let the fused Dense kernel compute the activation ``name``: ``forward(z) = g(z)`` and
    ``derivative_from_output(y) = g'(z)`` from ``y = g(z)``. Registering a name again
    replaces its kernel; the inline ones (relu, sigmoid, tanh) cannot be replaced."""
    if not isinstance(name, str) or name in _INLINE:
        raise ValueError(f"register_fused: {name!r} is computed inline by the fused kernel "
                         "and cannot be registered again")
    _KERNELS[name] = FusedActivation(forward, derivative_from_output)
    if name not in FUSED_ACTIVATIONS:
        FUSED_ACTIVATIONS.append(name)


def unregister_fused(name: str) -> None:
    """Remove an activation added by :func:`register_fused` (no error when it is absent)."""
    if name in _KERNELS:
        del _KERNELS[name]
        FUSED_ACTIVATIONS.remove(name)


def activate_(z: Any, act: str | None) -> Any:
    """``g(z)`` for a fused activation ``act``, in place where the array call allows it (the
    result is returned): ReLU ``max(z, 0)``, sigmoid ``1/(1 + e^-z)``, tanh, or the forward of
    a kernel added by :func:`register_fused`."""
    if act == "relu":
        xp_of(z).maximum(z, 0, out=z)
    elif act == "sigmoid":
        z = _sigmoid(z)
    elif act == "tanh":
        xp_of(z).tanh(z, out=z)
    elif act is not None:
        z = _KERNELS[act].forward(z)
    return z


class Linear(Function):
    """The Dense layer ``y = g(x @ W + b)`` in one node (W of shape (in, out)).

    Backward: ``dz = dy * g'(z)`` (from the saved output), ``dW = x^T dz``, ``db = sum_rows dz``,
    ``dx = dz W^T``. ``g`` is one of :data:`FUSED_ACTIVATIONS`: None (linear), ``"relu"``,
    ``"sigmoid"``, ``"tanh"`` or one added by :func:`register_fused`.
    """

    __slots__ = ("act", "x", "w", "y")

    def __init__(self, act: str | None) -> None:
        self.act = act

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        if x.shape[-1] != w.shape[0]:
            raise ValueError(
                f"Dense layer expects {w.shape[0]} input features, got input of shape "
                f"{tuple(x.shape)} ({x.shape[-1]} features)"
            )
        z = x @ w
        if b is not None:
            z += b
        z = activate_(z, self.act)
        self.x, self.w, self.y = x, w, z
        return z

    def backward(self, g: Any) -> tuple[Any, ...]:
        act, y = self.act, self.y
        if act == "relu":
            dz = g * (y > 0)
        elif act == "sigmoid":
            dz = g * (y * (1 - y))
        elif act == "tanh":
            dz = g * (1 - y * y)
        elif act is None:
            dz = g
        else:
            dz = g * _KERNELS[act].derivative_from_output(y)
        x, w = self.x, self.w
        needs = self.needs
        inputs = cast("tuple[Tensor, ...]", self.inputs)
        gx = dz @ w.T if needs[0] else None
        gw = gb = None
        if x.ndim != 2:
            x, dz = x.reshape(-1, x.shape[-1]), dz.reshape(-1, dz.shape[-1])
        xp = xp_of(dz)
        if needs[1]:
            buf = take_grad_slot(inputs[1])
            if buf is None:
                gw = x.T @ dz
            else:
                xp.matmul(x.T, dz, out=buf)
        if len(needs) == 3 and needs[2]:
            buf = take_grad_slot(inputs[2])
            if buf is None:
                gb = dz.sum(axis=0)
            else:
                dz.sum(axis=0, out=buf)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)

