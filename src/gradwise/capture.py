"""``gw.compile``: a training step recorded once as its backend array calls, then replayed.

One file of about 850 lines on purpose: the recorder (the traced array type, the recording
namespace, the log of operations) and the replayer (``CompiledStep``) are two halves of one
mechanism that share their private types; apart, those types would become an interface.

An eager step is mostly Python on a small network: building the graph, walking it backwards,
one NumPy call per op. ``step = gw.compile(fn)``, where ``fn(x, y)`` is a whole training step
(``zero_grad``, forward, loss, ``backward``, clipping, ``optimizer.step()``) returning the loss,
removes that Python in the manner of tinygrad's ``TinyJit`` and Chainer's ``static_graph``:

1. the first call runs ``fn`` eagerly (the optimizer creates its state) and notes the modules
   and optimizers the step uses;
2. the next call with a new *key* (the shapes and dtypes of the array arguments, the other
   arguments' values, the train/eval mode of every module the step called, which parameters
   hold a gradient) runs ``fn`` eagerly again while *recording* every backend array call: the
   inputs, parameters and gradient slots are handed to the code as views of a NumPy subclass
   whose ``__array_ufunc__`` and ``__array_function__`` (and the ndarray methods that bypass
   both: ``reshape``, ``astype``, indexing, ...) log the call with the arrays it read and wrote.
   Every array the step computes is kept as a buffer;
3. later calls with that key copy the arguments into the input buffers and replay the log:
   each ufunc call again, writing into its buffer (``out=``), each other call's result copied
   into its buffer. Views need no call (a view of a buffer stays a view of it), and parameters,
   gradients and optimizer state are updated in place, in the eager order.

What changes between steps is never baked in. The optimizer's ``step()``, a schedule's
``step()`` and the data-parallel gradient all-reduce are *live* calls (``backend.live``):
recorded as "call this", they run as eager code at every replay, so the learning rate under
a schedule, Adam's step count and bias corrections are read then, and the fused optimizer
kernels (numba) still run inside them (an optimizer replays through its ``_replay_plan``: the
same update without ``step()``'s checks). Dropout draws its uniforms through
:func:`gradwise.backend.uniform`, recorded as a draw from the same generator into the mask's
buffer, so every replay draws fresh values from the stream that eager code would have drawn
from (the same bits). Creations (``zeros``, ``ones``) are refilled when the step writes into
them. Other Python side effects inside the step (a counter, a print, a list appended to) do not
run at a replay: a step for ``gw.compile`` computes and updates, and reports by what it returns.

What cannot be replayed is detected while recording: a read of a computed value on the host
(``.item()``, ``float()``, ``bool()`` and so a Python branch on data, ``.numpy()``,
``.tolist()``), or an array computed by a call the recorder does not see. The recording call
finishes the step (its values are real), then raises :class:`NotReplayableError` naming the
read and where it was; with ``fallback=True`` it warns once and that key runs eagerly. A
parameter whose ``.data`` was replaced since the recording, or any module attribute assigned
(``dropout.p = 0.3``: :data:`gradwise.backend.state_version`), makes every recording stale: the
step runs eagerly once and records afresh.

The replay is exact: it makes the same NumPy calls on the same values in the same order as the
eager step (a Python number bound as the NumPy scalar NumPy converts it to, where the recording
found the result identical; a 0-d array where NumPy returned a scalar), so compiled and eager
steps give bit-identical parameters (``tests/test_compile.py`` checks every optimizer and
option, dropout, schedules, clipping, L1/L2, both float dtypes; ``tests/test_mpi.py`` two MPI
ranks). Returned tensors and arrays are copies, detached from any
graph, that the next call cannot overwrite. At most ``max_recordings`` keys are recorded; beyond
that the step runs eagerly, with a one-time warning.

NumPy only: the recorder and the replay need nothing but NumPy, so they run in a browser build
(Pyodide) too. On CuPy arrays (a GPU) the step runs eagerly. The GPU design, not built (no GPU
here): record the same way (a CuPy array subclass, or every ``cupy`` call through the
``backend.xp_of`` namespace hook this module already installs), then capture the replay once
in a CUDA graph, so that one launch replaces a kernel launch per call
(``cupy.cuda.Stream.begin_capture`` / ``end_capture`` / ``Graph.launch``): the inputs copied
into the static input buffers before the launch; the live calls' changing scalars (learning
rate, bias corrections) kept in 0-d device arrays that the host writes before each launch,
PyTorch's ``capturable=True``; dropout's generator state advanced on the device by a captured
``curand`` offset; and the all-reduce outside the graph, splitting it in two.
"""

from __future__ import annotations

import functools
import itertools
import operator
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from . import backend
from . import threads as _threads
from .autograd import Tensor, wrap

__all__ = ["NotReplayableError", "compile"]


class NotReplayableError(RuntimeError):
    """A step that gw.compile cannot replay: it reads a computed value on the host (``.item()``,
    a Python branch on data) or uses an array computed outside the recorder's view."""


_active: _Recorder | None = None  # the recorder of the step being recorded (one thread)
#: one recording (or first, watched call) at a time in a process: the hooks are global, and
#: check that they are called from the recording thread (playground sessions run in threads)
_lock = threading.RLock()


def _plain(a: Any) -> Any:
    return a.view(np.ndarray) if type(a) is _Traced else a


def _unwrap(obj: Any) -> Any:
    """``obj`` with every traced array replaced by a plain view of the same memory."""
    t = type(obj)
    if t is _Traced:
        return obj.view(np.ndarray)
    if t is tuple or t is list:
        return t(_unwrap(o) for o in obj)
    if t is dict:
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


def _leaves(obj: Any, out: list[Any]) -> list[Any]:
    if isinstance(obj, np.ndarray):
        out.append(obj)
    elif isinstance(obj, tuple | list):
        for o in obj:
            _leaves(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _leaves(o, out)
    return out


def _owner(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _read(what: str) -> Callable[..., Any]:
    base = getattr(np.ndarray, what)

    def method(self: _Traced, *args: Any, **kwargs: Any) -> Any:
        rec = _active
        if rec is not None:
            rec.taint(f"{'.' + what if not what.startswith('__') else what}() reads a computed "
                      "value on the host")
        return base(self.view(np.ndarray), *args, **kwargs)

    return method


def _method(what: str) -> Callable[..., Any]:
    base = getattr(np.ndarray, what)

    def method(self: _Traced, *args: Any, **kwargs: Any) -> Any:
        rec = _active
        plain = self.view(np.ndarray)
        if rec is None:
            return base(plain, *_unwrap(args), **_unwrap(kwargs))
        return rec.call(base, (plain, *_unwrap(args)), _unwrap(kwargs), what)

    return method


class _Traced(np.ndarray):
    """An array whose calls are recorded (only ever a view of a buffer the recorder knows)."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        ins = tuple(_plain(a) for a in inputs)
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        rec = _active
        if rec is None:
            return getattr(ufunc, method)(*ins, **kwargs)
        return rec.ufunc(ufunc, method, ins, kwargs, out)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        rec = _active
        if rec is None:
            return func(*_unwrap(args), **_unwrap(kwargs))
        return rec.call(func, _unwrap(args), _unwrap(kwargs), getattr(func, "__name__", "?"))

    for _name in ("reshape", "astype", "copy", "ravel", "flatten", "transpose", "swapaxes",
                  "squeeze", "take", "repeat", "argmax", "argmin", "cumsum", "cumprod", "round",
                  "dot", "nonzero", "argsort", "sort", "fill", "diagonal", "__getitem__",
                  "__setitem__", "__copy__", "__deepcopy__"):
        locals()[_name] = _method(_name)
    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]  # recorded indexing (NumPy's iteration would give host scalars)

    for _name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__",
                  "__complex__", "tobytes"):
        locals()[_name] = _read(_name)
    del _name


#: calls whose result's shape depends on the values (a replay has fixed shapes)
_DATA_SHAPED = frozenset({"nonzero", "argwhere", "flatnonzero", "unique", "extract",
                          "compress"})


def _bind(fn: Any, method: str, ins: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The ufunc call as a partial, its arguments in the form NumPy parses fastest (a reduction
    positional, defaults left out, one output not in a tuple)."""
    out = kwargs.get("out")
    if method == "__call__" and len(kwargs) == 1 and isinstance(out, tuple) and all(
            o is not None for o in out) and fn.__self__ not in (np.maximum, np.minimum):
        return functools.partial(fn, *ins, *out)  # out positional: parsed fastest
    if isinstance(out, tuple) and len(out) == 1:
        kwargs["out"] = out[0]
    if method == "reduce" and len(ins) == 1:
        kw = dict(kwargs)
        axis, dtype, out = kw.pop("axis", 0), kw.pop("dtype", None), kw.pop("out", None)
        if kw.get("keepdims") is False:
            del kw["keepdims"]
        if kw.get("where") is True:
            del kw["where"]
        return functools.partial(fn, ins[0], axis, dtype, out, **kw)
    return functools.partial(fn, *ins, **kwargs)


def _same(results: Any, bufs: tuple[np.ndarray, ...]) -> bool:
    again = results if isinstance(results, tuple) else (results,)
    return len(again) == len(bufs) and all(
        np.asarray(r).dtype == b.dtype and np.array_equal(r, b, equal_nan=True)
        for r, b in zip(again, bufs, strict=True))


def _strong(fn: Any, ins: tuple[Any, ...], kwargs: dict[str, Any],
            bufs: tuple[np.ndarray, ...] | None) -> tuple[Any, ...]:
    """``ins`` with each Python number replaced by a NumPy scalar of the dtype NumPy casts it
    to (NEP 50's weak scalars; NumPy parses a NumPy scalar faster), when the call gives the
    very same result that way (else ``ins`` as they are). Without ``bufs`` (the call writes
    into ``out=``, maybe over an input, and has not run yet) the result is appended, for the
    caller to compare."""
    if len(kwargs) != 1 or not any(type(a) in (int, float) for a in ins):
        return ins
    arrays = [a for a in ins if isinstance(a, np.ndarray)]
    if len(arrays) != len(ins) - 1:
        return ins
    dtype = np.result_type(*ins)
    if dtype.kind not in "biuf" or any(a.dtype != dtype for a in arrays):
        return ins
    strong = tuple(dtype.type(a) if type(a) in (int, float) else a for a in ins)
    try:
        with np.errstate(all="ignore"):
            again = fn(*strong)
    except (TypeError, ValueError, OverflowError):
        return ins
    if bufs is None:
        return (*strong, again)
    return strong if _same(again, bufs) else ins


def _into(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
          buf: np.ndarray) -> None:
    np.copyto(buf, func(*args, **kwargs))


def _into_many(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
               fresh: list[tuple[int, np.ndarray]]) -> None:
    res = func(*args, **kwargs)
    for i, buf in fresh:
        np.copyto(buf, res[i])


def _check(bad: np.ndarray, message: str) -> None:
    if bad:
        raise ValueError(message)


def _check_range(a: np.ndarray, low: float, high: float, message: str) -> None:
    if a.min() < low or a.max() > high:
        raise ValueError(message)


def _draw(generator: Any, device: str, shape: tuple[int, ...], dtype: Any,
          buf: np.ndarray) -> None:
    gen = generator if generator is not None else backend.default_generator(device)
    if type(gen) is np.random.Generator:
        gen.random(dtype=dtype, out=buf)
    else:
        np.copyto(buf, gen.random(shape, dtype=dtype))


class _Namespace:
    """NumPy as the ops see it (``backend.xp_of`` of a traced array) while a step is recorded:
    creations return traced buffers; everything else is NumPy's."""

    def __init__(self, rec: _Recorder) -> None:
        self._rec = rec

    def __getattr__(self, name: str) -> Any:
        if name == "random":
            self._rec.taint("xp.random draws outside the generators (use backend.uniform)")
        return getattr(np, name)

    def _made(self, buf: np.ndarray, refill: Callable[[], Any] | None) -> _Traced:
        return self._rec.created(buf, refill)

    def zeros(self, shape: Any, dtype: Any = float, **kw: Any) -> Any:
        buf = np.zeros(shape, dtype=dtype)
        return self._made(buf, functools.partial(np.ndarray.fill, buf, 0))

    def ones(self, shape: Any, dtype: Any = float, **kw: Any) -> Any:
        buf = np.ones(shape, dtype=dtype)
        return self._made(buf, functools.partial(np.ndarray.fill, buf, 1))

    def full(self, shape: Any, fill_value: Any, dtype: Any = None, **kw: Any) -> Any:
        buf = np.full(shape, _plain(fill_value), dtype=dtype)
        if isinstance(fill_value, np.ndarray):
            return self._rec.call(np.full, (shape, _plain(fill_value)), {"dtype": dtype}, "full")
        return self._made(buf, functools.partial(np.ndarray.fill, buf, fill_value))

    def empty(self, shape: Any, dtype: Any = float, **kw: Any) -> Any:
        return self._made(np.empty(shape, dtype=dtype), None)

    def zeros_like(self, a: Any, dtype: Any = None, **kw: Any) -> Any:
        return self.zeros(np.shape(a), dtype=dtype or a.dtype)

    def ones_like(self, a: Any, dtype: Any = None, **kw: Any) -> Any:
        return self.ones(np.shape(a), dtype=dtype or a.dtype)

    def empty_like(self, a: Any, dtype: Any = None, **kw: Any) -> Any:
        return self.empty(np.shape(a), dtype=dtype or a.dtype)

    def full_like(self, a: Any, fill_value: Any, dtype: Any = None, **kw: Any) -> Any:
        return self.full(np.shape(a), fill_value, dtype=dtype or a.dtype)

    def arange(self, *args: Any, **kw: Any) -> Any:
        buf = np.arange(*args, **kw)
        return self._made(buf, functools.partial(np.copyto, buf, buf.copy()))

    def eye(self, *args: Any, **kw: Any) -> Any:
        buf = np.eye(*args, **kw)
        return self._made(buf, functools.partial(np.copyto, buf, buf.copy()))

    def asarray(self, a: Any, dtype: Any = None, **kw: Any) -> Any:
        if type(a) is _Traced:
            return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
        return np.asarray(a, dtype=dtype, **kw)

    asanyarray = asarray


try:  # NumPy 2 keeps the error handling in a context variable: set it directly (0.2 us,
    from numpy._core._ufunc_config import (  # type: ignore[attr-defined]
        _extobj_contextvar,  # against 3 us for np.errstate)
    )
except ImportError:  # pragma: no cover - another NumPy
    _extobj_contextvar = None


def _under(err: Any, runs: list[Callable[[], Any]]) -> None:
    with np.errstate(**err):
        for run in runs:
            run()


def _under_ext(ext: Any, runs: list[Callable[[], Any]]) -> None:
    token = _extobj_contextvar.set(ext)
    try:
        for run in runs:
            run()
    finally:
        _extobj_contextvar.reset(token)


def _errstate_op(err: Any, runs: list[Callable[[], Any]]) -> Callable[[], Any]:
    """``runs`` under ``np.errstate(**err)``, as fast as this NumPy allows."""
    if _extobj_contextvar is not None:
        with np.errstate(**err):
            ext = _extobj_contextvar.get()
        return functools.partial(_under_ext, ext, runs)
    return functools.partial(_under, err, runs)


class _Op:
    __slots__ = ("run", "writes", "refill_of", "err")

    def __init__(self, run: Callable[[], Any], writes: tuple[int, ...] = (),
                 refill_of: int | None = None) -> None:
        self.run, self.writes, self.refill_of = run, writes, refill_of
        rec = _active
        err = np.geterr() if rec is not None else None
        self.err = err if err is not None and err != rec.errstate else None  # type: ignore[union-attr]


class _Recorder:
    """The log of one step's backend calls, and the buffers they read and write."""

    array_type = _Traced

    def __init__(self, tensors: list[Tensor], recording: bool = True) -> None:
        self.recording = recording
        self.in_live = False
        self.errstate = np.geterr()  # the floating-point error handling around the step
        self.ops: list[_Op] = []
        self.known: dict[int, np.ndarray] = {}  # owners of every buffer, by id (kept alive)
        self.problems: list[str] = []
        self.thread = threading.get_ident()
        self.xp = _Namespace(self)
        self.tensors = tensors
        self.modules: dict[int, Any] = {}

    # --- what the hooks in backend, nn and optim call -----------------------------------------
    def module(self, m: Any) -> None:
        if threading.get_ident() == self.thread:
            self.modules.setdefault(id(m), m)

    def taint(self, what: str) -> None:
        where = ""
        for frame in reversed(traceback.extract_stack()[:-2]):
            if "/gradwise/" not in frame.filename.replace("\\", "/"):
                where = f" (at {frame.filename}:{frame.lineno}: {frame.line})"
                break
        self.problems.append(what + where)

    def know(self, a: np.ndarray) -> None:
        o = _owner(a)
        self.known[id(o)] = o

    def traced(self, a: np.ndarray) -> _Traced:
        self.know(a)
        return a.view(_Traced)

    def _check_inputs(self, arrays: list[Any], what: str) -> None:
        for a in arrays:
            if type(a) is _Traced or (isinstance(a, np.ndarray) and a.base is not None
                                      and type(_owner(a)) is _Traced):
                if id(_owner(a)) not in self.known:
                    self.taint(f"{what} reads an array computed by a call the recorder does "
                               "not see")

    def ufunc(self, ufunc: Any, method: str, ins: tuple[Any, ...], kwargs: dict[str, Any],
              out: Any) -> Any:
        self._check_inputs(list(ins), ufunc.__name__)
        fn = getattr(ufunc, method)
        if method == "at":
            fn(*ins, **kwargs)
            self.ops.append(_Op(functools.partial(fn, *ins, **kwargs), (id(_owner(ins[0])),)))
            return None
        strong = ins
        if out is not None and method == "__call__":  # before the call may overwrite an input
            strong = _strong(fn, ins, kwargs, None)
        res = fn(*ins, **kwargs)
        if out is not None:
            outs = kwargs["out"]
            if strong is not ins and not _same(strong[-1], outs):
                strong = ins
            self.ops.append(_Op(_bind(fn, method, strong if strong is ins else strong[:-1],
                                      kwargs),
                                tuple(id(_owner(o)) for o in outs if o is not None)))
            return out[0] if len(out) == 1 else out
        results = res if isinstance(res, tuple) else (res,)
        bufs = tuple(r if isinstance(r, np.ndarray) else np.asarray(r) for r in results)
        kwargs["out"] = bufs
        self.ops.append(_Op(_bind(fn, method, _strong(fn, ins, kwargs, bufs), kwargs)))
        traced = tuple(self.traced(b) for b in bufs)
        return traced if isinstance(res, tuple) else traced[0]

    def call(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
        """A NumPy function or ndarray method (plain arguments): run it, log it, and return
        its result as views (of an input, or of fresh buffers)."""
        inputs = _leaves(args, []) + _leaves(kwargs, [])
        self._check_inputs(inputs, name)
        if name in _DATA_SHAPED or (name == "__getitem__" and any(
                a.dtype == bool for a in inputs[1:])):
            self.taint(f"{name}() makes an array whose shape depends on the data")
        res = func(*args, **kwargs)
        out = kwargs.get("out")
        if isinstance(out, np.ndarray):  # written into out=
            self.ops.append(_Op(functools.partial(func, *args, **kwargs), (id(_owner(out)),)))
            return self.traced(out) if res is out else res
        if res is None or func is np.copyto:  # in place: on its first argument
            target = args[0] if args else next(iter(kwargs.values()))
            writes = (id(_owner(target)),) if isinstance(target, np.ndarray) else ()
            self.ops.append(_Op(functools.partial(func, *args, **kwargs), writes))
            return res
        if not isinstance(res, np.generic) and isinstance(res, bool | float | complex) or (
                isinstance(res, int) and name not in ("ndim", "size")):
            self.taint(f"{name}() returns a Python number computed from arrays")
            return res
        if isinstance(res, np.ndarray | np.generic):
            view = self._view_of(res, inputs)
            if view is not None:
                return view
            buf = res if isinstance(res, np.ndarray) else np.asarray(res)
            self.ops.append(_Op(functools.partial(_into, func, args, kwargs, buf)))
            return self.traced(buf)
        if isinstance(res, tuple | list) and all(isinstance(r, np.ndarray | np.generic)
                                                 for r in res):
            outs: list[Any] = []
            fresh: list[tuple[int, np.ndarray]] = []
            for i, r in enumerate(res):
                view = self._view_of(r, inputs)
                if view is None:
                    buf = r if isinstance(r, np.ndarray) else np.asarray(r)
                    fresh.append((i, buf))
                    view = self.traced(buf)
                outs.append(view)
            if fresh:
                self.ops.append(_Op(functools.partial(_into_many, func, args, kwargs, fresh)))
            return type(res)(outs)
        return res  # shapes, dtypes and the like

    def _view_of(self, res: Any, inputs: list[Any]) -> _Traced | None:
        if not isinstance(res, np.ndarray):
            return None
        for a in inputs:
            if np.may_share_memory(res, a):
                self.know(a)
                return res.view(_Traced)
        return None

    def created(self, buf: np.ndarray, refill: Callable[[], Any] | None) -> _Traced:
        if refill is not None:
            self.ops.append(_Op(refill, refill_of=id(buf)))
        return self.traced(buf)

    def check(self, bad: Any, message: str) -> None:
        bad = _plain(bad)
        _check(bad, message)
        self.ops.append(_Op(functools.partial(_check, bad, message)))

    def check_range(self, array: Any, low: float, high: float, message: str) -> None:
        array = _plain(array)
        _check_range(array, low, high, message)
        self.ops.append(_Op(functools.partial(_check_range, array, low, high, message)))

    def uniform(self, generator: Any, device: str, shape: tuple[int, ...], dtype: Any) -> Any:
        buf = np.empty(shape, dtype=dtype)
        _draw(generator, device, shape, dtype, buf)
        self.ops.append(_Op(functools.partial(_draw, generator, device, shape, dtype, buf),
                            (id(buf),)))
        return self.traced(buf)

    def live(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``fn`` as eager code on plain arrays now and at every replay."""
        global _active
        if threading.get_ident() != self.thread or self.in_live:
            return fn(*args, **kwargs)  # another thread's, or inside a live call (one op)
        args, kwargs = _unwrap(args), _unwrap(kwargs)
        op = _Op(functools.partial(fn, *args, **kwargs))
        self.ops.append(op)
        _active = None
        self.untrace()
        self.in_live = True
        try:
            result = fn(*args, **kwargs)
            # an optimizer's step: its replay plan, the same update without step()'s checks
            planner = getattr(args[0], "_replay_plan", None) if len(args) == 1 else None
            plan = planner() if planner is not None and not kwargs else None
            if plan is not None:
                op.run = plan
            return result
        finally:
            self.in_live = False
            self.retrace()
            _active = self

    def host_read(self, array: Any) -> None:
        self.taint("reading a computed array on the host (.numpy(), to_numpy)")

    # --- the tensors whose arrays are traced while recording ----------------------------------
    def retrace(self) -> None:
        for t in self.tensors:
            for attr in ("data", "grad", "grad_slot"):
                a = getattr(t, attr)
                if type(a) is np.ndarray:
                    setattr(t, attr, self.traced(a))
            if t.grad_slot is not None:
                t._slot_checked_for = None

    def untrace(self) -> None:
        for t in self.tensors:
            for attr in ("data", "grad", "grad_slot"):
                a = getattr(t, attr)
                if type(a) is _Traced:
                    setattr(t, attr, _untraced(a))
            t._slot_checked_for = None

    def finish(self) -> list[Callable[[], Any]]:
        """The replay: every op, without the refills of creations nothing writes into; an op
        that ran under its own ``np.errstate`` replays under it."""
        written: set[int] = set()
        for op in self.ops:
            written.update(op.writes)
        kept = [op for op in self.ops if op.refill_of is None or op.refill_of in written]
        out: list[Callable[[], Any]] = []
        i = 0
        while i < len(kept):  # consecutive ops under one errstate share one context
            err = kept[i].err
            j = i + 1
            while err is not None and j < len(kept) and kept[j].err == err:
                j += 1
            out.append(kept[i].run if err is None else _errstate_op(
                err, [op.run for op in kept[i:j]]))
            i = j
        return out


_training = operator.attrgetter("training")
_grad = operator.attrgetter("grad")
_data = operator.attrgetter("data")


def _untraced(a: _Traced) -> np.ndarray:
    """The plain array that the traced view ``a`` was made from (the same object, so that
    identity checks such as the optimizer's layout cache still hold), else a plain view."""
    b = a.base
    if (type(b) is np.ndarray and b.shape == a.shape and b.strides == a.strides
            and b.dtype == a.dtype and backend.data_ptr(b) == backend.data_ptr(a)):
        return b
    return a.view(np.ndarray)


class _Recording:
    __slots__ = ("ops", "inputs", "outputs", "grads", "datas", "version")

    def __init__(self, ops: list[Callable[[], Any]], inputs: list[np.ndarray | None],
                 outputs: Any, grads: list[Any], datas: list[Any]) -> None:
        self.ops, self.inputs, self.outputs = ops, inputs, outputs
        self.grads, self.datas = grads, datas
        self.version = backend.state_version


class CompiledStep:
    """A training step recorded once per key and replayed (see :mod:`gradwise.capture`)."""

    def __init__(self, fn: Callable[..., Any], max_recordings: int = 8,
                 fallback: bool | str = False) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.max_recordings = max_recordings
        self.fallback = fallback
        self.recordings: dict[Any, _Recording | None] = {}
        self.calls = 0
        self.replays = 0  # calls that replayed a recording
        #: None, or a dict that replays add their seconds to: "live" (the optimizer's step and
        #: the all-reduce) and "array" (every other recorded call); for benchmarks
        self.timings: dict[str, float] | None = None
        self.modules: list[Any] = []
        self.tensors: list[Tensor] = []
        self._warned = False

    # --- bookkeeping --------------------------------------------------------------------------
    def _key(self, args: tuple[Any, ...]) -> Any:
        parts: list[Any] = list(map(_training, self.modules))
        parts += map(operator.is_, map(_grad, self.tensors), itertools.repeat(None))
        for a in args:
            arr = a.data if isinstance(a, Tensor) else a
            kind = type(arr)
            if kind is np.ndarray:
                parts.append(arr.shape)
                parts.append(arr.dtype)
            elif isinstance(arr, np.ndarray) or backend.device_of(arr) != "cpu":
                return None  # CuPy (or another array type): eager
            else:
                try:
                    hash(a)
                except TypeError:
                    return None
                parts.append(("value", a))
        return tuple(parts)

    def _watch(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run eagerly, noting the modules and optimizers the step uses."""
        rec = _Recorder([], recording=False)
        optimizers: list[Any] = []

        def live(fn: Callable[..., Any], a: tuple[Any, ...], k: dict[str, Any]) -> Any:
            if threading.get_ident() != rec.thread:
                return fn(*a, **k)
            for o in a:
                if hasattr(o, "param_groups") and o not in optimizers:
                    optimizers.append(o)
            return fn(*a, **k)

        rec.live = live  # type: ignore[method-assign,assignment]
        with _lock:
            previous = backend.set_capture(rec)
            try:
                result = self.fn(*args, **kwargs)
            finally:
                backend.set_capture(previous)
        self.modules = list(rec.modules.values())
        tensors: dict[int, Tensor] = {}
        for m in self.modules:
            for p in m._parameters.values():
                tensors.setdefault(id(p), p)
        for o in optimizers:
            for group in o.param_groups:
                for p in group["params"]:
                    tensors.setdefault(id(p), p)
        self.tensors = list(tensors.values())
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        nested = _active is not None and _active.thread == threading.get_ident()
        if self.calls == 1 or kwargs or nested:
            first = self.calls == 1
            return _eager(self._watch(args, kwargs) if first else self.fn(*args, **kwargs))
        key = self._key(args)
        if key is None:
            return _eager(self.fn(*args))
        if key not in self.recordings:
            if len(self.recordings) >= self.max_recordings:
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"gw.compile: {self.max_recordings} recordings of "
                                  f"{getattr(self.fn, '__name__', 'the step')} already (one per "
                                  "input shape, dtype and mode); this and further new ones run "
                                  "eagerly", RuntimeWarning, stacklevel=2)
                return _eager(self.fn(*args))
            return self._record(key, args)
        rec = self.recordings[key]
        if rec is None:  # this key cannot be replayed
            return _eager(self.fn(*args))
        if backend.state_version != rec.version or not all(
                map(operator.is_, map(_data, self.tensors), rec.datas)):
            # a module's attribute was assigned, or a parameter replaced: record afresh
            self.recordings.clear()
            self.calls = 0
            return self(*args)
        for buf, a in zip(rec.inputs, args, strict=True):
            if buf is not None:  # the same shape and dtype (the key): a plain copy
                buf[...] = a.data if isinstance(a, Tensor) else a
        _threads.adapt()
        self.replays += 1
        if self.timings is None:
            for op in rec.ops:
                op()
        else:
            self._timed(rec.ops)
        for t, g in zip(self.tensors, rec.grads, strict=True):
            t.grad = g
        return _copy_out(rec.outputs)

    def _timed(self, ops: list[Callable[[], Any]]) -> None:
        """The replay, adding the seconds of the live calls (the optimizer's step) and of the
        array calls to :attr:`timings` (for benchmarks)."""
        clock = time.perf_counter
        timings = cast("dict[str, float]", self.timings)
        for op in ops:
            t0 = clock()
            op()
            kind = "live" if getattr(op, "__name__", "") == "replay" or (
                isinstance(op, functools.partial) and getattr(
                    op.func, "__name__", "") in ("step", "average_gradients")) else "array"
            timings[kind] = timings.get(kind, 0.0) + clock() - t0

    def _record(self, key: Any, args: tuple[Any, ...]) -> Any:
        global _active
        rec = _Recorder(self.tensors)
        inputs: list[np.ndarray | None] = []
        traced_args: list[Any] = []
        for a in args:
            arr = a.data if isinstance(a, Tensor) else a
            if isinstance(arr, np.ndarray):
                buf = np.empty(arr.shape, dtype=arr.dtype)
                np.copyto(buf, arr)
                inputs.append(buf)
                view = rec.traced(buf)
                traced_args.append(wrap(view) if isinstance(a, Tensor) else view)
            else:
                inputs.append(None)
                traced_args.append(a)
        datas = [t.data for t in self.tensors]
        with _lock:
            rec.retrace()
            previous = backend.set_capture(rec)
            _active = rec
            try:
                result = self.fn(*traced_args)
            finally:
                _active = None
                backend.set_capture(previous)
                rec.untrace()
        grads = [t.grad for t in self.tensors]
        outputs = _outputs(result, rec)
        if rec.problems:
            self.recordings[key] = None
            message = (f"gw.compile cannot replay {getattr(self.fn, '__name__', 'this step')}: "
                       + "; ".join(dict.fromkeys(rec.problems))
                       + ". Return the loss tensor and read it outside the step; the step "
                       "itself ran (eagerly).")
            if not self.fallback:
                raise NotReplayableError(message)
            if self.fallback != "quiet":
                warnings.warn(message + " It runs eagerly from now on.", RuntimeWarning,
                              stacklevel=3)
            return _copy_out(outputs)
        self.recordings[key] = _Recording(rec.finish(), inputs, outputs, grads, datas)
        return _copy_out(outputs)


def _outputs(result: Any, rec: _Recorder) -> Any:
    """The step's result with every array as a plain view of its buffer, to copy out."""
    if isinstance(result, Tensor):
        return ("tensor", _outputs(result.data, rec))
    if isinstance(result, np.ndarray):
        if type(result) is _Traced or id(_owner(result)) in rec.known:
            return ("array", _plain(result))
        rec.taint("the step returns an array computed outside the recorder's view")
        return ("value", result)
    if isinstance(result, tuple | list):
        return (type(result), [_outputs(r, rec) for r in result])
    if isinstance(result, dict):
        return ("dict", {k: _outputs(v, rec) for k, v in result.items()})
    if isinstance(result, np.generic | float):
        rec.taint("the step returns a Python number read from an array")
    return ("value", result)


def _eager(result: Any) -> Any:
    """An eager call's result as a compiled call returns it: copies, detached."""
    if isinstance(result, Tensor):
        return wrap(result.data.copy())
    if isinstance(result, np.ndarray):
        return result.copy()
    if isinstance(result, tuple | list):
        return type(result)(_eager(r) for r in result)
    if isinstance(result, dict):
        return {k: _eager(v) for k, v in result.items()}
    return result


def _copy_out(out: Any) -> Any:
    kind, value = out
    if kind == "tensor":
        return wrap(_copy_out(value))
    if kind == "array":
        return value.copy()
    if kind == "dict":
        return {k: _copy_out(v) for k, v in value.items()}
    if kind == "value":
        return value
    return kind(_copy_out(v) for v in value)


def compile(fn: Callable[..., Any] | None = None, *, max_recordings: int = 8,  # noqa: A001
            fallback: bool | str = False) -> Any:
    """Record the training step ``fn`` once per input key and replay it without Python's
    overhead (see :mod:`gradwise.capture`); usable as ``gw.compile(fn)`` or as a decorator.

    ``fn(*args)`` is a whole step (``zero_grad``, forward, loss, ``backward``, clipping,
    ``optimizer.step()``) returning its results (the loss tensor, outputs), which come back as
    copies. ``max_recordings`` bounds the recorded keys (input shapes and dtypes, modes);
    ``fallback=True`` runs a step that cannot be replayed eagerly with a warning instead of
    raising :class:`NotReplayableError` (``"quiet"``: without the warning).
    """
    if fn is None:
        return functools.partial(compile, max_recordings=max_recordings, fallback=fallback)
    return CompiledStep(fn, max_recordings=max_recordings, fallback=fallback)
