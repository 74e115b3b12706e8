"""Each lab figure carries the numbers it draws (``LabFigure.data``), and the lesson of the
figure holds on those numbers: what a learner is told is what was measured. Each test also
checks that the numbers are the ones drawn (read back from the figure's artists), so a figure
that drew something else would fail."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest

import gates

gates.matplotlib()  # the lab draws with it

import gradwise as gw  # noqa: E402
from gradwise import lab, nn  # noqa: E402
from gradwise.lab.style import LabFigure  # noqa: E402


def _render(fig: LabFigure) -> None:
    assert isinstance(fig, LabFigure)
    fig.savefig(io.BytesIO(), format="png", dpi=30)


@pytest.mark.slow
def test_activation_figure_derivative_equals_a_finite_difference_of_its_curve() -> None:
    fig = lab.plot_activations()
    curves = fig.data["curves"]
    assert [ax.get_title() for ax in fig.axes][:3] == ["sigmoid", "tanh", "ReLU"]
    for ax, (name, (z, g, dg)) in zip(fig.axes, curves.items(), strict=False):
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), g)  # drawn as stored
        np.testing.assert_array_equal(ax.lines[1].get_ydata(), dg)
        fd = (g[2:] - g[:-2]) / (z[2:] - z[:-2])  # central difference of the drawn g(z)
        h = z[1] - z[0]
        smooth = np.abs(z[1:-1]) > 1.5 * h  # ReLU and leaky ReLU have a kink at 0
        np.testing.assert_allclose(dg[1:-1][smooth], fd[smooth], atol=1e-3, err_msg=name)
    _render(fig)


def test_decision_boundary_map_is_the_models_probability_and_accuracies_are_measured() -> None:
    X, y = gw.data.moons(n=60, noise=0.2, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 8, activation="relu"), nn.Dense(8, 1))
    gw.fit(model, nn.BCEWithLogitsLoss(), gw.optim.Adam(model.parameters(), lr=0.05), (X, y),
           epochs=20, verbose=0, seed=0)
    fig = lab.plot_decision_boundary(model, X[:40], y[:40], X[40:], y[40:], resolution=12)
    d = fig.data
    g1, g2 = np.meshgrid(d["grid_x1"], d["grid_x2"])
    expected = lab.predict_proba(model, np.column_stack([g1.ravel(), g2.ravel()]))
    np.testing.assert_allclose(d["probability"].ravel(), expected.ravel(), rtol=1e-6)
    for key, (Xs, ys) in (("train_accuracy", (X[:40], y[:40])),
                          ("test_accuracy", (X[40:], y[40:]))):
        right = (lab.predict_proba(model, Xs).ravel() > 0.5) == (ys == 1)
        assert d[key] == pytest.approx(right.mean())
    assert d["train_accuracy"] > 0.75
    _render(fig)


@pytest.mark.slow
def test_linear_activations_draw_a_straight_boundary_and_relu_bends_it() -> None:
    X, y = gw.data.xor(n=120, seed=0)
    fig = lab.linear_vs_nonlinear(X, y, hidden=(8,), epochs=150)
    d = fig.data
    linear, relu = d["maps"]  # panel order
    g1, g2 = np.meshgrid(d["grid_x1"], d["grid_x2"])
    A = np.column_stack([np.ones(g1.size), g1.ravel(), g2.ravel()])

    def curvature(p: np.ndarray) -> float:
        """How far log-odds of the map are from a plane (0: a straight boundary)."""
        p = np.clip(p.ravel().astype(np.float64), 1e-7, 1 - 1e-7)
        logit = np.log(p / (1 - p))
        coef = np.linalg.lstsq(A, logit, rcond=None)[0]
        return float(np.abs(logit - A @ coef).max() / max(np.ptp(logit), 1e-12))

    assert curvature(d["maps"][linear]) < 1e-4  # a stack of linear layers: one linear map
    assert curvature(d["maps"][relu]) > 0.1
    assert d["accuracy"][relu] > 0.9 > 0.7 > d["accuracy"][linear]  # XOR needs the bend
    assert [ax.get_title() for ax in fig.axes[:2]] == [linear, relu]
    _render(fig)


def test_features_figure_titles_report_the_held_out_accuracies_it_measured() -> None:
    X, y = gw.data.circle(n=80, noise=0.1, seed=0)
    fig = lab.plot_feature_engineering(X, y, hidden=8, epochs=60)
    acc = fig.data["train_held_out"]
    n_held = 24  # 30% of 80, stratified
    assert f"({n_held} held-out points)" in fig.get_suptitle()
    for ax, name in zip(fig.axes[:2], ("engineered", "learned"), strict=True):
        train, held = acc[name]
        assert held * n_held == pytest.approx(round(held * n_held))  # a count of held-out points
        assert f"train {train:.0%}, held-out {held:.0%}" in ax.get_title()
    # The training panels' own accuracies are on the 56 training points, not the held-out ones.
    assert sorted(fig.data["accuracy"].values()) == sorted(a for a, _ in acc.values())


def test_history_figure_numbers_mark_the_best_epoch_and_restored_weights() -> None:
    h = {"loss": [1.0, 0.6, 0.5, 0.45, 0.44], "val_loss": [1.1, 0.7, 0.65, 0.7, 0.8]}
    es = SimpleNamespace(best_epoch=2, patience=2, restore_best_weights=True, best_weights={},
                         monitor="val_loss")
    d = lab.plot_history(h, early_stopping=es).data
    assert d["panels"] == ["loss"]
    assert d["best_epoch"] == 1 + int(np.argmin(h["val_loss"])) == 3
    assert d["restored"] == (3, min(h["val_loss"]))
    assert d["curves"] == {"loss": h["loss"], "val_loss": h["val_loss"]}
    assert "best epoch (3)" in d["labels"]["loss"]


def test_capacity_figure_marks_the_least_validation_loss_between_under_and_overfitting() -> None:
    X, y = gw.data.moons(n=80, noise=0.3, seed=0)
    fig = lab.capacity_study(X[:40], y[:40], X[40:], y[40:], widths=(1, 4, 32), epochs=300)
    d = fig.data
    tr, va = d["train_loss"], d["val_loss"]
    assert (np.diff(tr) < 0).all()  # more capacity always fits the training set better
    best = int(np.argmin(va))
    assert d["best"] == d["capacities"][best] == 4  # neither the smallest nor the largest
    assert va[0] > va[best] < va[-1]  # underfit on one side, overfit on the other
    (mark,) = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("best validation")]
    assert np.asarray(mark.get_xdata())[0] == d["best"]
    _render(fig)


def test_function_approximation_fits_better_with_training_and_with_width() -> None:
    fig = lab.plot_function_approximation(widths=(1, 16), epochs=(0, 200), n=32)
    d = fig.data
    assert d["mse_by_epoch"][200] < 0.3 * d["mse_by_epoch"][0]
    assert d["mse_by_width"][16] < 0.3 * d["mse_by_width"][1]
    left, right = fig.axes[:2]
    np.testing.assert_array_equal(left.lines[1].get_ydata(), d["by_epoch"][200])
    np.testing.assert_array_equal(right.lines[1].get_ydata(), d["by_width"][16])
    np.testing.assert_allclose(d["target"], np.sin(3 * d["dense_x"]) + 0.3 * d["dense_x"] ** 2,
                               rtol=1e-6)


def test_first_layer_images_are_the_weight_columns() -> None:
    gw.manual_seed(0)
    mlp = nn.Sequential(nn.Dense(784, 6, activation="relu"), nn.Dense(6, 2))
    W = mlp[0].weight.numpy().astype(np.float64)
    fig = lab.plot_first_layer_weights(mlp, n=4, columns=2)
    imgs = fig.data["images"]
    assert imgs.shape == (4, 28, 28)
    for j, ax in enumerate(fig.axes[:4]):
        np.testing.assert_allclose(imgs[j], W[:, j].reshape(28, 28))
        np.testing.assert_allclose(ax.images[0].get_array(), imgs[j])
        assert ax.images[0].get_clim() == (-fig.data["vmax"][j], fig.data["vmax"][j])


def test_gradient_noise_figures_agree_more_with_larger_batches() -> None:
    X, y = gw.data.moons(n=64, noise=0.2, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 8, activation="relu"), nn.Dense(8, 1))
    loss = nn.BCEWithLogitsLoss()
    noise = lab.gradient_noise(model, loss, X, y, batch_sizes=(1, 16, 64), samples=20)
    d = lab.plot_gradient_noise(noise).data
    m = d["mean_cosine"]
    assert m[1] < m[16] < m[64] == pytest.approx(1.0)  # the full batch is the gradient itself
    np.testing.assert_allclose(np.linalg.norm(d["directions"][64], axis=1), 1.0, rtol=1e-5)
    snaps = {"start": gw.nn.utils.flat_parameters(model)}
    gw.fit(model, loss, gw.optim.Adam(model.parameters(), lr=0.02), (X, y), epochs=40,
           verbose=0, seed=0)
    snaps["trained"] = gw.nn.utils.flat_parameters(model)
    fig = lab.plot_gradient_noise_along(lab.gradient_noise_along(
        model, loss, X, y, snaps, batch_sizes=(1, 16), samples=20))
    d = fig.data
    assert d["stages"] == ["start", "trained"]
    assert d["full_norm"]["trained"] < d["full_norm"]["start"]
    for ax, stage in zip(fig.axes, d["stages"], strict=True):
        assert f"|full gradient| = {d['full_norm'][stage]:.3g}" in ax.get_title()


def test_landscape_figures_carry_the_loss_they_draw() -> None:
    X, y = gw.data.spiral(n=40, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 4, activation="relu"), nn.Dense(4, 1))
    loss = nn.BCEWithLogitsLoss()
    land = lab.loss_surface(model, loss, X, y, lab.random_directions(model), resolution=7)
    d = lab.plot_landscape_1d(land.x, land.loss[3], land.accuracy[3], marks={"trained": 0}).data
    assert d["marks"]["trained"] == (0.0, float(land.loss[3, 3]))
    d = lab.plot_landscape_2d(land, equal_aspect=True).data
    assert d["aspect"] == [1.0] * len(d["panels"])
    lo, hi = d["loss_range"]
    assert lo <= np.nanmin(land.loss) <= hi
    d = lab.plot_surface_3d(land).data
    assert d["trained"] == (0.0, 0.0, pytest.approx(np.log10(land.loss[3, 3])))


def test_race_figure_numbers_show_the_saddle_trapping_sgd() -> None:
    from gradwise.lab.race import window_exits

    paths = lab.run_race("saddle")  # the tuned rates and the default number of steps
    d = lab.plot_race(paths, "saddle").data
    assert abs(d["values"]["SGD"][-1]) < 0.05  # f = x^2 - y^2 stays at the saddle's level
    assert all(d["values"][n][-1] < -1.0 for n in paths if d["exits"][n] is not None)
    exits = window_exits(paths, "saddle")
    assert d["exit_marks"] == {n: ex.point for n, ex in exits.items() if ex is not None}
    assert "SGD" not in d["exit_marks"] and len(d["exit_marks"]) == len(paths) - 1


@pytest.mark.slow
def test_race_gif_draws_the_exit_mark_from_the_exit_frame_on_not_before() -> None:
    import tempfile
    from pathlib import Path

    from PIL import Image

    from gradwise.lab.race import window_exits

    # SGD at lr 0.1 on (x^2 + 25 y^2)/2 leaves the window at step 2 (y: 1.2, -1.8, 2.7).
    paths = lab.run_race("quadratic", steps=20, optimizers=["SGD", "Adam"], lr={"SGD": 0.1})
    ex = window_exits(paths, "quadratic")["SGD"]
    assert ex is not None and ex.step == 2
    with tempfile.TemporaryDirectory() as tmp:
        for frames, first_marked in ((21, 2), (5, 5)):  # every step; steps 0, 5, 10, 15, 20
            gif = lab.save_race_gif(paths, "quadratic", Path(tmp) / "race.gif", frames=frames,
                                    lr={"SGD": 0.1})
            with Image.open(gif.path) as im:
                assert im.n_frames == len(gif.frames) == frames
            steps = [f["step"] for f in gif.frames]
            assert steps == sorted(steps) and steps[-1] == 20
            marked = [f["step"] for f in gif.frames if "SGD" in f["exit_marks"]]
            assert marked == [t for t in steps if t >= ex.step] and marked[0] == first_marked
            for f in gif.frames:
                assert "Adam" not in f["exit_marks"]
                noted = any("left the window at step 2" in t for t in f["legend"])
                assert noted == (f["step"] >= ex.step)
                if "SGD" in f["exit_marks"]:
                    assert f["exit_marks"]["SGD"] == ex.point
            assert "on top of each other" in gif.frames[0]["title"]


def test_lr_comparison_cuts_a_spike_and_marks_it_instead_of_flattening_the_others() -> None:
    from gradwise.lab.lr import plot_lr_comparison

    t = np.arange(15.0)
    spike = np.where(t == 1, 54.8, 0.9 + 0.3 * (t % 2))
    curves = {0.01: 0.78 - 0.005 * t, 0.3: 0.2 + 0.58 * np.exp(-t / 3), 10.0: spike}
    spike[0] = 0.78
    fig = plot_lr_comparison(curves)
    d = fig.data
    assert d["y_max"] == pytest.approx(3 * 0.78)  # not 54.8 * 1.1
    assert fig.axes[0].get_ylim()[1] == pytest.approx(d["y_max"])
    (mark,) = [ln for ln in fig.axes[2].lines if ln.get_label().startswith("off the scale")]
    assert list(mark.get_xdata()) == [1] and "54.8" in mark.get_label()
    assert not [ln for ln in fig.axes[1].lines if ln.get_label().startswith("off the scale")]
    d = plot_lr_comparison({0.01: curves[0.01], 0.3: curves[0.3]}).data
    assert d["y_max"] == pytest.approx(0.78 * 1.1)  # nothing to cut
