"""Activation functions and their derivatives, the derivatives computed by gradwise's own
backward pass: for ``z`` a leaf tensor, ``sum(g(z)).backward()`` leaves ``g'(z)`` in
``z.grad``, since each output depends on its own input only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..autograd import tensor
from ..nn import ACTIVATIONS, get_activation
from .style import TRAIN_COLOR, VAL_COLOR, LabFigure, new_figure

__all__ = ["ELEMENTWISE", "activation_curves", "plot_activations"]

ELEMENTWISE = [name for name in ACTIVATIONS if name not in ("softmax", "linear")]
"""Every built-in elementwise activation (softmax couples its inputs; linear is identity)."""

_TITLES = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU",
           "leaky_relu": "leaky ReLU (slope 0.01)", "softplus": "softplus",
           "identity": "identity (linear activation)"}


def activation_curves(names: Sequence[str] | None = None, z: np.ndarray | None = None
                      ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{name: (z, g(z), g'(z))}`` with ``g'`` from the backward pass (float64)."""
    z = np.linspace(-5, 5, 801) if z is None else np.asarray(z, dtype=np.float64)
    out = {}
    known = [name for name in ACTIVATIONS if name not in ("softmax", "linear")]  # registered now
    for name in names or known:
        if name not in known:
            raise ValueError(f"{name!r} is not an elementwise activation; choose from {known}")
        act = get_activation(name)
        zt = tensor(z, dtype=np.float64, requires_grad=True)
        y = act(zt)
        y.sum().backward()
        out[name] = (z, y.numpy().copy(), np.asarray(zt.grad).copy())
    return out


def plot_activations(names: Sequence[str] | None = None) -> LabFigure:
    """One panel per activation: ``g(z)`` (solid) and ``g'(z)`` from backpropagation
    (dashed), for sigmoid, tanh, ReLU and every other built-in elementwise activation.
    ``fig.data``: ``{"curves": {name: (z, g(z), g'(z))}}``, the arrays drawn."""
    curves = activation_curves(names)
    cols = min(3, len(curves))
    rows = -(-len(curves) // cols)
    fig = new_figure(4.2 * cols, 3.3 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, (z, g, dg)) in zip(axes, curves.items(), strict=False):
        ax.plot(z, g, color=TRAIN_COLOR, linewidth=2, label="g(z)")
        ax.plot(z, dg, color=VAL_COLOR, linewidth=2, linestyle="--",
                label="g'(z) (backward pass)")
        ax.axhline(0, color="gray", linewidth=0.6)
        ax.axvline(0, color="gray", linewidth=0.6)
        ax.set_title(_TITLES.get(name, name))
        ax.set_xlabel("z")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    for ax in axes[len(curves):]:
        ax.axis("off")
    fig.suptitle("Activation functions and their derivatives")
    fig.data["curves"] = curves
    return fig
