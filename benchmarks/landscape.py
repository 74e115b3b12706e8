"""``python -m benchmarks.landscape [--write] [--skip-mnist]``: time the 51 x 51 loss-landscape
grid (Li et al. 2018) of the default spiral run and of the MNIST example's 784-256-256-10 model
on the 4,000 training digits, in two ways of using the cores:

- 1 thread evaluating grid rows, OpenBLAS with one thread per core;
- one thread per core evaluating grid rows, OpenBLAS with 1 thread each (gradwise's default).

With ``--write`` the "## Loss landscape" section of ``benchmarks/RESULTS.md`` is replaced.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import blas_info, table

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist-5k"


def _time_grid(run, X: np.ndarray, y: np.ndarray, workers: int) -> float:
    from gradwise.lab.landscape import loss_surface, random_directions

    d = random_directions(run.model, seed=0)
    t0 = time.perf_counter()
    land = loss_surface(run.model, run.loss, X, y, d, resolution=51, workers=workers)
    seconds = time.perf_counter() - t0
    assert land.done.all() and np.isfinite(land.loss).all()
    return seconds


def _measure(name: str, run, X: np.ndarray, y: np.ndarray) -> list[list[str]]:
    rows = []
    cores = os.cpu_count() or 1
    for workers, blas in ((1, cores), (cores, 1)):
        t = min(_time_grid(run, X, y, workers) for _ in range(2))
        rows.append([name, f"{len(X)}", f"{run.model.num_parameters():,}",
                     f"{workers} row thread{'s' if workers > 1 else ''}, BLAS {blas} each",
                     f"{t:.2f} s", f"{t / 51**2 * 1e3:.2f} ms"])
        print(" | ".join(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.landscape", description=__doc__)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--skip-mnist", action="store_true")
    args = parser.parse_args(argv)
    from gradwise.training.config import load_config
    from gradwise.training.run import load_run, train

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        spiral_dir, _ = train(load_config(None), out=Path(tmp) / "spiral", verbose=0)
        spiral = load_run(spiral_dir)
        rows += _measure("default spiral", spiral, spiral.X_train, spiral.y_train)
        t0 = time.perf_counter()
        from gradwise.lab.landscape_run import run_landscape

        run_landscape(spiral_dir)
        cli = time.perf_counter() - t0
        print(f"gradwise landscape (spiral, everything): {cli:.2f} s", flush=True)
        if not args.skip_mnist and (MNIST / "train-images-idx3-ubyte.gz").exists():
            mnist_dir, _ = train(load_config(ROOT / "examples" / "mnist.toml",
                                              ["training.epochs=3"]),
                                 out=Path(tmp) / "mnist", verbose=0)
            mnist = load_run(mnist_dir)
            X = np.concatenate([mnist.X_train, mnist.X_val])
            y = np.concatenate([mnist.y_train, mnist.y_val])
            rows += _measure("MNIST 784-256-256-10", mnist, X, y)
    info = blas_info()
    body = (
        "51 x 51 grid of loss and accuracy along two filter-normalized random directions "
        "(`gradwise.lab.loss_surface`, best of 2), measured by `python -m benchmarks.landscape "
        f"--write` on {os.cpu_count()} CPU cores (OpenBLAS {info.get('kernel')} kernel, "
        "float32). The spiral model is "
        "`gradwise train`'s default (2-64-64-1, 800 training points); the MNIST model is "
        "`examples/mnist.toml` (trained 3 epochs; the timing does not depend on the weights) "
        "evaluated on all 4,000 training digits. Each point's first layer is a weighted sum of "
        "three precomputed products `X @ W`, later layers one matrix product per point.\n\n"
        + table(["model", "samples", "parameters", "threads", "51 x 51 grid", "per point"], rows)
        + f"\n\nThe whole `gradwise landscape RUN_DIR` on the default spiral run (1D "
        f"interpolation, 1D random, 2D random and 2D PCA grids, all figures): {cli:.1f} s. "
        f"Load average (1 min) at the end: {os.getloadavg()[0]:.2f}.\n"
    )
    print(body)
    if args.write:
        from .__main__ import write_results

        write_results({"## Loss landscape": body})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
