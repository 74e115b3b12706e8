"""Every lab figure renders headless (Agg) with its titles and labels, and the quantities it
draws are right: activation derivatives from backpropagation, probability maps, gradient
noise, early-stopping marks."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest

import gates

gates.matplotlib()  # the lab draws with it

from matplotlib.figure import Figure  # noqa: E402

import gradwise as gw  # noqa: E402
from gradwise import lab, nn  # noqa: E402
from gradwise.lab.activations import ELEMENTWISE, activation_curves  # noqa: E402


def _render(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_activation_derivatives_come_from_backprop_and_are_right() -> None:
    z = np.linspace(-4, 4, 81) + 0.05  # away from the kink at 0
    curves = activation_curves(z=z)
    assert list(curves) == ELEMENTWISE
    s = 1 / (1 + np.exp(-z))
    expected = {"sigmoid": s * (1 - s), "tanh": 1 - np.tanh(z) ** 2, "relu": (z > 0) * 1.0,
                "leaky_relu": np.where(z > 0, 1.0, 0.01), "softplus": s,
                "identity": np.ones_like(z), "elu": np.where(z > 0, 1.0, np.exp(z))}
    for name, (_, _, dg) in curves.items():
        np.testing.assert_allclose(dg, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
    fig = lab.plot_activations()
    assert [ax.get_title() for ax in fig.axes][:3] == ["sigmoid", "tanh", "ReLU"]
    _render(fig)
    with pytest.raises(ValueError, match="elementwise"):
        activation_curves(["softmax"])


def _spiral_model(out: int = 1) -> tuple[nn.Sequential, np.ndarray, np.ndarray]:
    X, y = gw.data.spiral(n=80, seed=0)
    gw.manual_seed(0)
    return nn.Sequential(nn.Dense(2, 6, activation="relu"), nn.Dropout(0.5),
                         nn.Dense(6, 5, activation="tanh"), nn.Dense(5, out)), X, y


def test_probability_map_applies_sigmoid_or_softmax_to_logits() -> None:
    model, X, _ = _spiral_model(out=2)
    logits = model.eval()(gw.tensor(X)).numpy().astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(lab.predict_proba(model, X), e[:, 1] / e.sum(axis=1), rtol=1e-6)
    model.train()
    one, _, _ = _spiral_model(out=1)
    z = one.eval()(gw.tensor(X)).numpy()[:, 0].astype(np.float64)
    np.testing.assert_allclose(lab.predict_proba(one, X), 1 / (1 + np.exp(-z)), rtol=1e-6)
    probs = nn.Sequential(one, nn.Sigmoid())
    np.testing.assert_allclose(lab.predict_proba(probs, X), 1 / (1 + np.exp(-z)), rtol=1e-6)
    assert model.training  # the mode is restored after drawing


@pytest.mark.slow
def test_boundary_figures_render() -> None:
    model, X, y = _spiral_model()
    fig = lab.plot_decision_boundary(model, X[:60], y[:60], X[60:], y[60:], resolution=30)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["boundary P = 0.5", "class 0 (train)", "class 1 (train)", "class 0 (test)",
                      "class 1 (test)"]
    _render(fig)
    fig = lab.plot_hidden_units(model, X, y, max_units=4, resolution=12)
    assert "L2 unit 4" in [ax.get_title() for ax in fig.axes]
    _render(fig)
    _render(lab.plot_boundaries({"a": model, "b": model}, X, y, resolution=12))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        lab.plot_decision_boundary(model, X[:, :1], y)


def test_history_plot_marks_early_stopping() -> None:
    h = {"loss": [1.0, 0.6, 0.5, 0.45, 0.44], "val_loss": [1.1, 0.7, 0.65, 0.7, 0.8],
         "accuracy": [0.5, 0.7, 0.8, 0.85, 0.9], "val_accuracy": [0.5, 0.7, 0.75, 0.7, 0.7],
         "lr": [0.1] * 5}
    es = SimpleNamespace(best_epoch=2, patience=2, restore_best_weights=True, best_weights={},
                         monitor="val_loss")
    fig = lab.plot_history(h, early_stopping=es)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]  # constant lr: no panel
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"best epoch (3)", "patience window (2 epochs)", "restored weights"} <= set(labels)
    star = [ln for ln in fig.axes[0].lines if ln.get_label() == "restored weights"][0]
    assert tuple(star.get_xydata()[0]) == (3.0, 0.65)
    _render(fig)
    history = gw.History()
    for epoch, lr in enumerate([0.1, 0.05, 0.01]):
        history.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "lr": lr})
    fig = lab.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Learning rate"]
    _render(fig)


def test_feature_figure_reports_held_out_accuracy() -> None:
    X, y = gw.data.circle(n=80, noise=0.1, seed=0)
    fig = lab.plot_feature_engineering(X, y, hidden=4, epochs=40)
    acc = fig.data["train_held_out"]
    assert set(acc) == {"engineered", "learned"}
    assert all(0 <= a <= 1 for pair in acc.values() for a in pair)
    assert "held-out" in fig.axes[0].get_title() and "held-out" in fig.axes[1].get_title()


@pytest.mark.slow
def test_capacity_and_feature_figures_render() -> None:
    X, y = gw.data.moons(n=60, noise=0.3, seed=0)
    fig = lab.capacity_study(X[:30], y[:30], X[30:], y[30:], widths=(1, 8), epochs=20)
    assert fig.axes[0].get_ylabel() == "Loss after training"
    _render(fig)
    _render(lab.plot_feature_engineering(X, y, hidden=4, epochs=10))
    _render(lab.linear_vs_nonlinear(X, y, hidden=(4,), epochs=10))
    _render(lab.plot_function_approximation(widths=(1, 3), epochs=(0, 5), n=16))
    gw.manual_seed(0)
    mnist_like = nn.Sequential(nn.Dense(784, 10, activation="relu"), nn.Dense(10, 10))
    fig = lab.plot_first_layer_weights(mnist_like, n=10, columns=5)
    assert sum(1 for ax in fig.axes if ax.images) == 10
    _render(fig)
    same = lab.plot_first_layer_weights(mnist_like, n=3, initial=mnist_like[0].weight.numpy())
    assert all(not np.asarray(ax.images[0].get_array()).any() for ax in same.axes if ax.images)
    with pytest.raises(ValueError, match="784 inputs"):
        lab.plot_first_layer_weights(nn.Sequential(nn.Dense(5, 2)))


def test_gradient_noise_against_the_full_batch() -> None:
    model, X, y = _spiral_model()
    noise = lab.gradient_noise(model, nn.BCEWithLogitsLoss(), X, y, batch_sizes=(1, 8, 80),
                               samples=6)
    assert noise.grads[1].shape == (6, model.num_parameters())
    np.testing.assert_allclose(noise.cosines(80), 1.0, rtol=1e-5)  # the whole set, reordered
    assert np.abs(noise.cosines(1)).max() <= 1 + 1e-9
    fig = lab.plot_gradient_noise(noise)
    assert fig.axes[0].get_xlabel() == "cosine similarity with the full-batch gradient"
    _render(fig)


@pytest.mark.slow
def test_landscape_figures_render() -> None:
    X, y = gw.data.spiral(n=40, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 4, activation="relu"), nn.Dense(4, 1))
    loss = nn.BCEWithLogitsLoss()
    land = lab.loss_surface(model, loss, X, y, lab.random_directions(model), resolution=7)
    for filled in (True, False):
        _render(lab.plot_landscape_2d(land, filled=filled,
                                      trajectory=np.array([[0.5, 0.5], [0.1, 0.2], [0, 0]])))
    fig = lab.plot_surface_3d(land, trajectory=np.array([[0.5, 0.5], [0.0, 0.0]]),
                              trajectory_loss=land.loss[[5, 3], [5, 3]])
    assert fig.axes[0].get_legend_handles_labels()[1] == ["training trajectory",
                                                          "initial weights", "trained weights"]
    _render(fig)
    _render(lab.plot_landscape_1d(land.x, land.loss[3], land.accuracy[3], marks={"trained": 0}))
    fig = lab.plot_landscape_1d(land.x, land.loss[3], land.accuracy[3],
                                held_out=(land.loss[2], land.accuracy[2], "test"))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["loss (training)", "loss (test)", "accuracy (training)", "accuracy (test)"]
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), land.loss[2])
    _render(fig)


def test_every_lab_export_resolves_to_a_function_or_class() -> None:
    import importlib

    for name in lab.__all__:
        value = getattr(lab, name)
        module = importlib.import_module(f"gradwise.lab.{lab._EXPORTS[name]}")
        assert value is getattr(module, name), name
        assert name in module.__all__, name
        if name == "SURFACES":
            assert all(isinstance(s, module.Surface) for s in value.values())
        else:
            assert callable(value), name


def test_gradient_noise_along_training_restores_weights_and_larger_batches_agree_more() -> None:
    from gradwise.nn.utils import flat_parameters

    X, y = gw.data.moons(n=96, noise=0.2, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 8, activation="relu"), nn.Dense(8, 1))
    loss = nn.BCEWithLogitsLoss()
    opt = gw.optim.Adam(model.parameters(), lr=0.02)
    snaps = {"early": flat_parameters(model)}
    gw.fit(model, loss, opt, (X, y), epochs=30, verbose=0, seed=0)
    snaps["late"] = flat_parameters(model)
    gw.manual_seed(5)
    before = flat_parameters(model)
    res = lab.gradient_noise_along(model, loss, X, y, snaps, batch_sizes=(1, 32), samples=30)
    np.testing.assert_array_equal(flat_parameters(model), before)
    for noise in res.values():
        assert noise.cosines(32).mean() > noise.cosines(1).mean()
    # Near the trained weights the full gradient is smaller than at the start.
    assert np.linalg.norm(res["late"].full) < np.linalg.norm(res["early"].full)
    fig = lab.plot_gradient_noise_along(res)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["early", "late"]
    _render(fig)
