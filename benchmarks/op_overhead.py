"""Per-op overhead of the engine: a tiny add and a tiny matmul (16 x 16, float32), without
gradient, recording the graph, and forward plus backward, against PyTorch and raw NumPy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .common import fmt_time, interleaved, table, try_import_torch


def _cases(gw: Any, torch: Any) -> list[tuple[str, dict[str, Callable[[], Any]]]]:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((16, 16), dtype=np.float32)
    b_np = rng.standard_normal((16, 16), dtype=np.float32)
    a, b = gw.tensor(a_np), gw.tensor(b_np)
    ag, bg = gw.tensor(a_np, requires_grad=True), gw.tensor(b_np, requires_grad=True)
    ta = tb = tag = tbg = None
    if torch is not None:
        ta, tb = torch.from_numpy(a_np), torch.from_numpy(b_np)
        tag, tbg = ta.clone().requires_grad_(), tb.clone().requires_grad_()

    def backward_add(x: Any, y: Any) -> None:
        x.grad = y.grad = None
        (x + y).sum().backward()

    def backward_matmul(x: Any, y: Any) -> None:
        x.grad = y.grad = None
        (x @ y).sum().backward()

    cases = [
        ("add, no gradient", lambda: a + b, lambda: ta + tb, lambda: a_np + b_np),
        ("add, recording the graph", lambda: ag + bg, lambda: tag + tbg, None),
        ("add + sum + backward", lambda: backward_add(ag, bg),
         lambda: backward_add(tag, tbg), None),
        ("matmul, no gradient", lambda: a @ b, lambda: ta @ tb, lambda: a_np @ b_np),
        ("matmul, recording the graph", lambda: ag @ bg, lambda: tag @ tbg, None),
        ("matmul + sum + backward", lambda: backward_matmul(ag, bg),
         lambda: backward_matmul(tag, tbg), None),
    ]
    out = []
    for label, g, t, n in cases:
        fns = {"gradwise": g}
        if torch is not None:
            fns["torch"] = t
        if n is not None:
            fns["numpy"] = n
        out.append((label, fns))
    return out


def run(quick: bool = False) -> str:
    """Time each case; print and return the Markdown report."""
    import gradwise as gw

    torch = try_import_torch()
    reps, rounds = (2000, 5) if quick else (10000, 9)
    rows = []
    for label, fns in _cases(gw, torch):
        t = interleaved(fns, reps, rounds, warmup=100, pause=0.0)  # single-threaded ops
        ratio = f"{t['gradwise'] / t['torch']:.2f}" if "torch" in t else "-"
        rows.append([label, fmt_time(t["gradwise"]),
                     fmt_time(t["torch"]) if "torch" in t else "-", ratio,
                     fmt_time(t["numpy"]) if "numpy" in t else "-"])
        print(" | ".join(rows[-1]), flush=True)
    return ("Tiny operands (16 x 16 float32); time per call, median of interleaved blocks.\n\n"
            + table(["operation", "gradwise", "PyTorch", "ratio", "raw NumPy"], rows) + "\n")
