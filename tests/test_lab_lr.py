"""Learning-rate studies: the range test's suggestion (Smith 2017; minimum / 10) trains well
with the real train job, the test restores the weights, and the comparison shares
initialization and batches."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

import gates

gates.matplotlib()  # the lab draws with it

import gradwise as gw  # noqa: E402
from gradwise import nn  # noqa: E402
from gradwise.cli import main  # noqa: E402
from gradwise.lab.landscape import flat_parameters  # noqa: E402
from gradwise.lab.lr import (  # noqa: E402
    choose_learning_rates,
    classify_curves,
    compare_learning_rates,
    lr_range_test,
    plot_lr_comparison,
    plot_lr_range_test,
    suggest_lr,
)


@pytest.mark.parametrize("centre", [1e-4, 3e-3, 0.2])
def test_suggestion_is_where_a_synthetic_loss_falls_fastest(centre: float) -> None:
    lrs = np.geomspace(1e-6, 10, 300)
    u = np.log10(lrs) - np.log10(centre)
    rng = np.random.default_rng(0)
    # A smooth drop centred at `centre`, a blow-up past 1, and a little noise.
    loss = 1.0 - 0.8 * (np.tanh(1.5 * u) + 1) / 2 + np.where(lrs > 1, (lrs - 1) ** 2, 0)
    loss += rng.normal(0, 0.003, lrs.size)
    suggestion = suggest_lr(lrs, loss, rule="steepest")
    assert abs(np.log10(suggestion) - np.log10(centre)) < 0.15
    minimum = lrs[np.argmin(loss)]
    assert suggest_lr(lrs, loss) == pytest.approx(minimum / 10)


def test_suggest_lr_rejects_an_unknown_rule() -> None:
    with pytest.raises(ValueError, match="rule must be one of"):
        suggest_lr(np.geomspace(1e-3, 1, 5), np.ones(5), rule="valley")


def _lr_find(args: list[str], capsys: pytest.CaptureFixture[str]) -> float:
    assert main(["lr-find", *args]) == 0
    out = capsys.readouterr().out
    return float(re.search(r"--set optimizer.lr=(\S+)", out).group(1))


def _train(args: list[str], out: Path, split: str) -> float:
    assert main(["train", "--quiet", "--out", str(out), *args]) == 0
    return json.loads((out / "summary.json").read_text())["saved_model"][split]["accuracy"]


@pytest.mark.slow
def test_lr_find_suggestion_trains_the_default_spiral_to_97_percent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lr = _lr_find(["--out", str(tmp_path / "lr.png")], capsys)
    assert 1e-3 < lr < 0.1
    accuracy = _train(["--set", f"optimizer.lr={lr}"], tmp_path / "run", "validation")
    assert accuracy >= 0.97, (lr, accuracy)


MNIST_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)


@pytest.mark.slow
def test_lr_find_suggestion_on_mnist_is_within_a_point_of_the_best_of_eight(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], mnist_dir: Path) -> None:
    config = str(Path(__file__).resolve().parents[1] / "examples" / "mnist.toml")
    base = [config, "--set", f"data.root='{mnist_dir}'"]
    lr = _lr_find([*base, "--out", str(tmp_path / "lr.png")], capsys)
    base += ["--set", "training.verbose=0"]
    grid = {g: _train([*base, "--set", f"optimizer.lr={g}"], tmp_path / f"g{g}", "test")
            for g in MNIST_GRID}
    found = _train([*base, "--set", f"optimizer.lr={lr}"], tmp_path / "found", "test")
    assert found >= max(grid.values()) - 0.01, (lr, found, grid)


def _setup() -> tuple[nn.Module, nn.Module, np.ndarray, np.ndarray]:
    X, y = gw.data.moons(n=128, noise=0.1, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 16, activation="relu"), nn.Dense(16, 1))
    return model, nn.BCEWithLogitsLoss(), X, y


@pytest.mark.slow
def test_range_test_grows_the_rate_geometrically_and_restores_the_weights() -> None:
    model, loss, X, y = _setup()
    before = flat_parameters(model)
    result = lr_range_test(model, loss, X, y, min_lr=1e-4, max_lr=100.0, steps=60,
                           batch_size=16)
    np.testing.assert_array_equal(flat_parameters(model), before)
    n = len(result.lrs)
    assert 5 < n <= 60 and result.losses.shape == result.smoothed.shape == (n,)
    np.testing.assert_allclose(result.lrs, np.geomspace(1e-4, 100.0, 60)[:n])
    assert result.lrs[0] <= result.suggestion <= result.lrs[-1]
    fig = plot_lr_range_test(result, current_lr=0.01)
    assert fig.axes[0].get_xscale() == "log"
    d = fig.data
    assert (d["suggestion"], d["current_lr"]) == (result.suggestion, 0.01)
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), d["smoothed"])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith(f"suggested lr = {d['suggestion']:.2g}") for t in labels)
    assert "config's current lr = 0.01" in labels
    fig.savefig(io.BytesIO(), format="png")


def test_learning_rate_comparison_shares_the_start_and_flags_divergence() -> None:
    model, loss, X, y = _setup()
    before = flat_parameters(model)
    curves = compare_learning_rates(model, loss, X, y, lrs=(1e-3, 0.5, 1e4), epochs=6,
                                    batch_size=32)
    np.testing.assert_array_equal(flat_parameters(model), before)
    starts = {c[0] for c in curves.values()}
    assert len(starts) == 1  # same initialization for every learning rate
    assert curves[0.5][-1] < curves[1e-3][-1] < curves[1e-3][0]
    again = compare_learning_rates(model, loss, X, y, lrs=(0.5,), epochs=6, batch_size=32)
    np.testing.assert_array_equal(again[0.5], curves[0.5])  # same mini-batches
    verdicts = classify_curves(curves)
    assert verdicts[1e-3] == "too small: barely moves"
    assert verdicts[1e4] == "too large: diverges"


def test_classify_curves_on_synthetic_curves() -> None:
    t = np.arange(21.0)
    curves = {1e-3: 1 - 0.005 * t, 0.1: 0.1 + 0.9 * np.exp(-t / 2),
              10.0: 1 + 0.3 * np.where(t % 2 == 1, 1.0, -0.2) * (t > 0),
              100.0: np.exp(t / 3)}
    assert classify_curves(curves) == {1e-3: "too small: barely moves", 0.1: "good: converges",
                                       10.0: "too large: oscillates",
                                       100.0: "too large: diverges"}


@pytest.mark.slow
def test_chosen_rates_show_what_their_labels_say() -> None:
    X, y = gw.data.moons(n=160, noise=0.15, seed=0)
    gw.manual_seed(1)
    model = nn.Sequential(nn.Dense(2, 16, activation="relu"), nn.Dense(16, 1))
    loss = nn.BCEWithLogitsLoss()
    curves = choose_learning_rates(model, loss, X, y, candidates=(1e-3, 1e-2, 0.1, 1.0, 10.0,
                                                                    100.0), epochs=12)
    small, good, large = curves
    cs, cg, cl = curves[small], curves[good], curves[large]
    assert small < good < large
    # too small: gains under a fifth of what the good rate gains
    assert cs[0] - cs[-1] < 0.2 * (cg[0] - cg[-1])
    # good: converges (most of the way down, flat at the end)
    assert cg[-1] < 0.5 * cg[0] and np.ptp(cg[-3:]) < 0.1 * (cg[0] - cg[-1])
    assert cg[1:].max() <= cg[0]
    # too large: blows up or bounces without getting anywhere
    assert not np.isfinite(cl).all() or cl[-1] > 0.8 * cl[0]
    fig = plot_lr_comparison(curves)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == f"lr = {small:.3g}: too small: barely moves"
    assert titles[1] == f"lr = {good:.3g}: good: converges"
    assert titles[2].startswith(f"lr = {large:.3g}: too large: ")
    verdicts = fig.data["verdicts"]
    assert titles == [f"lr = {lr:.3g}: {verdicts[lr]}" for lr in curves]  # titles = numbers
    left = fig.data["left_finite"][large]
    assert (left is None) == bool(np.isfinite(cl).all())  # "diverges" marks where it left
    fig.savefig(io.BytesIO(), format="png")
    with pytest.raises(ValueError, match="need a too-small, a good and a too-large"):
        choose_learning_rates(model, loss, X, y, candidates=(0.1, 1.0), epochs=3)
