"""The ``Optimizer`` base: parameter groups over contiguous flat buffers.

Gradient descent updates every parameter by its gradient, ``W <- W - eta dJ/dW``; the adaptive
variants keep per-element state (moving averages, accumulators). Each parameter group is split
into *buckets* of one dtype and device. A bucket owns one contiguous flat array for the
parameters, one for the gradients and one per state; every parameter's ``.data`` is rebound to
a view of the flat parameter array and its ``_grad_buffer`` to a view of the flat gradient
array, so the backward pass writes gradients straight into the flat buffer. When every
parameter of a bucket has its gradient in that buffer, ``step()`` updates the whole bucket with
a fixed handful of in-place array calls (``out=`` ufuncs into scratch arrays allocated once),
however many tensors the model has; on the CPU a large bucket is updated one cache-sized block
at a time. Otherwise (some
``.grad`` is None, or was assigned by the user) the same update runs per parameter on the views,
which reproduces PyTorch's skipping of parameters without a gradient exactly.

Step counts are kept per parameter, as in PyTorch, and ``state_dict()`` presents each
parameter's state in its own shape.

If ``p.data`` is rebound after the optimizer was created (``model.to(...)``,
``p.data = array``), the next ``step()`` re-adopts the new array when it has the same shape,
dtype and device (its values are copied into the flat buffer); any other change raises a
``RuntimeError``: create the optimizer after moving or converting the model, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["Optimizer"]

ParamsT = Iterable[Tensor] | Iterable[Mapping[str, Any]]

#: On the CPU a bucket is updated one block of this many elements at a time, so that the
#: dozen passes of an update over a block run in cache instead of streaming every array through
#: memory a dozen times. Measured in interleaved full training steps of 784-1000-1000-10 with
#: Adam (2 cores, OpenBLAS Haswell kernel): blocks of 2^15 on one thread took 4-10% off the
#: step against the whole buffer cut into one part per core, and beat blocks on two threads
#: (the matrix products' OpenBLAS worker is still spinning on the other core). An optimizer
#: step alone, on buffers still in cache, is slower this way (Adam 1.5 -> 2.2 ms in
#: ``python -m benchmarks.optim_step``): there the second core was worth having.
_BLOCK = 1 << 15


class _Bucket:
    """The parameters of one group with one dtype and device, as views into flat buffers."""

    __slots__ = ("params", "views", "grad_views", "slices", "flat", "grad", "state", "steps",
                 "scratch", "xp", "_blocks", "_blocks_key")

    def __init__(self, params: list[Tensor]) -> None:
        first = params[0].data
        xp = backend.xp_of(first)
        sizes = [int(p.data.size) for p in params]
        total = sum(sizes)
        self.xp = xp
        self.params = params
        self.flat = xp.empty(total, dtype=first.dtype)
        self.grad = xp.zeros(total, dtype=first.dtype)
        self.slices: list[slice] = []
        start = 0
        for n in sizes:
            self.slices.append(slice(start, start + n))
            start += n
        shapes = [p.shape for p in params]
        self.views = [self.flat[s].reshape(sh) for s, sh in zip(self.slices, shapes, strict=True)]
        self.grad_views = [self.grad[s].reshape(sh)
                           for s, sh in zip(self.slices, shapes, strict=True)]
        for p, view, gview in zip(params, self.views, self.grad_views, strict=True):
            xp.copyto(view, p.data)
            p.data = view
            p._grad_buffer = gview
        self.state: dict[str, Any] = {}
        self.steps = [0] * len(params)
        self.scratch: list[Any] = []
        self._blocks: list[tuple[Any, ...]] = []
        self._blocks_key: tuple[Any, ...] | None = None

    def state_array(self, name: str, fill: float) -> Any:
        """The flat state ``name``, allocated (filled with ``fill``) on first use."""
        arr = self.state.get(name)
        if arr is None:
            arr = self.xp.full(self.flat.shape, fill, dtype=self.flat.dtype)
            self.state[name] = arr
        return arr

    def scratch_arrays(self, n: int) -> list[Any]:
        """``n`` preallocated flat work arrays, reused by every step."""
        while len(self.scratch) < n:
            self.scratch.append(self.xp.empty_like(self.flat))
        return self.scratch

    def blocks(self, state: dict[str, Any], n_scratch: int) -> list[tuple[Any, ...]]:
        """Views ``(params, grads, state, scratch)`` of consecutive blocks of at most
        :data:`_BLOCK` elements of the buffers, with ``n_scratch`` block-sized work arrays shared
        by all blocks; made once for a given set of state arrays."""
        key = (n_scratch, tuple(id(a) for a in state.values()))
        if self._blocks_key != key:
            n = self.flat.size
            work = [self.xp.empty(min(n, _BLOCK), dtype=self.flat.dtype)
                    for _ in range(n_scratch)]
            self._blocks = []
            for lo in range(0, n, _BLOCK):
                hi = min(lo + _BLOCK, n)
                s = slice(lo, hi)
                self._blocks.append((self.flat[s], self.grad[s],
                                     {k: v[s] for k, v in state.items()},
                                     [a[:hi - lo] for a in work]))
            self._blocks_key = key
        return self._blocks

    def readopt(self, i: int) -> None:
        """Bring a parameter whose ``.data`` was rebound back into the flat buffer."""
        p, view = self.params[i], self.views[i]
        new = p.data
        if (backend.device_of(new) != backend.device_of(view) or new.dtype != view.dtype
                or new.shape != view.shape):
            raise RuntimeError(
                f"a parameter's array was replaced after the optimizer was created: it is now "
                f"{new.dtype} {tuple(new.shape)} on {backend.device_of(new)}, the optimizer "
                f"holds {view.dtype} {tuple(view.shape)} on {backend.device_of(view)}; create "
                "the optimizer after moving or converting the model"
            )
        self.xp.copyto(view, new)
        p.data = view
        if p.grad is None:
            p._grad_buffer = self.grad_views[i]


class Optimizer:
    """Base class: parameter groups, ``step()``, ``zero_grad()`` and ``state_dict()``.

    Every optimizer takes ``maximize`` (PyTorch's option: ascend, i.e. step along ``-g``), applied
    here for all of them. Subclasses give their hyperparameter defaults, validate them in
    ``_check`` and implement
    ``_update(group, p, g, state, step, scratch)``, which updates the arrays in place: ``p``
    (parameters), ``g`` (gradients, read only), ``state`` (a dict of state arrays, see
    ``_state``) and ``step`` (the step count of these parameters, already incremented). The
    same method runs on whole flat buffers and on single-parameter views.
    """

    #: whether ``state_dict()`` lists a per-parameter ``"step"`` (all but SGD)
    _has_step: bool = True

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self._check(self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._buckets: list[list[_Bucket]] = []
        if hasattr(params, "data") and hasattr(params, "requires_grad"):  # one Tensor
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}; pass "
                            "[tensor] or model.parameters()")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # --- what subclasses provide ----------------------------------------------------------
    def _check(self, group: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _state(self, group: Mapping[str, Any]) -> dict[str, float]:
        """State arrays the group needs, by name, with their initial value."""
        raise NotImplementedError

    def _n_scratch(self, group: Mapping[str, Any]) -> int:
        raise NotImplementedError

    def _update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                step: int, scratch: list[Any]) -> None:
        raise NotImplementedError

    def _flat_ok(self, group: Mapping[str, Any], steps: list[int]) -> bool:
        """Whether parameters with these step counts can be updated as one flat array."""
        return min(steps) == max(steps)

    def _eager_state(self) -> bool:
        """Whether state exists from construction (Adagrad) rather than from the first step."""
        return False

    # --- groups ---------------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group ``{"params": [...], hyper: value}``; missing hyperparameters take the
        optimizer's defaults."""
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError(f"a parameter group is a dict with a 'params' key, got {param_group!r}")
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError("optimizer got a parameter group with no parameters")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if p._node is not None:
                raise ValueError("can't optimize a non-leaf Tensor (one computed from others)")
            if p.dtype.kind != "f":
                raise ValueError(f"can't optimize a tensor of dtype {p.dtype}: it must be floating")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError("some parameters appear more than once in the parameter groups")
        unknown = sorted(set(group) - set(self.defaults) - {"params", "initial_lr"})
        if unknown:
            raise ValueError(
                f"unknown hyperparameters {unknown} for {type(self).__name__}; "
                f"accepted: {sorted(self.defaults)}"
            )
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check(group)
        group["params"] = params
        by_kind: dict[tuple[str, str], list[Tensor]] = {}
        for p in params:
            by_kind.setdefault((str(p.dtype), backend.device_of(p.data)), []).append(p)
        buckets = [_Bucket(ps) for ps in by_kind.values()]
        if self._eager_state():
            for b in buckets:
                for name, fill in self._state(group).items():
                    b.state_array(name, fill)
        self.param_groups.append(group)
        self._buckets.append(buckets)

    # --- the step -------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget every gradient (``.grad = None``, PyTorch's default); the next backward pass
        writes into the flat gradient buffer again."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient by one step of the algorithm."""
        for group, buckets in zip(self.param_groups, self._buckets, strict=True):
            fills = self._state(group)
            n_scratch = self._n_scratch(group)
            for b in buckets:
                self._step_bucket(group, b, fills, n_scratch)

    def _step_bucket(self, group: Mapping[str, Any], b: _Bucket, fills: dict[str, float],
                     n_scratch: int) -> None:
        with_grad = []
        for i, (p, view, gview) in enumerate(zip(b.params, b.views, b.grad_views, strict=True)):
            if p.data is not view:
                b.readopt(i)
            grad = p.grad
            if grad is not gview:
                if grad is None:
                    p._grad_buffer = gview
                    continue
                if grad.shape != view.shape:
                    raise ValueError(
                        f"a gradient has shape {tuple(grad.shape)} but its parameter has shape "
                        f"{tuple(view.shape)}"
                    )
                b.xp.copyto(gview, grad)
            with_grad.append(i)
        if not with_grad:
            return
        state = {name: b.state_array(name, fill) for name, fill in fills.items()}
        if group.get("maximize"):
            # maximize=True (every optimizer): the update sees -g, as PyTorch's g <- -g, and the
            # gradients are flipped back afterwards (negation is exact)
            b.xp.negative(b.grad, out=b.grad)
            try:
                self._update_bucket(group, b, state, with_grad, n_scratch)
            finally:
                b.xp.negative(b.grad, out=b.grad)
            return
        self._update_bucket(group, b, state, with_grad, n_scratch)

    def _update_bucket(self, group: Mapping[str, Any], b: _Bucket, state: dict[str, Any],
                       with_grad: list[int], n_scratch: int) -> None:
        steps = b.steps
        if len(with_grad) == len(steps) and self._flat_ok(group, steps):
            for i in range(len(steps)):
                steps[i] += 1
            self._update_flat(group, b, state, steps[0], n_scratch)
            return
        scratch = b.scratch_arrays(n_scratch)
        for i in with_grad:
            s = b.slices[i]
            steps[i] += 1
            self._update(group, b.flat[s], b.grad[s], {k: v[s] for k, v in state.items()},
                         steps[i], [a[s] for a in scratch])

    def _update_flat(self, group: Mapping[str, Any], b: _Bucket, state: dict[str, Any],
                     step: int, n_scratch: int) -> None:
        """Run ``_update`` over a whole bucket: on a GPU in one go (one kernel per array call);
        on the CPU block by block (every update is elementwise, so the result is bit for bit
        that of one pass over the whole buffer)."""
        if b.xp is not np or b.flat.size <= _BLOCK:
            self._update(group, b.flat, b.grad, state, step, b.scratch_arrays(n_scratch))
            return
        for p, g, st, sc in b.blocks(state, n_scratch):
            self._update(group, p, g, st, step, sc)

    # --- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: array | int}}, "param_groups": [{hyper..., "params":
        [index...]}]}`` with parameters numbered across groups in order, each state array a copy
        in its parameter's shape (PyTorch's layout). Parameters that have no state yet are
        absent, as in PyTorch."""
        state: dict[int, dict[str, Any]] = {}
        groups = []
        index = 0
        for group, buckets in zip(self.param_groups, self._buckets, strict=True):
            where = {id(p): (b, i) for b in buckets for i, p in enumerate(b.params)}
            indices = []
            for p in group["params"]:
                b, i = where[id(p)]
                entry = self._param_state(b, i)
                if entry:
                    state[index] = entry
                indices.append(index)
                index += 1
            hyper = {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in group.items() if k != "params"}
            hyper["params"] = indices
            groups.append(hyper)
        return {"state": state, "param_groups": groups}

    def _param_state(self, b: _Bucket, i: int) -> dict[str, Any]:
        step = b.steps[i]
        if step == 0 and not self._eager_state():
            return {}
        entry: dict[str, Any] = {"step": step} if self._has_step else {}
        s, shape = b.slices[i], b.views[i].shape
        for name, arr in b.state.items():
            entry[name] = arr[s].reshape(shape).copy()
        return entry

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`: hyperparameters, step counts and state arrays (copied
        into the flat buffers). Everything is checked before anything changes."""
        groups = state_dict["param_groups"]
        saved_state = state_dict["state"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"the state has {len(groups)} parameter groups, the optimizer has "
                f"{len(self.param_groups)}"
            )
        plan = []
        for gi, (saved, group) in enumerate(zip(groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"parameter group {gi} has {len(saved['params'])} parameters in the state "
                    f"but {len(group['params'])} in the optimizer"
                )
            for index, p in zip(saved["params"], group["params"], strict=True):
                entry = saved_state.get(index, saved_state.get(str(index), {}))
                for name, value in entry.items():
                    if name != "step" and tuple(np.shape(value)) != p.shape:
                        raise ValueError(
                            f"state {name!r} of parameter {index} has shape "
                            f"{tuple(np.shape(value))} but the parameter has shape {p.shape}"
                        )
                plan.append((p, entry))
        for saved, group in zip(groups, self.param_groups, strict=True):
            for k, v in saved.items():
                if k != "params":
                    group[k] = tuple(v) if isinstance(self.defaults.get(k), tuple) else v
        entries = {id(p): entry for p, entry in plan}
        for group, buckets in zip(self.param_groups, self._buckets, strict=True):
            fills = self._state(group)
            for b in buckets:
                b.state = {}
                # in the saved order, so that a resumed run writes its state as the original
                names = list(dict.fromkeys(
                    n for p in b.params for n in entries[id(p)] if n != "step"))
                if self._eager_state():
                    names += [n for n in fills if n not in names]
                for name in names:
                    arr = b.state_array(name, fills.get(name, 0.0))
                    for i, p in enumerate(b.params):
                        value = entries[id(p)].get(name)
                        if value is not None:
                            value = backend.to_device(value, backend.device_of(arr))
                            arr[b.slices[i]] = value.reshape(-1).astype(arr.dtype, copy=False)
                for i, p in enumerate(b.params):
                    entry = entries[id(p)]
                    b.steps[i] = int(entry.get("step", 1 if entry else 0))

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params")
        return "\n".join(lines) + "\n)"


def check_range(owner: str, name: str, value: Any, low: float, high: float = float("inf"),
                *, open_low: bool = False, open_high: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` and its value unless ``low <= value <= high`` (or
    strict at an open end)."""
    number = isinstance(value, int | float | np.floating | np.integer) and not isinstance(
        value, bool)
    ok = number and (value > low if open_low else value >= low) and (
        value < high if open_high else value <= high)
    if not ok:
        interval = ("(" if open_low else "[") + f"{low:g}, {high:g}" + (")" if open_high else "]")
        raise ValueError(f"{owner}: invalid {name} {value!r}, expected a number in {interval}")


def with_weight_decay(p: Any, g: Any, weight_decay: float, out: Any) -> Any:
    """PyTorch's coupled L2 penalty ``g + lambda theta`` written into ``out`` (``g`` itself
    when ``lambda`` is 0); the gradient array is never modified."""
    if not weight_decay:
        return g
    np.multiply(p, weight_decay, out=out)
    out += g
    return out


def lerp_(m: Any, g: Any, w: float, scratch: Any) -> None:
    """``m <- m + w (g - m)`` in place, in PyTorch's two-sided form (for ``w >= 0.5`` it
    computes ``g - (g - m)(1 - w)``, which is exact at ``w = 1``)."""
    np.subtract(g, m, out=scratch)
    if w < 0.5:
        scratch *= w
        m += scratch
    else:
        scratch *= 1.0 - w
        np.subtract(g, scratch, out=m)
