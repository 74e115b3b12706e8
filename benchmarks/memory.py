"""Peak memory of a training loop, one framework per process.

Run as ``python -m benchmarks.memory {gradwise|torch} NET STEPS [--no-optimizer]``; prints the
peak resident set size reached while building the model and optimizer and running ``STEPS``
training steps, minus the resident set size just before, in MiB. The baseline is read after the
imports and one warm-up training step of a 512-512-1 network in that framework, so the fixed
costs of either runtime (the BLAS thread workspace, the autograd engine's and the optimizer's
first-use set-up) are not counted: what remains is what the network costs. Measuring each
framework in its own process compares the memory the operating system actually gave each one
(NumPy's allocations and PyTorch's caching allocator alike), which ``tracemalloc`` (NumPy only)
cannot. The peak is ``VmHWM`` from ``/proc/self/status``, reset after the warm-up through
``/proc/self/clear_refs`` (Linux); ``getrusage``'s ``ru_maxrss`` cannot be reset, and Linux even
carries the parent's high-water mark into it across ``fork`` and ``exec``.

:func:`peak_rss_mib` runs both frameworks with glibc's mmap threshold fixed at its default of
128 KiB (``MALLOC_MMAP_THRESHOLD_``). Left dynamic, glibc raises the threshold after the warm-up
frees a large block, and whether the network's arrays then reuse the warm-up's freed heap
depends on the sizes the warm-up happened to free: on 784-128-10 that moved gradwise's figure
between 0.1 and 1.5 MiB and PyTorch's between 0.1 and 1.7 MiB with no change in what either
allocates. Fixed, every array of 128 KiB or more is its own mapping, returned on free, and the
figures repeat to 0.1 MiB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from gradwise.threads import set_num_threads

from .common import NETS, THREADS, Net, gradwise_step, torch_step

ROOT = Path(__file__).resolve().parents[1]


def _status_kib(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1])


def measure(framework: str, net_name: str, steps: int, optimizer: bool) -> float:
    """Peak RSS growth in MiB of ``steps`` training steps of ``net_name`` in this process."""
    if framework == "gradwise":
        set_num_threads(THREADS)
    make = gradwise_step if framework == "gradwise" else torch_step
    warm_net = Net("warm-up", (512, 512, 1), NETS[net_name].loss, 512)
    make(warm_net, optimizer=optimizer)()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set size
    base = _status_kib("VmRSS")
    step = make(NETS[net_name], optimizer=optimizer)
    for _ in range(steps):
        step()
    return (_status_kib("VmHWM") - base) / 1024


def peak_rss_mib(framework: str, net_name: str, steps: int, optimizer: bool) -> float:
    """Run :func:`measure` in a fresh interpreter and return its result."""
    cmd = [sys.executable, "-m", "benchmarks.memory", framework, net_name, str(steps)]
    if not optimizer:
        cmd.append("--no-optimizer")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("framework", choices=["gradwise", "torch"])
    parser.add_argument("net", choices=sorted(NETS))
    parser.add_argument("steps", type=int)
    parser.add_argument("--no-optimizer", action="store_true")
    args = parser.parse_args()
    print(f"{measure(args.framework, args.net, args.steps, not args.no_optimizer):.1f}")


if __name__ == "__main__":
    main()
