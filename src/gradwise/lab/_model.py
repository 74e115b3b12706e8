"""Small helpers shared by the lab's studies: the loss of a model on arrays, and parameter
vectors read from and written into a model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import backend, optim
from ..autograd import Tensor
from ..nn import Module
from ..nn.utils import as_input, as_target, flat_parameters


def loss_on(model: Module, loss: Module, X: np.ndarray, y: np.ndarray) -> Tensor:
    """``loss(model(X), y)`` as a graph; labels (N,) for an output (N, 1) become a column."""
    out = model(as_input(model, X))
    return loss(out, as_target(np.asarray(y), out))


def flat_grad(model: Module) -> np.ndarray:
    """All parameter gradients as one float64 vector (zeros where a gradient is None)."""
    return np.concatenate([
        np.zeros(p.data.size) if p.grad is None else backend.to_numpy(p.grad).ravel()
        for p in model.parameters()
    ]).astype(np.float64)


def train_full_batch(model: Module, loss: Module, X: np.ndarray, y: np.ndarray, epochs: int,
                     lr: float = 0.01, snapshots: Sequence[int] = ()) -> dict[int, np.ndarray]:
    """Full-batch Adam (Kingma and Ba 2015) for ``epochs`` steps, so small studies are
    deterministic and need no data loader; returns the flat weights after each epoch listed in
    ``snapshots`` (0: before training)."""
    opt = optim.Adam(model.parameters(), lr=lr)
    wanted = set(snapshots)
    saved = {0: flat_parameters(model)} if 0 in wanted else {}
    for epoch in range(1, epochs + 1):
        opt.zero_grad()
        loss_on(model, loss, X, y).backward()
        opt.step()
        if epoch in wanted:
            saved[epoch] = flat_parameters(model)
    return saved
