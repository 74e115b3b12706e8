"""Tensors and reverse-mode automatic differentiation (backpropagation).

About 660 lines: the Tensor class with its typed operator methods (each a line or two), the
Function protocol and the backward walk, which belong together.

A :class:`Tensor` wraps a backend array. Every differentiable operation is a :class:`Function`
with a ``forward`` on raw arrays and a ``backward`` that maps the gradient of the output,
``dJ/dy``, to the gradients of the inputs by the chain rule, ``dJ/dx = dJ/dy * dy/dx``
(Rumelhart, Hinton and Williams 1986). Calling a Function on tensors that require gradients
records a node; :meth:`Tensor.backward` walks the recorded graph in reverse topological order,
iteratively (no recursion, so a 10,000-op chain works), and accumulates into the ``.grad`` of
the leaves, as PyTorch does.

Operators, reductions, activations and the rest live in :mod:`gradwise.functional`; the
Tensor's operators and methods (``a + b``, ``x.sum(axis=0)``, ``x.relu()``) are defined on the
class, typed, and call them: :class:`TensorOps` declares what they need from the layer above,
and functional installs itself as that at import (:func:`install_ops`).
"""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Protocol, cast

import numpy as np

from . import backend
from .backend import xp_of

__all__ = [
    "TENSOR_OPS",
    "Function",
    "Tensor",
    "TensorOps",
    "enable_grad",
    "install_ops",
    "is_grad_enabled",
    "no_grad",
    "take_grad_slot",
    "tensor",
    "wrap",
]

class _GradMode(threading.local):
    """Whether operations record a graph; per thread, as in PyTorch."""

    enabled = True

    def __init__(self) -> None:
        self.saved: list[bool] = []  # modes to restore as nested switches exit


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph."""
    return _grad_mode.enabled


class _GradSwitch(contextlib.ContextDecorator):
    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled

    def __enter__(self) -> None:
        mode = _grad_mode
        mode.saved.append(mode.enabled)
        mode.enabled = self._enabled

    def __exit__(self, *exc: object) -> None:
        mode = _grad_mode
        mode.enabled = mode.saved.pop()


def no_grad() -> _GradSwitch:
    """Context manager and decorator: no graph is recorded inside it (inference, updates)."""
    return _GradSwitch(False)


def enable_grad() -> _GradSwitch:
    """Context manager and decorator that turns graph recording back on inside ``no_grad``."""
    return _GradSwitch(True)


class Function:
    """A differentiable operation: ``forward`` on raw arrays, ``backward`` by the chain rule.

    Subclasses implement ``forward(self, *arrays) -> array`` (saving on ``self`` what the
    backward pass needs) and ``backward(self, gy) -> tuple`` returning one gradient array (or
    ``None``) per input, each of that input's shape. ``backward`` must not modify ``gy``.
    Hyperparameters (an axis, a slope) go through ``__init__``.
    """

    __slots__ = ("inputs", "needs")

    inputs: tuple[Tensor, ...] | None
    needs: tuple[bool, ...]

    def forward(self, *xs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, gy: Any) -> tuple[Any, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *inputs: Tensor) -> Tensor:
        """Run ``forward`` on the inputs' arrays and record the node when a gradient is needed."""
        out = wrap(self.forward(*[t.data for t in inputs]))
        if _grad_mode.enabled:
            needs = tuple([t.requires_grad for t in inputs])
            if True in needs:
                self.inputs = inputs
                self.needs = needs
                out.requires_grad = True
                out._node = self
        return out


def wrap(data: Any) -> Tensor:
    """A tensor around an op's result array, recording nothing (no copy, no checks)."""
    out = Tensor.__new__(Tensor)
    out.data = data
    out.grad = None
    out.requires_grad = False
    out._node = None
    out.grad_slot = None
    return out


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the backend array (NumPy or CuPy); ``grad`` is ``None`` until a backward pass
    reaches this tensor, then an array of the same shape and dtype. Only floating tensors can
    require gradients. ``grad_slot`` is None, or (for a parameter, see
    :mod:`gradwise.nn.storage`) the array of the data's shape and dtype into which a backward
    pass writes this leaf's first gradient, so gradients land in contiguous storage.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "grad_slot", "_slot_checked_for",
                 "__weakref__")
    __array_priority__ = 1000  # make ``ndarray + Tensor`` call Tensor.__radd__
    __hash__ = object.__hash__  # comparisons return tensors, identity stays the hash

    data: Any
    grad: Any
    requires_grad: bool
    _node: Function | None
    grad_slot: Any
    _slot_checked_for: Any

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False,
                 device: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype, device)
        self.grad = None
        self._node = None
        self.grad_slot = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # --- properties -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use (...).all() or .any() on .numpy()"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self.data), precision=4, separator=", ",
                               prefix="tensor(")
        extra = ""
        if self.dtype != backend.get_default_dtype() and self.dtype.kind == "f":
            extra += f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Mark a leaf tensor as needing a gradient (only floating tensors can)."""
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"only floating tensors can require gradients, this one is {self.data.dtype}"
            )
        if not self.is_leaf and not flag:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use .detach()")
        self.requires_grad = flag
        return self

    # --- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy when the tensor lives on a GPU)."""
        return backend.to_numpy(self.data)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number (on a GPU, after raising any
        failed :func:`gradwise.backend.check` still pending there)."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, this one has shape {self.shape}"
            )
        backend.raise_pending()
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph (requires no gradient)."""
        return wrap(self.data)

    def to(self, device: str | None = None, dtype: Any = None) -> Tensor:
        """A copy on another device and/or with another dtype (``self`` when nothing changes).

        The result is a new leaf: moving is not recorded in the graph.
        """
        data = self.data
        if device is not None:
            data = backend.to_device(data, backend.normalize_device(device))
        if dtype is not None:
            data = data.astype(backend.as_dtype(dtype), copy=False)
        if data is self.data:
            return self
        out = wrap(data)
        if self.requires_grad and data.dtype.kind == "f":
            out.requires_grad = True
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(dtype=np.float32)

    def double(self) -> Tensor:
        return self.to(dtype=np.float64)

    # --- operators and methods: the ops of gradwise.functional ------------------------------
    # The ops live above this layer; gradwise.functional hands them over at import
    # (install_ops), so these typed methods forward to them.
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.rpow(self, other)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    # comparisons give boolean tensors (no gradient), as in NumPy and PyTorch
    def __lt__(self, other: Any) -> Tensor:
        return _compare(self, other, "__lt__")

    def __le__(self, other: Any) -> Tensor:
        return _compare(self, other, "__le__")

    def __gt__(self, other: Any) -> Tensor:
        return _compare(self, other, "__gt__")

    def __ge__(self, other: Any) -> Tensor:
        return _compare(self, other, "__ge__")

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare(self, other, "__eq__")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare(self, other, "__ne__")

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's and PyTorch's name
        return _ops.transpose(self)

    def transpose(self, *axes: Any) -> Tensor:
        return _ops.transpose(self, *axes)

    def reshape(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, *shape)

    def flatten(self, start_axis: int = 1) -> Tensor:
        return _ops.reshape(self, (*self.shape[:start_axis], -1))

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.min(self, axis, keepdims)

    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def clip(self, min: builtins.float | None = None,  # noqa: A002
             max: builtins.float | None = None) -> Tensor:  # noqa: A002
        return _ops.clip(self, min, max)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def leaky_relu(self, negative_slope: builtins.float = 0.01) -> Tensor:
        return _ops.leaky_relu(self, negative_slope)

    def softplus(self) -> Tensor:
        return _ops.softplus(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return _ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _ops.log_softmax(self, axis)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.logsumexp(self, axis, keepdims)

    def argmax(self, axis: int | None = None) -> Tensor:
        """The index of the largest entry (along ``axis``); no gradient."""
        return wrap(self.data.argmax(axis=axis))

    # --- autodiff ---------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor, accumulating ``dJ/dx`` into every leaf's ``.grad``.

        A scalar output is seeded with 1; any other output needs ``grad`` (``dJ/dself``) of its
        shape. The graph is freed afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True (or it ran inside no_grad())"
            )
        xp = xp_of(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar output, this one has shape "
                    f"{self.shape}; pass grad=dJ/dy of that shape, or reduce it first (.sum())"
                )
            seed = xp.ones(self.shape, dtype=self.dtype)
        else:
            seed = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
            if seed.shape != self.shape:
                raise ValueError(
                    f"backward(): grad has shape {seed.shape} but the output has shape {self.shape}"
                )
            seed = seed.astype(self.dtype, copy=False)
        if self._node is None:
            _accumulate_leaf(self, seed, seed)
            return
        _run_backward(self._node, seed, retain_graph)


def _compare(a: Tensor, other: Any, op: str) -> Tensor:
    o = other.data if isinstance(other, Tensor) else other
    return wrap(getattr(a.data, op)(o))


class TensorOps(Protocol):
    """The ops :class:`Tensor`'s operators and methods call: the whole of autograd's dependency on
    the layer above it. :mod:`gradwise.functional` implements them (functions of these names
    and signatures, which mypy checks against this protocol) and installs itself with
    :func:`install_ops` when it is imported, which ``import gradwise`` (and so any import of a
    gradwise module) does first."""

    def add(self, a: Any, b: Any, /) -> Tensor: ...
    def sub(self, a: Any, b: Any, /) -> Tensor: ...
    def mul(self, a: Any, b: Any, /) -> Tensor: ...
    def div(self, a: Any, b: Any, /) -> Tensor: ...
    def pow(self, a: Any, b: Any, /) -> Tensor: ...
    def rpow(self, x: Tensor, base: Any, /) -> Tensor: ...  # base ** x
    def matmul(self, a: Any, b: Any, /) -> Tensor: ...
    def neg(self, x: Tensor, /) -> Tensor: ...
    def getitem(self, x: Tensor, index: Any, /) -> Tensor: ...
    def transpose(self, x: Tensor, /, *axes: Any) -> Tensor: ...
    def reshape(self, x: Tensor, /, *shape: Any) -> Tensor: ...
    def sum(self, x: Tensor, axis: Any, keepdims: bool, /) -> Tensor: ...
    def mean(self, x: Tensor, axis: Any, keepdims: bool, /) -> Tensor: ...
    def max(self, x: Tensor, axis: Any, keepdims: bool, /) -> Tensor: ...
    def min(self, x: Tensor, axis: Any, keepdims: bool, /) -> Tensor: ...
    def exp(self, x: Tensor, /) -> Tensor: ...
    def log(self, x: Tensor, /) -> Tensor: ...
    def sqrt(self, x: Tensor, /) -> Tensor: ...
    def abs(self, x: Tensor, /) -> Tensor: ...
    def clip(self, x: Tensor, min: float | None, max: float | None, /) -> Tensor: ...
    def sigmoid(self, x: Tensor, /) -> Tensor: ...
    def tanh(self, x: Tensor, /) -> Tensor: ...
    def relu(self, x: Tensor, /) -> Tensor: ...
    def leaky_relu(self, x: Tensor, negative_slope: float, /) -> Tensor: ...
    def softplus(self, x: Tensor, /) -> Tensor: ...
    def softmax(self, x: Tensor, axis: int, /) -> Tensor: ...
    def log_softmax(self, x: Tensor, axis: int, /) -> Tensor: ...
    def logsumexp(self, x: Tensor, axis: Any, keepdims: bool, /) -> Tensor: ...


#: the names of :class:`TensorOps`, in the order declared
TENSOR_OPS = tuple(name for name in vars(TensorOps) if not name.startswith("_"))


class _NotInstalled:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"Tensor.{name}: the ops are not installed yet (gradwise.functional "
                           "installs them when it is imported; import gradwise first)")


_ops: TensorOps = cast(TensorOps, _NotInstalled())  # what Tensor's operators call


def install_ops(ops: TensorOps) -> None:
    """Give :class:`Tensor`'s operators and methods the ops they call (every name of
    :class:`TensorOps`); :mod:`gradwise.functional` passes itself, once, at import."""
    missing = [name for name in TENSOR_OPS if not callable(getattr(ops, name, None))]
    if missing:
        raise TypeError(f"install_ops: {ops!r} lacks the Tensor ops {', '.join(missing)}")
    global _ops
    _ops = ops


def _accumulate_leaf(leaf: Tensor, g: Any, upstream: Any) -> None:
    """Add ``g`` into ``leaf.grad``: in place into an owned buffer, never into a shared array."""
    current = leaf.grad
    if current is None:
        buf = _grad_slot(leaf)
        if buf is not None:
            xp_of(buf).copyto(buf, g)
            leaf.grad = buf
        elif g is upstream or g.base is not None or g.dtype != leaf.data.dtype:
            # the array is shared with another gradient or is a view: take a private copy
            leaf.grad = g.astype(leaf.data.dtype, copy=True)
        else:
            leaf.grad = g
    elif current is leaf.grad_slot:
        current += g
    else:
        leaf.grad = current + g


def take_grad_slot(param: Tensor) -> Any:
    """``param``'s gradient slot when the backward pass is about to fill it for the first time
    (``.grad`` is None), else None.

    A kernel that writes its gradient straight into the returned array (``out=``) sets
    ``param.grad`` to it and returns None for that input, which saves the copy that the
    backward pass would make; later contributions are then added into it in place.
    """
    if param.grad is not None or param._node is not None:
        return None
    buf = _grad_slot(param)
    if buf is None:
        return None
    param.grad = buf
    return buf


def _grad_slot(leaf: Tensor) -> Any:
    """``leaf.grad_slot`` if it still fits ``leaf.data`` (shape, dtype and array type: someone
    may have assigned ``leaf.data`` a different array since), else None."""
    buf = leaf.grad_slot
    if buf is None:
        return None
    data = leaf.data
    if getattr(leaf, "_slot_checked_for", None) is data:  # checked before, for this array
        return buf
    if buf.shape != data.shape or buf.dtype != data.dtype or type(buf) is not type(data):
        leaf.grad_slot = None
        return None
    leaf._slot_checked_for = data
    return buf


def _topological_order(root: Function) -> list[Function]:
    """Nodes reachable from ``root``, each after every node that consumes its output."""
    order: list[Function] = []
    visited = {id(root)}
    stack: list[tuple[Function, Iterator[Tensor]]] = [(root, iter(_inputs_of(root)))]
    while stack:
        node, children = stack[-1]
        for t in children:
            child = t._node
            if child is not None and id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(_inputs_of(child))))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def _inputs_of(node: Function) -> tuple[Tensor, ...]:
    if node.inputs is None:
        raise RuntimeError(
            "backward through a graph that has already been freed: a second backward() over "
            "the same operations needs retain_graph=True in the first one"
        )
    return node.inputs


def _run_backward(root: Function, seed: Any, retain_graph: bool) -> None:
    order = _topological_order(root)
    pending: dict[Function, Any] = {root: seed}  # Functions hash by identity
    for node in order:
        gy = pending.pop(node, None)
        inputs = cast("tuple[Tensor, ...]", node.inputs)
        if gy is not None:
            grads = node.backward(gy)
            for t, need, g in zip(inputs, node.needs, grads, strict=True):
                if not need or g is None:
                    continue
                child = t._node
                if child is None:
                    _accumulate_leaf(t, g, gy)
                else:
                    prev = pending.get(child)
                    pending[child] = g if prev is None else prev + g
        if not retain_graph:
            node.inputs = None
            _free_saved(node)


_saved_slots: dict[type, tuple[str, ...]] = {}


def _free_saved(node: Function) -> None:
    """Drop what ``forward`` saved on the node, so its arrays are freed during backward."""
    cls = type(node)
    names = _saved_slots.get(cls)
    if names is None:
        names = tuple(name for c in cls.__mro__ for name in getattr(c, "__slots__", ())
                      if name not in ("inputs", "needs", "__weakref__"))
        _saved_slots[cls] = names
    for name in names:
        try:
            delattr(node, name)
        except AttributeError:
            pass


def _as_array(data: Any, dtype: Any, device: str | None) -> Any:
    """A backend array on ``device`` (default: where ``data`` lives); floating data without an
    explicit ``dtype`` takes the default dtype."""
    dev = backend.normalize_device(device) if device is not None else backend.device_of(data)
    if backend.device_of(data) != dev:
        data = backend.to_device(data, dev)
    xp = backend.xp_of(data)  # (the data is on dev now; a compiled step's arrays stay recorded)
    if dtype is not None:
        return xp.asarray(data, dtype=backend.as_dtype(dtype))
    arr = xp.asarray(data)
    if arr.dtype.kind in "OUSV":
        raise TypeError(f"a tensor holds numbers; got data of dtype {arr.dtype} "
                        f"({type(data).__name__}), e.g. strings or Python objects")
    if arr.dtype.kind == "f" and arr.dtype != backend.get_default_dtype():
        arr = arr.astype(backend.get_default_dtype())
    return arr


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False,
           device: str | None = None) -> Tensor:
    """Create a tensor from a list, a scalar or an array.

    Floating data takes the default dtype (float32) unless ``dtype`` is given, so that data
    loaded as float64 never turns a float32 graph into float64; integer and boolean data keep
    their kind (class labels stay integers). The array is copied.
    """
    if isinstance(data, Tensor):
        data = data.data
    arr = _as_array(data, dtype, device)
    if arr is data:
        arr = arr.copy()
    t = wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t
