"""End-to-end tests of the playground page in a real browser: Debian's chromium driven by
Playwright for Python, against a real `gradwise playground` server (uvicorn) on a free port.

Skipped when /usr/bin/chromium or playwright is missing, unless GRADWISE_REQUIRE_BROWSER=1 (set
by .ci/run), where a missing browser is a failure. Any JavaScript error on the page (an uncaught
exception or a console error) fails the test that caused it.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import gates
import gradwise

SRC = Path(gradwise.__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # a real browser and server: the full suite runs them


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A real `gradwise playground` (uvicorn) on a free port; yields its base URL.
    GRADWISE_PLAYGROUND_URL points the tests at a server that already runs instead."""
    given = os.environ.get("GRADWISE_PLAYGROUND_URL")
    if given:
        yield given.rstrip("/")
        return
    gates.browser()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradwise.cli", "playground", "--no-browser", "--port", str(port)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/api/defaults", timeout=2) as r:
                json.load(r)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.communicate()[0]
                pytest.fail(f"gradwise playground did not start on port {port}:\n{out}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = gates.browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A page of the playground with its JavaScript errors collected."""

    def __init__(self, browser: Any, url: str, width: int = 1280, height: int = 1000,
                 touch: bool = False) -> None:
        self.ctx = browser.new_context(viewport={"width": width, "height": height},
                                       accept_downloads=True, has_touch=touch, is_mobile=touch)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type == "error" else None)
        self.url = url
        self.open(url)

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.wait("window.playground && playground.state && playground.data && playground.settings")

    def js(self, expr: str, arg: Any = None) -> Any:
        return self.page.evaluate(expr, arg)

    def wait(self, expr: str, arg: Any = None, timeout_s: float = 20) -> None:
        self.page.wait_for_function(expr, arg=arg, timeout=timeout_s * 1000)

    def settings(self) -> dict[str, Any]:
        return dict(self.js("playground.settings"))

    def change_and_wait(self, action: Any, key: str, value: Any) -> None:
        """Do `action` and wait until the server confirmed settings[key] == value."""
        action()
        self.wait("([k, v]) => JSON.stringify(playground.settings[k]) === JSON.stringify(v)",
                  [key, value])

    def paused_at(self) -> int:
        if self.js("playground.state.playing"):
            self.page.click("#play")
        self.wait("!playground.state.playing")
        return int(self.js("playground.state.epoch"))


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Page]:
    p = Page(browser, server + "/")
    yield p
    errors = list(p.errors)
    p.ctx.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_spiral_trains_below_0_1_and_screenshot(page: Page, tmp_path: Path) -> None:
    # A network that learns the spiral (PROTOCOL.md: test loss < 0.1 near epoch 25), from a link;
    # then the spiral is picked and played in the page.
    features = ",".join(quote(f) for f in page.js("playground.defaults.choices.features"))
    page.open(f"{page.url}#dataset=circle&features={features}&hidden=8,8&dropout=0,0"
              "&optimizer=adam&learning_rate=0.03&activation=tanh")
    page.wait("playground.settings.dataset === 'circle' && playground.settings.hidden[1] === 8"
              " && playground.settings.features.length === 7")
    page.change_and_wait(lambda: page.page.click('.dataset[data-dataset="spiral"]'),
                         "dataset", "spiral")
    page.page.click("#play")
    page.wait("playground.state.playing")
    # bounded time: the test loss shown in the page falls below 0.1
    page.wait("parseFloat(document.getElementById('test-loss').textContent) < 0.1",
              timeout_s=90)
    test_loss = float(page.page.inner_text("#test-loss"))
    assert test_loss < 0.1
    assert page.js("playground.history.test_loss.length") >= 2
    # a click, then the end state (Playwright's check() also fails on a momentary redraw)
    page.page.click("#show_test")
    page.wait("playground.settings.show_test === true")
    page.page.screenshot(path=str(tmp_path / "playground-spiral.png"), full_page=True)
    shots = os.environ.get("GRADWISE_SCREENSHOTS")
    if shots:
        page.page.screenshot(path=str(Path(shots) / "playground-spiral.png"), full_page=True)
    page.paused_at()


def test_add_and_remove_neuron_and_layer(page: Page) -> None:
    hidden = page.settings()["hidden"]
    assert hidden, "the default network has a hidden layer"
    page.page.click("#play")
    page.wait("playground.state.playing")
    nodes = page.js("document.querySelectorAll('.node.hidden[data-layer=\"1\"]').length")
    assert nodes == hidden[0]
    page.page.click(".layer-ctl >> nth=0 >> .add-neuron")
    page.wait("(n) => playground.settings.hidden[0] === n", hidden[0] + 1)
    page.wait("(n) => playground.state.network.layers[1] === n", hidden[0] + 1)
    assert page.js("document.querySelectorAll('.node.hidden[data-layer=\"1\"]').length") \
        == hidden[0] + 1
    # still training with the new network
    page.wait("playground.state.epoch >= 2 && playground.state.playing")
    page.page.click("#add-layer")
    page.wait("(n) => playground.settings.hidden.length === n", len(hidden) + 1)
    assert page.js("playground.settings.dropout.length") == len(hidden) + 1
    page.page.click("#remove-layer")
    page.wait("(n) => playground.settings.hidden.length === n", len(hidden))
    page.paused_at()


def test_switch_optimizer_shows_its_hyperparameters(page: Page) -> None:
    choices = page.js("playground.defaults.choices.optimizers")
    assert {"sgd", "adam", "adamw", "adagrad", "adadelta", "rmsprop"} <= set(choices)
    assert page.js("[...document.querySelectorAll('#optimizer option')].map(o => o.value)") \
        == list(choices)
    current = page.settings()["optimizer"]
    other = "rmsprop" if current != "rmsprop" else "sgd"
    page.change_and_wait(lambda: page.page.select_option("#optimizer", other), "optimizer", other)
    params = choices[other]
    shown = page.js("[...document.querySelectorAll('#optimizer-params [data-param]')]"
                    ".map(e => e.dataset.param)")
    assert sorted(shown) == sorted(params)
    page.page.select_option("#optimizer", "sgd")
    page.wait("playground.settings.optimizer === 'sgd'")
    if "momentum" in choices["sgd"]:
        page.page.fill("#optimizer_params-momentum", "0.5")
        page.page.press("#optimizer_params-momentum", "Enter")
        page.wait("playground.settings.optimizer_params.momentum === 0.5")
    page.page.click("#step")
    page.wait("playground.state.epoch === 1")


def _out_colours(page: Page) -> int:
    """Distinct colours of the network's output neuron (a heatmap without points)."""
    return int(page.js("""(() => {
        const c = document.querySelector('.node.out canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const s = new Set();
        for (let i = 0; i < d.length; i += 4) s.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
        return s.size; })()"""))


def test_discretize_toggles_the_output(page: Page) -> None:
    for _ in range(3):
        page.page.keyboard.press("s")  # the keyboard's step
    page.wait("playground.state.epoch === 3")
    assert _out_colours(page) > 2
    page.page.check("#discretize")
    page.wait("playground.settings.discretize && location.hash.includes('discretize=true')")
    page.page.wait_for_timeout(100)  # one animation frame
    assert _out_colours(page) <= 2
    page.page.uncheck("#discretize")
    page.wait("playground.settings.discretize === false")
    page.page.wait_for_timeout(100)
    assert _out_colours(page) > 2


def test_keyboard_play_pause_reset(page: Page) -> None:
    page.page.keyboard.press(" ")
    page.wait("playground.state.playing && playground.state.epoch >= 2")
    page.page.keyboard.press(" ")
    page.wait("!playground.state.playing")
    page.page.keyboard.press("r")
    # the history restarts with the initial weights' numbers (epoch 0)
    page.wait("playground.state.epoch === 0 && playground.history.epoch.length === 1")


def test_settings_round_trip_through_the_url(page: Page, browser: Any, server: str) -> None:
    page.change_and_wait(lambda: page.page.click('.dataset[data-dataset="xor"]'), "dataset", "xor")
    page.page.fill("#seed", "7")
    page.page.press("#seed", "Enter")
    page.wait("playground.settings.seed === 7")
    page.change_and_wait(lambda: page.page.select_option("#activation", "sigmoid"),
                         "activation", "sigmoid")
    page.change_and_wait(lambda: page.page.select_option("#regularization", "l2"),
                         "regularization", "l2")
    n_layers = len(page.settings()["hidden"])
    page.page.click("#add-layer")
    page.wait("(n) => playground.settings.hidden.length === n", n_layers + 1)
    page.page.click('.node.input[data-feature="x1*x2"]')
    page.wait("playground.settings.features.includes('x1*x2')")
    page.page.select_option("#optimizer", "sgd")
    page.wait("playground.settings.optimizer === 'sgd'")
    # a click, then the end state (Playwright's check() also fails on a momentary redraw)
    page.page.click("#show_test")
    page.wait("playground.settings.show_test === true")
    page.wait("location.hash.includes('show_test=true')")
    page.wait("document.getElementById('show_test').checked === true")  # and it stays
    want = page.settings()
    link = page.page.url
    other = Page(browser, link)
    try:
        deadline = time.monotonic() + 20
        while other.settings() != want and time.monotonic() < deadline:
            other.page.wait_for_timeout(100)
        assert other.settings() == want
        assert other.page.url == link
        assert other.js("document.getElementById('activation').value") == "sigmoid"
        assert other.js("document.getElementById('show_test').checked") is True
        assert other.errors == []
    finally:
        other.ctx.close()


def _history_csv(path: Path) -> dict[str, list[float]]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]}


def test_exported_config_reproduces_the_history(page: Page, tmp_path: Path) -> None:
    page.change_and_wait(lambda: page.page.click('.dataset[data-dataset="circle"]'),
                         "dataset", "circle")
    for _ in range(4):
        page.page.click("#step")
    page.wait("playground.state.epoch === 4 && playground.history.epoch.length === 5")
    hist = page.js("playground.history")
    with page.page.expect_download() as dl:
        page.page.click("#export-config")
    config = tmp_path / "config.toml"
    dl.value.save_as(config)
    with page.page.expect_download() as dl2:
        page.page.click("#export-model")
    model = tmp_path / "model.safetensors"
    dl2.value.save_as(model)
    assert model.stat().st_size > 0
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "gradwise.cli", "train", str(config), "--out",
                           str(out), "--quiet"], env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"gradwise train {config}: {done.stderr}"
    h = _history_csv(out / "history.csv")
    assert len(h["loss"]) == 4
    # the page gets the losses to 6 significant digits: the same numbers to that precision
    # the page's training loss is the clean one (train_eval_loss), epoch 0 the initial weights'
    assert hist["epoch"] == [0, 1, 2, 3, 4]
    assert h["train_eval_loss"] == pytest.approx(hist["train_loss"][1:], rel=1e-5, abs=0)
    assert h["val_loss"] == pytest.approx(hist["test_loss"][1:], rel=1e-5, abs=0)


def test_landscape_and_server_errors_shown(page: Page) -> None:
    page.page.click("#step")
    page.wait("playground.state.epoch === 1")
    page.page.select_option("#landscape-res", "11")
    page.page.click("#landscape-2d")
    page.wait("playground.landscape && playground.landscape.dims === 2", timeout_s=30)
    lm = page.js("playground.landscape")
    assert len(lm["loss"]) == len(lm["betas"]) and len(lm["loss"][0]) == len(lm["alphas"])
    page.page.click("#landscape-1d")
    page.wait("playground.landscape.dims === 1", timeout_s=30)
    # a hostile message: a network of a million neurons; the server answers, the page shows it
    page.js("playground.transport.send({type: 'settings', settings: {hidden: [1000000]}})")
    page.wait("!document.getElementById('error').hidden")
    assert "hidden" in page.page.inner_text("#error-text")
    page.js("playground.transport.sendRaw('not json')")
    page.wait("playground.errors.length >= 2")
    # the session still works
    page.page.click("#step")
    page.wait("playground.state.epoch === 2")


def test_more_controls_and_upload(page: Page, tmp_path: Path) -> None:
    page.change_and_wait(lambda: page.page.select_option("#schedule", "step"), "schedule", "step")
    page.page.fill("#schedule_params-gamma", "0.5")
    page.page.press("#schedule_params-gamma", "Enter")
    page.wait("playground.settings.schedule_params.gamma === 0.5")
    page.page.fill(".layer-ctl >> nth=0 >> .dropout", "0.2")
    page.page.press(".layer-ctl >> nth=0 >> .dropout", "Enter")
    page.wait("playground.settings.dropout[0] === 0.2")
    # a refused value: the server's error is shown and the control shows the setting again
    page.page.fill(".layer-ctl >> nth=0 >> .dropout", "0.95")
    page.page.press(".layer-ctl >> nth=0 >> .dropout", "Enter")
    page.wait("playground.errors.some((e) => e.includes('dropout'))")
    page.wait("document.querySelector('.layer-ctl .dropout').value === '0.2'")
    page.change_and_wait(lambda: page.page.select_option("#problem", "regression"),
                         "problem", "regression")
    page.wait("playground.data.problem === 'regression'")  # the new points follow the reply
    page.change_and_wait(lambda: page.page.locator("#noise").fill("30"), "noise", 30)
    page.change_and_wait(lambda: page.page.locator("#train_ratio").fill("70"), "train_ratio", 70)
    page.wait("playground.data.train.length === 0.7 * playground.settings.n_points")
    first = page.js("JSON.stringify(playground.data.train[0])")
    page.page.click("#regenerate")
    page.wait("(f) => JSON.stringify(playground.data.train[0]) !== f", first)
    page.page.click("#step")
    page.wait("playground.state.epoch === 1")
    assert page.js("playground.errors.length") == 1
    points = tmp_path / "points.csv"
    points.write_text("a,b,label\n" + "\n".join(
        f"{x / 5},{y / 5},{int(x * y > 0)}" for x in range(-5, 6) for y in range(-5, 6)) + "\n")
    page.page.set_input_files("#upload", str(points))
    page.wait("playground.settings.dataset === 'upload' && playground.data.problem "
              "=== 'classification'")
    assert not page.js("document.getElementById('export-points').hidden")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,1\n3,4\n")
    page.page.set_input_files("#upload", str(bad))
    page.wait("playground.errors.some((e) => e.includes('bad.csv'))")
    assert page.settings()["dataset"] == "upload"


def test_hover_shows_weights_and_neuron_outputs(page: Page) -> None:
    page.page.click("#step")
    page.wait("playground.state.epoch === 1")
    # a link: the middle of its curve
    x, y, w = page.js("""(() => {
        const g = playground.net.linkGeom[0];
        const [x1, y1, x2, y2] = g.pts;
        return [(x1 + x2) / 2, (y1 + y2) / 2, playground.state.network.weights[g.l][g.i][g.j]];
    })()""")
    page.page.hover("#network", position={"x": x, "y": y})
    page.wait("!document.getElementById('tooltip').hidden")
    assert page.page.inner_text("#tooltip").startswith("weight ")
    shown = float(page.page.inner_text("#tooltip").split()[1])
    assert shown == pytest.approx(w, rel=5e-3)
    # a hidden neuron: its bias, and the big output shows that neuron's own map
    page.page.hover('.node.hidden[data-layer="1"][data-index="0"]')
    page.wait("document.getElementById('tooltip').textContent.includes('bias')")
    assert page.page.inner_text("#output-caption") == "layer 1, neuron 1"
    bias = page.js("playground.state.network.biases[0][0]")
    tip = page.page.inner_text("#tooltip")
    assert float(tip.split("bias ")[1].split()[0]) == pytest.approx(bias, rel=5e-3, abs=1e-6)
    page.page.mouse.move(5, 5)
    page.wait("document.getElementById('tooltip').hidden")
    assert page.page.inner_text("#output-caption") != "layer 1, neuron 1"


# ------------------------------------------------------------------ every screen and every hand

# WCAG 2.x contrast of every visible text element: its computed colour against the first opaque
# background behind it (alpha-blended on the way up), opacity included. Disabled controls are
# exempt (WCAG 1.4.3 "incidental").
CONTRAST_JS = r"""() => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const over = (top, bot) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bot[i] * (1 - a)).concat(1);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const t = walker.currentNode;
    if (!t.textContent.trim()) continue;
    const el = t.parentElement;
    if (seen.has(el)) continue;
    seen.add(el);
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (!el.checkVisibility({ visibilityProperty: true })) continue;
    if (el.closest(':disabled, [aria-disabled=true]')) continue;
    if (el.closest('label')?.control?.disabled) continue;
    if (el.tagName === 'OPTION') continue;
    const bg = background(el);
    const c = parse(getComputedStyle(el).color);
    const fg = over([c[0], c[1], c[2], c[3] * opacity(el)], bg);
    const [a, b] = [lum(fg), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push({ text: t.textContent.trim().slice(0, 40), tag: el.tagName, cls: el.className,
               ratio: Math.round(ratio * 100) / 100, size: getComputedStyle(el).fontSize });
  }
  return out;
}"""


def _contrast(page: Page) -> list[dict[str, Any]]:
    return list(page.js(CONTRAST_JS))


def _ratio(fg: str, bg: str = "#ffffff") -> float:
    def lum(h: str) -> float:
        h = h.lstrip("#")
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        v = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        v = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
    a, b = lum(fg), lum(bg)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def test_text_contrast_is_at_least_4_5(page: Page) -> None:
    # the output legend and a neuron's legend, the chart and the axes are on screen
    page.page.click("#step")
    page.wait("playground.state.epoch === 1")
    page.page.click('.dataset[data-dataset="will_i_pass"]')
    page.wait("playground.settings.dataset === 'will_i_pass' && playground.data")
    page.page.click("#step")
    page.wait("playground.state.epoch === 1")
    # a lesson's sentence and a switched optimizer's note are on screen too
    page.page.click('a[data-lesson="early-stopping"]')
    page.wait("playground.settings.early_stopping === true")
    page.change_and_wait(lambda: page.page.select_option("#optimizer", "sgd"), "optimizer", "sgd")
    page.page.click("#step")
    page.wait("playground.state.epoch === 1")
    rows = _contrast(page)
    assert len(rows) > 60, rows
    low = [r for r in rows if r["ratio"] < 4.5]
    assert low == [], low
    # canvas text (chart ticks, landscape axes): one colour, against the canvases' white
    chart_text = page.js("import('/static/draw.js').then((m) => m.CHART_TEXT)")
    assert _ratio(chart_text) >= 4.5
    shots = os.environ.get("GRADWISE_SCREENSHOTS")
    if shots:
        (Path(shots) / "contrast.json").write_text(json.dumps(
            {"min": min(r["ratio"] for r in rows), "n": len(rows),
             "chart_text": [chart_text, round(_ratio(chart_text), 2)],
             "lowest": sorted(rows, key=lambda r: r["ratio"])[:8]}, indent=1))


def test_phone_layout_390(browser: Any, server: str) -> None:
    # three hidden layers, two of the most neurons: the tallest and widest usual diagram
    p = Page(browser, server + "/#hidden=8,8,5&dropout=0,0,0", width=390, height=844, touch=True)
    try:
        p.wait("playground.settings.hidden.length === 3"
               " && playground.state.network.layers[1] === 8")
        p.wait("document.querySelectorAll('.node.hidden').length === 21")
        # the diagram fits the phone's width without scrolling its box
        assert p.js("(() => { const e = document.querySelector('.network-scroll');"
                    " return e.scrollWidth <= e.clientWidth; })()")
        # no horizontal scroll
        assert p.js("document.documentElement.scrollWidth") <= 390
        # the header's title and status do not overlap
        boxes = p.js("""['.title h1', '.title p', '#status'].map((q) => {
            const r = document.querySelector(q).getBoundingClientRect();
            return [r.left, r.top, r.right, r.bottom]; })""")

        def overlap(a: list[float], b: list[float]) -> bool:
            return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
        assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), boxes
        # the output right under the network, both inside the screen's width
        net, out = p.js("""['.network-scroll', '.output-col'].map((q) => {
            const r = document.querySelector(q).getBoundingClientRect();
            return [r.left, r.top, r.right, r.bottom]; })""")
        assert 0 <= out[1] - net[3] <= 100 and out[2] <= 390 and net[2] <= 390
        # every button, select and input big enough to touch (WCAG 2.5.8: 24 px)
        small = p.js("""[...document.querySelectorAll('button, select, input, a, .node.input')]
            .filter((e) => e.checkVisibility() && !e.disabled)
            .map((e) => [e.id || e.className || e.tagName,
                         (e.type === 'checkbox' && e.closest('label') || e)
                           .getBoundingClientRect()])
            .filter(([, r]) => r.width < 24 || r.height < 24)
            .map(([n, r]) => [n, r.width, r.height])""")
        assert small == [], small
        # the layer controls stay above the neurons (bigger touch targets need more room)
        assert p.js("""Math.max(...[...document.querySelectorAll('.layer-ctl')].map((e) =>
            e.getBoundingClientRect().bottom)) <= Math.min(...[...document.querySelectorAll(
            '.node.hidden')].map((e) => e.getBoundingClientRect().top))""")
        # the optimizer's hyperparameters fold away on a phone, one tap away
        assert not p.js("document.getElementById('optimizer-params').checkVisibility()")
        p.page.tap("#optimizer-more")
        p.wait("document.getElementById('optimizer-params').checkVisibility()")
        assert p.js("document.documentElement.scrollWidth") <= 390
        p.page.tap("#optimizer-more")
        # touch: a tap switches a feature on, a tap plays
        p.page.tap('.node.input[data-feature="x1^2"]')
        p.wait("playground.settings.features.includes('x1^2')")
        p.page.tap("#play")
        p.wait("playground.state.playing && playground.state.epoch >= 1")
        p.page.tap("#play")
        p.wait("!playground.state.playing")
        assert p.js("document.documentElement.scrollWidth") <= 390
        shots = os.environ.get("GRADWISE_SCREENSHOTS")
        if shots:
            p.page.screenshot(path=str(Path(shots) / "playground-390.png"), full_page=True)
        assert p.errors == []
    finally:
        p.ctx.close()


def _focused(page: Page) -> str:
    return str(page.js("""(() => { const e = document.activeElement;
        return e.id || e.dataset.feature || e.dataset.lesson || e.textContent.trim(); })()"""))


def test_keyboard_reaches_and_operates_everything(page: Page) -> None:
    # Tab from the top reaches the features, the upload button, the lessons and the exports
    page.js("document.activeElement.blur()")
    seen: list[str] = []
    for _ in range(80):
        page.page.keyboard.press("Tab")
        seen.append(_focused(page))
    for want in ["play", "learning_rate", "optimizer", "x1", "x1^2", "sin(x2)", "upload-button",
                 "lr-too-high", "export-config", "regenerate"]:
        assert want in seen, (want, seen)
    # Enter on a focused feature switches it on; the focus stays on it
    page.page.focus('.node.input[data-feature="x2^2"]')
    page.page.keyboard.press("Enter")
    page.wait("playground.settings.features.includes('x2^2')")
    page.wait("document.activeElement.dataset.feature === 'x2^2'")
    # a mouse click on a feature does not keep the focus: space then plays
    page.page.click('.node.input[data-feature="x1*x2"]')
    page.wait("playground.settings.features.includes('x1*x2')")
    assert page.js("document.activeElement === document.body")
    # space on a focused button presses that button (step), not play
    page.page.focus("#step")
    page.page.keyboard.press(" ")
    page.wait("playground.state.epoch === 1")
    assert page.js("playground.state.playing") is False
    assert _focused(page) == "step"
    # with no control focused, space plays and pauses
    page.js("document.activeElement.blur()")
    page.page.keyboard.press(" ")
    page.wait("playground.state.playing")
    page.page.keyboard.press(" ")
    page.wait("!playground.state.playing")
    # a select keeps its focus, so arrowing walks through the learning rates
    lr = page.settings()["learning_rate"]
    page.page.focus("#learning_rate")
    page.page.keyboard.press("ArrowDown")
    page.wait("(lr) => playground.settings.learning_rate > lr", lr)
    assert _focused(page) == "learning_rate"
    lr2 = page.settings()["learning_rate"]
    page.page.keyboard.press("ArrowDown")
    page.wait("(lr) => playground.settings.learning_rate > lr", lr2)
    assert _focused(page) == "learning_rate"
    # "Upload CSV…" opens the file chooser from the keyboard
    # (the click on the file input is what opens the chooser; recorded here, not shown, since
    # headless chromium sometimes withholds the dialog itself)
    page.js("window.uploadClicks = 0; document.getElementById('upload').addEventListener("
            "'click', (e) => { window.uploadClicks += 1; e.preventDefault(); })")
    page.page.focus("#upload-button")
    assert _focused(page) == "upload-button"
    page.page.keyboard.press("Enter")
    page.wait("window.uploadClicks === 1")
    page.page.keyboard.press(" ")  # space on the focused button: the button, not play
    page.wait("window.uploadClicks === 2")
    assert page.js("playground.state.playing") is False
    # a hidden neuron takes focus and shows its own map, as hovering does
    page.page.focus('.node.hidden[data-layer="1"][data-index="0"]')
    page.wait("document.getElementById('output-caption').textContent === 'layer 1, neuron 1'")


def test_url_hash_cannot_pollute_prototypes(page: Page) -> None:
    hostile = ("__proto__.polluted=yes&constructor.prototype.polluted=yes"
               "&optimizer_params.__proto__.polluted=yes&__proto__=x&prototype.polluted=yes"
               "&optimizer_params.constructor.prototype.polluted=yes&toString=yes&seed=3")
    result = page.js("""(h) => import('/static/url.js').then((m) => {
        const out = m.decodeHash('#' + h, playground.settings);
        const merged = m.merge(playground.settings, out);
        return { polluted: ({}).polluted ?? null, arrPolluted: [].polluted ?? null,
                 keys: Object.keys(out), proto: Object.getPrototypeOf(out) === null,
                 mergedPolluted: merged.polluted ?? null, seed: out.seed };
    })""", hostile)
    assert result == {"polluted": None, "arrPolluted": None, "keys": ["seed"], "proto": True,
                      "mergedPolluted": None, "seed": 3}
    # and through the address bar: the page follows the link's valid part only
    page.open(f"{page.url}#{hostile}")
    page.wait("playground.settings.seed === 3")
    assert page.js("({}).polluted === undefined && Object.prototype.polluted === undefined")
    assert page.js("playground.errors") == []


def test_bias_squares_axes_and_legends(page: Page) -> None:
    page.page.click("#step")
    page.wait("playground.state.epoch === 1")
    page.wait("document.querySelectorAll('.node .bias').length === "
              "playground.state.network.biases.flat().length")
    # each bias square is coloured by its bias (0: the light grey middle)
    colours = page.js("[...document.querySelectorAll('.node .bias')].map((e) => "
                      "getComputedStyle(e).backgroundColor)")
    assert len(set(colours)) > 1
    # the output map has ticks on both axes within the data's domain
    ticks = page.js("['axis-x', 'axis-y'].map((id) => [...document.getElementById(id)"
                    ".querySelectorAll('.tick')].map((e) => Number(e.textContent)))")
    dom = page.js("playground.data.domain")
    for axis, key in zip(ticks, ("x1", "x2"), strict=True):
        assert len(axis) >= 3 and all(dom[key][0] <= t <= dom[key][1] for t in axis)
    assert page.page.inner_text("#loss-name") == "Loss: binary cross-entropy"
    assert page.page.inner_text("#cb-hi") == "class 1"
    # a hidden neuron's map is not "class 0 / class 1"
    page.page.hover('.node.hidden[data-layer="1"][data-index="0"]')
    page.wait("document.getElementById('cb-hi').textContent.startsWith('+')")
    assert page.page.inner_text("#cb-lo").startswith("−")
    assert "neuron" in page.page.inner_text("#legend-note")
    page.page.mouse.move(5, 5)
    page.wait("document.getElementById('cb-hi').textContent === 'class 1'")
    # "Will I pass": which colour passes
    page.change_and_wait(lambda: page.page.click('.dataset[data-dataset="will_i_pass"]'),
                         "dataset", "will_i_pass")
    page.wait("document.getElementById('cb-hi').textContent === 'pass (1)'")
    assert "blue: passes" in page.page.inner_text("#legend-note")
    page.change_and_wait(lambda: page.page.select_option("#problem", "regression"),
                         "problem", "regression")
    assert page.page.inner_text("#loss-name") == "Loss: mean squared error"


def test_classroom_mode_and_lessons(page: Page) -> None:
    page.open(f"{page.url}#hide=optimizer,beyond,regularization,layers&seed=2")
    page.wait("playground.settings.seed === 2")
    assert page.js("[...document.querySelectorAll('.layer-ctl, .layers-head')]"
                   ".every((e) => !e.checkVisibility())")
    visible = page.js("['optimizer', 'schedule', 'regularization', 'regularization_rate', "
                      "'learning_rate', 'play'].map((id) => document.getElementById(id)"
                      ".checkVisibility())")
    assert visible == [False, False, False, False, True, True]
    # the URL keeps the classroom option while settings change
    page.change_and_wait(lambda: page.page.click('.dataset[data-dataset="xor"]'), "dataset", "xor")
    page.wait("location.hash.includes('hide=optimizer%2Cbeyond%2Cregularization%2Clayers')")
    # a lesson: a prepared experiment and its sentence; the controls stay hidden
    page.page.click('a[data-lesson="lr-too-high"]')
    page.wait("playground.settings.learning_rate === 10 && playground.settings.optimizer === 'sgd'"
              " && playground.settings.dataset === 'circle'")
    assert page.js("document.getElementById('lesson').checkVisibility()")
    assert "learning rate 10" in page.page.inner_text("#lesson-text")
    assert not page.js("document.getElementById('optimizer').checkVisibility()")
    page.page.click('a[data-lesson="features-vs-depth"]')
    page.wait("playground.settings.hidden.length === 0")
    assert "X₁²" in page.page.inner_text("#lesson-text")
    page.page.click("#lesson-close")
    page.wait("document.getElementById('lesson').hidden && !location.hash.includes('lesson=')")


def test_optimizer_help_and_usual_learning_rate(page: Page) -> None:
    page.change_and_wait(lambda: page.page.select_option("#optimizer", "adadelta"),
                         "optimizer", "adadelta")
    assert page.settings()["learning_rate"] == 1
    assert "usual" in page.page.inner_text("#optimizer-note")
    # every hyperparameter sits next to the menu with one line of help
    rows = page.js("[...document.querySelectorAll('#optimizer-params .param')].map((r) => "
                   "[r.querySelector('[data-param]').dataset.param, "
                   "r.querySelector('.help')?.textContent || ''])")
    assert rows and all(help_ for _, help_ in rows), rows
    assert page.js("document.getElementById('optimizer-params').closest('.topbar') !== null")
    page.change_and_wait(lambda: page.page.select_option("#optimizer", "sgd"), "optimizer", "sgd")
    helps = dict(page.js("[...document.querySelectorAll('#optimizer-params .param')].map((r) =>"
                         " [r.querySelector('[data-param]').dataset.param, "
                         "r.querySelector('.help').textContent])"))
    assert "maximize" not in helps  # the trap is not offered (PROTOCOL v2)
    info = page.js("playground.defaults.choices.optimizer_info.sgd.params")
    assert helps["momentum"] == info["momentum"]["help"]


# ------------------------------------------------------- PROTOCOL v2: what the session adds

def _step(page: Page, n: int = 1) -> None:
    start = int(page.js("playground.state.epoch"))
    for _ in range(n):
        page.page.click("#step")
    page.wait("(e) => playground.state.epoch === e", start + n)


def test_honest_numbers_epoch_0_accuracy_and_penalty(page: Page) -> None:
    page.open(f"{page.url}#dataset=circle&hidden=8,8&dropout=0.5,0.5&regularization=l2"
              "&regularization_rate=0.01")
    page.wait("playground.settings.regularization === 'l2' && playground.state.epoch === 0"
              " && playground.settings.dropout[0] === 0.5")
    # epoch 0: the initial weights' numbers, in the page and in the history
    page.wait("playground.history.epoch[0] === 0")
    assert page.page.inner_text("#test-loss") != "–"
    assert page.page.inner_text("#loss-name") == "Loss: binary cross-entropy"
    _step(page, 2)
    st = page.js("playground.state")
    # the clean training loss (eval mode, no penalty) is what is shown, the penalty apart
    assert float(page.page.inner_text("#train-loss")) == pytest.approx(st["train_loss"], abs=6e-4)
    assert page.page.inner_text("#penalty").startswith("L2 penalty")
    assert float(page.page.inner_text("#penalty").split("penalty ")[1].split()[0]) \
        == pytest.approx(st["penalty"], rel=1e-2, abs=1e-3)
    for side in ("train", "test"):
        shown = page.page.inner_text(f"#{side}-acc")
        assert shown.startswith("accuracy ") and shown.endswith("%")
        assert float(shown.split()[1]) == pytest.approx(100 * st[f"{side}_accuracy"], abs=0.051)
    assert page.js("playground.history.train_accuracy.length === playground.history.epoch.length")


def test_live_change_keeps_training_and_export_replays(page: Page, tmp_path: Path) -> None:
    page.change_and_wait(lambda: page.page.click('.dataset[data-dataset="circle"]'),
                         "dataset", "circle")
    _step(page, 3)
    lr = page.settings()["learning_rate"]
    other = 0.003 if lr != 0.003 else 0.01
    page.change_and_wait(lambda: page.page.select_option("#learning_rate", str(other)),
                         "learning_rate", other)
    assert "no restart" in page.page.inner_text("#live-note")
    _step(page, 2)  # no restart: the epochs go on from 3
    assert page.js("playground.state.epoch") == 5
    assert page.js("playground.history.epoch") == [0, 1, 2, 3, 4, 5]
    assert page.js("playground.marks") == [3]
    assert page.js("playground.state.changes") >= 1
    # and an edited bias (click its square), recorded as well
    page.page.click('.node .bias[data-layer="1"][data-index="0"]')
    page.page.fill("#editor-value", "0.75")
    page.page.press("#editor-value", "Enter")
    page.wait("Math.abs(playground.state.network.biases[0][0] - 0.75) < 1e-6")
    _step(page)
    assert page.js("playground.marks") == [3, 5]
    hist = page.js("playground.history")
    with page.page.expect_download() as dl:
        page.page.click("#export-config")
    config = tmp_path / "config.toml"
    dl.value.save_as(config)
    text = config.read_text()
    assert text.count("[[changes]]") == 2 and "optimizer.lr" in text and "weights" in text
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "gradwise.cli", "train", str(config), "--out",
                           str(out), "--quiet"], env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    h = _history_csv(out / "history.csv")
    # the session's history to the 6 digits the page gets: the mid-run changes replayed
    assert len(h["val_loss"]) == 6
    assert h["val_loss"] == pytest.approx(hist["test_loss"][1:], rel=1e-5, abs=0)
    assert h["train_eval_loss"] == pytest.approx(hist["train_loss"][1:], rel=1e-5, abs=0)


def test_early_stopping_says_the_weights_were_restored(page: Page) -> None:
    page.page.click('a[data-lesson="early-stopping"]')
    page.wait("playground.settings.early_stopping && playground.state.epoch === 0")
    page.page.fill("#patience", "5")
    page.page.press("#patience", "Enter")
    page.wait("playground.settings.patience === 5 && playground.state.epoch === 0")
    page.js("document.activeElement.blur()")
    page.page.keyboard.press(" ")
    page.wait("playground.state.stopped === true", timeout_s=60)
    page.wait("!document.getElementById('restored-note').hidden")
    st = page.js("playground.state")
    best = st["early_stopping"]["best_epoch"]
    assert f"epoch {best}" in page.page.inner_text("#restored-note")
    i = page.js("(b) => playground.history.epoch.indexOf(b)", best)
    assert st["test_loss"] == pytest.approx(page.js("playground.history.test_loss")[i], rel=1e-5)


def test_three_classes_palette_and_per_class_accuracy(page: Page, tmp_path: Path) -> None:
    k_sets = [d for d, k in page.js("playground.defaults.choices.dataset_classes").items() if k > 2]
    assert k_sets, "a multi-class toy set"
    page.change_and_wait(lambda: page.page.click(f'.dataset[data-dataset="{k_sets[0]}"]'),
                         "dataset", k_sets[0])
    page.wait("playground.data.classes > 2 && playground.state.network.layers.at(-1) > 2")
    k = page.js("playground.data.classes")
    _step(page)
    assert page.js("document.querySelectorAll('.node.out').length") == k
    assert page.page.inner_text("#loss-name") == "Loss: categorical cross-entropy"
    page.wait("!document.getElementById('per-class').hidden")
    assert page.page.inner_text("#per-class").count("%") == k
    assert page.page.inner_text("#cb-hi") == f"class {k - 1}"
    # the map shows k colours (the palette's), beyond the two of the binary view
    hues = page.js("""(() => {
        const c = document.getElementById('output');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const s = new Set();
        for (let i = 0; i < d.length; i += 4 * 7) {
          const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
          const m = Math.max(r, g, b), n = Math.min(r, g, b);
          if (m - n > 60) s.add(Math.round(Math.atan2(Math.sqrt(3) * (g - b), 2 * r - g - b) * 3));
        }
        return s.size; })()""")
    assert hues >= k
    # a 3-class CSV
    points = tmp_path / "three.csv"
    points.write_text("a,b,label\n" + "\n".join(
        f"{x / 5},{y / 5},{(x + 5) * 3 // 11}" for x in range(-5, 6) for y in range(-5, 6)) + "\n")
    page.page.set_input_files("#upload", str(points))
    page.wait("playground.settings.dataset === 'upload' && playground.data.classes === 3")


def test_backprop_view_shows_gradients_and_the_chain_rule(page: Page) -> None:
    _step(page, 2)
    page.page.click("#backprop")
    page.wait("playground.backprop && playground.backprop.grads")
    assert page.js("document.getElementById('network').classList.contains('grad-view')")
    x, y, g, upd = page.js("""(() => {
        const g = playground.net.linkGeom.find((k) => k.l === 0);
        const [x1, y1, x2, y2] = g.pts;
        const m = playground.backprop;
        return [(x1 + x2) / 2, (y1 + y2) / 2, m.grads.weights[g.l][g.i][g.j],
                m.updates.weights[g.l][g.i][g.j]];
    })()""")
    page.page.hover("#network", position={"x": x, "y": y})
    page.wait("document.getElementById('tooltip').textContent.includes('∂J/∂w')")
    tip = page.page.inner_text("#tooltip")
    assert "w ← w − η·∂J/∂w" in tip and "one path to the output" in tip
    batch_line = next(t for t in tip.splitlines() if t.startswith("batch of"))
    shown = float(batch_line.split("∂J/∂w = ")[1].split()[0])  # the batch's, from the session
    assert shown == pytest.approx(g, rel=1e-3, abs=1e-6)
    assert float(tip.rsplit("= ", 1)[1].split()[0]) == pytest.approx(upd, rel=1e-3, abs=1e-6)
    # a click (a tap) on a link shows the same, and opens no editor in this view
    page.page.mouse.move(5, 5)
    page.wait("document.getElementById('tooltip').hidden")
    page.page.click("#network", position={"x": x, "y": y})
    page.wait("document.getElementById('tooltip').textContent.includes('w ← w')")
    assert page.js("document.getElementById('editor') === null")
    # training is untouched; back to the weights
    assert page.js("playground.state.epoch") == 2
    page.page.click("#backprop-off")
    page.wait("!document.getElementById('network').classList.contains('grad-view')")


def test_click_a_link_or_a_bias_to_edit_it(page: Page) -> None:
    _step(page)
    x, y, l, i, j = page.js("""(() => {
        const g = playground.net.linkGeom[1];
        const [x1, y1, x2, y2] = g.pts;
        return [(x1 + x2) / 2, (y1 + y2) / 2, g.l, g.i, g.j]; })()""")
    page.page.click("#network", position={"x": x, "y": y})
    page.wait("document.getElementById('editor-value') === document.activeElement")
    page.page.fill("#editor-value", "1.25")
    page.page.press("#editor-value", "Enter")
    page.wait("([l, i, j]) => Math.abs(playground.state.network.weights[l][i][j] - 1.25) < 1e-6",
              [l, i, j])
    assert page.js("playground.state.epoch") == 1  # not restarted
    assert page.page.inner_text("#live-note").startswith("edited at epoch 1")
    page.page.click('.node .bias[data-layer="1"][data-index="0"]')
    page.wait("document.getElementById('editor-value') === document.activeElement")
    page.page.fill("#editor-value", "-0.5")
    page.page.keyboard.press("Enter")
    page.wait("Math.abs(playground.state.network.biases[0][0] + 0.5) < 1e-6")
    # the keyboard: Enter on a focused neuron edits its bias
    page.page.focus('.node.hidden[data-layer="1"][data-index="1"]')
    page.page.keyboard.press("Enter")
    page.wait("document.getElementById('editor-value') === document.activeElement")
    page.page.keyboard.press("Escape")
    page.wait("!document.getElementById('editor')")
    _step(page)
    assert page.js("playground.state.epoch") == 2


def test_landscape_pca_with_its_colour_bar(page: Page) -> None:
    _step(page, 4)
    page.page.select_option("#landscape-res", "11")
    page.page.click("#landscape-2d")
    page.wait("playground.landscape && playground.landscape.dims === 2", timeout_s=30)
    lm = page.js("playground.landscape")
    assert lm["directions"] == "pca" and len(lm["loss_range"]) == 2
    assert "bar on the right" in page.page.inner_text("#landscape-caption")
    # viridis, not the classes' orange/blue: the darkest and the brightest ends are in the bar
    bar = page.js("""(() => {
        const c = document.getElementById('landscape');
        const ctx = c.getContext('2d');
        const x = c.width - 56 - 6 + 8 + 5;
        const top = ctx.getImageData(x, 8, 1, 1).data;
        const bot = ctx.getImageData(x, c.height - 36, 1, 1).data;
        return [[...top].slice(0, 3), [...bot].slice(0, 3)]; })()""")
    assert bar[0][0] > 200 and bar[0][2] < 100  # yellow at the top (high loss)
    assert bar[1][2] > bar[1][1]  # dark purple at the bottom (low loss)


def test_divergence_is_said_in_one_line(page: Page) -> None:
    page.open(f"{page.url}#dataset=regression_plane&problem=regression&activation=relu"
              "&optimizer=sgd&learning_rate=10&hidden=8,8&dropout=0,0")
    page.wait("playground.settings.learning_rate === 10 && playground.settings.optimizer === 'sgd'"
              " && playground.data.problem === 'regression'")
    page.js("document.activeElement.blur()")
    page.page.keyboard.press(" ")
    page.wait("playground.state.stopped === true", timeout_s=30)
    assert page.js("playground.state.stop_reason") == "diverged"
    assert any("diverged" in e for e in page.js("playground.errors"))
    assert "training diverged" in page.page.inner_text("#es-status")
    assert page.page.inner_text("#loss-name") == "Loss: mean squared error"
