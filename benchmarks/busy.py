"""The training step on a busy machine: ``python -m benchmarks --busy``.

A user's machine is rarely idle. For each network this times gradwise's training step (as
:mod:`benchmarks.train_step` does: forward, loss, backward, Adam) while a competing process
started here runs beside it, in three regimes:

- ``train``: a second gradwise training of the same network (a sweep, two notebooks, two MPI
  ranks that do not know of each other);
- ``loop``: one CPU-bound pure-Python loop;
- ``nice``: a second gradwise training at the lowest priority (``nice 19``).

Each regime runs twice: with gradwise's default thread policy (``auto``: as many threads as
there are free cores, :mod:`gradwise.threads`) in both processes, and with a fixed thread per
core in both (OpenBLAS's own default, what gradwise did before the policy existed). The
reference is the same step with one thread on the quiet machine; the goal is at most 1.5 times
that in every regime. A shared machine's speed drifts over minutes, so the reference is measured
again before each busy block, with the competitor paused (SIGSTOP), and each ratio is the median
over rounds of (busy block / quiet block). Busy blocks start after :data:`SETTLE` seconds of
steps (the competitor is up, auto mode has looked at the load at least twice). A competitor
exits by itself after ``--seconds`` and is killed when its regime ends.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .common import NETS, fmt_time, gradwise_step, table

ROOT = Path(__file__).resolve().parents[1]
NET_NAMES = ("tiny", "small", "medium", "large")
REGIMES = ("train", "loop", "nice")
GOAL = 1.5
SETTLE = 1.5  # seconds of steps before timing: the competitor is up, auto mode has measured


def _timed_steps(step, budget: float, min_steps: int, max_steps: int) -> list[float]:
    """Per-step seconds of up to ``max_steps`` steps, stopping after ``budget`` seconds once
    ``min_steps`` are done."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_steps:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_steps and time.perf_counter() - start > budget:
            break
    return times


def _settle(step, seconds: float) -> None:
    end = time.perf_counter() + seconds
    step()
    while time.perf_counter() < end:
        step()


def _set_threads(threads: str) -> None:
    import gradwise as gw

    gw.set_num_threads("auto" if threads == "auto" else int(threads))


def _following(step):
    """The step with auto mode's re-evaluation before it, as ``fit`` does once per step."""
    import gradwise as gw

    def run() -> None:
        gw.threads.adapt()
        step()

    return run


def _median_step(step, threads: str, settle: float, budget: float) -> float:
    _set_threads(threads)
    step = _following(step)
    _settle(step, settle)
    return statistics.median(_timed_steps(step, budget, 3, 400))


def regime(net_name: str, regime_name: str, threads: str, rounds: int,
           budget: float) -> tuple[float, float, float]:
    """``(one-thread quiet step, busy step, median ratio)`` in seconds: the competitor runs
    from the start and is paused (SIGSTOP) for the quiet blocks, so that each busy block is
    compared with a quiet one measured a few seconds before it (the speed of a shared machine
    drifts over minutes)."""
    step = gradwise_step(NETS[net_name])
    proc = _competitor(regime_name, net_name, threads, seconds=600)
    quiet: list[float] = []
    busy: list[float] = []
    try:
        _median_step(step, threads, SETTLE, budget)  # the competitor starts meanwhile
        for _ in range(rounds):
            os.kill(proc.pid, signal.SIGSTOP)
            time.sleep(0.2)
            quiet.append(_median_step(step, "1", 0.3, budget))
            os.kill(proc.pid, signal.SIGCONT)
            busy.append(_median_step(step, threads, SETTLE, budget))
    finally:
        proc.kill()
        proc.wait()
    ratio = statistics.median(b / q for b, q in zip(busy, quiet, strict=True))
    return statistics.median(quiet), statistics.median(busy), ratio


def _competitor(regime: str, net_name: str, threads: str, seconds: float) -> subprocess.Popen:
    if regime == "loop":
        code = (f"import time\nend = time.monotonic() + {seconds!r}\nn = 0\n"
                "while time.monotonic() < end:\n    n += 1\n")
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "-m", "benchmarks.busy", "--compete", net_name,
               "--threads", threads, "--seconds", str(seconds)]
    nice = (lambda: os.nice(19)) if regime == "nice" else None
    return subprocess.Popen(cmd, cwd=ROOT, preexec_fn=nice, stdout=subprocess.DEVNULL)


def compete(net_name: str, threads: str, seconds: float) -> None:
    """The competing training: steps of ``net_name`` for ``seconds``, then exit."""
    _set_threads(threads)
    step = _following(gradwise_step(NETS[net_name]))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        step()


def run(quick: bool = False, nets: tuple[str, ...] = NET_NAMES) -> str:
    """Every network in every regime; print and return the Markdown report."""
    import gradwise as gw

    cores = gw.threads.available_cores()
    budget, rounds = (0.6, 2) if quick else (1.0, 3)
    rows = []
    for name in nets:
        step = gradwise_step(NETS[name])
        one = _median_step(step, "1", SETTLE, budget)
        quiet_auto = _median_step(step, "auto", SETTLE, budget)
        cells = [NETS[name].label, fmt_time(one),
                 f"{fmt_time(quiet_auto)} ({quiet_auto / one:.2f})"]
        worst = 0.0
        for regime_name in REGIMES:
            for threads in ("auto", str(cores)):
                _, t, ratio = regime(name, regime_name, threads, rounds, budget)
                if threads == "auto":
                    worst = max(worst, ratio)
                cells.append(f"{fmt_time(t)} ({ratio:.2f})")
        cells.append(f"{worst:.2f} (<= {GOAL}: {'met' if worst <= GOAL else 'NOT met'})")
        rows.append(cells)
        print(" | ".join(cells), flush=True)
    gw.set_num_threads("auto")
    header = ["network", "1 thread, quiet", "auto, quiet"]
    for regime_name in REGIMES:
        header += [f"{regime_name}: auto", f"{regime_name}: {cores} threads"]
    header.append("worst auto ratio (goal)")
    return (
        f"gradwise's training step (forward, loss, backward, Adam; float32) beside a competing "
        f"process on this {cores}-core machine. train: a second gradwise training of the same "
        "network; loop: a CPU-bound Python loop; nice: a second gradwise training at nice 19. "
        "'auto' is gradwise's default thread policy in both processes (gradwise.threads), "
        f"'{cores} threads' a fixed thread per core in both (OpenBLAS's default, gradwise before "
        "the policy). Each cell: the median step time beside the competitor, and in brackets "
        "its ratio to the one-thread step on the quiet machine: the median over "
        f"{rounds} rounds of (busy block / quiet block), the quiet block measured with the "
        "competitor paused (SIGSTOP) just before. The first column is the one-thread step at "
        "the start, the second gradwise's default on the quiet machine.\n\n"
        + table(header, rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.busy")
    parser.add_argument("--compete", choices=sorted(NETS), help="run as the competing training")
    parser.add_argument("--threads", default="auto")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--nets", default=",".join(NET_NAMES),
                        help="comma-separated networks (default: %(default)s)")
    args = parser.parse_args()
    if args.compete:
        compete(args.compete, args.threads, args.seconds)
    else:
        print(run(args.quick, tuple(args.nets.split(","))))


if __name__ == "__main__":
    main()
