"""Colour-blind-safe classes: the two class colours stay far apart under simulated protanopia
and deuteranopia (Machado et al. 2009), each class has its own marker shape, and hidden-unit
maps use a sequential scale for ReLU and mark dead units."""

from __future__ import annotations

import numpy as np
import pytest

import gates

gates.matplotlib()  # the lab draws with it

from matplotlib.colors import to_rgb  # noqa: E402

import gradwise as gw  # noqa: E402
from gradwise import lab, nn  # noqa: E402
from gradwise.lab.style import (  # noqa: E402
    CLASS_COLORS,
    CLASS_MARKERS,
    HELD_OUT_MARKERS,
    delta_e,
    simulate_cvd,
)

RED, GREEN = "#d7191c", "#1a9641"


@pytest.mark.parametrize("kind", ["protanopia", "deuteranopia"])
def test_class_colours_stay_apart_for_red_green_colour_blindness(kind: str) -> None:
    a, b = (simulate_cvd(c, kind) for c in CLASS_COLORS)
    assert delta_e(a, b) > 40  # tens of just-noticeable differences
    # The old red/green pair collapses under the same simulation: the test can fail.
    assert delta_e(simulate_cvd(RED, kind), simulate_cvd(GREEN, kind)) < 0.5 * delta_e(a, b)


def test_simulation_matches_known_values() -> None:
    # White and grey are unchanged (the matrices' rows sum to 1); pure red loses its redness
    # for a protanope: its simulated red and green channels end up close.
    np.testing.assert_allclose(simulate_cvd("white", "deuteranopia"), 1.0, atol=2e-3)
    np.testing.assert_allclose(simulate_cvd("#808080", "protanopia"), to_rgb("#808080"),
                               atol=3e-3)
    r, g, _ = simulate_cvd("red", "protanopia")
    assert abs(r - g) < 0.2
    assert delta_e(np.array(to_rgb("black")), np.array(to_rgb("white"))) == pytest.approx(
        100, abs=0.1)
    with pytest.raises(ValueError, match="kind must be one of"):
        simulate_cvd("red", "monochromacy")


def test_every_class_has_its_own_marker_in_the_boundary_figure() -> None:
    assert len(set(CLASS_MARKERS + HELD_OUT_MARKERS)) == 4
    X, y = gw.data.moons(n=40, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 4, activation="relu"), nn.Dense(4, 1))
    fig = lab.plot_decision_boundary(model, X[:30], y[:30], X[30:], y[30:], resolution=10)
    colls = fig.axes[0].collections[-4:]
    faces = [tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in colls]
    assert faces[0] == faces[2] == tuple(np.round(to_rgb(CLASS_COLORS[0]), 3))
    assert faces[1] == faces[3] == tuple(np.round(to_rgb(CLASS_COLORS[1]), 3))
    paths = [c.get_paths()[0].vertices.shape[0] for c in colls]
    assert paths[0] != paths[1] and paths[2] != paths[3]  # circle vs square, triangle vs diamond


def test_hidden_units_sequential_scale_dead_units_marked_and_counted() -> None:
    X, y = gw.data.moons(n=40, seed=0)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 6, activation="relu"), nn.Dense(6, 1))
    w = model[0].weight.numpy()
    w[:, 0] = 0.0  # unit 1 can never fire: dead
    model[0].weight.data[...] = w
    model[0].bias.data[0] = -1.0
    fig = lab.plot_hidden_units(model, X, y, max_units=4, resolution=10)
    (info,) = fig.data["layers"]
    assert (info["units"], info["dead"], info["drawn"], info["non_negative"]) == (6, 1, 4, True)
    # The dead unit is drawn as a marked panel, not on a colour scale; every live ReLU unit on
    # the sequential map from 0 to its own largest value (no diverging scale that never shows
    # its negative half).
    assert info["scales"][0] is None
    assert all(sc[0] == "viridis" and sc[1] == 0.0 and sc[2] > 0 for sc in info["scales"][1:])
    label = fig.axes[0].get_ylabel()
    assert label == info["label"] and "1 dead" in label and "2 not drawn" in label
    assert any(t.get_text().startswith("dead") for t in fig.axes[0].texts)
    cmaps = {im.get_cmap().name for ax in fig.axes[1:4] for im in ax.get_images()}
    assert cmaps == {"viridis"}
