"""Layers of the lecture: ``Dense``, ``Perceptron``, ``Dropout``, activations, ``Flatten``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import Function, Tensor
from ..ops import FUSED_ACTIVATIONS, activations, register_fused, unregister_fused
from ..registry import Registry
from . import init
from .module import Module, Parameter
from .registered import register_op, registered_module, unregister_op

__all__ = [
    "ACTIVATIONS", "HIDDEN_EXCLUDED",
    "Activation", "Dense", "Dropout", "Flatten", "Identity", "LeakyReLU", "Perceptron", "ReLU",
    "Sigmoid", "Softmax", "Softplus", "Tanh", "get_activation", "register_activation",
    "unregister_activation",
]


class Sigmoid(Module):
    """``g(z) = 1 / (1 + e^-z)``, ``g'(z) = g(z)(1 - g(z))``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """``g(z) = tanh z``, ``g'(z) = 1 - g(z)^2``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU(Module):
    """``g(z) = max(0, z)``, ``g'(z) = 1`` for ``z > 0`` else 0."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """``g(z) = z`` for ``z > 0`` else ``negative_slope z``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softplus(Module):
    """``g(z) = log(1 + e^z)``, ``g'(z) = sigmoid(z)``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x)


class Softmax(Module):
    """``softmax(x)`` along ``axis``."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Identity(Module):
    """The linear activation ``g(z) = z``."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """Flatten every axis after the first: (N, 28, 28) becomes (N, 784)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.reshape(x, (x.shape[0], -1))


#: the activation modules by the names configs, ``Dense(activation=...)`` and the lab use;
#: register a new one with :func:`register_activation` or ``ACTIVATIONS.register(name, cls)``
#: (see CONTRIBUTING.md)
ACTIVATIONS: Registry[Callable[[], Module]] = Registry("activation", {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softplus": Softplus,
    "softmax": Softmax,
    "identity": Identity,
    "linear": Identity,
})

#: the activations of ACTIVATIONS a hidden layer does not take: softmax is for outputs,
#: identity adds nothing between layers ("linear", the Playground's name for it, stays)
HIDDEN_EXCLUDED = ("softmax", "identity")


class Activation(Module):
    """The module of an activation op made by :func:`register_activation`:
    ``forward(x) = op(*args, **kwargs)(x)``, the options (as ELU's ``alpha``) given to the
    constructor. Subclasses set ``op``; their docstring is the op's (``g`` and ``g'``)."""

    op: ClassVar[type[Function]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.op(*args, **kwargs)  # wrong options fail here, not at the first forward
        self.args, self.kwargs = args, kwargs

    def forward(self, x: Tensor) -> Tensor:
        return self.op(*self.args, **self.kwargs)(x)

    def extra_repr(self) -> str:
        return ", ".join([*map(repr, self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())])


def register_activation(name: str, op: type[Function], *,
                        derivative_from_output: Callable[[Any], Any] | None = None,
                        fused_forward: Callable[[Any], Any] | None = None) -> type[Module]:
    """Register the activation op ``op`` (a ``Function`` with ``forward`` and ``backward``)
    under ``name``; returns its module class.

    It then appears as ``gw.nn.<OpName>`` (a module class named as the op), ``F.<name>(x,
    *options)`` in ``gw.functional``, ``ACTIVATIONS[name]`` (read by ``Dense(activation=name)``,
    ``get_activation``, the config's ``model.activation`` and the lab's activation figure).
    When ``derivative_from_output`` (``y -> g'(z)`` with ``y = g(z)``; default: the op's own
    ``derivative_from_output`` attribute, if any) is known, ``Dense`` computes the activation
    inside its fused kernel: ``g(z)`` by ``fused_forward`` (default ``op().forward``) and
    ``dz = dy g'(z)`` from the saved output. Registering a name again replaces it."""
    if name in ("relu", "sigmoid", "tanh", "linear", "identity"):
        raise ValueError(f"register_activation: {name!r} is built into the fused Dense kernel")
    cls = register_op(ACTIVATIONS, name, op, Activation, op.__name__, name,
                      F.activation_function)
    unregister_fused(name)
    derivative = derivative_from_output or getattr(op, "derivative_from_output", None)
    if derivative is not None:
        register_fused(name, fused_forward or (lambda z: op().forward(z)), derivative)
    return cls


def unregister_activation(name: str) -> None:
    """Remove an activation added by :func:`register_activation` from every registry (no error
    when it is absent)."""
    unregister_op(ACTIVATIONS, name, name)
    unregister_fused(name)


def registered_class(name: str) -> type[Module] | None:
    """The module class named ``name`` that :func:`register_activation` made, or None."""
    return registered_module(ACTIVATIONS, Activation, name)


# the built-in activations made from their op and one registration each
register_activation("elu", activations.ELU)


def get_activation(name: str | Module | None) -> Module:
    """An activation module by name (``"relu"``, ``"sigmoid"``, ...); a Module is returned as is."""
    if name is None:
        return Identity()
    if isinstance(name, Module):
        return name
    return ACTIVATIONS.get(name)()


class Dense(Module):
    """A fully connected layer: ``y = g(x @ W + b)``, the lecture's ``g(w0 + X^T W)``.

    ``W`` has shape (in_features, out_features), ``b`` (out_features,). ``activation`` is a name
    (``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``, ...), an activation module, or None
    for the linear activation. The common activations run fused with the affine map, in one
    graph node. Weights default to Glorot-uniform and the bias to zeros.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 activation: str | Module | None = None,
                 weight_init: str | Callable[..., Tensor] = "glorot_uniform",
                 bias_init: str | Callable[..., Tensor] = "zeros",
                 dtype: Any = None, device: str | None = None, generator: Any = None) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Dense: {name} must be a positive integer, got {v!r}")
        in_features, out_features = int(in_features), int(out_features)
        self.in_features, self.out_features = in_features, out_features
        dt = backend.as_dtype(dtype) if dtype is not None else backend.get_default_dtype()
        dev = backend.normalize_device(device)
        xp = backend.xp_for(dev)
        self.weight = Parameter(xp.zeros((in_features, out_features), dtype=dt), dtype=dt)
        init.get(weight_init)(self.weight, generator=generator)
        if bias:
            self.bias: Parameter | None = Parameter(xp.zeros((out_features,), dtype=dt), dtype=dt)
            init.get(bias_init)(self.bias, generator=generator)
        else:
            self.bias = None
        if isinstance(activation, str) and activation in ("linear", "identity"):
            activation = None
        self._fused: str | None = None
        self.activation: Module | None = None
        if isinstance(activation, str) and activation in FUSED_ACTIVATIONS:
            self._fused = activation  # computed inside the fused kernel (ops.FUSED_ACTIVATIONS)
        elif activation is not None:
            self.activation = get_activation(activation)

    @property
    def fused_activation(self) -> str | None:
        """The activation computed inside the fused kernel (None: linear, or a separate
        :attr:`activation` module)."""
        return self._fused

    def forward(self, x: Tensor) -> Tensor:
        y = F.linear(x, self.weight, self.bias, self._fused)
        act = self.activation
        return y if act is None else act(y)

    def extra_repr(self) -> str:
        act = self._fused or (type(self.activation).__name__ if self.activation else None)
        s = f"in_features={self.in_features}, out_features={self.out_features}"
        if self.bias is None:
            s += ", bias=False"
        return s + (f", activation={act}" if act else "")


class Perceptron(Dense):
    """The lecture's single neuron ``y = g(w0 + sum_i x_i w_i)`` with ``g`` sigmoid by default.

    Its weight vector ``W`` has shape (in_features, 1) and its bias is ``w0``.
    """

    def __init__(self, in_features: int, activation: str | Module | None = "sigmoid",
                 **kwargs: Any) -> None:
        super().__init__(in_features, 1, activation=activation, **kwargs)


class Dropout(Module):
    """Inverted dropout (Srivastava et al. 2014): in training mode each input is zeroed with
    probability ``p`` and the rest scaled by ``1 / (1 - p)``; the identity in eval mode."""

    def __init__(self, p: float = 0.5, generator: Any = None) -> None:
        super().__init__()
        if not isinstance(p, int | float) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"
