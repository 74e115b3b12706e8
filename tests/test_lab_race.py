"""The optimizer race: its trajectories are the optimizers' own steps on the surfaces' exact
gradients (and PyTorch's, when installed); figures and the GIF render."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gates

gates.matplotlib()  # the lab draws with it

from gradwise.lab.race import SURFACES, make_optimizer, plot_race, run_race, save_race_gif  # noqa: E402
from gradwise.nn import Parameter  # noqa: E402

GRADIENTS = {
    "beale": lambda x, y: np.array([
        2 * (1.5 - x + x * y) * (y - 1) + 2 * (2.25 - x + x * y**2) * (y**2 - 1)
        + 2 * (2.625 - x + x * y**3) * (y**3 - 1),
        2 * (1.5 - x + x * y) * x + 2 * (2.25 - x + x * y**2) * 2 * x * y
        + 2 * (2.625 - x + x * y**3) * 3 * x * y**2]),
    "rosenbrock": lambda x, y: np.array([-2 * (1 - x) - 400 * x * (y - x * x),
                                         200 * (y - x * x)]),
    "saddle": lambda x, y: np.array([2 * x, -2 * y]),
    "quadratic": lambda x, y: np.array([x, 25 * y]),
}
NAMES = ["SGD", "Momentum", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam"]


@pytest.mark.parametrize("surface", sorted(SURFACES))
def test_race_trajectories_are_the_optimizers_steps_on_the_exact_gradient(surface: str) -> None:
    paths = run_race(surface, steps=25)
    assert list(paths) == NAMES
    s = SURFACES[surface]
    for name, path in paths.items():
        assert path.shape == (26, 2)
        np.testing.assert_array_equal(path[0], s.start)
        p = Parameter(np.array(s.start), dtype=np.float64)
        opt = make_optimizer(name, [p], s.lr[name])
        for t in range(1, 26):
            p.grad = GRADIENTS[surface](*p.data)
            opt.step()
            np.testing.assert_allclose(path[t], p.data, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name} on {surface}, step {t}")


@pytest.mark.slow
def test_race_matches_torch_optim() -> None:
    torch = gates.torch()
    classes = {"SGD": (torch.optim.SGD, {}), "Momentum": (torch.optim.SGD, {"momentum": 0.9}),
               "Nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
               "Adagrad": (torch.optim.Adagrad, {}), "Adadelta": (torch.optim.Adadelta, {}),
               "RMSprop": (torch.optim.RMSprop, {}), "Adam": (torch.optim.Adam, {})}
    s = SURFACES["beale"]
    paths = run_race("beale", steps=30)
    for name, (cls, hyper) in classes.items():
        p = torch.tensor(s.start, dtype=torch.float64, requires_grad=True)
        opt = cls([p], lr=s.lr[name], **hyper)
        for t in range(1, 31):
            opt.zero_grad()
            s.f(p[0], p[1]).backward()
            opt.step()
            np.testing.assert_allclose(paths[name][t], p.detach().numpy(), rtol=1e-9,
                                       err_msg=f"{name}, step {t}")


def test_a_diverging_run_stops_and_is_padded_with_nan() -> None:
    paths = run_race("saddle", steps=200, optimizers=["Momentum"], lr={"Momentum": 0.5})
    path = paths["Momentum"]
    finite = np.isfinite(path[:, 0])
    assert not finite.all() and finite[0]
    assert (np.diff(finite.astype(int)) <= 0).all()  # NaN only after the run stopped
    with pytest.raises(ValueError, match="unknown surface"):
        run_race("himmelblau")


@pytest.mark.slow
def test_race_figure_and_gif_render(tmp_path: Path) -> None:
    from PIL import Image

    paths = run_race("quadratic", steps=12)
    fig = plot_race(paths, "quadratic")
    assert [ax.get_xlabel() for ax in fig.axes[:2]] == ["x", "Iteration"]
    fig.savefig(tmp_path / "race.png")
    gif = save_race_gif(paths, "quadratic", tmp_path / "race.gif", frames=4)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 4
    assert {p.name for p in tmp_path.iterdir()} == {"race.png", "race.gif"}  # no temporaries


def test_race_legend_gives_rates_and_equal_mode_uses_one_rate() -> None:
    from gradwise.lab.race import LINE_STYLES, race_rates

    tuned = race_rates("saddle")
    assert len(set(tuned.values())) > 1
    paths = run_race("saddle", steps=60)
    fig = plot_race(paths, "saddle")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert f"SGD (lr {tuned['SGD']:g})" in labels
    styles = {ln.get_label().split(",")[0]: (ln.get_linestyle(), ln.get_marker())
              for ln in fig.axes[0].lines}
    assert styles[f"SGD (lr {tuned['SGD']:g})"] != styles[f"Momentum (lr {tuned['Momentum']:g})"]
    assert len(set(LINE_STYLES.values())) == len(LINE_STYLES)
    # The lesson: plain SGD from a start on the saddle's ridge stays stuck at the saddle point.
    assert np.abs(paths["SGD"][-1]).max() < 0.2
    assert np.abs(paths["Momentum"][-1, 1]) > 1.0
    equal = race_rates("saddle", equal_lr=0.05)
    assert set(equal.values()) == {0.05}
    fig = plot_race(run_race("saddle", steps=10, equal_lr=0.05), "saddle", equal_lr=0.05)
    assert "one learning rate for all" in fig.axes[0].get_title()


@pytest.mark.slow
def test_window_exits_mark_a_ball_that_a_too_large_rate_throws_out(tmp_path: Path) -> None:
    from PIL import Image

    from gradwise.lab.race import window_exits

    # SGD on (x^2 + 25 y^2)/2 multiplies x by 1 - lr and y by 1 - 25 lr per step: with lr 0.1,
    # y = 1.2 (-1.5)^t, 1.2 -> -1.8 -> 2.7 leaves the window (|y| <= 2) at step 2; at lr 0.07
    # (the tuned rate) y shrinks by -0.75 per step and never leaves.
    paths = run_race("quadratic", steps=20, optimizers=["SGD", "Adam"], lr={"SGD": 0.1})
    exits = window_exits(paths, "quadratic")
    assert exits["Adam"] is None
    ex = exits["SGD"]
    assert ex is not None and ex.step == 2 and not ex.stopped
    (xa, ya), (xb, yb) = [(-4.5 * 0.9**t, 1.2 * (-1.5) ** t) for t in (1, 2)]
    s = (2.0 - ya) / (yb - ya)  # where the segment from step 1 to step 2 crosses y = 2
    np.testing.assert_allclose(ex.point, (xa + s * (xb - xa), 2.0), rtol=1e-12)

    fig = plot_race(paths, "quadratic", lr={"SGD": 0.1})
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "SGD (lr 0.1), left the window at step 2" in labels
    assert "Adam (lr 0.1)" in labels
    marks = [ln for ln in fig.axes[0].lines if ln.get_gid() == "window-exit:SGD"]
    assert len(marks) == 1 and marks[0].get_marker() == "X"
    np.testing.assert_allclose(np.ravel(marks[0].get_data()), ex.point)
    assert not [ln for ln in fig.axes[0].lines if ln.get_gid() == "window-exit:Adam"]
    gif = save_race_gif(paths, "quadratic", tmp_path / "race.gif", frames=21, lr={"SGD": 0.1})
    with Image.open(gif) as im:
        assert im.n_frames == 21

    # The tuned rates keep every ball inside the quadratic's window for the whole run; on the
    # saddle every optimizer but SGD escapes downhill along y, over the top edge.
    assert set(window_exits(run_race("quadratic"), "quadratic").values()) == {None}
    saddle = window_exits(run_race("saddle"), "saddle")
    assert saddle["SGD"] is None
    assert all(saddle[n] is not None and saddle[n].point[1] == 2.0  # type: ignore[union-attr]
               for n in NAMES[1:])
