"""The lecture's pictures assert their lessons on the numbers they draw: the perceptron's worked
example, will-I-pass before and after training, gradient descent going downhill, the ideal fit
having the lowest validation error, early stopping on a U, dropout narrowing the gap."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import gates

gates.matplotlib()  # the lab draws with it

from matplotlib.figure import Figure  # noqa: E402

from gradwise.lab import lecture  # noqa: E402


def _render(fig: Figure) -> None:
    fig.savefig(io.BytesIO(), format="png", dpi=30)


def test_perceptron_is_a_line_and_the_worked_example_gives_0_0025() -> None:
    fig = lecture.perceptron_line()
    d = fig.data
    assert d["z"] == -6.0
    assert round(d["y_hat"], 4) == 0.0025
    np.testing.assert_allclose(1 + 3 * d["line_x1"] - 2 * d["line_x2"], 0, atol=1e-12)
    signs = np.sign(d["z_grid"])
    assert (signs > 0).any() and (signs < 0).any()  # two half-planes
    _render(fig)


@pytest.mark.slow
def test_will_i_pass_untrained_is_wrong_and_training_fixes_it() -> None:
    fig = lecture.will_i_pass(n=120, epochs=150)
    d = fig.data
    assert d["truth"] == 0  # 0.6*4 + 0.8*5 - 7 = -0.6: this student fails
    assert d["before"] > 0.5 and d["after"] < 0.5
    assert d["accuracy"] > 0.85
    _render(fig)


@pytest.mark.slow
def test_gradient_descent_goes_downhill_step_by_step(tmp_path: Path) -> None:
    fig = lecture.gradient_descent_steps(steps=8, resolution=15)
    d = fig.data
    assert d["path"].shape == (9, 2) and tuple(d["path"][0]) == (6.0, -4.0)
    assert (np.diff(d["loss"]) < 0).all()
    _render(fig)
    gif = lecture.save_gradient_descent_gif(d, tmp_path / "gd.gif")
    assert gif.path.read_bytes()[:6] == b"GIF89a"
    # Frame k draws the first k + 1 points of the path, and its title gives that step's loss.
    assert [f["step"] for f in gif.frames] == list(range(9))
    for f in gif.frames:
        np.testing.assert_allclose(f["trail"], d["path"][:f["step"] + 1])
        assert f"J = {d['loss'][f['step']]:.3f}" in f["title"]


def test_ideal_fit_has_the_lowest_validation_error() -> None:
    fig = lecture.fitting_three_ways()
    d = fig.data
    train, val = d["train_mse"], d["val_mse"]
    assert int(np.argmin(val)) == 1
    assert train[0] > train[1] > train[2]  # more capacity always fits the training set better
    assert val[2] > val[1]  # ... but the most complex model generalizes worse
    _render(fig)


@pytest.mark.slow
def test_early_stopping_marks_the_bottom_of_a_u() -> None:
    fig = lecture.early_stopping_study(n=40, width=64, epochs=80, patience=10)
    d = fig.data
    va, tr, best = d["val_loss"], d["train_loss"], d["best_epoch"]
    assert 1 < best < d["stop_epoch"] <= 80
    assert va[best - 1] < va[0] and va[-1] > 1.5 * va[best - 1]  # down, then up: a U
    assert tr[-1] < 0.5 * tr[0]  # while the training loss keeps falling
    _render(fig)


@pytest.mark.slow
@pytest.mark.parametrize("epochs", [60])
def test_dropout_narrows_the_gap(epochs: int) -> None:
    fig = lecture.dropout_study(n=40, width=64, epochs=epochs)
    d = fig.data
    assert d["gap_with"] < d["gap_without"]
    dropped = [int((~m[1]).sum() + (~m[2]).sum()) for m in d["masks"]]
    assert all(0 < k < 12 for k in dropped)
    assert not all((a[1] == b[1]).all() for a, b in [d["masks"]])  # batches differ
    _render(fig)


def test_will_i_pass_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "will_i_pass.py"
    spec = importlib.util.spec_from_file_location("will_i_pass_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main()
    assert result["before"] > 0.5 > result["after"] and result["accuracy"] > 0.85
    assert "(actual: fail)" in capsys.readouterr().out


@pytest.mark.slow
def test_larger_batches_descend_more_smoothly_and_tolerate_larger_rates() -> None:
    fig = lecture.minibatch_study(steps=60, n=128, lrs=(0.1, 0.3, 1.0, 3.0, 10.0, 30.0))
    d = fig.data
    rough, stable = d["roughness"], d["largest_stable"]
    sizes = sorted(rough)
    assert all(rough[a] >= rough[b] for a, b in zip(sizes, sizes[1:], strict=False))
    assert rough[sizes[0]] > rough[sizes[-1]]
    assert stable[sizes[0]] < stable[sizes[-1]]
    _render(fig)
