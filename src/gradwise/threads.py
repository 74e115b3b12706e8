"""How many threads gradwise's CPU work runs on, chosen by the cores that are actually free.

gradwise's CPU time goes to NumPy's matrix products, which OpenBLAS runs on a pool of threads
(the rest, elementwise NumPy and the fused optimizer kernels, runs on the calling thread).
OpenBLAS starts one thread per core and its idle threads keep spinning on the cores for a while
after each product. On a machine that is doing something else that is the worst choice: on a
2-core machine, 784-1000-1000-10 beside a second training, both with a thread per core, measured
12.8 times its quiet one-thread step; with this policy, at most 1.34 times in every regime
measured (``benchmarks/RESULTS.md``, "Training step on a busy machine").

The policy (``set_num_threads``/``get_num_threads``, as ``torch.set_num_threads``):

- ``"auto"`` (the default): ``n = clamp(round(cores - others), 1, cap)`` (see :func:`choose`),
  re-evaluated at most every :data:`INTERVAL` seconds by the training loop (once a step)
  on the main thread (a clock read when nothing is due),
  where ``cores`` is the number of cores this process may run on (``os.sched_getaffinity``),
  ``others`` the cores that *other* processes kept busy since the last evaluation (the machine's
  busy time from ``/proc/stat``, less this process's own CPU time, over the wall time), and
  ``cap`` is ``cores`` divided among the gradwise processes of one MPI job on this host (see
  :func:`share_cores`) and limited by ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` when the
  user set them. Two trainings in auto mode settle on one thread each on a 2-core machine, and
  a training alone takes every core again within a second of the other ending.
- an integer ``n``: exactly ``n`` threads, never changed (also ``GRADWISE_NUM_THREADS=n``).
- ``"follow"``: auto mode that follows the load in seeded runs too (also
  ``GRADWISE_NUM_THREADS=follow``), giving up their reproducibility across loads.

**Seeded runs.** OpenBLAS may compute a product differently at different thread counts (on
some kernels it splits a sum among threads, or picks another blocking): then a count that
follows the load would make a seeded run's weights depend on what else the machine was doing.
So a seeded ``fit`` in auto mode (see :func:`for_run`) first probes its own products (one
forward and backward of its full and its partial last batch, and the validation batches, at
every count ``1..cap``): where they are bit-identical at every count, the run follows the load;
otherwise it holds ``cap`` threads (the cores it may use, not the load) for the whole run, and
its checkpoints record that count so that a resume holds the same. Either way the same seed
gives the same bits whatever the load. The count is re-evaluated by the training loop
(:func:`adapt`, once per step), not by ``Tensor.backward``: a loop of one's own runs at the
count it finds unless it calls :func:`adapt`.

Without ``/proc/stat`` (not Linux) auto mode uses ``cap`` threads. ``/proc/stat`` counts every
core of the machine: a process pinned to some cores sees the load of the others as well, which
errs toward fewer threads. Container CPU quotas (cgroup ``cpu.max``) are not read.

OpenBLAS is reached through its C API (``openblas_set_num_threads``) in the library NumPy ships
(``numpy.libs/libscipy_openblas*``), as threadpoolctl does; a call costs a microsecond, so the
count can follow the load step by step. With another BLAS (MKL, Accelerate) the thread count of
the matrix products is left to it.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

import numpy as np

__all__ = ["INTERVAL", "available_cores", "bitwise_invariant", "for_run", "get_num_threads",
           "limit", "openblas", "openblas_threads", "set_num_threads", "share_cores"]

#: seconds between two evaluations of the free cores in auto mode
INTERVAL = 0.5


@cache
def openblas() -> Any:
    """NumPy's bundled OpenBLAS (scipy-openblas), opened with ctypes, or None."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                  "libscipy_openblas*.so*"))
    return ctypes.CDLL(libs[0]) if libs else None


@cache
def _blas_api() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    lib = openblas()
    if lib is None:
        return None
    for suffix in ("64_", ""):
        get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
        set_ = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
        if get is not None and set_ is not None:
            return get, set_
    return None


def openblas_threads() -> int | None:
    """The number of threads OpenBLAS runs matrix products on now (None without OpenBLAS)."""
    api = _blas_api()
    return None if api is None else int(api[0]())


def _env_int(*names: str) -> int | None:
    for name in names:
        text = os.environ.get(name, "").strip()
        if text:
            try:
                value = int(text)
            except ValueError:
                continue
            if value >= 1:
                return value
    return None


def available_cores() -> int:
    """The number of cores this process may run on (``os.sched_getaffinity``; the machine's
    count where that does not exist)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class _Policy:
    """The process's thread policy and what auto mode last measured."""

    def __init__(self) -> None:
        self.fixed: int | None = None  # set_num_threads(n); None in auto mode
        self.follow = False  # "follow": seeded runs follow the load too
        self.pinned: list[int] = []  # limit(n) blocks, innermost last
        self.ranks_here = 1  # gradwise processes of one MPI job on this host
        self.current = 0  # the count last applied (0: not yet)
        self.due = 0.0  # monotonic time of the next evaluation
        self.last: tuple[float, float, float] | None = None  # (wall, machine busy s, own cpu s)

    def cap(self) -> int:
        cap = max(1, available_cores() // self.ranks_here)
        user = _env_int("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
        return min(cap, user) if user is not None else cap

    def apply(self, n: int) -> None:
        if n == self.current:
            return
        api = _blas_api()
        if api is not None:
            api[1](n)
        self.current = n


_policy = _Policy()
_MAIN = threading.main_thread().ident
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores of the machine spent busy since boot (``/proc/stat``), or None."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu" or len(fields) < 8:
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    v = [int(x) for x in fields[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / _TICKS


def _sample() -> tuple[float, float, float] | None:
    busy = _machine_busy_seconds()
    if busy is None:
        return None
    return time.monotonic(), busy, time.process_time()


def others_busy(before: tuple[float, float, float],
                after: tuple[float, float, float]) -> float:
    """Cores kept busy by other processes between two samples ``(wall, machine busy, own cpu)``:
    ``(d busy - d own) / d wall``, at least 0."""
    wall = after[0] - before[0]
    if wall <= 0:
        return 0.0
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall)


def choose(cores: int, others: float, cap: int, current: int = 0) -> int:
    """Auto mode's thread count: the cores left by the others, ``cores - others``, rounded,
    between 1 and ``cap``. Going up from ``current`` needs a quarter core more than the rounding
    (``cores - others >= n - 0.25``), so that a neighbour's brief pause does not bring back
    the oversubscription it just ended."""
    free = cores - others
    n = int(free + 0.5)
    if current and n > current:
        n = max(current, int(free + 0.25))
    return max(1, min(cap, n))


def adapt() -> None:
    """Re-evaluate auto mode's thread count if :data:`INTERVAL` has passed (called by the
    training loop once per step; a clock read otherwise). Only the main thread changes the count:
    OpenBLAS's thread count must not change under another thread's matrix product."""
    p = _policy
    now = time.monotonic()
    if now < p.due or p.fixed is not None or p.pinned or threading.get_ident() != _MAIN:
        return
    p.due = now + INTERVAL
    sample = _sample()
    if sample is None:
        p.apply(p.cap())
        return
    before, p.last = p.last, sample
    if before is None:  # the first step: nothing measured yet, every allowed core
        p.apply(p.cap())
        return
    p.apply(choose(available_cores(), others_busy(before, sample), p.cap(), p.current))


def set_num_threads(n: int | str) -> None:
    """Run gradwise's matrix products (NumPy's OpenBLAS) on ``n`` threads, or
    ``"auto"``: as many as there are free cores, followed as the load changes (the default;
    a seeded run holds one count unless its products are the same at every count, see
    :func:`for_run`), or ``"follow"``: auto, and seeded runs follow the load too."""
    if n in ("auto", "follow"):
        _policy.fixed = None
        _policy.follow = n == "follow"
        _policy.due = 0.0
        _policy.last = None
        adapt()
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, 'auto' or 'follow', "
                         f"got {n!r}")
    _policy.fixed = n
    if not _policy.pinned:
        _policy.apply(n)


def get_num_threads() -> int:
    """The number of threads gradwise's matrix products run on now."""
    if _policy.pinned:
        return _policy.pinned[-1]
    if _policy.fixed is not None:
        return _policy.fixed
    if _policy.current == 0:
        adapt()
    return _policy.current or _policy.cap()


@contextlib.contextmanager
def limit(n: int) -> Iterator[None]:
    """Within the block, exactly ``n`` threads (auto mode pauses); the previous count after.

    For code that runs its own threads, each doing matrix products (the lab's landscape
    evaluator): ``with limit(1):`` gives each product one thread."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"limit: n must be a positive integer, got {n!r}")
    before = get_num_threads()
    _policy.pinned.append(n)
    _policy.apply(n)
    try:
        yield
    finally:
        _policy.pinned.pop()
        _policy.apply(_policy.pinned[-1] if _policy.pinned else
                      _policy.fixed if _policy.fixed is not None else before)


def share_cores(processes_here: int) -> None:
    """Divide this host's cores among ``processes_here`` gradwise processes (the ranks of one
    MPI job on this host): auto mode then uses at most ``cores // processes_here`` threads, so
    the ranks never oversubscribe the cores whatever else runs."""
    if processes_here < 1:
        raise ValueError(f"share_cores: processes_here must be at least 1, got {processes_here}")
    _policy.ranks_here = processes_here
    _policy.due = 0.0
    adapt()


def bitwise_invariant(compute: Callable[[], Sequence[Any]], counts: Sequence[int]) -> bool:
    """Whether ``compute()`` returns bit-identical arrays at every thread count in ``counts``
    (each run inside :func:`limit`); stops at the first difference."""
    reference: list[np.ndarray] | None = None
    for n in counts:
        with limit(n):
            got = [np.array(a, copy=True) for a in compute()]
        if reference is None:
            reference = got
        elif len(got) != len(reference) or any(
                a.shape != b.shape or a.dtype != b.dtype or a.tobytes() != b.tobytes()
                for a, b in zip(got, reference, strict=True)):
            return False
    return True


@contextlib.contextmanager
def for_run(seeded: bool, probe: Callable[[], Sequence[Any]] | None = None,
            recorded: int | None = None) -> Iterator[int | None]:
    """The thread policy of one training run; yields the count the run holds, or None when it
    follows the load.

    - a count the user fixed (:func:`set_num_threads`, ``GRADWISE_NUM_THREADS``, a
      :func:`limit` block): that count, as always;
    - auto mode, a run without a seed, or ``"follow"``: the load is followed (None);
    - auto mode and a seeded run: ``recorded`` (the count a resumed run's checkpoint holds)
      when given; else, when ``probe()`` (the run's own products) gives bit-identical arrays
      at every count ``1..cap``, the load is followed; else ``cap`` threads, held until the
      block ends. ``cap`` depends on the cores the process may use and the user's
      ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``, never on the load, so that the same seed
      gives the same bits on a quiet and a busy machine.

    Off the main thread nothing changes the count (as in :func:`adapt`): None."""
    p = _policy
    if p.pinned or p.fixed is not None:
        yield get_num_threads()
        return
    if not seeded or p.follow or threading.get_ident() != _MAIN:  # only main changes it
        yield None
        return
    if recorded is None:
        cap = p.cap()
        if probe is not None and (cap == 1 or bitwise_invariant(probe, range(1, cap + 1))):
            yield None
            return
        recorded = cap
    with limit(recorded):
        yield recorded


def _from_environment() -> None:
    text = os.environ.get("GRADWISE_NUM_THREADS", "").strip()
    if not text or text == "auto":
        return
    if text == "follow":
        set_num_threads("follow")
        return
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"GRADWISE_NUM_THREADS must be a positive integer, 'auto' or "
                         f"'follow', got {text!r}") from None
    set_num_threads(n)


_from_environment()
