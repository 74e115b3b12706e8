"""Shared pieces of the benchmarks: interleaved timing, the machine description, the sgemm peak,
and the benchmark networks (DESIGN.md's performance model: overhead-bound to GEMM-bound) built
identically in gradwise and PyTorch."""

from __future__ import annotations

import ctypes
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from gradwise.threads import openblas

THREADS = 2
PAUSE = 0.3  # seconds between timed blocks, longer than the BLAS threads' spin-wait


def try_import_torch() -> Any:
    """PyTorch limited to :data:`THREADS` threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


def blas_info() -> dict[str, Any]:
    """The OpenBLAS kernel NumPy runs (what threadpoolctl would report) and its thread count."""
    lib = openblas()
    info: dict[str, Any] = {"coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
                            "l2_size_env": os.environ.get("OPENBLAS_L2_SIZE")}
    if lib is None:
        return info
    for suffix in ("64_", ""):
        corename = getattr(lib, f"scipy_openblas_get_corename{suffix}", None)
        threads = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
        config = getattr(lib, f"scipy_openblas_get_config{suffix}", None)
        if corename is not None:
            corename.restype = ctypes.c_char_p
            config.restype = ctypes.c_char_p
            info.update(kernel=corename().decode(), threads=threads(),
                        config=config().decode())
            break
    return info


def update_path() -> str:
    """Which optimizer update gradwise runs: the fused numba kernels or NumPy passes."""
    from importlib.metadata import version

    from gradwise.optim import fused

    if fused.enabled():
        return f"one fused pass (numba {version('numba')}, `gradwise[fast]`)"
    return "NumPy passes (numba not installed or GRADWISE_FUSED=0)"


def machine() -> dict[str, str]:
    """CPU model, cores, and the versions that matter for the numbers."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch = try_import_torch()
    blas = blas_info()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas.get("config", "unknown"),
        "blas kernel": f"{blas.get('kernel', 'unknown')} ({blas.get('threads', '?')} threads; "
                       f"OPENBLAS_CORETYPE={blas['coretype_env']}, "
                       f"OPENBLAS_L2_SIZE={blas['l2_size_env']})",
        "torch": torch.__version__ if torch is not None else "not installed",
        "torch threads": str(torch.get_num_threads()) if torch is not None else "-",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load average at the start (1 min)": f"{os.getloadavg()[0]:.2f}",
    }


def time_per_call(fn: Callable[[], Any], reps: int, sync: Callable[[], Any] | None = None) -> float:
    """Seconds per call of ``fn`` over one block of ``reps`` calls."""
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    if sync is not None:
        sync()
    return (time.perf_counter() - t0) / reps


def blocks(fns: dict[str, Callable[[], Any]], reps: int, rounds: int, warmup: int = 2,
           sync: Callable[[], Any] | None = None,
           pause: float = PAUSE) -> dict[str, list[float]]:
    """Seconds per call of each function in each of ``rounds`` alternating blocks of ``reps``
    calls, after warm-up.

    Each block starts ``pause`` seconds after the previous one ended: OpenBLAS's and OpenMP's
    idle worker threads keep spinning on the cores for a while after a parallel call, and would
    otherwise slow down whichever framework runs next.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
        if sync is not None:
            sync()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(pause)
            samples[name].append(time_per_call(fn, reps, sync))
    return samples


def interleaved(fns: dict[str, Callable[[], Any]], reps: int, rounds: int, warmup: int = 2,
                sync: Callable[[], Any] | None = None, pause: float = PAUSE) -> dict[str, float]:
    """Median seconds per call of each function over the :func:`blocks`."""
    samples = blocks(fns, reps, rounds, warmup, sync, pause)
    return {k: statistics.median(v) for k, v in samples.items()}


def sgemm_peak(n: int = 2048, reps: int = 7) -> float:
    """The float32 matrix-product rate of NumPy (GFLOP/s, best of ``reps``) for n x n operands."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = min(time_per_call(lambda: np.matmul(a, b, out=out), 1) for _ in range(reps))
    return 2 * n**3 / best / 1e9


# --- the benchmark networks ---------------------------------------------------------------------

@dataclass(frozen=True)
class Net:
    """A dense network of ReLU hidden layers; the output is sigmoid+BCE or logits+cross-entropy."""

    name: str
    sizes: tuple[int, ...]
    loss: str  # "bce" or "cross_entropy"
    batch: int

    @property
    def label(self) -> str:
        return "-".join(map(str, self.sizes)) + (", BCE" if self.loss == "bce" else ", CE")

    @property
    def params(self) -> int:
        return sum(a * b + b for a, b in pairwise(self.sizes))

    @property
    def flops(self) -> int:
        """Floating-point operations of one training step: 6 x parameters x batch."""
        return 6 * self.params * self.batch


NETS = {
    "tiny": Net("tiny", (2, 16, 16, 1), "bce", 32),
    "small": Net("small", (784, 128, 10), "cross_entropy", 64),
    "medium": Net("medium", (784, 1000, 1000, 10), "cross_entropy", 128),
    "large": Net("large", (4096, 4096, 4096, 10), "cross_entropy", 512),
    "xlarge": Net("xlarge", (8192, 8192, 8192, 10), "cross_entropy", 512),
}


def batch_data(net: Net, xp: Any = np) -> tuple[Any, Any]:
    """A fixed random float32 mini-batch ``(X, y)`` for ``net`` (labels int64 or 0/1 floats)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((net.batch, net.sizes[0]), dtype=np.float32)
    if net.loss == "bce":
        y = (rng.random((net.batch, 1)) > 0.5).astype(np.float32)
    else:
        y = rng.integers(0, net.sizes[-1], net.batch)
    return xp.asarray(x), xp.asarray(y)


def gradwise_parts(net: Net, device: str = "cpu") -> tuple[Any, Any, Any, Any]:
    """The benchmark's gradwise ``net``: the model (ReLU hidden layers, a sigmoid output for
    BCE, seeded), its loss function and the fixed batch ``(x, y)`` on ``device``."""
    import gradwise as gw
    from gradwise import functional as F
    from gradwise import nn

    gw.manual_seed(0)
    xp = gw.backend.xp_for(gw.backend.normalize_device(device))
    layers = []
    for i, (a, b) in enumerate(pairwise(net.sizes)):
        last = i == len(net.sizes) - 2
        act = ("sigmoid" if net.loss == "bce" else None) if last else "relu"
        layers.append(nn.Dense(a, b, activation=act, device=device))
    loss_fn = F.binary_cross_entropy if net.loss == "bce" else F.cross_entropy
    x, y = batch_data(net, xp)
    return nn.Sequential(*layers), loss_fn, x, y


def gradwise_step(net: Net, device: str = "cpu", optimizer: bool = True) -> Callable[[], None]:
    """One gradwise training step on a fixed batch: zero grads, forward, loss, backward, Adam."""
    import gradwise as gw

    model, loss_fn, x, y = gradwise_parts(net, device)
    params = list(model.parameters())
    opt = gw.optim.Adam(params, lr=1e-3) if optimizer else None
    return _step(lambda: loss_fn(model(gw.Tensor(x)), y), params, opt)


def gradwise_train_step(net: Net) -> tuple[Callable[[Any, Any], Any], Any, Any]:
    """The whole gradwise step as a function of the batch, ``step(x, y)`` (zero grads, forward,
    loss, backward, Adam; returns the loss), for :func:`gradwise.compile`, and the batch."""
    import gradwise as gw

    model, loss_fn, x, y = gradwise_parts(net)
    opt = gw.optim.Adam(list(model.parameters()), lr=1e-3)

    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        loss = loss_fn(model(gw.Tensor(xb)), yb)
        loss.backward()
        opt.step()
        return loss

    return step, x, y


def gradwise_compiled_step(net: Net) -> Callable[[], None]:
    """:func:`gradwise_step` under ``gw.compile``: the same model, data and Adam, the step
    recorded on its second call and replayed after (``x`` and ``y`` passed in, as to JAX)."""
    import gradwise as gw

    step, x, y = gradwise_train_step(net)
    compiled = gw.compile(step)
    return lambda: compiled(x, y)


def torch_step(net: Net, device: str = "cpu", optimizer: bool = True) -> Callable[[], None]:
    """The same step in PyTorch eager mode (``torch.optim.Adam`` with its defaults)."""
    torch = try_import_torch()
    torch.manual_seed(0)
    layers: list[Any] = []
    for i, (a, b) in enumerate(pairwise(net.sizes)):
        layers.append(torch.nn.Linear(a, b))
        last = i == len(net.sizes) - 2
        if not last:
            layers.append(torch.nn.ReLU())
        elif net.loss == "bce":
            layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers).to(device)
    loss_fn = (torch.nn.functional.binary_cross_entropy if net.loss == "bce"
               else torch.nn.functional.cross_entropy)
    x, y = (torch.from_numpy(a).to(device) for a in batch_data(net))
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-3) if optimizer else None
    return _step(lambda: loss_fn(model(x), y), params, opt)


def _step(loss: Callable[[], Any], params: list[Any], opt: Any | None) -> Callable[[], None]:
    """A training step of either framework: clear the gradients, ``loss().backward()``, and the
    optimizer's update when there is an optimizer."""

    def step() -> None:
        if opt is not None:
            opt.zero_grad()
        else:
            for p in params:
                p.grad = None
        loss().backward()
        if opt is not None:
            opt.step()

    return step


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_time(seconds: float) -> str:
    if seconds >= 0.1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"
