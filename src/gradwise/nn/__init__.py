"""Neural-network building blocks: modules, layers, activations, losses and initializers."""

from . import functional, init, utils
from .layers import (
    ACTIVATIONS,
    Activation,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Perceptron,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
    register_activation,
    registered_class,
    unregister_activation,
)
from .losses import (
    LOSSES,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    Loss,
    MSELoss,
    get_loss,
    register_loss,
    registered_loss_class,
    unregister_loss,
)
from .module import Module, Parameter, Sequential
from .regularizers import L1L2, get_regularizer

__all__ = [
    "ACTIVATIONS", "LOSSES", "Activation", "Loss",
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dense", "Dropout", "Flatten", "HuberLoss",
    "Identity", "L1L2", "L1Loss", "LeakyReLU", "MSELoss", "Module", "Parameter", "Perceptron",
    "ReLU", "Sequential", "Sigmoid", "Softmax", "Softplus", "Tanh", "functional",
    "get_activation", "get_loss", "get_regularizer", "init", "register_activation",
    "register_loss", "unregister_activation", "unregister_loss", "utils",
]


def __getattr__(name: str) -> type[Module]:
    """``gw.nn.ELU``, ``gw.nn.LogCoshLoss``: the module class of an activation or a loss made by
    :func:`register_activation` or :func:`register_loss`."""
    cls = registered_class(name) or registered_loss_class(name)
    if cls is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return cls
