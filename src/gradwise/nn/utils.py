"""A model's parameters as one flat vector and back (the coordinates of weight space that
training trajectories and loss landscapes live in)."""

from __future__ import annotations

import numpy as np

from .. import backend
from .module import Module

__all__ = ["flat_parameters", "set_flat"]


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
