"""The ``Optimizer`` base: parameter groups, per-parameter updates, and a flat fast path.

Gradient descent updates every parameter by its gradient, ``W <- W - eta dJ/dW``; the adaptive
variants keep per-element state (moving averages, accumulators).

The contract for a subclass is per parameter: ``_update(group, p, g, state, step, scratch)``
receives one parameter's array ``p`` (updated in place), its gradient ``g`` (read only), its
state arrays and work arrays in the same shape, and its step count. An update that may depend on
the whole parameter (a norm, as LARS and LAMB use) is therefore correct as written.

An optimizer whose update of each element reads only that element (and scalars) declares
``elementwise = True``, as every built-in one does. ``step()`` may then hand ``_update`` any
contiguous span of several parameters at once: parameters sit side by side in contiguous
storage (:mod:`gradwise.nn.storage`; the optimizer never moves or copies them), so a model's
parameters and, after a backward pass, its gradients are one or a few flat spans, and a step
costs a fixed handful of array calls however many layers there are; on the CPU a large span is
updated one cache-sized block at a time. Parameters elsewhere (a user's own tensors, or arrays
assigned to ``p.data``) are updated on their own arrays, correctly, one at a time.

Each update rule also has ``_reference_update(group, p, g, state, step)``: the equation as the
paper writes it, in plain array expressions, which the tests check the fast kernel against. An
optimizer that does not write a fast ``_update`` gets the reference one.

Optimizer state lives in flat arrays per group, dtype and device (a *bucket*); step counts are
kept per parameter, as in PyTorch, and ``state_dict()`` presents each parameter's state in its
own shape (the buckets and their spans and blocks are :mod:`gradwise.optim.storage`).
:meth:`Optimizer.grad_buckets` gives the gradients as flat arrays (for averaging
them across processes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor
from . import fused
from .storage import _Bucket, _runs, _span

__all__ = ["Optimizer"]

ParamsT = Iterable[Tensor] | Iterable[Mapping[str, Any]]

class Optimizer:
    """Base class: parameter groups, ``step()``, ``zero_grad()`` and ``state_dict()``.

    A subclass passes its hyperparameter defaults to ``__init__``, validates them in ``_check``,
    names its state arrays and their initial values in ``_state``, and writes the update rule in
    ``_reference_update(group, p, g, state, step)`` (in place on ``p`` and the ``state`` arrays;
    ``step`` is this parameter's step count, already incremented). A fast kernel may override
    ``_update(group, p, g, state, step, scratch)`` with ``_n_scratch`` preallocated work arrays;
    it must compute the same thing. Both receive one parameter at a time unless the class sets
    :attr:`elementwise` (see the module docstring).

    Every optimizer takes ``maximize`` (PyTorch's option: ascend, i.e. step along ``-g``), applied
    here for all of them.

    Every optimizer takes ``implementation``, which of its three implementations of the same
    rule runs (as PyTorch's ``foreach=``/``fused=``); :attr:`implementation` says which one did:

    - ``"auto"`` (the default): ``"fused"`` where the optimizer has a compiled kernel, numba is
      installed, ``GRADWISE_FUSED`` is not ``0``, and the group's parameters are float32/float64
      NumPy arrays; else ``"flat"``.
    - ``"fused"``: :meth:`_fused_update`, one numba-compiled pass per contiguous span
      (:mod:`gradwise.optim.fused`); raises ``RuntimeError`` without numba, and ``ValueError``
      at ``step()`` for a dtype or device it cannot run on.
    - ``"flat"`` (alias ``"foreach"``): :meth:`_update`, a fixed handful of NumPy calls over
      each contiguous span, block by block.
    - ``"reference"``: :meth:`_reference_update`, the paper's equation one parameter at a time;
      slow, but the readable definition (``gw.compile`` replays it through ``step()``).

    ``"fused"`` and ``"flat"`` give bit-identical results (``tests/test_fused.py``).
    """

    #: the values of the ``implementation`` argument
    IMPLEMENTATIONS: tuple[str, ...] = ("auto", "fused", "flat", "foreach", "reference")

    #: whether every element's update reads only that element: then ``_update`` may receive
    #: contiguous spans of several parameters (and blocks of them) instead of one parameter
    elementwise: bool = False
    #: whether ``state_dict()`` lists a per-parameter ``"step"`` (all but SGD)
    _has_step: bool = True

    def __init__(self, params: ParamsT, defaults: dict[str, Any], *,
                 implementation: str = "auto") -> None:
        if implementation not in self.IMPLEMENTATIONS:
            raise ValueError(f"{type(self).__name__}: implementation must be one of "
                             f"{', '.join(map(repr, self.IMPLEMENTATIONS))}, got "
                             f"{implementation!r}")
        if implementation == "foreach":
            implementation = "flat"
        if implementation == "fused":
            if not (self.has_fused_kernel() and self.elementwise):
                raise ValueError(f"{type(self).__name__} has no fused kernel: use "
                                 "implementation='flat' or 'reference'")
            if not fused.available():
                raise RuntimeError(f"{type(self).__name__}(implementation='fused') needs numba, "
                                   "which is not installed: pip install 'gradwise[fast]', or "
                                   "use implementation='auto' or 'flat'")
        self._implementation = implementation
        self.defaults = dict(defaults)
        self._check(self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._buckets: list[list[_Bucket]] = []
        if hasattr(params, "data") and hasattr(params, "requires_grad"):  # one Tensor
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}; pass "
                            "[tensor] or model.parameters()")
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # --- what subclasses provide ----------------------------------------------------------
    def _check(self, group: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming a hyperparameter of ``group`` and its value if invalid."""

    def _state(self, group: Mapping[str, Any]) -> dict[str, float]:
        """State arrays the group needs, by name, with their initial value."""
        return {}

    def _n_scratch(self, group: Mapping[str, Any]) -> int:
        """How many work arrays ``_update`` needs."""
        return 0

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        """The update rule as the paper writes it (in place on ``p`` and ``state``)."""
        raise NotImplementedError(f"{type(self).__name__} does not define its update rule")

    def _update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                step: int, scratch: list[Any]) -> None:
        """The update run by ``step()``: the reference one unless a subclass has a faster."""
        self._reference_update(group, p, g, state, step)

    def _fused_update(self, group: Mapping[str, Any], p: Any, g: Any, state: dict[str, Any],
                      step: int) -> None:
        """``_update`` on a whole 1-D span in one compiled pass (:mod:`gradwise.optim.fused`);
        an optimizer that has one overrides this method (:meth:`has_fused_kernel`)."""
        raise NotImplementedError(f"{type(self).__name__} has no fused kernel")

    def _fused_kernel(self, group: Mapping[str, Any], dtype: Any) -> Any:
        """:meth:`_fused_update` where it runs (``implementation`` "fused", or "auto" with numba
        installed and enabled, float32/float64), or None: then ``_update`` runs block by block.
        Only elementwise optimizers get spans."""
        choice = self._implementation
        if choice == "fused":
            if dtype not in (np.float32, np.float64):
                raise ValueError(f"{type(self).__name__}(implementation='fused') runs on "
                                 f"float32/float64 NumPy arrays, not {np.dtype(dtype)}")
            return self._fused_update
        if choice == "auto" and self.has_fused_kernel() and fused.usable(dtype):
            return self._fused_update
        return None

    def _group_implementation(self, buckets: list[_Bucket]) -> str:
        choice = self._implementation
        if choice == "reference" or not self.elementwise:
            return choice if choice == "reference" else (
                "flat" if type(self)._update is not Optimizer._update else "reference")
        for b in buckets:
            if b.xp is not np:
                if choice == "fused":
                    raise ValueError(f"{type(self).__name__}(implementation='fused') runs on "
                                     "NumPy (CPU) arrays only")
                return "flat"
            if self._fused_kernel({}, b.dtype) is None:
                return "flat"
        return "fused" if choice != "flat" and self.has_fused_kernel() else "flat"

    @property
    def implementations(self) -> tuple[str, ...]:
        """Which implementation ``step()`` runs for each param group: ``"fused"``, ``"flat"``
        or ``"reference"`` (read only; chosen by the ``implementation`` argument)."""
        return tuple(self._group_implementation(b) for b in self._buckets)

    @property
    def implementation(self) -> str:
        """Which implementation ``step()`` runs (:attr:`implementations`), one name when every
        param group runs the same one, else the groups' names joined by ``", "``."""
        names = self.implementations
        return names[0] if len(set(names)) == 1 else ", ".join(names)

    @classmethod
    def has_fused_kernel(cls) -> bool:
        """Whether this optimizer has a compiled kernel (it overrides :meth:`_fused_update`)."""
        return cls._fused_update is not Optimizer._fused_update

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
        self._version = getattr(self, "_version", 0) + 1  # replay plans made before are stale

    # --- the step -------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget every gradient (``.grad = None``, PyTorch's default); the next backward pass
        writes into the parameters' gradient slots again."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @backend.live
    def step(self) -> None:
        """Update every parameter that has a gradient by one step of the algorithm.

        In a compiled step (``gw.compile``) this is a live call: every replay runs it, so the
        learning rate, the step counts and the bias corrections are read at each step."""
        for group, buckets in zip(self.param_groups, self._buckets, strict=True):
            fills = self._state(group)
            n_scratch = self._n_scratch(group)
            # maximize=True (every optimizer): the update sees -g, as PyTorch's g <- -g; the
            # gradients are negated in place and back afterwards (negation is exact)
            flipped = _flip_grads(group) if group.get("maximize") else []
            try:
                for b in buckets:
                    self._step_bucket(group, b, fills, n_scratch)
            finally:
                _flip_grads(group, flipped)

    def _step_bucket(self, group: Mapping[str, Any], b: _Bucket, fills: dict[str, float],
                     n_scratch: int) -> None:
        reference = self._implementation == "reference"
        layout = b.layout
        if layout is not None and not reference and self._flat_ok(group, b.steps):
            # the common step: every parameter and gradient is where the last step found it
            for p, d, g in zip(b.params, layout[0], layout[1], strict=True):
                if p.data is not d or p.grad is not g:
                    break
            else:
                state = {name: b.state_array(name, fill) for name, fill in fills.items()}
                steps = b.steps
                for i in range(len(steps)):
                    steps[i] += 1
                self._update_spans(group, b, layout[2], state, steps[0], n_scratch)
                return
        grads = []
        with_grad = []
        for i, p in enumerate(b.params):
            if p.data is not b.known[i]:
                b.check(i)
            grad = p.grad
            if grad is not None:
                if grad.shape != b.shapes[i]:
                    raise ValueError(
                        f"a gradient has shape {tuple(grad.shape)} but its parameter has shape "
                        f"{b.shapes[i]}"
                    )
                with_grad.append(i)
            grads.append(grad)
        if not with_grad:
            return
        state = {name: b.state_array(name, fill) for name, fill in fills.items()}
        steps = b.steps
        if (self.elementwise and not reference and len(with_grad) == len(steps)
                and self._flat_ok(group, steps)):
            for i in range(len(steps)):
                steps[i] += 1
            self._update_spans(group, b, b.spans(grads), state, steps[0], n_scratch)
            return
        scratch = b.scratch_arrays(n_scratch)
        for i in with_grad:
            s, shape = b.slices[i], b.shapes[i]
            steps[i] += 1
            if reference:
                self._reference_update(group, b.params[i].data,
                                       grads[i].astype(b.dtype, copy=False),
                                       {k: v[s].reshape(shape) for k, v in state.items()},
                                       steps[i])
                continue
            self._update(group, b.params[i].data, grads[i].astype(b.dtype, copy=False),
                         {k: v[s].reshape(shape) for k, v in state.items()}, steps[i],
                         [a[s].reshape(shape) for a in scratch])

    def _update_spans(self, group: Mapping[str, Any], b: _Bucket,
                      runs: list[tuple[int, int, Any, Any]], state: dict[str, Any], step: int,
                      n_scratch: int) -> None:
        """Update contiguous spans of parameters: each span in one call of the fused kernel
        when there is one (CPU, ``gradwise[fast]``), else block by block with ``_update``."""
        fused = self._fused_kernel(group, b.dtype) if b.xp is np else None
        for pv, gv, st, sc in b.blocks(runs, state, n_scratch, whole=fused is not None):
            if fused is not None and pv.ndim == 1:
                fused(group, pv, gv, st, step)
            else:
                self._update(group, pv, gv, st, step, sc)

    def _replay_plan(self) -> Any:
        """For ``gw.compile`` (:mod:`gradwise.capture`), called right after a ``step()``: the
        same update as a function that skips what ``step()`` checks first, or None. It is the
        common step of :meth:`_step_bucket` (every parameter and gradient where the last step
        found them, the same step count for all, so each span in one call), with the spans,
        state and blocks looked up once; the replay guarantees the arrays (it checks the
        parameters and sets the gradients). Hyperparameters, the learning rate included, are
        read from the groups at every call, as by ``step()``; after ``load_state_dict``,
        ``add_param_group``, a ``maximize`` group or unequal step counts it calls ``step()``."""
        if not self.elementwise or self._implementation == "reference":
            return None
        items = []
        for group, buckets in zip(self.param_groups, self._buckets, strict=True):
            if group.get("maximize"):
                return None
            fills, n_scratch = self._state(group), self._n_scratch(group)
            for b in buckets:
                layout = b.layout
                if layout is None or not self._flat_ok(group, b.steps) or not all(
                        p.data is d and p.grad is g
                        for p, d, g in zip(b.params, layout[0], layout[1], strict=True)):
                    return None
                state = {name: b.state_array(name, fill) for name, fill in fills.items()}
                kernel = self._fused_kernel(group, b.dtype) if b.xp is np else None
                blocks = b.blocks(layout[2], state, n_scratch, whole=kernel is not None)
                items.append((group, b.steps, [(pv, gv, st, sc, kernel if pv.ndim == 1 else None)
                                               for pv, gv, st, sc in blocks]))
        version, update, full = self._version, self._update, self.step

        def replay() -> None:
            if self._version != version or any(
                    g.get("maximize") or not self._flat_ok(g, steps) for g, steps, _ in items):
                full()
                return
            for group, steps, blocks in items:
                for i in range(len(steps)):
                    steps[i] += 1
                step = steps[0]
                for pv, gv, st, sc, kernel in blocks:
                    if kernel is not None:
                        kernel(group, pv, gv, st, step)
                    else:
                        update(group, pv, gv, st, step, sc)

        return replay

    def grad_buckets(self) -> list[Any]:
        """The gradients of the parameters that have one, as flat 1-D arrays: one per
        contiguous span of gradient storage (usually one per group and dtype), each a view, so
        that changing it in place changes the parameters' ``.grad``. A data-parallel run
        averages each of these across processes between ``backward()`` and ``step()``."""
        out: list[Any] = []
        for buckets in self._buckets:
            for b in buckets:
                present = [p for p in b.params if p.grad is not None]
                for p in present:
                    if not p.grad.flags.c_contiguous:
                        p.grad = b.xp.ascontiguousarray(p.grad)
                if present:
                    grads = [p.grad for p in present]
                    out.extend(_span(grads[i:j]) for i, j in _runs([grads]))
        return out

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
        s, shape = b.slices[i], b.shapes[i]
        for name, arr in b.state.items():
            entry[name] = arr[s].reshape(shape).copy()
        return entry

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`: hyperparameters, step counts and state arrays (copied
        into the flat buffers). Everything is checked before anything changes."""
        groups = state_dict["param_groups"]
        saved_state = state_dict["state"]
        self._version += 1  # replay plans (gw.compile) made before are stale
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
        for i, (g, name) in enumerate(zip(self.param_groups, self.implementations, strict=True)):
            lines.append(f"Parameter Group {i}")
            lines.append(f"    implementation: {name}")
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


def _flip_grads(group: Mapping[str, Any], grads: list[Any] | None = None) -> list[Any]:
    """Negate in place the distinct gradient arrays of ``group`` (or ``grads``); return them."""
    if grads is None:
        seen: dict[int, Any] = {}
        for p in group["params"]:
            if p.grad is not None:
                seen.setdefault(id(p.grad), p.grad)
        grads = list(seen.values())
    for g in grads:
        backend.xp_of(g).negative(g, out=g)
    return grads
