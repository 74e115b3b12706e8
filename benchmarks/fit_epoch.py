"""One ``gw.fit`` epoch on the MNIST subset against the equivalent PyTorch loop.

The model is the data README's MLP, 784-256-256-10 with ReLU, trained with Adam (lr 1e-3) at
batch 64 on the 4,000 training digits of ``../shared/data/mnist-5k``, shuffled every epoch. The
PyTorch loop does what ``fit`` does per batch: index the shuffled batch, zero the gradients,
forward, cross-entropy, backward, step, and add the batch loss to the epoch's running loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import fmt_time, interleaved, table, try_import_torch

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-5k"
SIZES = (784, 256, 256, 10)
BATCH = 64


def _gradwise_epoch(x: Any, y: Any) -> Any:
    import gradwise as gw
    from gradwise import nn

    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(784, 256, activation="relu"),
                          nn.Dense(256, 256, activation="relu"), nn.Dense(256, 10))
    opt = gw.optim.Adam(model.parameters(), lr=1e-3)
    loss = nn.CrossEntropyLoss()
    seed = iter(range(10**6))

    def epoch() -> None:
        gw.fit(model, loss, opt, (x, y), epochs=1, batch_size=BATCH, verbose=0, seed=next(seed))

    return epoch


def _torch_epoch(torch: Any, x: Any, y: Any) -> Any:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    n = len(tx)

    def epoch() -> float:
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = tx[idx], ty[idx]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total / n

    return epoch


def run(quick: bool = False) -> str | None:
    """Time epochs of both; print and return the Markdown report (None when skipped)."""
    import gradwise as gw

    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        print(f"fit epoch skipped: the MNIST subset is not at {MNIST_DIR}")
        return None
    x, y = gw.data.mnist(MNIST_DIR, train=True)
    fns = {"gradwise": _gradwise_epoch(x, y)}
    torch = try_import_torch()
    if torch is not None:
        fns["torch"] = _torch_epoch(torch, x, y)
    t = interleaved(fns, 1, 3 if quick else 7, warmup=1)
    ratio = f"{t['gradwise'] / t['torch']:.2f}" if "torch" in t else "-"
    row = ["784-256-256-10 ReLU, Adam, CE", f"{len(x)} x {x.shape[1]}", str(BATCH),
           fmt_time(t["gradwise"]), fmt_time(t["torch"]) if "torch" in t else "-", ratio]
    print(" | ".join(row), flush=True)
    return ("One epoch (shuffled, all batches, running loss), median of interleaved epochs.\n\n"
            + table(["model", "data", "batch", "gw.fit epoch", "PyTorch loop epoch", "ratio"],
                    [row]) + "\n")
