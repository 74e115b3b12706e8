"""fit, evaluate and predict: History, modes, validation, metrics and progress output."""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.autograd import is_grad_enabled
from gradwise.training.metrics import batch_sum


def mlp(seed: int = 0, dropout: float = 0.0, out: int = 1) -> gw.nn.Sequential:
    gw.manual_seed(seed)
    layers = [gw.nn.Dense(2, 16, activation="relu")]
    if dropout:
        layers.append(gw.nn.Dropout(dropout))
    return gw.nn.Sequential(*layers, gw.nn.Dense(16, out))


class Probe(gw.nn.Module):
    """Records, for each forward pass, the mode, whether a graph is recorded and the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, bool, np.ndarray]] = []

    def forward(self, x: gw.Tensor) -> gw.Tensor:
        self.calls.append((self.training, is_grad_enabled(), x.numpy().copy()))
        return x


def test_history_has_one_value_per_epoch_for_every_key() -> None:
    X, y = gw.data.gauss(n=200, seed=0)
    model = mlp()
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    h = gw.fit(model, "bce_with_logits", opt, (X, y), epochs=4, validation_split=0.25,
               metrics=["accuracy"], verbose=0, seed=0)
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert all(len(v) == 4 for v in h.history.values())
    assert h.epoch == [0, 1, 2, 3]
    assert h.history["lr"] == [0.01] * 4
    assert h.history["val_accuracy"][-1] > 0.9
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_fit_learns_and_evaluate_matches_predict() -> None:
    X, y = gw.data.moons(n=400, noise=0.1, seed=0)
    model = mlp()
    opt = gw.optim.Adam(model.parameters(), lr=0.02)
    gw.fit(model, gw.nn.BCEWithLogitsLoss(), opt, (X, y), epochs=30, batch_size=32, verbose=0,
           seed=0)
    result = gw.evaluate(model, "bce_with_logits", (X, y), metrics=["accuracy"], batch_size=64)
    logits = gw.predict(model, X, batch_size=50)
    assert logits.shape == (400, 1)
    assert result["accuracy"] == pytest.approx(np.mean((logits[:, 0] > 0) == y))
    assert result["accuracy"] > 0.95
    z = logits[:, 0].astype(np.float64)
    bce = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    assert result["loss"] == pytest.approx(bce, rel=1e-5)


def test_multiclass_cross_entropy_with_integer_labels() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0, 3], [3, 0], [-3, -3]], np.float32)
    y = rng.integers(0, 3, 300)
    X = (centers[y] + rng.normal(size=(300, 2))).astype(np.float32)
    model = mlp(out=3)
    opt = gw.optim.Adam(model.parameters(), lr=0.02)
    h = gw.fit(model, "cross_entropy", opt, (X, y), epochs=10, metrics=["accuracy"],
               verbose=0, seed=0)
    assert h.history["accuracy"][-1] > 0.9
    assert gw.predict(model, X).shape == (300, 3)


def test_dropout_on_in_training_off_without_graph_in_validation() -> None:
    probe = Probe()
    model = gw.nn.Sequential(probe, gw.nn.Dense(2, 1))
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10) % 2
    opt = gw.optim.SGD(model.parameters(), lr=0.0)
    gw.fit(model, "bce_with_logits", opt, (X, y), epochs=1, batch_size=4,
           validation_split=0.2, verbose=0, shuffle=False)
    modes = [(training, grad) for training, grad, _ in probe.calls]
    assert modes == [(True, True)] * 2 + [(False, False)]
    # Keras's validation_split: the last 20% of the samples, before any shuffling
    np.testing.assert_array_equal(probe.calls[-1][2], X[8:])
    assert model.training  # the mode is restored after fit


def test_dropout_masks_change_training_but_not_evaluation() -> None:
    X, y = gw.data.xor(n=64, seed=0)
    model = mlp(dropout=0.5)
    opt = gw.optim.SGD(model.parameters(), lr=0.0)
    h = gw.fit(model, "bce_with_logits", opt, (X, y), epochs=3, batch_size=64,
               validation_data=(X, y), verbose=0, seed=0)
    assert len(set(h.history["loss"])) == 3  # a new dropout mask every epoch, same weights
    assert len(set(h.history["val_loss"])) == 1  # eval mode: dropout is the identity


def test_shuffling_is_seeded() -> None:
    X, y = gw.data.circle(n=100, seed=0)
    runs = []
    for seed in (7, 7, 8):
        model = mlp(seed=3)
        opt = gw.optim.SGD(model.parameters(), lr=0.1)
        runs.append(gw.fit(model, "bce_with_logits", opt, (X, y), epochs=2, batch_size=10,
                           verbose=0, seed=seed).history["loss"])
    assert runs[0] == runs[1]
    assert runs[2] != runs[0]  # same initial weights: only the batch order differs


def test_dataloader_as_training_data() -> None:
    X, y = gw.data.gauss(n=100, seed=0)
    loader = gw.data.DataLoader((X, y), batch_size=25, shuffle=True, generator=0)
    model = mlp()
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    h = gw.fit(model, "bce_with_logits", opt, loader, epochs=2, validation_data=loader,
               verbose=0)
    assert len(h.history["val_loss"]) == 2
    with pytest.raises(ValueError, match="validation_split needs train_data as arrays"):
        gw.fit(model, "bce_with_logits", opt, loader, validation_split=0.2, verbose=0)


def test_regression_metrics() -> None:
    X, y = gw.data.regression_2d(n=200, seed=0)
    model = mlp()
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    h = gw.fit(model, "mse", opt, (X, y), epochs=2, metrics=["mse", "mae"], verbose=0, seed=0)
    assert h.history["mse"] == pytest.approx(h.history["loss"], rel=1e-5)
    out = gw.predict(model, X)
    result = gw.evaluate(model, "mse", (X, y), metrics=["mae"])
    assert result["mae"] == pytest.approx(np.mean(np.abs(out - y)), rel=1e-5)


def test_binary_accuracy_thresholds() -> None:
    y = np.array([0, 1, 1, 0])
    assert batch_sum("accuracy", np.array([[-1.0], [0.5], [2.0], [0.2]]), y, 0.0) == 3
    assert batch_sum("accuracy", np.array([[0.1], [0.6], [0.9], [0.4]]), y, 0.5) == 4
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    assert batch_sum("accuracy", probs, y, 0.5) == 3
    assert batch_sum("accuracy", probs, np.eye(2)[y], 0.5) == 3


def test_invalid_arguments_name_the_value() -> None:
    X, y = gw.data.gauss(n=20, seed=0)
    model = mlp()
    opt = gw.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="unknown metric 'acc'"):
        gw.fit(model, "bce_with_logits", opt, (X, y), metrics=["acc"], verbose=0)
    with pytest.raises(ValueError, match="validation_split must be in"):
        gw.fit(model, "bce_with_logits", opt, (X, y), validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2"):
        gw.fit(model, "bce_with_logits", opt, (X, y), verbose=3)


def test_verbosity(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = gw.data.gauss(n=40, seed=0)
    model = mlp()
    opt = gw.optim.SGD(model.parameters(), lr=0.1)
    gw.fit(model, "bce_with_logits", opt, (X, y), epochs=3, verbose=0)
    assert capsys.readouterr() == ("", "")
    gw.fit(model, "bce_with_logits", opt, (X, y), epochs=3, verbose=2, metrics=["accuracy"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3") and "accuracy:" in lines[0]
    # not a terminal (captured): one summary line per epoch, no bar
    gw.fit(model, "bce_with_logits", opt, (X, y), epochs=2, batch_size=10, verbose=1)
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 2 and out.startswith("Epoch 1/2")
    # a terminal: the tqdm bar on stderr
    gates.tqdm()
    import gradwise.training.progress as progress
    monkeypatch.setattr(progress, "display_kind", lambda: "terminal")
    gw.fit(model, "bce_with_logits", opt, (X, y), epochs=2, batch_size=10, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 2/2" in err and "4/4" in err and "loss:" in err
