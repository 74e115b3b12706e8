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
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    get_loss,
)
from .module import Module, Parameter, Sequential
from .regularizers import L1L2, get_regularizer

__all__ = [
    "ACTIVATIONS", "Activation",
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dense", "Dropout", "Flatten", "HuberLoss",
    "Identity", "L1L2", "L1Loss", "LeakyReLU", "MSELoss", "Module", "Parameter", "Perceptron",
    "ReLU", "Sequential", "Sigmoid", "Softmax", "Softplus", "Tanh", "functional",
    "get_activation", "get_loss", "get_regularizer", "init", "register_activation",
    "unregister_activation", "utils",
]


def __getattr__(name: str) -> type[Module]:
    """``gw.nn.ELU``: the module class of an activation made by :func:`register_activation`."""
    cls = registered_class(name)
    if cls is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return cls
