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
    "ACTIVATIONS",
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dense", "Dropout", "Flatten", "HuberLoss",
    "Identity", "L1L2", "L1Loss", "LeakyReLU", "MSELoss", "Module", "Parameter", "Perceptron",
    "ReLU", "Sequential", "Sigmoid", "Softmax", "Softplus", "Tanh", "functional",
    "get_activation", "get_loss", "get_regularizer", "init", "utils",
]
