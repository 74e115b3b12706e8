"""Where a ``gw.compile`` step's time goes, and ``fit(compile=...)`` against the eager loop.

``python -m benchmarks.compile_step [--quick]`` prints, for each benchmark network (float32,
Adam, the batches of :mod:`benchmarks.train_step`), in interleaved blocks: the eager step, the
compiled step, and the shares of its time (timed call by call in further replays) of the
replayed array calls, the optimizer's live step and the rest, with the number of recorded
calls; then ``fit`` epochs on
2-16-16-1 (the spiral's size) and on a 784-64-10 network of about
50k parameters (``fit``'s default compile threshold) with ``compile=False`` and ``True``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np

from .common import NETS, fmt_time, gradwise_train_step, interleaved, table
from .train_step import CPU_NETS


def _parts(name: str) -> dict[str, Callable[[], Any]]:
    import gradwise as gw

    eager, x, y = gradwise_train_step(NETS[name])
    compiled = gw.compile(eager)
    for _ in range(3):
        compiled(x, y)
    return {"eager": lambda: eager(x, y), "compiled": lambda: compiled(x, y),
            "step": compiled, "x": x, "y": y}  # type: ignore[dict-item]


def _breakdown(step: Any, x: Any, y: Any, n: int) -> tuple[float, float, float, int]:
    """Seconds per compiled step, of its array calls and of its live calls (the optimizer),
    timed call by call inside ``n`` replays, and the number of recorded calls."""
    import time

    step.timings = {}
    t0 = time.perf_counter()
    for _ in range(n):
        step(x, y)
    total = (time.perf_counter() - t0) / n
    timings, step.timings = step.timings, None
    ops = len(next(iter(step.recordings.values())).ops)
    return total, timings.get("array", 0.0) / n, timings.get("live", 0.0) / n, ops


#: epochs per timed ``fit`` call: its first step runs eagerly and two are recorded (full and
#: partial batches), as in any run; the table gives the time per epoch
EPOCHS = 5


def _fit_epoch(sizes: tuple[int, ...], n: int, compile: bool) -> Callable[[], Any]:
    import gradwise as gw
    from gradwise import nn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32) if sizes[-1] == 1 else rng.integers(0, sizes[-1], n)
    gw.manual_seed(0)
    layers = [nn.Dense(a, b, activation="relu" if i < len(sizes) - 2 else None)
              for i, (a, b) in enumerate(pairwise(sizes))]
    model = nn.Sequential(*layers)
    opt = gw.optim.Adam(model.parameters(), lr=1e-3)
    loss = "bce_with_logits" if sizes[-1] == 1 else "cross_entropy"
    return lambda: gw.fit(model, loss, opt, (x, y), epochs=EPOCHS, batch_size=32, verbose=0,
                          metrics=["accuracy"], compile=compile)


def run(quick: bool = False) -> str:
    import gradwise as gw

    gw.set_num_threads("auto")
    reps = {"tiny": (100, 5), "small": (20, 5), "medium": (3, 5), "large": (1, 3)}
    rows = []
    for name in CPU_NETS:
        if quick and name == "large":
            continue
        parts = _parts(name)
        step, x, y = parts.pop("step"), parts.pop("x"), parts.pop("y")
        r, rounds = reps[name]
        t = interleaved(parts, r, rounds if not quick else 3)
        total, arrays, live, n = _breakdown(step, x, y, r * 3)
        rows.append([NETS[name].label, str(NETS[name].batch), str(n), fmt_time(t["eager"]),
                     fmt_time(t["compiled"]), f"{t['compiled'] / t['eager']:.2f}",
                     f"{arrays / total:.0%}", f"{live / total:.0%}",
                     f"{1 - (arrays + live) / total:.0%}"])
        print(" | ".join(rows[-1]), flush=True)
    fit_rows = []
    for label, sizes, n in (("2-16-16-1 (spiral size, 1000 rows)", (2, 16, 16, 1), 1000),
                            ("784-64-10 (50.9k parameters, 2000 rows)", (784, 64, 10), 2000)):
        t = interleaved({"eager": _fit_epoch(sizes, n, False),
                         "compiled": _fit_epoch(sizes, n, True)}, 1, 3 if quick else 7)
        fit_rows.append([label, fmt_time(t["eager"] / EPOCHS), fmt_time(t["compiled"] / EPOCHS),
                         f"{t['compiled'] / t['eager']:.2f}"])
        print(" | ".join(fit_rows[-1]), flush=True)
    return (
        "Eager and compiled step (float32, Adam; medians of interleaved blocks), and where "
        "the compiled step's time goes, timed call by call in further replays: the replayed "
        "array calls, the optimizer's live step (its replay plan), and the rest (the key, "
        "copying the inputs in and the results out, the checks, the timer itself).\n\n"
        + table(["network", "batch", "recorded calls", "eager/step", "compiled/step",
                 "compiled/eager", "array calls", "optimizer", "rest"], rows)
        + f"\n\n`fit` (batch 32, Adam, accuracy; {EPOCHS} epochs per call, time per epoch, "
        "the eager first call and the two recordings included), `compile=False` against "
        "`compile=True`:\n\n"
        + table(["network", "eager epoch", "compiled epoch", "compiled/eager"], fit_rows) + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile_step",
                                     description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
