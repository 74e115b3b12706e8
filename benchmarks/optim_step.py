"""Time one optimizer ``step()`` on a 784-1000-1000-10 network (1.8M parameters, float32).

gradwise's flat-buffer optimizers (as shipped, and restricted to one thread) against ``torch.optim`` with default arguments (on the CPU
that is torch's per-tensor loop) and with ``foreach=True``, in the same process, interleaved
step by step, after a warm-up; medians in milliseconds. Gradients are real ones from one
backward pass, held fixed, so every step does the same work.

    python benchmarks/optim_step.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

import gradwise as gw
from gradwise.nn import functional as F
from gradwise.optim import optimizer as optimizer_module

SIZES = (784, 1000, 1000, 10)
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


def _gradwise(name: str, hyper: dict):
    gen = np.random.default_rng(0)
    layers = [gw.nn.Dense(a, b, activation="relu" if i < len(SIZES) - 2 else None,
                          generator=gen)
              for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True))]
    model = gw.nn.Sequential(*layers)
    opt = getattr(gw.optim, name)(model.parameters(), **hyper)
    x = gw.tensor(gen.normal(size=(64, SIZES[0])).astype(np.float32))
    y = gw.tensor(gen.integers(0, SIZES[-1], 64))
    F.cross_entropy(model(x), y).backward()
    return model, opt


def _one_thread(step):
    def run() -> None:
        cores = optimizer_module._CORES
        optimizer_module._CORES = 1
        try:
            step()
        finally:
            optimizer_module._CORES = cores
    return run


def _setup(name: str, hyper: dict):
    model, opt = _gradwise(name, hyper)
    _, opt1 = _gradwise(name, hyper)
    tparams = []
    for p in model.parameters():
        t = torch.nn.Parameter(torch.from_numpy(p.data.copy()))
        t.grad = torch.from_numpy(p.grad.copy())
        tparams.append(t)
    tdefault = getattr(torch.optim, name)(tparams, **hyper)
    tparams2 = [torch.nn.Parameter(t.detach().clone()) for t in tparams]
    for t, t0 in zip(tparams2, tparams, strict=True):
        t.grad = t0.grad.clone()
    tforeach = getattr(torch.optim, name)(tparams2, foreach=True, **hyper)
    return model.num_parameters(), [opt.step, _one_thread(opt1.step), tdefault.step,
                                    tforeach.step]


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numpy {np.__version__}")
    print(f"| optimizer | gradwise ms ({optimizer_module._CORES} threads) | gradwise 1 thread ms "
          "| torch default ms | torch foreach ms | torch default / gradwise "
          "| torch foreach / gradwise |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, hyper in ALGORITHMS:
        n, steps = _setup(name, hyper)
        times: list[list[float]] = [[] for _ in steps]
        for r in range(args.warmup + args.repeats):
            for i, step in enumerate(steps):
                dt = _time(step)
                if r >= args.warmup:
                    times[i].append(dt)
        ours, ours1, tdef, tfor = (statistics.median(t) * 1e3 for t in times)
        label = name + ("(" + ", ".join(f"{k}={v}" for k, v in hyper.items()) + ")")
        print(f"| {label} | {ours:.3f} | {ours1:.3f} | {tdef:.3f} | {tfor:.3f} "
              f"| {tdef / ours:.2f} | {tfor / ours:.2f} |", flush=True)
    print(f"\n{n} parameters, float32, medians of {args.repeats} interleaved steps "
          f"after {args.warmup} warm-up steps")


if __name__ == "__main__":
    main()
