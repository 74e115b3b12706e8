"""Playground speed: updates per second and update latency reaching the page, over real
WebSocket connections to a real uvicorn server on 127.0.0.1.

The server (``gradwise.playground.server.serve``) runs in its own process; each client opens
``/ws``, takes the greeting, sends ``play`` and counts the ``state`` messages it receives for
``--seconds``. The network is the default one (2 hidden layers of 4 tanh neurons, the circle,
500 points, batch 10, a 50 x 50 heatmap of every neuron and of the output in every state), so
each update is one epoch of 25 mini-batch steps, one evaluation of the test half, one forward
pass of the 2500 grid points and one JSON message. Latency is the receive time minus the
state's ``time`` (the moment the server made it; same clock). The server caps a session at
``LIMITS["updates_per_second"]`` (60). The server process's CPU time per update (user +
system, from /proc) is printed too: on a shared machine it says what an update costs when the
rate itself is limited by other work.

    python -m benchmarks.playground [--sessions 1 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    code = ("from gradwise.playground.server import serve; "
            f"serve('127.0.0.1', {port}, open_browser=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the playground server did not start within 30 s")


async def _client(url: str, seconds: float, start: asyncio.Event) -> dict[str, float]:
    import websockets

    async with websockets.connect(url, max_size=None) as ws:
        while json.loads(await ws.recv())["type"] != "state":
            pass
        await start.wait()
        await ws.send(json.dumps({"type": "play"}))
        t0 = time.monotonic()
        latencies, sizes, epochs = [], [], []
        while time.monotonic() - t0 < seconds:
            raw = await ws.recv()
            now = time.time()
            msg = json.loads(raw)
            if msg["type"] == "state" and msg["playing"]:
                latencies.append(now - msg["time"])
                sizes.append(len(raw))
                epochs.append(msg["epoch"])
        elapsed = time.monotonic() - t0
        await ws.send(json.dumps({"type": "pause"}))
    return {"updates_per_s": len(latencies) / elapsed,
            "latency_median_ms": 1e3 * statistics.median(latencies),
            "latency_p95_ms": 1e3 * sorted(latencies)[int(0.95 * (len(latencies) - 1))],
            "message_kb": statistics.mean(sizes) / 1024, "epochs": float(epochs[-1])}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(port: int, sessions: int, seconds: float, pid: int
                   ) -> tuple[list[dict[str, float]], float]:
    start = asyncio.Event()
    tasks = [asyncio.create_task(_client(f"ws://127.0.0.1:{port}/ws", seconds, start))
             for _ in range(sessions)]
    await asyncio.sleep(1.0)  # every client connected and got its first state
    cpu0 = _cpu_seconds(pid)
    start.set()
    results = await asyncio.gather(*tasks)
    return results, _cpu_seconds(pid) - cpu0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}")
    port = _free_port()
    proc = _start_server(port)
    try:
        for n in args.sessions:
            results, cpu = asyncio.run(_measure(port, n, args.seconds, proc.pid))
            rates = [r["updates_per_s"] for r in results]
            updates = sum(r["updates_per_s"] for r in results) * args.seconds
            lat = [r["latency_median_ms"] for r in results]
            p95 = [r["latency_p95_ms"] for r in results]
            print(f"{n} session(s), {args.seconds:.0f} s: updates/s per page min "
                  f"{min(rates):.1f} median {statistics.median(rates):.1f} max {max(rates):.1f}"
                  f" (all pages {sum(rates):.1f}); latency median {statistics.median(lat):.1f} ms,"
                  f" p95 {max(p95):.1f} ms; state message {results[0]['message_kb']:.0f} KiB;"
                  f" server CPU {1e3 * cpu / max(updates, 1):.1f} ms per update",
                  flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
