"""``fit(..., train_eval=True)`` records the eval-mode training loss at each epoch end, which
with dropout differs from the running mean of the dropout-on batches; the loss figure draws
and labels all three curves."""

from __future__ import annotations

import numpy as np
import pytest

import gradwise as gw
from gradwise import lab, nn


def test_train_eval_loss_is_the_eval_mode_loss_at_epoch_end() -> None:
    X, y = gw.data.moons(n=120, noise=0.2, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 32, activation="relu"), nn.Dropout(0.5), nn.Dense(32, 1))
    loss = nn.BCEWithLogitsLoss()
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    history = gw.fit(model, loss, opt, (X, y), epochs=4, validation_data=(X[:40], y[:40]),
                     metrics=["accuracy"], verbose=0, seed=0, train_eval=True)
    h = history.history
    assert {"train_eval_loss", "train_eval_accuracy"} <= set(h) and len(h["train_eval_loss"]) == 4
    final = gw.evaluate(model, loss, (X, y), metrics=["accuracy"])
    assert h["train_eval_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    assert h["train_eval_accuracy"][-1] == pytest.approx(final["accuracy"])
    assert not np.allclose(h["train_eval_loss"], h["loss"])  # dropout-on running mean differs
    plain = gw.fit(model, loss, opt, (X, y), epochs=1, verbose=0)
    assert "train_eval_loss" not in plain.history  # off by default
    fig = lab.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["training, mean over the epoch's batches (dropout on)",
                      "training set, eval mode at epoch end", "validation, eval mode"]


def test_train_eval_on_a_shuffling_loader_leaves_training_unchanged() -> None:
    """With a user's DataLoader, the eval-mode pass reads the samples in order through a loader
    of its own: the training loader's shuffling generator (and so the training) is untouched."""
    X, y = gw.data.moons(n=96, noise=0.2, seed=1)

    def run(train_eval: bool) -> dict[str, list[float]]:
        gw.manual_seed(0)
        model = nn.Sequential(nn.Dense(2, 16, activation="relu"), nn.Dense(16, 1))
        loader = gw.data.DataLoader((X, y), batch_size=16, shuffle=True, generator=3)
        return gw.fit(model, nn.BCEWithLogitsLoss(), gw.optim.SGD(model.parameters(), lr=0.1),
                      loader, epochs=3, verbose=0, train_eval=train_eval).history

    with_eval, without = run(True), run(False)
    assert with_eval["loss"] == without["loss"]
    assert len(with_eval["train_eval_loss"]) == 3
