"""Where a ``gw.compile`` step's time goes, and ``fit(compile=...)`` against the eager loop.

``python -m benchmarks.compile_step [--quick]`` prints, for each benchmark network (float32,
Adam, the batches of :mod:`benchmarks.train_step`), in interleaved blocks: the eager step, the
compiled step, its replayed array calls alone (without the optimizer's live step), the
optimizer's replay plan alone, and the number of recorded calls; then one epoch of ``fit`` on
the spiral (2-16-16-1, the playground's default network) and on a 784-64-10 network of about
50k parameters (``fit``'s default compile threshold) with ``compile=False`` and ``True``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np

from .common import NETS, batch_data, fmt_time, interleaved, table
from .train_step import CPU_NETS


def _parts(name: str) -> dict[str, Callable[[], Any]]:
    import gradwise as gw
    from gradwise import functional as F
    from gradwise import nn

    net = NETS[name]
    gw.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(pairwise(net.sizes)):
        last = i == len(net.sizes) - 2
        layers.append(nn.Dense(a, b, activation=("sigmoid" if net.loss == "bce" else None)
                               if last else "relu"))
    model = nn.Sequential(*layers)
    loss_fn = F.binary_cross_entropy if net.loss == "bce" else F.cross_entropy
    x, y = batch_data(net)
    opt = gw.optim.Adam(list(model.parameters()), lr=1e-3)

    def eager(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = loss_fn(model(gw.Tensor(x)), y)
        loss.backward()
        opt.step()
        return loss

    compiled = gw.compile(eager)
    for _ in range(3):
        compiled(x, y)
    rec = next(iter(compiled.recordings.values()))
    plan = [op for op in rec.ops if getattr(op, "__name__", "") == "replay"]
    arrays = [op for op in rec.ops if getattr(op, "__name__", "") != "replay"]

    def calls() -> None:
        for op in arrays:
            op()

    return {"eager": lambda: eager(x, y), "compiled": lambda: compiled(x, y),
            "array calls": calls, "optimizer": plan[0] if plan else (lambda: None),
            "n": len(rec.ops)}  # type: ignore[dict-item]


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
    return lambda: gw.fit(model, loss, opt, (x, y), epochs=1, batch_size=32, verbose=0,
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
        n = parts.pop("n")
        r, rounds = reps[name]
        t = interleaved(parts, r, rounds if not quick else 3)
        rows.append([NETS[name].label, str(NETS[name].batch), str(n), fmt_time(t["eager"]),
                     fmt_time(t["compiled"]), fmt_time(t["array calls"]),
                     fmt_time(t["optimizer"]),
                     fmt_time(t["compiled"] - t["array calls"] - t["optimizer"]),
                     f"{t['compiled'] / t['eager']:.2f}"])
        print(" | ".join(rows[-1]), flush=True)
    fit_rows = []
    for label, sizes, n in (("2-16-16-1 (spiral size, 1000 rows)", (2, 16, 16, 1), 1000),
                            ("784-64-10 (50.9k parameters, 2000 rows)", (784, 64, 10), 2000)):
        t = interleaved({"eager": _fit_epoch(sizes, n, False),
                         "compiled": _fit_epoch(sizes, n, True)}, 1, 3 if quick else 7)
        fit_rows.append([label, fmt_time(t["eager"]), fmt_time(t["compiled"]),
                         f"{t['compiled'] / t['eager']:.2f}"])
        print(" | ".join(fit_rows[-1]), flush=True)
    return (
        "Where a compiled step's time goes (float32, Adam; medians of interleaved blocks): "
        "the replayed array calls alone, the optimizer's live step (its replay plan) alone, "
        "and the rest (copying the inputs in and the loss out, the key, the checks).\n\n"
        + table(["network", "batch", "recorded calls", "eager/step", "compiled/step",
                 "array calls", "optimizer", "rest", "compiled/eager"], rows)
        + "\n\nOne epoch of `fit` (batch 32, Adam, accuracy), `compile=False` against "
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
