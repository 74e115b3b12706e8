"""Neural-network building blocks: modules, layers, activations, losses and initializers."""

from . import functional, init, utils
from .layers import (
    ACTIVATIONS,
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
)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, get_loss
from .module import Module, Parameter, Sequential

__all__ = [
    "ACTIVATIONS",
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dense", "Dropout", "Flatten", "Identity",
    "LeakyReLU", "MSELoss", "Module", "Parameter", "Perceptron", "ReLU", "Sequential", "Sigmoid",
    "Softmax", "Softplus", "Tanh", "functional", "get_activation", "get_loss", "init", "utils",
]
