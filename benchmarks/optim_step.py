"""Time one optimizer ``step()`` on a 784-1000-1000-10 network (1.8M parameters, float32).

gradwise's flat-buffer optimizers against ``torch.optim`` with default arguments (on the CPU
that is torch's per-tensor loop) and with ``foreach=True``, in one process: alternating blocks
of steps after a warm-up, in two regimes (``REGIMES``): short blocks after a pause (so one
framework's spinning worker threads do not slow the next, but caches start cold) and long blocks
without a pause (the steady state of a training loop); the median and the best block, per step.
Gradients are real ones from one backward pass, held fixed, so every step does the same work.
Run from the repository root::

    python -m benchmarks.optim_step [--repeats 15] [--write]

``--write`` replaces the "## Optimizer step" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
import torch

import gradwise as gw
from gradwise.nn import functional as F

from .common import PAUSE, blocks, machine, table

SIZES = (784, 1000, 1000, 10)
HEADING = "## Optimizer step"
ALGORITHMS = [
    ("SGD", {"lr": 1e-3}),
    ("SGD", {"lr": 1e-3, "momentum": 0.9}),
    ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("Adadelta", {}),
    ("Adagrad", {}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True, "momentum": 0.9}),
]


def _steps(name: str, hyper: dict) -> tuple[int, dict]:
    gen = np.random.default_rng(0)
    layers = [gw.nn.Dense(a, b, activation="relu" if i < len(SIZES) - 2 else None,
                          generator=gen)
              for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True))]
    model = gw.nn.Sequential(*layers)
    opt = getattr(gw.optim, name)(model.parameters(), **hyper)
    x = gw.tensor(gen.normal(size=(64, SIZES[0])).astype(np.float32))
    y = gw.tensor(gen.integers(0, SIZES[-1], 64))
    F.cross_entropy(model(x), y).backward()

    def torch_opt(**extra):
        params = []
        for p in model.parameters():
            t = torch.nn.Parameter(torch.from_numpy(p.data.copy()))
            t.grad = torch.from_numpy(p.grad.copy())
            params.append(t)
        return getattr(torch.optim, name)(params, **hyper, **extra)

    return model.num_parameters(), {"gradwise": opt.step, "torch default": torch_opt().step,
                                    "torch foreach": torch_opt(foreach=True).step}


#: (title, steps per block, pause before each block in seconds)
REGIMES = [
    ("Short blocks after a pause: 5 steps, each block 0.3 s after the previous one (caches and "
     "worker threads cold, neither framework slowed by the other's spinning threads)", 5, PAUSE),
    ("Steady state: 50 steps a block, no pause (as inside a training loop)", 50, 0.0),
]


def _table(repeats: int, reps: int, pause: float) -> tuple[int, str]:
    rows = []
    n = 0
    for name, hyper in ALGORITHMS:
        n, fns = _steps(name, hyper)
        t = blocks(fns, reps, repeats, warmup=3, pause=pause)
        med = {k: statistics.median(v) for k, v in t.items()}
        best = {k: min(v) for k, v in t.items()}
        label = name + "(" + ", ".join(f"{k}={v}" for k, v in hyper.items()) + ")"
        rows.append([label, *(f"{med[k] * 1e3:.3f} ({best[k] * 1e3:.3f})" for k in fns),
                     *(f"{med[k] / med['gradwise']:.2f} ({best[k] / best['gradwise']:.2f})"
                       for k in ("torch default", "torch foreach"))])
        print(" | ".join(rows[-1]), flush=True)
    head = ["optimizer", "gradwise ms", "torch default ms", "torch foreach ms",
            "torch default / gradwise", "torch foreach / gradwise"]
    return n, table(head, rows)


def run(repeats: int) -> str:
    parts = []
    n = 0
    for title, reps, pause in REGIMES:
        n, body = _table(repeats, reps, pause)
        parts.append(f"{title}:\n\n{body}")
    return ("\n\n".join(parts) + f"\n\n{n} parameters, float32. Each cell: median (best) over "
            f"{repeats} blocks per framework; a ratio above 1 means gradwise is faster. gradwise "
            "updates one flat buffer with in-place NumPy ufuncs, one cache-sized block (2^15 "
            "elements) at a time on one thread; torch runs "
            "fused kernels (one pass for a*x + y) on "
            f"{torch.get_num_threads()} intra-op threads, so the load on the machine moves "
            "both columns.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed blocks per framework")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    info = machine()
    body = run(args.repeats)
    command = " ".join(["python -m benchmarks.optim_step", *sys.argv[1:]])
    lines = [f"- {k}: {v}" for k, v in info.items()]
    lines.append(f"- load average at the end (1 min): {os.getloadavg()[0]:.2f}")
    lines.append(f"- command: `{command}`")
    section = "\n".join(lines) + "\n\n" + body
    print(f"\n{HEADING}\n\n{section}")
    if args.write:
        from .__main__ import write_results

        write_results({HEADING: section})


if __name__ == "__main__":
    main()
