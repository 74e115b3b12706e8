"""Playground page speed in a real browser (Debian's chromium driven by Playwright).

Two numbers per network, against a real ``gradwise playground`` server on a free port:

- live: the page plays for ``--seconds`` and counts the ``state`` messages it received and drew
  (server training + WebSocket + page, end to end; what a user sees);
- page only: one real ``state`` message of that network is replayed ``--frames`` times, one per
  animation frame, through the page's own WebSocket message handler, so the rate is what the page
  can draw with the server out of the way; ``handle`` is the synchronous time per message (JSON
  parse, base64 heatmaps decoded), ``draw`` the time of one frame's drawing (every neuron's
  heatmap, the links, the output with its points, the loss chart).

    python -m benchmarks.playground_page [--seconds 8] [--frames 200]

Needs /usr/bin/chromium (apt-get install -y chromium) and playwright (pip install playwright).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ALL = "x1,x2,x1%5E2,x2%5E2,x1*x2,sin(x1),sin(x2)"
NETWORKS = {
    "default (2 x 4, x1 x2)": "",
    "8-8, 7 features": f"#hidden=8,8&dropout=0,0&features={ALL}",
    "6 x 8, 7 features": f"#hidden=8,8,8,8,8,8&dropout=0,0,0,0,0,0&features={ALL}",
}
# Keeps the last state message the page received (the page's own handler runs as usual).
RECORD = """
const Orig = window.WebSocket;
window.__lastState = null;
window.WebSocket = class extends Orig {
  constructor(...a) {
    super(...a);
    this.addEventListener('message', (e) => {
      if (e.data.startsWith('{"type": "state"') || e.data.startsWith('{"type":"state"')) {
        window.__lastState = e.data;
      }
    });
  }
};
"""
REPLAY = """async (n) => {
  const ws = playground.ws, msg = window.__lastState;
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  await frame();
  let handle = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    ws.dispatchEvent(new MessageEvent('message', { data: msg }));
    handle += performance.now() - s;
    await frame();
  }
  const total = performance.now() - t0;
  return { rate: n / total * 1000, handle_ms: handle / n, draw_ms: playground.drawMs,
           kb: msg.length / 1024 };
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-m", "gradwise.cli", "playground", "--no-browser",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/defaults", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gradwise playground did not start on port {port}")


def measure(page: Any, url: str, seconds: float, frames: int) -> dict[str, float]:
    page.goto(url)
    page.wait_for_function("window.playground && playground.state && window.__lastState")
    page.wait_for_timeout(300)  # the hash's settings applied
    page.click("#play")
    page.wait_for_function("playground.state.playing && playground.state.epoch >= 1")
    n0, t0 = page.evaluate("playground.updates"), time.perf_counter()
    page.wait_for_timeout(seconds * 1000)
    live = (page.evaluate("playground.updates") - n0) / (time.perf_counter() - t0)
    page.click("#play")
    page.wait_for_function("!playground.state.playing")
    out = dict(page.evaluate(REPLAY, frames))
    out["live"] = live
    out["neurons"] = float(page.evaluate("playground.settings.hidden.reduce((a, b) => a + b, 0)"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = _server(port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.add_init_script(RECORD)
            print(f"{'network':24} {'hidden':>6} {'live/s':>7} {'page/s':>7} {'handle ms':>9} "
                  f"{'draw ms':>8} {'state KB':>8}")
            for name, hash_ in NETWORKS.items():
                r = measure(page, f"http://127.0.0.1:{port}/{hash_}", args.seconds, args.frames)
                print(f"{name:24} {r['neurons']:6.0f} {r['live']:7.1f} {r['rate']:7.1f} "
                      f"{r['handle_ms']:9.1f} {r['draw_ms']:8.1f} {r['kb']:8.0f}", flush=True)
                print(json.dumps({"network": name, **r}), file=sys.stderr)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
