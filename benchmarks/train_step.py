"""One training step (forward, loss, backward, Adam update), gradwise against PyTorch eager.

The networks, from overhead-bound to GEMM-bound: 2-16-16-1 with BCE at batch 32, 784-128-10 at 64,
784-1000-1000-10 at 128 and 4096-4096-4096-10 at 512 (cross-entropy), ReLU hidden layers,
float32. Both frameworks step on the same fixed batch; their blocks of steps alternate after a
warm-up, and each time is the median over the blocks. GFLOP/s counts 6 x parameters x batch per
step, against the best 2048 x 2048 float32 matrix product NumPy reaches in the same run. Peak
memory comes from :mod:`benchmarks.memory` (one process per framework and network).
"""

from __future__ import annotations

from typing import Any

from gradwise.threads import set_num_threads

from .common import (
    NETS,
    THREADS,
    fmt_time,
    gradwise_step,
    interleaved,
    sgemm_peak,
    table,
    torch_step,
    try_import_torch,
    update_path,
)
from .memory import peak_rss_mib

CPU_NETS = ("tiny", "small", "medium", "large")
GPU_NETS = ("medium", "large", "xlarge")
GOALS = {"tiny": 0.33, "small": 1.0, "medium": 1.0, "large": 1.0}
GPU_GOAL = 1.2  # on the medium and large networks
GPU_GOAL_NETS = ("medium", "large")
PEAK_GOAL = {"large": 0.75}
# (steps per block, blocks, memory-run steps) for a full and a --quick run
PLAN = {"tiny": (200, 15, 50), "small": (50, 11, 20), "medium": (5, 9, 5), "large": (1, 5, 3),
        "xlarge": (1, 5, 0)}
QUICK_PLAN = {"tiny": (100, 5, 20), "small": (20, 5, 10), "medium": (2, 5, 3), "large": (1, 3, 2),
              "xlarge": (1, 3, 0)}


def run_cpu(quick: bool = False, memory: bool = True) -> str:
    """Time every CPU network; print and return the Markdown report."""
    set_num_threads(THREADS)
    torch = try_import_torch()
    peak = sgemm_peak()
    print(f"float32 matmul peak (2048 x 2048, best of 7): {peak:.0f} GFLOP/s", flush=True)
    rows = []
    for name in CPU_NETS:
        net = NETS[name]
        reps, rounds, mem_steps = (QUICK_PLAN if quick else PLAN)[name]
        fns = {"gradwise": gradwise_step(net)}
        if torch is not None:
            fns["torch"] = torch_step(net)
        t = interleaved(fns, reps, rounds)
        fns.clear()
        mem = {k: peak_rss_mib(k, name, mem_steps, optimizer=True) if memory else None
               for k in ("gradwise", "torch") if k == "gradwise" or torch is not None}
        gflops = net.flops / t["gradwise"] / 1e9
        ratio = t["gradwise"] / t["torch"] if "torch" in t else None
        rows.append(_row(net, t, ratio, gflops, peak, mem, name))
        print(" | ".join(rows[-1]), flush=True)
    header = ["network", "batch", "gradwise/step", "PyTorch/step", "ratio (goal)", "GFLOP/s",
              "share of peak (goal)", "peak RSS gradwise", "peak RSS PyTorch", "memory goal"]
    return (
        "One training step (forward, loss, backward, Adam update), float32, "
        f"{THREADS} threads each; gradwise's Adam update: {update_path()}; "
        f"NumPy float32 matmul peak in this run: {peak:.0f} GFLOP/s (2048 x 2048, best of 7).\n\n"
        + table(header, rows) + "\n"
    )


def _row(net: Any, t: dict[str, float], ratio: float | None, gflops: float, peak: float,
         mem: dict[str, float | None], name: str) -> list[str]:
    goal = GOALS[name]
    share = gflops / peak
    share_goal = PEAK_GOAL.get(name)
    share_txt = f"{share:.0%}" + (
        f" (>= {share_goal:.0%}: {'met' if share >= share_goal else 'NOT met'})"
        if share_goal else "")
    ratio_txt = "-" if ratio is None else (
        f"{ratio:.2f} (<= {goal}: {'met' if ratio <= goal else 'NOT met'})")
    gw_mem, torch_mem = mem.get("gradwise"), mem.get("torch")
    mem_goal = "-" if gw_mem is None or torch_mem is None else (
        "met" if gw_mem <= torch_mem else "NOT met")
    return [net.label, str(net.batch), fmt_time(t["gradwise"]),
            fmt_time(t["torch"]) if "torch" in t else "-", ratio_txt, f"{gflops:.1f}", share_txt,
            "-" if gw_mem is None else f"{gw_mem:.1f} MiB",
            "-" if torch_mem is None else f"{torch_mem:.1f} MiB", mem_goal]


def run_cuda(quick: bool = False) -> str | None:
    """Time the medium, large and 8192-wide networks on the GPU (CuPy against PyTorch CUDA).

    Returns None (after saying why) when CuPy, a GPU or PyTorch CUDA is missing.
    """
    from gradwise import backend

    torch = try_import_torch()
    if not backend.cuda_available() or torch is None or not torch.cuda.is_available():
        print("CUDA is unavailable (needs CuPy with a GPU and PyTorch with CUDA): "
              "GPU benchmark skipped")
        return None
    import cupy

    def sync() -> None:
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()

    rows = []
    for name in GPU_NETS:
        net = NETS[name]
        reps, rounds, _ = (QUICK_PLAN if quick else PLAN)[name]
        reps *= 10
        fns = {"gradwise": gradwise_step(net, "cuda"), "torch": torch_step(net, "cuda")}
        t = interleaved(fns, reps, rounds, sync=sync)
        fns.clear()
        ratio = t["gradwise"] / t["torch"]
        verdict = "met" if ratio <= GPU_GOAL else "NOT met"
        rows.append([net.label, str(net.batch), fmt_time(t["gradwise"]), fmt_time(t["torch"]),
                     f"{ratio:.2f}" + (f" (<= {GPU_GOAL}: {verdict})" if name in GPU_GOAL_NETS
                                       else " (no goal)"),
                     f"{net.flops / t['gradwise'] / 1e9:.0f}"])
        print(" | ".join(rows[-1]), flush=True)
    return (f"One training step on {torch.cuda.get_device_name()} (CuPy {cupy.__version__}, "
            f"PyTorch CUDA {torch.version.cuda}), float32, both devices synchronized around "
            "each timed block.\n\n"
            + table(["network", "batch", "gradwise/step", "PyTorch CUDA/step", "ratio (goal)",
                     "gradwise GFLOP/s"], rows) + "\n")
