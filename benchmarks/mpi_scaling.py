"""Data-parallel scaling on this machine, and a model of it beyond: ``python -m
benchmarks.mpi_scaling`` runs ``mpiexec -n 1`` and ``-n 2`` for two networks and prints a
markdown report.

Networks (float32, Adam, cross-entropy): 784-1000-1000-10 on the MNIST subset
(``shared/data/mnist-5k``, global batch 128) and 4096-4096-4096-10 on synthetic data (global
batch 256). Three configurations: one rank with one BLAS thread (the per-core baseline the
model uses), one rank with 2 BLAS threads (the whole machine in one process), two ranks with one
BLAS thread each.

Per step, after a barrier (not timed), each rank times ``compute`` (forward, loss, backward on its
shard), ``allreduce`` (:func:`gradwise.distributed.allreduce_gradients`, including any wait for the
slower rank) and ``update`` (``optimizer.step()``, the same on every rank); medians over the
steps, of rank 0. ``pure all-reduce`` is ``MPI_Allreduce`` of the gradient bucket alone after a
barrier, and ``latency`` that of one float32 (``alpha`` = half of it at N = 2). ``epoch`` is one
``gw.fit`` epoch (MNIST: the subset's training digits; synthetic: 1,024 rows).

The model of a step on N ranks (ring all-reduce; Patarasuk and Yuan 2009; Thakur et al. 2005):

    t(N) = compute(B) / N + update + 2 (N - 1) / N * S / bw + 2 (N - 1) * alpha

``S`` the gradient bytes, ``bw`` the link's bandwidth, ``alpha`` the latency of one of the ring's
2 (N - 1) messages. ``compute`` and ``update`` come from the one-rank, one-thread run; ``alpha``
of this machine's shared memory from the one-float all-reduce and ``bw`` from the gradient's,
``bw = S / (t - 2 alpha)`` at N = 2; the model is checked against the measured two-rank step.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

NETS = {"mnist": ([784, 1000, 1000, 10], 128), "big": ([4096, 4096, 4096, 10], 256)}
STEPS = {"mnist": 30, "big": 6}


def _median(xs: list[float]) -> float:
    return float(np.median(xs))


def worker(net: str, out: str, threads: int) -> None:
    """One rank's measurements; rank 0 writes them to ``out`` as JSON."""
    import gradwise as gw
    from gradwise import distributed, nn, optim
    from gradwise.autograd import Tensor
    from gradwise.threads import set_num_threads
    from gradwise.training.loop import fit

    from .fit_epoch import MNIST_DIR

    w = distributed.world()
    comm = w.comm
    set_num_threads(threads)
    sizes, B = NETS[net]
    gw.manual_seed(0)
    if net == "mnist":
        X, y = gw.data.mnist(MNIST_DIR, train=True)
    else:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((1024, sizes[0])).astype(np.float32)
        y = rng.integers(0, 10, 1024)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers.append(nn.Dense(a, b, activation="relu"))
    layers.append(nn.Dense(sizes[-2], sizes[-1]))
    model = nn.Sequential(*layers)
    loss = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    distributed.broadcast_parameters(model)
    lo, hi = distributed.shard_bounds(B, w.rank, w.size)
    xb, yb = X[lo:hi], y[lo:hi]
    barrier = comm.Barrier if comm is not None else (lambda: None)
    times: dict[str, list[float]] = {"compute": [], "allreduce": [], "update": [], "step": []}
    for k in range(STEPS[net] + 2):
        barrier()
        t0 = time.perf_counter()
        value = loss(model(Tensor(xb)), yb)
        opt.zero_grad()
        value.backward()
        t1 = time.perf_counter()
        distributed.allreduce_gradients(opt, (hi - lo) / B)
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if k >= 2:  # two warm-up steps
            for name, t in zip(times, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
                times[name].append(t)
    grad = np.concatenate([p.grad.ravel() for p in model.parameters()])
    pure: list[float] = []
    tiny: list[float] = []
    if comm is not None:
        from mpi4py import MPI

        one = np.zeros(1, dtype=np.float32)
        for _ in range(STEPS[net]):
            barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, grad, op=MPI.SUM)
            pure.append(time.perf_counter() - t0)
        for _ in range(200):
            barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, one, op=MPI.SUM)
            tiny.append(time.perf_counter() - t0)
    barrier()
    t0 = time.perf_counter()
    fit(model, loss, opt, (X, y), epochs=1, batch_size=B, verbose=0, seed=0)
    barrier()
    epoch = time.perf_counter() - t0
    if w.rank == 0:
        result = {k: _median(v) for k, v in times.items()}
        result.update(ranks=w.size, threads=threads, net=net, batch=B, bytes=int(grad.nbytes),
                      params=int(grad.size), epoch=epoch, samples=len(X),
                      pure_allreduce=_median(pure) if pure else 0.0,
                      latency=_median(tiny) if tiny else 0.0,
                      latency_min=min(tiny) if tiny else 0.0)
        Path(out).write_text(json.dumps(result))


def _measure(launcher: str, net: str, n: int, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        env = dict(os.environ)
        root = Path(__file__).resolve().parents[1]
        env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root),
                                             *filter(None, [env.get("PYTHONPATH")])])
        subprocess.run([launcher, "-n", str(n), sys.executable, "-m", "benchmarks.mpi_scaling",
                        "--worker", net, str(out), str(threads)], check=True, env=env,
                       cwd=root)
        return dict(json.loads(out.read_text()))


def _fit_link(r2: list[dict[str, Any]]) -> tuple[float, float]:
    """``bw`` (bytes/s) and ``alpha`` (s) from ``t = S / bw + 2 alpha`` at N = 2: alpha from
    the one-float all-reduce (the larger of the runs' medians: the pessimistic value on this
    shared machine), bw from the largest gradient's all-reduce."""
    alpha = max(r["latency"] for r in r2) / 2
    big = max(r2, key=lambda r: r["bytes"])
    return big["bytes"] / (big["pure_allreduce"] - 2 * alpha), alpha


def _comm(n: int, nbytes: float, bw: float, alpha: float) -> float:
    return 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * alpha


def report(results: list[dict[str, Any]], load: tuple[str, str]) -> str:
    """The markdown section: measurements, fitted link, model, projections."""
    lines = [f"Load average (1, 5, 15 min) before: {load[0]}; after: {load[1]}.", "",
             "| network | ranks x BLAS threads | batch per rank | step ms | compute ms | "
             "all-reduce ms (share) | update ms | pure all-reduce ms | epoch s | gradient MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        name = "-".join(map(str, NETS[r["net"]][0]))
        ar = r["allreduce"]
        lines.append(
            f"| {name} | {r['ranks']} x {r['threads']} | {r['batch'] // r['ranks']} | "
            f"{r['step'] * 1e3:.1f} | "
            f"{r['compute'] * 1e3:.1f} | {ar * 1e3:.1f} ({ar / r['step']:.0%}) | "
            f"{r['update'] * 1e3:.1f} | {r['pure_allreduce'] * 1e3:.1f} | {r['epoch']:.2f} "
            f"({r['samples']} samples) | {r['bytes'] / 1e6:.1f} |")
    one = {r["net"]: r for r in results if r["ranks"] == 1 and r["threads"] == 1}
    two = [r for r in results if r["ranks"] == 2]
    bw, alpha = _fit_link(two)
    lines += ["", f"Fitted to the pure all-reduce at N = 2: shared-memory bandwidth bw = "
              f"{bw / 1e9:.2f} GB/s (from the {max(r['bytes'] for r in two) / 1e6:.0f} MB "
              f"gradient), alpha = {alpha * 1e6:.1f} us per message (half the slower of the "
              "runs' median one-float all-reduces: "
              + ", ".join(f"{r['latency'] * 1e6:.1f} us" for r in two) + ").", ""]
    lines.append("| network | measured 2-rank step ms | model ms (compute/2 + update + "
                 "all-reduce, alpha of this run) |")
    lines.append("|---|---|---|")
    for r in two:
        o = one[r["net"]]
        model = o["compute"] / 2 + o["update"] + _comm(2, r["bytes"], bw, r["latency"] / 2)
        lines.append(f"| {'-'.join(map(str, NETS[r['net']][0]))} | {r['step'] * 1e3:.1f} | "
                     f"{model * 1e3:.1f} |")
    alpha_min = min(r["latency_min"] for r in two) / 2
    lines += ["", "Projection over network links, each rank computing like one core here: weak "
              "scaling at the measured batch per rank (speed-up = N t(1) / t(N), each rank "
              "keeps its batch) and strong scaling at the measured global batch (speed-up = "
              "t(1) / t(N), B / N rows per rank; '-' when N > B). alpha: the fitted "
              f"({alpha * 1e6:.1f} us) and half the fastest one-float all-reduce seen "
              f"({alpha_min * 1e6:.1f} us). Break-even: the batch per rank below which N ranks "
              "are no faster than one process on the same global batch, b = comm / (c (N - 1)); "
              "comm = compute: the batch per rank below which the all-reduce takes longer than "
              "the computation (under 50% efficiency).", "",
              "| network | link | alpha us | N = 8 weak / strong | N = 64 weak / strong | "
              "N = 512 weak / strong | break-even batch per rank at N = 512 | comm = compute "
              "at N = 512 |",
              "|---|---|---|---|---|---|---|---|"]
    for (net, o), a, gbit in itertools.product(one.items(), (alpha, alpha_min), (10, 100)):
        S, B = o["bytes"], o["batch"]
        c = o["compute"] / B  # seconds per sample
        t1 = o["compute"] + o["update"]
        link = gbit * 1e9 / 8
        cells = []
        for n in (8, 64, 512):
            comm = _comm(n, S, link, a)
            weak = n * t1 / (t1 + comm)
            strong = t1 / (c * B / n + o["update"] + comm) if n <= B else None
            cells.append(f"{weak:.1f} / " + ("-" if strong is None else f"{strong:.2f}"))
        comm512 = _comm(512, S, link, a)
        # pays when c b + update + comm < c N b + update: b > comm / (c (N - 1))
        cells.append(f"{comm512 / (c * 511):.2f}")
        cells.append(f"{comm512 / c:.0f}")
        lines.append(f"| {'-'.join(map(str, NETS[net][0]))} | {gbit} Gbit/s | {a * 1e6:.1f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Inputs: compute per sample c = compute(B) / B and update from the one-rank "
              "run; S = gradient bytes (float32); formula in `benchmarks/mpi_scaling.py`."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("NET", "OUT", "THREADS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--mpiexec", default=str(Path(sys.executable).parent / "mpiexec"))
    parser.add_argument("--report", metavar="JSON", help="print the report of measurements "
                        "saved from an earlier run's JSON output, measuring nothing")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        print(report(saved["results"], tuple(saved["load"])))
        return
    before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = [_measure(args.mpiexec, net, n, threads) for net in NETS
               for n, threads in ((1, 1), (1, 2), (2, 1))]
    after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(json.dumps({"results": results, "load": [before, after]}))
    print(report(results, (before, after)))


if __name__ == "__main__":
    main()
