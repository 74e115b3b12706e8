"""The static site (``gradwise playground --static OUT``): the build, the engine on Pyodide's
Python and NumPy in Node, and the engine page in Debian's chromium.

The unit tests (the sha256 check, the wheel's contents, a build from a fake distribution) need
no network. The Node and browser tests need a real Pyodide runtime and NumPy wheel: they build
the site with ``npm pack pyodide@VERSION`` and the NumPy wheel named by
``GRADWISE_NUMPY_WHEEL`` (a .whl, an archive holding it, or a URL; default: the build's cache),
cached in ``GRADWISE_PYODIDE_CACHE``. They skip when something is missing, unless
``GRADWISE_REQUIRE_STATIC=1`` (set by ``.ci/run``), where a missing piece is a failure.
Measurements (load times, steps per second, bytes, the CPython-vs-Pyodide difference) are
printed: run with ``-s`` to see them.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gates
from gradwise.playground import static_site
from gradwise.playground.static_site import SiteError, build_site, build_wheel, wheel_members

ROOT = Path(__file__).resolve().parents[1]
WEBAPP = static_site.WEBAPP
NODE_CHECK = Path(__file__).with_name("static_engine.mjs")
CHROMIUM = Path("/usr/bin/chromium")
NUMPY_NAME = "numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl"


def _missing(reason: str) -> None:
    gates.static_site(reason)


# ----------------------------------------------------------------------------- unit tests


def _fake_dist(tmp_path: Path, wheel: bytes, lock_sha: str | None = None) -> Path:
    """A folder shaped like a full Pyodide distribution, with a made-up NumPy wheel."""
    dist = tmp_path / "pyodide"
    dist.mkdir()
    for name in static_site.RUNTIME_FILES:
        (dist / name).write_bytes(b"// fake " + name.encode())
    lock = {"info": {"version": "0.27.7", "python": "3.12.7"},
            "packages": {"numpy": {"name": "numpy", "file_name": NUMPY_NAME, "depends": [],
                                   "sha256": lock_sha or hashlib.sha256(wheel).hexdigest()}}}
    (dist / "pyodide-lock.json").write_text(json.dumps(lock))
    return dist


def _fake_numpy_wheel(path: Path) -> bytes:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("numpy/__init__.py", "__version__ = '2.0.2'\n")
    return path.read_bytes()


def test_a_tampered_numpy_wheel_stops_the_build(tmp_path: Path) -> None:
    good = _fake_numpy_wheel(tmp_path / "good.whl")
    dist = _fake_dist(tmp_path, good)
    bad = tmp_path / NUMPY_NAME
    bad.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit flipped
    with pytest.raises(SiteError) as err:
        build_site(tmp_path / "out", pyodide_dist=dist, numpy_wheel=str(bad),
                   cache=tmp_path / "cache")
    msg = str(err.value)
    assert hashlib.sha256(good).hexdigest() in msg  # the lock file's hash
    assert hashlib.sha256(bad.read_bytes()).hexdigest() in msg  # the file's hash
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_tampered_wheel_inside_an_archive_stops_the_build(tmp_path: Path) -> None:
    good = _fake_numpy_wheel(tmp_path / "good.whl")
    dist = _fake_dist(tmp_path, good)
    bundle = tmp_path / "bundle.whl"  # a third-party package that bundles the wheel
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr(f"pkg/assets/pyodide/{NUMPY_NAME}", good + b"x")
    with pytest.raises(SiteError, match="sha256 mismatch"):
        build_site(tmp_path / "out", pyodide_dist=dist, numpy_wheel=str(bundle),
                   cache=tmp_path / "cache")


def test_a_build_from_a_distribution_archive_with_a_verified_wheel(tmp_path: Path) -> None:
    good = _fake_numpy_wheel(tmp_path / NUMPY_NAME)
    dist = _fake_dist(tmp_path, good)
    shutil.copy(tmp_path / NUMPY_NAME, dist / NUMPY_NAME)  # a full distribution holds it
    (dist / "micropip-0.8.0-py3-none-any.whl").write_bytes(b"not needed")  # and ~250 more
    archive = shutil.make_archive(str(tmp_path / "pyodide-0.27.7"), "bztar", tmp_path, "pyodide")
    site = build_site(tmp_path / "out", pyodide_dist=archive, cache=tmp_path / "cache")
    out = tmp_path / "out"
    assert (out / NUMPY_NAME).read_bytes() == good
    extracted = {p.name for p in (tmp_path / "cache").glob("dist-*/*")}
    assert extracted == {*static_site.RUNTIME_FILES, NUMPY_NAME}  # only what the site needs
    for name in (*static_site.RUNTIME_FILES, *static_site.WEBAPP_FILES, "site.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "site.json").read_text())
    assert manifest["numpy_sha256"] == hashlib.sha256(good).hexdigest()
    assert manifest["gradwise_wheel"] == site.gradwise_wheel.name
    assert site.total_bytes == sum(p.stat().st_size for p in out.iterdir())


def test_a_distribution_of_another_version_is_refused_for_the_npm_pin(tmp_path: Path) -> None:
    dist = _fake_dist(tmp_path, b"")
    folder = tmp_path / "cache" / "pyodide-0.26.0"
    shutil.copytree(dist, folder)  # as if npm had given the wrong version
    with pytest.raises(SiteError, match="is Pyodide 0.27.7, not 0.26.0"):
        build_site(tmp_path / "out", pyodide_version="0.26.0", cache=tmp_path / "cache")


def test_the_browser_wheel_holds_the_engine_without_matplotlib(tmp_path: Path) -> None:
    """The wheel: every NumPy-only module, none of the lab's figures, servers or commands; it
    imports and trains in a clean interpreter where matplotlib cannot be imported."""
    members = wheel_members()
    assert "gradwise/__init__.py" in members and "gradwise/training/loop.py" in members
    for gone in ("gradwise/lab/style.py", "gradwise/playground/server.py", "gradwise/cli.py",
                 "gradwise/playground/static/index.html"):
        assert gone not in members
    wheel = build_wheel(tmp_path)
    assert wheel.read_bytes() == build_wheel(tmp_path / "again").read_bytes()  # reproducible
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    (site / "sitecustomize.py").write_text(
        "import sys\nfor m in ('matplotlib', 'PIL', 'starlette', 'torch'):\n"
        "    sys.modules[m] = None\n")
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); import engine_check as e; "
            "print(json.dumps([e.quick_start(), e.spiral_fit(2)['loss']]))")
    proc = subprocess.run([sys.executable, "-c", code, str(WEBAPP)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(site)}, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    g6, losses = json.loads(proc.stdout)
    assert g6 == pytest.approx(1 / (1 + np.exp(6)), rel=1e-6)
    assert len(losses) == 2 and losses[1] < losses[0]
    print(f"\ngradwise browser wheel: {wheel.stat().st_size} bytes, {len(members)} files")


def test_the_command_line_builds_the_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    from gradwise.cli import main

    good = _fake_numpy_wheel(tmp_path / "n.whl")
    dist = _fake_dist(tmp_path, good)
    wheel = tmp_path / NUMPY_NAME
    shutil.copy(tmp_path / "n.whl", wheel)
    assert main(["playground", "--static", str(tmp_path / "out"), "--pyodide-dist", str(dist),
                 "--numpy-wheel", str(wheel), "--cache", str(tmp_path / "c")]) == 0
    assert "wrote" in capsys.readouterr().out
    wheel.write_bytes(good + b"!")
    assert main(["playground", "--static", str(tmp_path / "out2"), "--pyodide-dist", str(dist),
                 "--numpy-wheel", str(wheel), "--cache", str(tmp_path / "c")]) == 2
    assert "sha256 mismatch" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the real site


def _engine_check() -> Any:
    spec = importlib.util.spec_from_file_location("engine_check", WEBAPP / "engine_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real static site, built with npm's Pyodide and a verified NumPy wheel."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _missing("node and npm are not installed")
    cache = Path(os.environ.get("GRADWISE_PYODIDE_CACHE") or static_site._default_cache())
    source = os.environ.get("GRADWISE_NUMPY_WHEEL")
    if source is None and not (cache / NUMPY_NAME).is_file():
        _missing(f"no Pyodide NumPy wheel: set GRADWISE_NUMPY_WHEEL (a .whl, an archive holding "
                 f"{NUMPY_NAME}, or a URL) or put it in {cache}")
    out = tmp_path_factory.mktemp("site")
    try:
        built = build_site(out, cache=cache, numpy_wheel=source)
    except SiteError as exc:
        _missing(f"the site cannot be built here: {exc}")
    gz = sum(len(gzip.compress(p.read_bytes(), 6)) for p in out.iterdir())
    print(f"\nsite: {built.total_bytes} bytes raw, {gz} gzipped (level 6), "
          f"gradwise wheel {built.files[built.gradwise_wheel.name]} bytes")
    return out


def test_the_engine_on_pyodide_in_node_matches_cpython(site: Path) -> None:
    """Pyodide's Python 3.12 and NumPy 2.0.2 (in Node) against this CPython: the README's quick
    start to a float32 ulp, the spiral fit's first epoch to rounding, the whole fit closely.

    Not the same bits: CPython's NumPy multiplies matrices with OpenBLAS (blocked, FMA) and takes
    exp/log from its SIMD kernels; Pyodide's NumPy has no BLAS and takes them from libm, so the
    sums round differently, and Adam on a ReLU net carries the last-bit differences forward."""
    engine = _engine_check()
    cpython_rate = engine.step_rate(2.0)["steps_per_s"]
    proc = subprocess.run(["node", str(NODE_CHECK), str(site), "20", "2"], capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    node = json.loads(proc.stdout)
    cpython_rate2 = engine.step_rate(2.0)["steps_per_s"]
    assert node["versions"]["python"].startswith("3.12") and node["versions"]["numpy"] == "2.0.2"
    assert node["versions"]["platform"] == "emscripten"
    g6 = engine.quick_start()
    assert node["quick_start"] == pytest.approx(g6, rel=3e-7)  # one float32 ulp is 1.2e-7 rel
    assert node["quick_start"] == pytest.approx(1 / (1 + np.exp(6.0)), rel=3e-7)
    ours = engine.spiral_fit(20)
    theirs = node["spiral_fit"]
    assert theirs["loss"][0] == pytest.approx(ours["loss"][0], rel=1e-6)
    assert theirs["loss"] == pytest.approx(ours["loss"], rel=0.02)
    assert theirs["val_loss"][-1] == pytest.approx(ours["val_loss"][-1], rel=0.05)
    assert theirs["val_accuracy"][-1] > 0.9 and ours["val_accuracy"][-1] > 0.9
    loss_diff = max(abs(a - b) for a, b in zip(ours["loss"], theirs["loss"], strict=True))
    param_diff = max(float(np.abs(np.subtract(ours["params"][k], theirs["params"][k])).max())
                     for k in ours["params"])
    same = ours["weights"] == theirs["weights"]
    print(f"\nnode: Python {node['versions']['python']}, NumPy {node['versions']['numpy']}, "
          f"load {node['load_ms']:.0f} ms; g(-6) {node['quick_start']!r} vs CPython {g6!r}; "
          f"spiral fit 20 epochs: same bits {same}, max |loss diff| {loss_diff:.3g}, "
          f"first epoch {abs(ours['loss'][0] - theirs['loss'][0]):.3g}, max |weight diff| "
          f"{param_diff:.3g}; steps/s node {node['step_rate']['steps_per_s']:.0f} vs CPython "
          f"{cpython_rate:.0f} / {cpython_rate2:.0f} (before / after)")


def _ms(phases: dict[str, float]) -> str:
    return ", ".join(f"{k[:-2]} {v:.0f} ms" for k, v in phases.items())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """``python -m http.server --bind 127.0.0.1`` out of the site's folder."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(site)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url + "site.json", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("python -m http.server did not start")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _visit(context: Any, url: str, epochs: int, rate_s: float = 0.0,
           finished: list[Any] | None = None) -> dict[str, Any]:
    """Open the engine page, wait until the worker is ready and has trained ``epochs`` epochs;
    return the page's numbers and the console errors."""
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("worker", lambda w: w.on("console", lambda m: errors.append(m.text)
                                      if m.type == "error" else None))
    t0 = time.perf_counter()
    page.goto(f"{url}index.html?epochs={epochs}")
    page.wait_for_function("window.gwResult.ready !== null || window.gwResult.errors.length",
                           timeout=120_000)
    wall_ready = time.perf_counter() - t0
    page.wait_for_function("window.gwResult.done || window.gwResult.errors.length",
                           timeout=300_000)
    if rate_s:
        page.evaluate(f"window.gwWorker.postMessage({{type: 'rate', seconds: {rate_s}}})")
        page.wait_for_function("window.gwResult.rate !== null || window.gwResult.errors.length",
                               timeout=120_000)
    result = page.evaluate("window.gwResult")
    shown = page.inner_text("#loss")
    sizes = {r.url.split("?")[0]: r.sizes()["responseBodySize"] for r in finished or []}
    page.close()
    return {**result, "console_errors": errors, "wall_ready_s": wall_ready, "shown_loss": shown,
            "sizes": sizes}


def test_the_engine_page_trains_in_a_worker_in_chromium(site: Path, served: str) -> None:
    """Debian's chromium, every request outside the served folder refused: the page loads
    Pyodide, NumPy and gradwise in a Web Worker, trains the spiral (the loss shown on the page
    falls), with zero console errors; then again from the browser's cache."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (the test extra)")
    engine = _engine_check()
    outside: list[str] = []
    inside: list[Any] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(served):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            first_ctx = browser.new_context()
            first_ctx.route("**/*", route)
            first_ctx.on("requestfinished", lambda r: inside.append(r))
            statuses: list[tuple[str, int]] = []
            first_ctx.on("response", lambda r: statuses.append((r.url, r.status)))
            cpython_rate = engine.step_rate(2.0)["steps_per_s"]
            first = _visit(first_ctx, served, epochs=20, rate_s=2.0, finished=inside)
            sizes = first["sizes"]
            first_ctx.close()
        finally:
            browser.close()
        # The cache: Playwright's routing turns the HTTP cache off, so this profile has no route
        # (it only records that every request stays in the folder); a profile on disk, as a
        # visitor's, keeps the 10 MB runtime, which an in-memory cache does not hold.
        seen: list[str] = []
        profile = tempfile.mkdtemp(prefix="gw-chromium-")
        cached_ctx = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            cached_ctx.on("request", lambda r: seen.append(r.url))
            warm = _visit(cached_ctx, served, epochs=1)
            cached = _visit(cached_ctx, served, epochs=1)
        finally:
            cached_ctx.close()
            shutil.rmtree(profile, ignore_errors=True)
    assert outside == [] and all(u.startswith(served) for u in seen), (outside, seen)
    assert statuses and all(code == 200 for _, code in statuses), statuses  # no 404
    for visit in (first, warm, cached):
        assert visit["errors"] == [] and visit["console_errors"] == [], visit["errors"]
    versions = first["ready"]["versions"]
    assert versions["platform"] == "emscripten" and versions["numpy"] == "2.0.2"
    losses = [e["loss"] for e in first["epochs"]]
    assert len(losses) == 20 and losses[-1] < 0.5 * losses[0]
    assert float(first["shown_loss"]) == pytest.approx(losses[-1], abs=1e-4)
    ours = engine.spiral_fit(1)["loss"][0]
    assert losses[0] == pytest.approx(ours, rel=1e-6)  # the same first epoch as CPython
    downloaded = sum(sizes.values())
    assert set(sizes) >= {served + n for n in ("pyodide.asm.wasm", NUMPY_NAME, "index.html")}
    cached_bytes = sum(e["transferSize"] for e in cached["ready"]["resources"])
    fit_rate = first["epochs"][-1]["steps"] / sum(e["epochMs"] / 1e3 for e in first["epochs"])
    print(f"\nchromium: interactive {first['ready']['sinceNavigationMs'] / 1e3:.2f} s after "
          f"navigation on the first visit, {cached['ready']['sinceNavigationMs'] / 1e3:.2f} s "
          f"from the cache (worker transfer {cached_bytes} bytes; worker phases first "
          f"{_ms(first['ready']['phases'])}, cached {_ms(cached['ready']['phases'])}); "
          f"downloaded {downloaded} bytes in {len(sizes)} requests; loss {losses[0]:.4f} -> "
          f"{losses[-1]:.4f}; "
          f"gw.fit {fit_rate:.0f} steps/s (batch 32, 64-64 net); quick-start net "
          f"{first['rate']['steps_per_s']:.0f} steps/s vs CPython {cpython_rate:.0f}")


def test_a_wheel_from_a_url_is_verified_then_cached(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No --numpy-wheel and no copy anywhere: the build downloads Pyodide's CDN address, checks
    it, and keeps it in the cache for the next build (the download faked here)."""
    good = _fake_numpy_wheel(tmp_path / "n.whl")
    dist = _fake_dist(tmp_path, good)
    asked: list[str] = []

    class Response(io.BytesIO):
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    def urlopen(url: str, timeout: float) -> Response:
        asked.append(url)
        return Response(good)

    monkeypatch.setattr(static_site.urllib.request, "urlopen", urlopen)
    build_site(tmp_path / "out", pyodide_dist=dist, cache=tmp_path / "cache")
    assert asked == [static_site.numpy_wheel_url("0.27.7", NUMPY_NAME)]
    assert asked[0] == ("https://cdn.jsdelivr.net/pyodide/v0.27.7/full/"
                        "numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl")
    assert (tmp_path / "cache" / NUMPY_NAME).read_bytes() == good
    build_site(tmp_path / "out2", pyodide_dist=dist, cache=tmp_path / "cache")
    assert len(asked) == 1  # the second build took the cached copy
    monkeypatch.setattr(static_site.urllib.request, "urlopen",
                        lambda url, timeout: Response(good + b"?"))
    with pytest.raises(SiteError, match="sha256 mismatch"):
        build_site(tmp_path / "out3", pyodide_dist=dist, numpy_wheel="https://example.org/n.whl",
                   cache=tmp_path / "cache2")
    assert not (tmp_path / "cache2" / NUMPY_NAME).exists()  # a bad download is not kept
