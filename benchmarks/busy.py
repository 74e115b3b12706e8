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
reference is the same step with one thread on the quiet machine, measured first in the same run;
the goal is at most 1.5 times that in every regime. A competitor is bounded in time (it exits by
itself after ``--seconds``) and is killed when its regime ends. Each figure is the median of the
step times measured after the competitor has run for a while (and auto mode has looked at the
load at least twice).
"""

from __future__ import annotations

import argparse
import os
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


def measure(net_name: str, threads: str, budget: float) -> float:
    """Median seconds per step of ``net_name`` in this process, with ``threads`` ("auto" or a
    number), after :data:`SETTLE` seconds of steps."""
    import gradwise as gw

    gw.set_num_threads("auto" if threads == "auto" else int(threads))
    step = gradwise_step(NETS[net_name])
    _settle(step, SETTLE)
    return statistics.median(_timed_steps(step, budget, 3, 400))


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
    import gradwise as gw

    gw.set_num_threads("auto" if threads == "auto" else int(threads))
    step = gradwise_step(NETS[net_name])
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        step()


def run(quick: bool = False, nets: tuple[str, ...] = NET_NAMES) -> str:
    """Every network in every regime; print and return the Markdown report."""
    import gradwise as gw

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    budget = 1.5 if quick else 4.0
    rows = []
    for name in nets:
        one = measure(name, "1", budget)
        quiet_auto = measure(name, "auto", budget)
        cells = [NETS[name].label, fmt_time(one), fmt_time(quiet_auto)]
        worst = 0.0
        for regime in REGIMES:
            for threads in ("auto", str(cores)):
                proc = _competitor(regime, name, threads, seconds=120)
                try:
                    t = measure(name, threads, budget)
                finally:
                    proc.kill()
                    proc.wait()
                time.sleep(0.5)
                if threads == "auto":
                    worst = max(worst, t / one)
                cells.append(f"{fmt_time(t)} ({t / one:.1f}x)")
        cells.append(f"{worst:.2f} (<= {GOAL}: {'met' if worst <= GOAL else 'NOT met'})")
        rows.append(cells)
        print(" | ".join(cells), flush=True)
    gw.set_num_threads("auto")
    header = ["network", "1 thread, quiet", "auto, quiet"]
    for regime in REGIMES:
        header += [f"{regime}: auto", f"{regime}: {cores} threads"]
    header.append("worst auto / 1 thread (goal)")
    return (
        f"gradwise's training step (forward, loss, backward, Adam; float32) beside a competing "
        f"process on this {cores}-core machine. train: a second gradwise training of the same "
        "network; loop: a CPU-bound Python loop; nice: a second gradwise training at nice 19. "
        "'auto' is gradwise's default thread policy in both processes (gradwise.threads), "
        f"'{cores} threads' a fixed thread per core in both (OpenBLAS's default, gradwise before "
        "the policy). Each cell: the median step time, and in brackets its ratio to the "
        "one-thread step on the quiet machine (first column, same run).\n\n"
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
