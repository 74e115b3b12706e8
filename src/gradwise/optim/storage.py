"""The optimizer's storage engine: where its parameters, gradients and state arrays lie.

Parameters sit side by side in contiguous storage (:mod:`gradwise.nn.storage`), so a model's
parameters and, after a backward pass, its gradients are one or a few flat spans. A *bucket*
(:class:`_Bucket`) holds one param group's parameters of one dtype and device, their state as
flat arrays in the same order, and finds the contiguous spans (``_root``/``_follows``/``_runs``/
``_span``: pointer arithmetic over the arrays' owners) and the cache-sized blocks a step updates.
:mod:`gradwise.optim.optimizer` holds the public contract and uses this module; nothing here
computes an update rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor

#: On the CPU a span is updated one block of this many elements at a time, so that the
#: dozen passes of an update over a block run in cache instead of streaming every array through
#: memory a dozen times. Measured in interleaved full training steps of 784-1000-1000-10 with
#: Adam (2 cores, OpenBLAS Haswell kernel): blocks of 2^15 on one thread took 4-10% off the
#: step against the whole buffer cut into one part per core, and beat blocks on two threads
#: (the matrix products' OpenBLAS worker is still spinning on the other core). An optimizer
#: step alone, on buffers still in cache, is slower this way (Adam 1.5 -> 2.2 ms in
#: ``python -m benchmarks.optim_step``): there the second core was worth having.
_BLOCK = 1 << 15


def _root(a: Any) -> Any:
    """The array of ``a``'s own type that owns its memory."""
    while type(a.base) is type(a):
        a = a.base
    return a


def _follows(a: Any, b: Any) -> bool:
    """Whether ``b`` starts where ``a`` ends, both C-contiguous in one contiguous array."""
    if not (a.flags.c_contiguous and b.flags.c_contiguous and a.dtype == b.dtype):
        return False
    root = _root(a)
    return (root is _root(b) and root.flags.c_contiguous
            and backend.data_ptr(b) == backend.data_ptr(a) + a.nbytes)


def _runs(arrays: list[list[Any]]) -> list[tuple[int, int]]:
    """Maximal ranges ``i:j`` over which, for every list in ``arrays``, each array follows the
    one before it in memory."""
    runs = []
    n = len(arrays[0])
    i = 0
    while i < n:
        j = i + 1
        while j < n and all(_follows(col[j - 1], col[j]) for col in arrays):
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _span(arrays: list[Any]) -> Any:
    """One 1-D view over arrays of which each follows the one before (see :func:`_runs`)."""
    first = arrays[0]
    if len(arrays) == 1:
        return first.reshape(-1)
    start = (backend.data_ptr(first) - backend.data_ptr(_root(first))) // first.itemsize
    return _root(first).reshape(-1)[start:start + sum(int(a.size) for a in arrays)]


class _Bucket:
    """The parameters of one group with one dtype and device, and their flat state."""

    __slots__ = ("params", "slices", "shapes", "dtype", "device", "size", "state", "steps",
                 "scratch", "xp", "known", "layout", "_blocks", "_blocks_key")

    def __init__(self, params: list[Tensor]) -> None:
        first = params[0].data
        self.xp = backend.xp_of(first)
        self.params = params
        self.dtype, self.device = first.dtype, backend.device_of(first)
        self.shapes = [p.shape for p in params]
        self.slices: list[slice] = []
        start = 0
        for p in params:
            self.slices.append(slice(start, start + int(p.data.size)))
            start += int(p.data.size)
        self.size = start
        self.state: dict[str, Any] = {}
        self.steps = [0] * len(params)
        self.scratch: list[Any] = []
        self.known = [p.data for p in params]  # the arrays last checked against the bucket
        self.layout: tuple[list[Any], list[Any], list[tuple[int, int, Any, Any]]] | None = None
        self._blocks: list[tuple[Any, ...]] = []
        self._blocks_key: tuple[Any, ...] | None = None

    def check(self, i: int) -> None:
        """Accept parameter ``i``'s current array, or raise if it no longer fits its state."""
        new = self.params[i].data
        if (backend.device_of(new) != self.device or new.dtype != self.dtype
                or new.shape != self.shapes[i]):
            raise RuntimeError(
                f"a parameter's array was replaced after the optimizer was created: it is now "
                f"{new.dtype} {tuple(new.shape)} on {backend.device_of(new)}, the optimizer "
                f"holds state for {self.dtype} {self.shapes[i]} on {self.device}; create "
                "the optimizer after moving or converting the model"
            )
        self.known[i] = new

    def state_array(self, name: str, fill: float) -> Any:
        """The flat state ``name``, allocated (filled with ``fill``) on first use."""
        arr = self.state.get(name)
        if arr is None:
            arr = self.xp.full(self.size, fill, dtype=self.dtype)
            self.state[name] = arr
        return arr

    def scratch_arrays(self, n: int) -> list[Any]:
        """``n`` preallocated flat work arrays, reused by every step."""
        while len(self.scratch) < n:
            self.scratch.append(self.xp.empty(self.size, dtype=self.dtype))
        return self.scratch

    def spans(self, grads: list[Any]) -> list[tuple[int, int, Any, Any]]:
        """``(lo, hi, values, grads)`` for maximal runs of parameters whose values and gradients
        are contiguous, ``lo:hi`` being their elements in the bucket's state; a parameter on its
        own keeps its shape when its array is not contiguous. Cached while the arrays stay."""
        data = [p.data for p in self.params]
        layout = self.layout
        if layout is not None and all(a is b for a, b in zip(layout[0], data, strict=True)) \
                and all(a is b for a, b in zip(layout[1], grads, strict=True)):
            return layout[2]
        runs: list[tuple[int, int, Any, Any]] = []
        copied = False
        for i, j in _runs([data, grads]):
            lo, hi = self.slices[i].start, self.slices[j - 1].stop
            if j - i == 1:
                # read only: a contiguous copy in the parameter's dtype will do (for this step)
                g = self.xp.ascontiguousarray(grads[i], dtype=self.dtype)
                copied = copied or g is not grads[i]
                if data[i].flags.c_contiguous:
                    runs.append((lo, hi, data[i].reshape(-1), g.reshape(-1)))
                else:
                    runs.append((lo, hi, data[i], g))
            else:
                runs.append((lo, hi, _span(data[i:j]), _span(grads[i:j])))
        self.layout = None if copied else (data, list(grads), runs)
        self._blocks_key = None  # the blocks cache is keyed by id(runs): never reuse it
        return runs

    def blocks(self, runs: list[tuple[int, int, Any, Any]], state: dict[str, Any],
               n_scratch: int, whole: bool = False) -> list[tuple[Any, ...]]:
        """``(params, grads, state, scratch)`` views for every span: on the CPU cut in blocks
        of at most :data:`_BLOCK` elements that share block-sized work arrays (``whole``: one
        block per span, for a fused kernel); made once for a given layout and set of state
        arrays."""
        key = (id(runs), n_scratch, tuple(id(a) for a in state.values()), whole)
        if self._blocks_key == key:
            return self._blocks
        cpu = self.xp is np and not whole
        work = ([self.xp.empty(min(self.size, _BLOCK), dtype=self.dtype)
                 for _ in range(n_scratch)] if cpu else [])
        blocks = []
        for lo, hi, pv, gv in runs:
            if cpu and pv.ndim == 1:
                for a in range(0, hi - lo, _BLOCK):
                    b = min(a + _BLOCK, hi - lo)
                    blocks.append((pv[a:b], gv[a:b],
                                   {k: v[lo + a:lo + b] for k, v in state.items()},
                                   [w[:b - a] for w in work]))
            else:
                shape = pv.shape
                work = [] if whole and pv.ndim == 1 else [
                    w[lo:hi].reshape(shape) for w in self.scratch_arrays(n_scratch)]
                blocks.append((pv, gv, {k: v[lo:hi].reshape(shape) for k, v in state.items()},
                               work))
        self._blocks, self._blocks_key = blocks, key
        return blocks
