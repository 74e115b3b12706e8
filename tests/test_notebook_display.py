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


# --- lab figures and GIFs show themselves (issue 25) -------------------------------------------

def _figure():
    pytest.importorskip("matplotlib")
    return gw.lab.perceptron_line()


def test_a_lab_figure_is_a_png_at_the_display_dpi_with_its_numbers_as_text():
    import base64
    import io

    from PIL import Image

    from gradwise.lab.style import DISPLAY_DPI
    fig = _figure()
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG")
    width, height = Image.open(io.BytesIO(png)).size
    w, h = fig.get_size_inches() * DISPLAY_DPI  # trimmed to what is drawn, plus its padding
    assert 0.8 * w <= width <= 1.1 * w and 0.8 * h <= height <= 1.1 * h
    bundle = fig._repr_mimebundle_()
    assert set(bundle) == {"image/png", "text/plain"}
    again = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    assert abs(again.size[0] - width) <= 2 and abs(again.size[1] - height) <= 2
    assert bundle["text/plain"].startswith("<LabFigure 600x500 px with 2 Axes>")
    assert "z=-6" in bundle["text/plain"] and "y_hat=0.002473" in bundle["text/plain"]


def test_every_lab_figure_function_returns_a_figure_that_shows_itself():
    pytest.importorskip("matplotlib")
    from gradwise.lab.style import LabFigure
    figs = [gw.lab.plot_activations(["sigmoid"]), gw.lab.fitting_three_ways(),
            gw.lab.gradient_descent_steps(steps=3, resolution=11)]
    live = gw.lab.LivePlot()
    live.history = {"loss": [1.0, 0.5]}
    figs.append(live.figure())
    for fig in figs:
        assert isinstance(fig, LabFigure)
        assert fig._repr_mimebundle_()["image/png"]


def test_a_lab_gif_is_an_animated_image(tmp_path):
    import base64
    pytest.importorskip("matplotlib")
    data = gw.lab.gradient_descent_steps(steps=3, resolution=11).data
    gif = gw.lab.save_gradient_descent_gif(data, tmp_path / "gd.gif")
    bundle = gif._repr_mimebundle_()
    raw = base64.b64decode(bundle["image/gif"])
    assert raw[:6] in (b"GIF87a", b"GIF89a") and raw == (tmp_path / "gd.gif").read_bytes()
    assert bundle["text/plain"] == f"<LabGif {str(tmp_path / 'gd.gif')!r}, 4 frames>"
    from PIL import Image
    assert Image.open(tmp_path / "gd.gif").n_frames == 4


def test_show_outside_a_notebook_writes_a_png_and_says_where(monkeypatch, capsys, tmp_path):
    from pathlib import Path

    from gradwise.lab import style
    fig = _figure()
    monkeypatch.setattr(style.tempfile, "tempdir", str(tmp_path))  # not the real /tmp
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(style.sys, "platform", "linux")
    fig.show()  # matplotlib's Figure.show raises for a figure pyplot does not manage
    out = capsys.readouterr().out
    assert "open it with any image viewer" in out and "fig.savefig" in out
    path = Path(out.split(" written to ", 1)[1].split(" (", 1)[0])
    assert path.parent.parent == tmp_path
    assert path.read_bytes().startswith(b"\x89PNG")


def test_show_opens_the_desktop_viewer_where_one_exists(monkeypatch, capsys, tmp_path):
    from gradwise.lab import style
    fig = _figure()
    monkeypatch.setattr(style.tempfile, "tempdir", str(tmp_path))
    opened = []
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(style.sys, "platform", "linux")
    monkeypatch.setattr(style.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(style.subprocess, "Popen", lambda cmd, **kw: opened.append(cmd))
    fig.show()
    assert opened and opened[0][0] == "xdg-open" and opened[0][1].endswith(".png")
    assert "opened in your image viewer" in capsys.readouterr().out


# --- pictures a learner could not read, found by looking at the notebooks' images --------------

def test_perceptron_line_labels_each_side_where_it_is_for_any_weights():
    pytest.importorskip("matplotlib")
    for w0, w in ((1.0, (3.0, -2.0)), (-2.0, (1.0, 1.0)), (0.5, (-1.0, 2.0))):
        fig = gw.lab.perceptron_line(w0=w0, w=w, point=(1.0, 1.0))
        ax = fig.axes[0]
        sides = {t.get_text().split("\n")[0]: t.get_position() for t in ax.texts}
        assert set(sides) == {"z > 0", "z < 0"}
        for text, (x1, x2) in sides.items():
            z = w0 + w[0] * x1 + w[1] * x2
            assert (z > 0) == (text == "z > 0"), (w0, w, text, z)
            assert max(abs(x1), abs(x2)) < 4  # inside the window
        assert f"y = g({w0:g} " in ax.get_title()


def test_gradient_descent_gif_title_is_not_cut_off(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image
    gif = gw.lab.save_gradient_descent_gif(
        gw.lab.gradient_descent_steps(steps=3, resolution=11).data, tmp_path / "gd.gif")
    frame = np.asarray(Image.open(gif.path).convert("L"), dtype=np.int64)
    assert frame[0].min() > 200           # the top row is background: nothing runs off the edge
    assert frame[:40].min() < 100         # and the title is drawn near the top


def test_lab_accuracies_take_labels_of_shape_n_or_n_by_1():
    pytest.importorskip("matplotlib")
    X, y = gw.data.circle(n=80, noise=0.05, seed=0)
    flat = gw.lab.linear_vs_nonlinear(X, y, hidden=(8,), epochs=60).data["accuracy"]
    column = gw.lab.linear_vs_nonlinear(X, y.reshape(-1, 1), hidden=(8,), epochs=60)
    assert column.data["accuracy"] == flat
    assert max(flat.values()) > 0.8       # the ReLU net separates the circle (was 50%: (n, n))
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 8, activation="tanh"), nn.Dense(8, 1))
    gw.fit(model, "bce_with_logits", gw.optim.Adam(model.parameters(), lr=0.05),
           (X, y.reshape(-1, 1)), epochs=30, verbose=0, seed=0)
    loss = nn.BCEWithLogitsLoss()
    theta = gw.nn.utils.flat_parameters(model)
    for labels in (y, y.reshape(-1, 1)):
        _, acc = gw.lab.interpolate(model, loss, X, labels, theta, theta, [0.0], workers=1)
        expected = np.mean((gw.predict(model, X)[:, 0] > 0) == (y == 1))
        assert acc[0] == pytest.approx(expected)  # (n, 1) gave the share of class 0


def test_a_gif_shown_outside_a_notebook_says_where_it_is(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from gradwise.lab import style
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(style.sys, "platform", "linux")
    gif = gw.lab.save_gradient_descent_gif(
        gw.lab.gradient_descent_steps(steps=2, resolution=11).data, tmp_path / "gd.gif")
    gif.show()
    out = capsys.readouterr().out
    assert str(tmp_path / "gd.gif") in out and "open it with any image viewer" in out
