"""Data-parallel training over MPI ranks (mpi4py), the Horovod/DDP way, as a property of ``fit``.

Under ``mpiexec -n N`` every rank runs the same program. ``fit`` then trains one model on N ranks:

- rank 0's initial weights are broadcast to every rank;
- every rank draws the same order of the samples (the same seeded generator) and takes its shard
  of every *global* batch of ``B`` rows: rows ``[lo_r, hi_r)`` with ``hi_r - lo_r = n_r`` as
  equal as possible (``numpy.array_split``), so ``batch_size`` means the same for any N;
- each rank computes the gradient of the mean loss over its shard, ``g_r = (1/n_r) sum_i dJ_i``,
  and the ranks sum ``(n_r / B) g_r`` with one ``MPI_Allreduce`` per flat gradient bucket, so
  every rank holds ``(1/B) sum_i dJ_i``, the single-process gradient up to the order of the
  sums (Goyal et al. 2017, "Accurate, Large Minibatch SGD"; Sergeev and Del Balso 2018,
  "Horovod");
- dropout draws the mask of the whole global batch on every rank and keeps its own rows, so the
  masks (and the generator's state) are those of a single process;
- the training and validation loss and metrics are sums over the shards, all-reduced, so early
  stopping and schedules see the same numbers on every rank and decide alike;
- the ranks on one host divide its cores (:func:`gradwise.threads.share_cores`): each runs at
  most ``cores // ranks_on_host`` BLAS threads, so the ranks never oversubscribe the cores;
- only rank 0 prints and writes checkpoints; the checkpoint's generator states are the same on
  every rank and do not depend on N, so a run resumes with the same or another number of ranks.

The ranks fail together: before training they compare a SHA-256 of their config and data
(:func:`check_same`: a data file that differs between hosts, a config edited on one) and a
mismatch is one :class:`AgreedError` on every rank; an error on one rank alone makes the command
line abort the job (:func:`abort`, ``MPI_Abort``), so no rank waits in a collective forever; a
signal to one rank stops every rank and is recorded as that signal (:func:`any_signal`).

Without an MPI launcher nothing here imports mpi4py and ``world()`` is a single rank. Under a
launcher (``PMI_RANK``, ``OMPI_COMM_WORLD_RANK``, ... in the environment) without mpi4py, the
first call raises an error that says what to install.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import backend, threads
from .autograd import Tensor, no_grad, take_grad_slot
from .errors import RunError
from .nn.layers import Dropout
from .nn.module import Module

__all__ = ["AgreedError", "DataParallel", "ShardedLoader", "World", "abort", "allgather_arrays",
           "allreduce_gradients", "any_signal", "broadcast_parameters", "check_same",
           "data_parallel", "digest", "is_root", "job", "serial", "shard_bounds",
           "sum_across_ranks", "world"]

#: Environment variables that MPI launchers set in every process they start (MPICH/Hydra,
#: Open MPI, PMIx, MVAPICH).
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                      "PMIX_RANK", "MV2_COMM_WORLD_RANK")


@dataclass(frozen=True)
class World:
    """This process's ``rank`` among ``size`` processes, and the mpi4py communicator (None for
    a single process)."""

    rank: int
    size: int
    comm: Any = None


_detected: World | None = None
_stack: list[World] = []


def _detect() -> World:
    found = [(k, os.environ[k]) for k in LAUNCHER_VARIABLES if k in os.environ]
    if not found:
        return World(0, 1)
    try:
        from mpi4py import MPI
    except ImportError:
        k, v = found[0]
        raise RuntimeError(
            f"gradwise runs under an MPI launcher ({k}={v}) but mpi4py is not installed: "
            "pip install 'gradwise[mpi]' (mpi4py and MPICH; or mpi4py built against your MPI)"
        ) from None
    comm = MPI.COMM_WORLD
    if comm.Get_size() > 1:
        # the ranks on this host divide its cores: never more BLAS threads than cores
        local = comm.Split_type(MPI.COMM_TYPE_SHARED)
        threads.share_cores(local.Get_size())
        local.Free()
    return World(comm.Get_rank(), comm.Get_size(), comm if comm.Get_size() > 1 else None)


def world() -> World:
    """The processes this one trains with: the MPI world under a launcher, else one rank."""
    global _detected
    if _stack:
        return _stack[-1]
    if _detected is None:
        _detected = _detect()
    return _detected


def is_root() -> bool:
    """Whether this process is rank 0 (the one that prints and writes files)."""
    return world().rank == 0


@contextlib.contextmanager
def serial() -> Iterator[None]:
    """Within the block, this process trains alone as rank 0 of 1 (each rank of a sweep trains
    its own runs)."""
    _stack.append(World(0, 1))
    try:
        yield
    finally:
        _stack.pop()


def shard_bounds(rows: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of ``rows`` that ``rank`` of ``size`` takes: ``numpy.array_split``'s
    split, the first ``rows % size`` ranks one row more."""
    base, extra = divmod(rows, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


# --- collectives ----------------------------------------------------------------------------------

def _mpi() -> Any:
    from mpi4py import MPI

    return MPI


def _on_host(a: Any) -> tuple[np.ndarray, bool]:
    """A NumPy array to communicate, and whether it is a host copy of a device array."""
    if backend.device_of(a) == "cpu":
        return a, False
    return np.ascontiguousarray(backend.to_numpy(a)), True


def _back(dst: Any, host: np.ndarray) -> None:
    dst[...] = backend.to_device(host, backend.device_of(dst))


def broadcast_parameters(model: Module) -> None:
    """Overwrite every parameter with rank 0's values (``MPI_Bcast``, in place)."""
    comm = world().comm
    if comm is None:
        return
    for p in model.parameters():
        buf, copied = _on_host(p.data)
        comm.Bcast(buf, root=0)
        if copied:
            _back(p.data, buf)


def allreduce_gradients(optimizer: Any, weight: float | None = None) -> None:
    """Replace every gradient ``g`` by ``sum over ranks of weight_r g_r`` (``MPI_Allreduce``,
    sum), in place: one call per flat gradient bucket of the optimizer. ``weight`` defaults to
    ``1 / N`` (the mean over the ranks); ``fit`` passes ``n_r / B``, this rank's share of the
    global batch, so that uneven shards still give the batch's mean gradient.

    A parameter without a gradient counts as a zero gradient (a rank whose shard of a batch is
    empty has none), so every rank reduces the same spans. The spans are the optimizer's public
    :meth:`~gradwise.optim.Optimizer.grad_buckets`: contiguous gradient storage, usually one
    span per group and dtype.
    """
    comm = world().comm
    if comm is None:
        return
    MPI = _mpi()
    if weight is None:
        weight = 1.0 / comm.Get_size()
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is None:  # zeros in its gradient slot, so that the spans stay whole
                slot = take_grad_slot(p)
                if slot is not None:
                    slot.fill(0)
                else:
                    p.grad = backend.xp_of(p.data).zeros_like(p.data)
    for g in optimizer.grad_buckets():
        if weight != 1.0:
            g *= weight
        buf, copied = _on_host(g)
        if not buf.flags.c_contiguous:
            buf, copied = np.ascontiguousarray(buf), True
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        if copied:
            _back(g, buf)


def sum_across_ranks(values: np.ndarray) -> np.ndarray:
    """The element-wise float64 sum of ``values`` over the ranks, identical on every rank (the
    all-reduce's result is broadcast from rank 0, so decisions taken on it agree)."""
    out = np.array(values, dtype=np.float64)
    comm = world().comm
    if comm is None:
        return out
    MPI = _mpi()
    comm.Allreduce(MPI.IN_PLACE, out, op=MPI.SUM)
    comm.Bcast(out, root=0)
    return out


def allgather_arrays(array: np.ndarray) -> list[np.ndarray]:
    """Every rank's 1-D ``array`` (same dtype on all ranks, any lengths), in rank order, on
    every rank (``MPI_Allgatherv``)."""
    array = np.ascontiguousarray(array)
    comm = world().comm
    if comm is None:
        return [array]
    counts = np.zeros(comm.Get_size(), dtype=np.int64)
    comm.Allgather(np.array([array.size], dtype=np.int64), counts)
    out = np.empty(int(counts.sum()), dtype=array.dtype)
    comm.Allgatherv(array, [out, counts.tolist()])
    return np.split(out, np.cumsum(counts)[:-1])


# --- failing together ------------------------------------------------------------------------

class AgreedError(RunError):
    """An error raised on every rank at once (the ranks agreed on it): rank 0 alone reports it
    and no rank needs to abort the others."""


def digest(*parts: Any) -> str:
    """SHA-256 of arrays (dtype, shape and bytes) and JSON-able values, in order."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray) or (hasattr(part, "__array__") and hasattr(part, "dtype")):
            a = np.ascontiguousarray(backend.to_numpy(part))
            h.update(json.dumps([a.dtype.str, list(a.shape)]).encode())
            h.update(a.tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def check_same(what: str, value: str) -> None:
    """Raise :class:`AgreedError` on every rank unless every rank passes the same ``value``
    (a :func:`digest` of ``what``): the ranks of one job must train on the same config and
    data. A collective: every rank calls it at the same point."""
    comm = world().comm
    if comm is None:
        return
    values = comm.allgather(value)
    odd = [r for r, v in enumerate(values) if v != values[0]]
    if odd:
        raise AgreedError(f"the MPI ranks disagree on the {what}: rank 0 has SHA-256 "
                          f"{values[0][:12]}, rank {odd[0]} has {values[odd[0]][:12]} (ranks "
                          f"{odd} differ); every rank must read the same config and data files")


def any_signal(signum: int | None) -> int | None:
    """The signal that stopped any rank (the lowest rank's), on every rank; None when none
    did. A collective: every rank calls it at the same point."""
    comm = world().comm
    if comm is None:
        return signum
    got = [s for s in comm.allgather(signum) if s is not None]
    return got[0] if got else None


def job() -> World | None:
    """The MPI world when this process is one of several ranks that have started talking
    (:func:`world` was called), else None. Never imports mpi4py itself."""
    return _detected if _detected is not None and _detected.size > 1 else None


def abort(code: int) -> None:
    """End every rank of the job now (``MPI_Abort``), for an error on this rank alone: the
    others would wait for it in their next collective forever. Nothing in one process."""
    w = job()
    if w is not None and w.comm is not None:
        w.comm.Abort(code)


# --- data-parallel fit ----------------------------------------------------------------------------

class ShardedLoader:
    """This rank's shard of every batch of a loader (same order on every rank).

    ``rows`` is the size of the global batch being served. With ``skip_empty`` (evaluation),
    batches of which this rank has no row are skipped; for training every batch is yielded,
    empty or not, since each step is a collective.
    """

    def __init__(self, loader: Any, skip_empty: bool = False) -> None:
        self.loader = loader
        self.skip_empty = skip_empty
        self.rows = 0
        self.world = world()

    @property
    def generator(self) -> Any:
        return self.loader.generator

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        w = self.world
        for batch in self.loader:
            m = len(batch[0])
            lo, hi = shard_bounds(m, w.rank, w.size)
            if hi == lo and self.skip_empty:
                continue
            self.rows = m
            yield tuple(a[lo:hi] for a in batch)

    @backend.live  # in a compiled step, run at every replay (self.rows is read then)
    def average_gradients(self, optimizer: Any, n: int) -> None:
        """Turn this rank's gradient of its ``n`` rows into the global batch's mean gradient."""
        allreduce_gradients(optimizer, n / self.rows)

    def empty_step(self, model: Module, xb: Any, optimizer: Any) -> None:
        """The step of a rank with no rows ``xb`` in this batch: a forward pass of the empty
        shard (dropout draws the global batch's masks, as on every rank), a zero gradient into
        the all-reduce, then the update every rank makes."""
        p = next(model.parameters())
        with no_grad():
            model(Tensor(xb, dtype=p.dtype, device=backend.device_of(p.data)))
        optimizer.zero_grad()
        allreduce_gradients(optimizer, 0.0)
        optimizer.step()

    def agree_to_stop(self, model: Module) -> bool:
        """Set ``model.stop_training`` on every rank when it is set on any; return it."""
        mine = float(bool(getattr(model, "stop_training", False)))
        stop = bool(sum_across_ranks(np.array([mine]))[0] > 0)
        model.stop_training = stop
        return stop

    @staticmethod
    def gather(array: np.ndarray) -> np.ndarray:
        """The rows of ``array`` of every rank, in rank order, on every rank."""
        rows = allgather_arrays(np.ascontiguousarray(array).reshape(-1))
        return np.concatenate(rows).reshape(-1, *array.shape[1:])

    @staticmethod
    def reduce(sums: dict[str, Any], seen: int) -> tuple[dict[str, float], int]:
        """Loss and metric sums and the sample count of a pass, summed over the ranks."""
        keys = list(sums)
        total = sum_across_ranks(np.array([float(sums[k]) for k in keys] + [seen]))
        return dict(zip(keys, total[:-1].tolist(), strict=True)), int(total[-1])


class _ShardedGenerator:
    """Draws a dropout mask for the whole global batch and returns this rank's rows, so that
    every rank's generator advances as in a single process."""

    def __init__(self, generator: Any, loader: ShardedLoader, device: str) -> None:
        self.generator, self.loader, self.device = generator, loader, device

    def random(self, shape: tuple[int, ...], dtype: Any = np.float64) -> Any:
        gen = self.generator or backend.default_generator(self.device)
        w, m = self.loader.world, self.loader.rows
        lo, hi = shard_bounds(m, w.rank, w.size)
        if shape[0] != hi - lo:
            raise RuntimeError(f"dropout on an input of shape {tuple(shape)} under data-parallel "
                               f"training: expected the batch axis first ({hi - lo} rows)")
        return gen.random((m, *shape[1:]), dtype=dtype)[lo:hi]


class DataParallel:
    """The state of one data-parallel ``fit``: the sharded loaders and the dropout modules'
    generators, put back by :meth:`close`."""

    def __init__(self, model: Module, loader: Any, val_loader: Any) -> None:
        broadcast_parameters(model)
        self.train_loader = ShardedLoader(loader)
        self.val_loader = None if val_loader is None else ShardedLoader(val_loader, True)
        device = backend.device_of(next(model.parameters()).data)
        self._dropout = [(m, m.generator) for m in model.modules() if isinstance(m, Dropout)]
        for m, gen in self._dropout:
            m.generator = _ShardedGenerator(gen, self.train_loader, device)

    def close(self) -> None:
        for m, gen in self._dropout:
            m.generator = gen


def data_parallel(model: Module, loader: Any, val_loader: Any) -> DataParallel | None:
    """Start data-parallel training of ``model`` over the MPI world, or None in one process."""
    if world().size == 1:
        return None
    return DataParallel(model, loader, val_loader)
