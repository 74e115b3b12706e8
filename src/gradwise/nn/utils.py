"""A model's parameters as one flat vector and back (the coordinates of weight space that
training trajectories and loss landscapes live in), and inputs made to fit a model."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor
from .module import Module

__all__ = ["as_input", "as_target", "dtype_device", "flat_parameters", "set_flat"]


def dtype_device(model: Module) -> tuple[np.dtype, str]:
    """The dtype and device of the model's parameters (its first one); the default dtype and
    the CPU for a model without parameters."""
    for p in model.parameters():
        return p.dtype, p.device
    return backend.get_default_dtype(), "cpu"


def as_input(model: Module, X: Any) -> Tensor:
    """``X`` as a tensor of the model's dtype on the model's device, ready for ``model(...)``."""
    dtype, device = dtype_device(model)
    return Tensor(X, dtype=dtype, device=device)


def as_target(y: Any, out: Tensor) -> Any:
    """Labels ``y`` shaped for a loss on the output ``out``: labels of shape (N,) for an output
    of shape (N, 1) become a column, as in Keras."""
    if y.ndim == 1 and out.ndim == 2 and out.shape[1] == 1:
        return y.reshape(-1, 1)
    return y


def flat_parameters(model: Module) -> np.ndarray:
    """All parameters of ``model`` in ``named_parameters()`` order as one flat NumPy vector."""
    return np.concatenate([backend.to_numpy(p.data).ravel() for p in model.parameters()])


def set_flat(model: Module, vector: np.ndarray) -> None:
    """Copy a flat parameter vector (``named_parameters()`` order) into the model, in place."""
    offset = 0
    params = list(model.parameters())
    total = sum(p.data.size for p in params)
    if vector.size != total:
        raise ValueError(f"a vector of {vector.size} entries for a model of {total} parameters")
    for p in params:
        chunk = vector[offset:offset + p.data.size].reshape(p.shape)
        p.data[...] = backend.to_device(np.asarray(chunk, dtype=p.dtype), p.device)
        offset += p.data.size
