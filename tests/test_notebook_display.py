"""Rich display outside a kernel: Module.summary() (text and HTML), History._repr_html_,
LivePlot harmless outside a notebook, and the progress display kinds."""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise import nn


def _model():
    gw.manual_seed(0)
    return nn.Sequential(nn.Dense(2, 16, activation="relu"), nn.Dropout(0.2),
                         nn.Dense(16, 3), nn.Softmax())


def test_summary_lists_layers_shapes_and_counts():
    s = _model().summary()
    assert [r[0] for r in s.rows] == ["0 (Dense)", "1 (Dropout)", "2 (Dense)", "3 (Softmax)"]
    assert [r[1] for r in s.rows] == ["(None, 16)"] * 2 + ["(None, 3)"] * 2
    assert [r[2] for r in s.rows] == [48, 0, 51, 0]
    assert s.total == s.trainable == 99
    text = str(s)
    assert "Output Shape" in text and "Total params: 99" in text and repr(s) == text
    html = s._repr_html_()
    assert html.count("<tr>") == 5 and "(None, 16)" in html
    assert _model()._repr_html_() == html


def test_summary_with_an_input_shape_and_a_flatten():
    model = nn.Sequential(nn.Flatten(), nn.Dense(12, 4))
    assert [r[1] for r in model.summary().rows] == ["?", "?"]
    s = model.summary(input_shape=(3, 4))
    assert [r[1] for r in s.rows] == ["(None, 12)", "(None, 4)"]
    assert model.training  # summary runs in eval mode and restores the mode
    single = nn.Dense(3, 2).summary()
    assert single.rows == [("dense (Dense)", "(None, 2)", 8)]


def test_history_html_table():
    X, y = gw.data.gauss(n=40, seed=0)
    model = nn.Sequential(nn.Dense(2, 1))
    h = gw.fit(model, "bce_with_logits", gw.optim.SGD(model.parameters(), lr=0.1),
               (X, y.reshape(-1, 1)), epochs=3, metrics=["accuracy"], verbose=0)
    html = h._repr_html_()
    assert "History: 3 epochs" in html and html.count("<tr>") == 4 and "<th>accuracy</th>" in html


def test_liveplot_outside_a_notebook_draws_nothing_but_keeps_the_curves(capsys):
    gates.matplotlib()
    X, y = gw.data.moons(n=80, seed=0)
    y = y.reshape(-1, 1)
    model = nn.Sequential(nn.Dense(2, 8, activation="tanh"), nn.Dense(8, 1))
    live = gw.lab.LivePlot(boundary=(X, y), resolution=20)
    gw.fit(model, "bce_with_logits", gw.optim.Adam(model.parameters(), lr=0.01), (X, y),
           validation_data=(X, y), epochs=4, metrics=["accuracy"], verbose=0, callbacks=[live])
    assert live.draws == 0 and capsys.readouterr() == ("", "")
    assert len(live.history["val_loss"]) == 4
    fig = live.figure()
    assert len(fig.axes) >= 3  # loss, accuracy, boundary (+ its colour bar, if any)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        gw.lab.LivePlot(every=0)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        gw.lab.LivePlot(boundary=(np.zeros((3, 3)), np.zeros(3)))


def test_display_kind_outside_a_kernel_is_log_when_captured():
    from gradwise.training.progress import display_kind
    assert display_kind() == "log"  # pytest captures stderr: not a terminal, not a kernel


def test_readme_summary_example_is_what_summary_prints():
    import doctest
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Notebooks", 1)[1].split("\n## ", 1)[0]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    test = doctest.DocTestParser().get_doctest(block, {"gw": gw}, "README", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted == 2 and result.failed == 0


def test_a_landscape_shows_itself_as_a_png():
    gates.matplotlib()
    X, y = gw.data.circle(n=60, seed=0)
    y = y.reshape(-1, 1)
    model = nn.Sequential(nn.Dense(2, 4, activation="tanh"), nn.Dense(4, 1))
    loss = nn.BCEWithLogitsLoss()
    land = gw.lab.loss_surface(model, loss, X, y, gw.lab.random_directions(model, 2),
                               resolution=5, workers=1)
    assert land._repr_png_().startswith(b"\x89PNG")
