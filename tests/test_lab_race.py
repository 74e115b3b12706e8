"""The optimizer race: its trajectories are the optimizers' own steps on the surfaces' exact
gradients (and PyTorch's, when installed); figures and the GIF render."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradwise.lab.race import SURFACES, make_optimizer, plot_race, run_race, save_race_gif
from gradwise.nn import Parameter
from torch_required import import_torch

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


def test_race_matches_torch_optim() -> None:
    torch = import_torch()
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
    styles = {ln.get_label(): (ln.get_linestyle(), ln.get_marker()) for ln in fig.axes[0].lines}
    assert styles[f"SGD (lr {tuned['SGD']:g})"] != styles[f"Momentum (lr {tuned['Momentum']:g})"]
    assert len(set(LINE_STYLES.values())) == len(LINE_STYLES)
    # The lesson: plain SGD from a start on the saddle's ridge stays stuck at the saddle point.
    assert np.abs(paths["SGD"][-1]).max() < 0.2
    assert np.abs(paths["Momentum"][-1, 1]) > 1.0
    equal = race_rates("saddle", equal_lr=0.05)
    assert set(equal.values()) == {0.05}
    fig = plot_race(run_race("saddle", steps=10, equal_lr=0.05), "saddle", equal_lr=0.05)
    assert "one learning rate for all" in fig.axes[0].get_title()
