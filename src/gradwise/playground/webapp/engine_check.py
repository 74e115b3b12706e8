"""The engine check run by CPython, by Node's Pyodide and by the browser's Web Worker.

Each function returns plain JSON-able values, so that the three runs compare number for number:
``quick_start()`` is the README's perceptron ``g(1 + 3 x1 - 2 x2)`` at ``x = [-1, 2]``, i.e.
``sigmoid(-6)``; ``spiral_fit()`` is the README's ``gw.fit`` on the spiral (Adam, dropout, a
seed); ``step_rate()`` times full-batch gradient-descent steps on the quick start's 2-16-16-1 net.
"""

from __future__ import annotations

import hashlib
import sys
import time
from typing import Any

import numpy as np

import gradwise as gw
from gradwise import data, optim  # loaded on first use by gw; imported here for mypy
from gradwise.training import fit


def versions() -> dict[str, str]:
    return {"python": sys.version.split()[0], "numpy": np.__version__,
            "gradwise": getattr(gw, "__version__", "?"), "platform": sys.platform}


def quick_start() -> float:
    neuron = gw.nn.Perceptron(2, activation="sigmoid")
    neuron.load_state_dict({"weight": [[3.0], [-2.0]], "bias": [1.0]})
    return float(neuron(gw.tensor([[-1.0, 2.0]])).item())


def _digest(model: Any) -> str:
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(np.asarray(value, dtype=np.float32)).tobytes())
    return h.hexdigest()


def spiral_model(width: int = 64) -> Any:
    gw.manual_seed(0)
    return gw.nn.Sequential(
        gw.nn.Dense(2, width, activation="relu"), gw.nn.Dropout(0.1),
        gw.nn.Dense(width, width, activation="relu"), gw.nn.Dropout(0.1),
        gw.nn.Dense(width, 1),
    )


def spiral_data() -> tuple[Any, Any, Any, Any]:
    X, y = data.spiral(n=1000, noise=0.04, seed=0)
    X_train, X_val, y_train, y_val = data.train_test_split(X, y, test_size=0.2, stratify=y)
    return X_train, X_val, y_train.reshape(-1, 1), y_val.reshape(-1, 1)


def spiral_fit(epochs: int = 20) -> dict[str, Any]:
    """The README's ``gw.fit`` on the spiral for ``epochs`` epochs (no early stop): the loss
    history and a digest of the final weights."""
    X_train, X_val, y_train, y_val = spiral_data()
    model = spiral_model()
    history = fit(
        model, gw.nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.01),
        (X_train, y_train), validation_data=(X_val, y_val), epochs=epochs, batch_size=32,
        metrics=["accuracy"], seed=0, verbose=0)
    h = history.history
    return {"loss": [float(v) for v in h["loss"]], "val_loss": [float(v) for v in h["val_loss"]],
            "val_accuracy": [float(v) for v in h["val_accuracy"]], "weights": _digest(model),
            "params": {k: np.asarray(v, dtype=np.float64).ravel().tolist()
                       for k, v in model.state_dict().items()}}


class Trainer:
    """The worker's training loop: the spiral fit one epoch per call, so that the page sees the
    loss as it falls (the session's state machine replaces this, issue 21)."""

    def __init__(self) -> None:
        self.X_train, self.X_val, self.y_train, self.y_val = spiral_data()
        self.model = spiral_model()
        self.loss = gw.nn.BCEWithLogitsLoss()
        self.opt = optim.Adam(self.model.parameters(), lr=0.01)
        self.epoch = 0
        self.steps = 0

    def epoch_step(self) -> dict[str, float]:
        h = fit(self.model, self.loss, self.opt, (self.X_train, self.y_train),
                   validation_data=(self.X_val, self.y_val), epochs=1, batch_size=32,
                   metrics=["accuracy"], seed=self.epoch, verbose=0).history
        self.epoch += 1
        self.steps += -(-len(self.X_train) // 32)
        return {"epoch": self.epoch, "steps": self.steps, "loss": float(h["loss"][-1]),
                "val_loss": float(h["val_loss"][-1]),
                "val_accuracy": float(h["val_accuracy"][-1])}


def step_rate(seconds: float = 2.0, warmup: int = 20) -> dict[str, float]:
    """Full-batch gradient-descent steps per second on the README's 2-16-16-1 circle net (400
    points): forward, BCE-with-logits, backward, ``W <- W - eta dJ/dW``."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(400, 2))
    y = (np.hypot(X[:, 0], X[:, 1]) < 1.2).astype(np.float32).reshape(-1, 1)
    gw.manual_seed(0)
    model = gw.nn.Sequential(gw.nn.Dense(2, 16, activation="relu"),
                             gw.nn.Dense(16, 16, activation="relu"), gw.nn.Dense(16, 1))
    loss_fn = gw.nn.BCEWithLogitsLoss()

    def step() -> float:
        loss = loss_fn(model(X), y)
        model.zero_grad()
        loss.backward()
        with gw.no_grad():
            for p in model.parameters():
                p.data -= 0.5 * p.grad
        return float(loss.item())

    for _ in range(warmup):
        step()
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        step()
        n += 1
    return {"steps": n, "seconds": elapsed, "steps_per_s": n / elapsed,
            "ms_per_step": 1e3 * elapsed / n}
