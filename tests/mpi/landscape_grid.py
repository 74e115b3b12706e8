"""A loss surface, a 1D interpolation and a loss along coordinates of a small network; run alone
or under ``mpiexec -n N``. Rank 0 writes the results to OUT (NPZ).

    python tests/mpi/landscape_grid.py OUT
"""

from __future__ import annotations

import sys

import numpy as np

import gradwise as gw
from gradwise import distributed, nn
from gradwise.data import get_toy
from gradwise.lab.landscape import (
    flat_parameters,
    interpolate,
    loss_along,
    loss_surface,
    random_directions,
)


def main() -> None:
    gw.manual_seed(0)
    X, y = get_toy("spiral", n=200, noise=0.05, seed=2)
    model = nn.Sequential(nn.Dense(2, 16, activation="relu"), nn.Dense(16, 1))
    loss = nn.BCEWithLogitsLoss()
    theta = flat_parameters(model)
    d = random_directions(model, seed=1)
    land = loss_surface(model, loss, X, y, d, (7, 5), (-1.0, 1.0, -0.5, 0.5))
    alphas = np.linspace(-0.5, 1.5, 9)
    li, ai = interpolate(model, loss, X, y, np.zeros_like(theta), theta, alphas)
    la, aa = loss_along(model, loss, X, y, d, np.array([[0.1, 0.2], [0.3, -0.1], [0.0, 0.0]]))
    if distributed.is_root():
        np.savez(sys.argv[1], loss=land.loss, accuracy=land.accuracy, li=li, ai=ai, la=la, aa=aa)


if __name__ == "__main__":
    main()
