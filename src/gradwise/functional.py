"""Differentiable primitives: arithmetic, matmul, reductions, shape ops, activations, losses.

This is the public interface; each op is a :class:`~gradwise.autograd.Function` in
:mod:`gradwise.ops` (one file per kind) whose docstring states what it computes and its
derivative. Everything is written once against the array namespace of its inputs, so it runs
on NumPy and CuPy alike. Operands that are not tensors (Python numbers, arrays) take the dtype of
the tensor they meet, so a float32 graph stays float32; two floating tensors of different
dtypes are an error rather than a silent promotion.

The lecture's building blocks that always come together are fused into one node each: the Dense
layer ``g(x @ W + b)`` (:func:`linear`), sigmoid with binary cross-entropy
(:func:`binary_cross_entropy_with_logits`) and softmax with cross-entropy (:func:`cross_entropy`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import backend
from .autograd import Function, Tensor, install_ops, wrap
from .backend import xp_of
from .ops import check_reduction, index_data, norm_axis, target_like
from .ops.activations import (
    LeakyReLU,
    LogSoftmax,
    LogSumExp,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .ops.arithmetic import Add, Div, MatMul, Mul, Neg, Pow, PowScalar, Sub
from .ops.dense import FUSED_ACTIVATIONS, Linear
from .ops.dropout import _Dropout
from .ops.elementwise import Abs, Clip, Exp, Log, Sqrt
from .ops.losses import (
    BCE,
    L1,
    MSE,
    BCEWithLogits,
    CrossEntropy,
    Huber,
    WeightedBCE,
    WeightedBCEWithLogits,
    WeightedCrossEntropy,
)
from .ops.reductions import Max, Mean, Sum
from .ops.shape import Concatenate, GetItem, Reshape, Stack, Transpose, Where

__all__ = [
    "abs", "add", "binary_cross_entropy", "binary_cross_entropy_with_logits", "clip",
    "concatenate", "cross_entropy", "div", "dropout", "exp", "getitem", "huber_loss", "l1_loss",
    "leaky_relu", "linear", "log", "log_softmax", "logsumexp", "matmul", "max", "mean", "min",
    "mse_loss", "mul", "neg",
    "pow", "relu", "reshape", "rpow", "sigmoid", "softmax", "softplus", "sqrt", "stack", "sub",
    "sum", "tanh", "transpose", "where",
]

# --- helpers ----------------------------------------------------------------------------------

def _as_tensor(x: Any, like: Tensor) -> Tensor:
    """Wrap a non-tensor operand as a constant with the dtype and device of ``like``."""
    if isinstance(x, Tensor):
        return x
    xp = xp_of(like.data)
    arr = xp.asarray(x)
    if like.data.dtype.kind == "f":
        if arr.dtype != like.data.dtype and arr.dtype.kind in "biuf":
            arr = arr.astype(like.data.dtype)
    elif arr.dtype.kind == "f" and arr.dtype != backend.get_default_dtype():
        arr = arr.astype(backend.get_default_dtype())  # as gw.tensor: floats take the default
    return wrap(arr)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two tensor operands with a common dtype; mixing float32 and float64 tensors is refused."""
    if not isinstance(a, Tensor):
        a = _as_tensor(a, b)
    elif not isinstance(b, Tensor):
        b = _as_tensor(b, a)
    da, db = a.data.dtype, b.data.dtype
    if da != db:
        if da.kind == "f" and db.kind == "f":
            raise TypeError(
                f"operands have dtypes {da} and {db}: gradwise never promotes silently; "
                f"convert one with .to(dtype=...)"
            )
        if da.kind == "f":  # a non-floating tensor never requires grad: cast it as a constant
            b = wrap(b.data.astype(da))
        elif db.kind == "f":
            a = wrap(a.data.astype(db))
    return a, b


# --- the fused Dense layer, losses and dropout -----------------------------------------------

def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None,
           activation: str | None = None) -> Tensor:
    """``g(x @ W + b)`` in one fused node: the lecture's ``y = g(w0 + X^T W)``.

    ``activation`` is one of ``ops.FUSED_ACTIVATIONS``: None (linear), ``"relu"``,
    ``"sigmoid"``, ``"tanh"`` or one registered as fused (``gw.nn.register_activation``).
    """
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(
            f"linear: activation must be one of {tuple(FUSED_ACTIVATIONS)}, got {activation!r}"
        )
    if not isinstance(x, Tensor):
        x = _as_tensor(x, weight)
    if x.data.dtype != weight.data.dtype:
        if x.data.dtype.kind == "f":
            raise TypeError(
                f"input has dtype {x.data.dtype} but the layer's weights are {weight.data.dtype}; "
                "convert the input or the model with .to(dtype=...)"
            )
        x = wrap(x.data.astype(weight.data.dtype))
    fn = Linear(activation)
    return fn(x, weight) if bias is None else fn(x, weight, bias)


def _broadcast_target(target: Any, input: Tensor, name: str) -> Any:
    """The target of a regression loss on the input's device and dtype. A target of another
    shape is broadcast against the input with PyTorch's warning (``mse_loss``, ``l1_loss`` and
    ``huber_loss`` do the same)."""
    t = backend.to_device(target.data if isinstance(target, Tensor) else target, input.device)
    t = xp_of(input.data).asarray(t)
    if t.shape != input.shape:
        try:
            np.broadcast_shapes(t.shape, input.shape)
        except ValueError:
            raise ValueError(f"{name}: target of shape {tuple(t.shape)} cannot be broadcast "
                             f"against input of shape {tuple(input.shape)}") from None
        warnings.warn(
            f"{name}: using a target size {tuple(t.shape)} that is different to the input size "
            f"{tuple(input.shape)}. This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.", UserWarning, stacklevel=3)
    return t.astype(input.data.dtype, copy=False)


def _weight(weight: Any, input: Tensor, name: str, what: str = "weight") -> Any:
    """A per-element weight as an array on the input's device and dtype that broadcasts to the
    input's shape without enlarging it."""
    w = backend.to_device(weight.data if isinstance(weight, Tensor) else weight, input.device)
    w = xp_of(input.data).asarray(w).astype(input.data.dtype, copy=False)
    try:
        ok = np.broadcast_shapes(w.shape, input.shape) == input.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: {what} of shape {tuple(w.shape)} does not broadcast to the "
                         f"input's shape {tuple(input.shape)}")
    return w


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``J = mean((input - target)^2)`` (the lecture's regression loss)."""
    check_reduction(reduction)
    return MSE(_broadcast_target(target, input, "mse_loss"), reduction)(input)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``J = mean(|input - target|)`` (PyTorch's ``l1_loss``)."""
    check_reduction(reduction)
    return L1(_broadcast_target(target, input, "l1_loss"), reduction)(input)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss (Huber 1964): ``d^2 / 2`` for ``|d| < delta``, ``delta (|d| - delta / 2)``
    beyond, on ``d = input - target`` (PyTorch's ``huber_loss``)."""
    check_reduction(reduction)
    if not (isinstance(delta, int | float) and delta > 0):
        raise ValueError(f"huber_loss: delta must be a positive number, got {delta!r}")
    return Huber(_broadcast_target(target, input, "huber_loss"), float(delta), reduction)(input)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, reduction: str = "mean",
                                     weight: Any = None, pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy on logits, ``J = mean(softplus(z) - z y)``, finite for any z.

    With ``weight`` w and ``pos_weight`` q (PyTorch's options; q broadcasts along the last,
    class, axis): ``l = w ((1 - y) z + (1 + (q - 1) y) softplus(-z))``.
    """
    check_reduction(reduction)
    name = "binary_cross_entropy_with_logits"
    y = target_like(target, input, name)
    if weight is None and pos_weight is None:
        return BCEWithLogits(y, reduction)(input)
    w = None if weight is None else _weight(weight, input, name)
    q = None if pos_weight is None else _weight(pos_weight, input, name, "pos_weight")
    return WeightedBCEWithLogits(y, w, q, reduction)(input)


def binary_cross_entropy(input: Tensor, target: Any, reduction: str = "mean",
                         weight: Any = None) -> Tensor:
    """Binary cross-entropy on probabilities, ``J = -mean(w (y log p + (1 - y) log(1 - p)))``
    (``w`` = ``weight``, 1 by default)."""
    check_reduction(reduction)
    y = target_like(target, input, "binary_cross_entropy")
    if weight is None:
        return BCE(y, reduction)(input)
    w = _weight(weight, input, "binary_cross_entropy")
    return WeightedBCE(y, w, reduction)(input)


def cross_entropy(input: Tensor, target: Any, reduction: str = "mean", weight: Any = None,
                  ignore_index: int | None = None, label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy ``J = -mean(log softmax(x)[label])`` from logits of shape (N, C).

    ``target`` holds integer class labels of shape (N,) in ``[0, C)``, or class probabilities of
    shape (N, C). PyTorch's options: ``weight`` (C,) per class (the mean over labels is then
    ``sum w_y l / sum w_y``), ``ignore_index`` (a label whose rows count for nothing) and
    ``label_smoothing`` eps (Szegedy et al. 2016: the target becomes ``(1 - eps) y + eps / C``).
    """
    check_reduction(reduction)
    if input.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {tuple(input.shape)}")
    if not (isinstance(label_smoothing, int | float) and 0 <= label_smoothing <= 1):
        raise ValueError(
            f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    t = backend.to_device(target.data if isinstance(target, Tensor) else target, input.device)
    n, c = input.shape
    xp = xp_of(input.data)
    plain = weight is None and ignore_index is None and label_smoothing == 0
    w = None
    if weight is not None:
        w = backend.to_device(weight.data if isinstance(weight, Tensor) else weight, input.device)
        w = xp.asarray(w).astype(input.data.dtype, copy=False)
        if w.shape != (c,):
            raise ValueError(f"cross_entropy: weight must have shape ({c},) (one per class), "
                             f"got {tuple(w.shape)}")
    if t.dtype.kind in "iu":
        if t.shape != (n,):
            raise ValueError(
                f"cross_entropy: {n} rows of logits need {n} integer labels of shape ({n},), "
                f"got labels of shape {tuple(t.shape)}"
            )
        keep = None if ignore_index is None else t != ignore_index
        labels = t if keep is None else xp.where(keep, t, 0)
        if labels.size and (input.device != "cpu" or xp is not np):  # GPU, or gw.compile
            backend.check_range(labels, 0, c - 1,
                                f"cross_entropy: a label is out of range for {c} classes [0, {c})")
        elif labels.size:
            lo, hi = int(labels.min()), int(labels.max())
            if lo < 0 or hi >= c:
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"cross_entropy: label {bad} is out of range for {c} classes [0, {c})")
        if plain:
            return CrossEntropy(t, reduction, soft=False)(input)
        dtype = input.data.dtype
        wc = xp.ones(c, dtype=dtype) if w is None else w
        wy = wc[labels]
        if keep is not None:
            wy = wy * keep
        eps = float(label_smoothing)
        q = (eps / c) * wc[None, :] * (xp.ones((n, 1), dtype=dtype) if keep is None
                                       else keep[:, None].astype(dtype))
        q[xp.arange(n), labels] += (1 - eps) * wy
        return WeightedCrossEntropy(q, wy.sum(), reduction)(input)
    if t.shape != (n, c):
        raise ValueError(
            f"cross_entropy: targets must be integer labels of shape ({n},) or class "
            f"probabilities of shape ({n}, {c}), got {t.dtype} of shape {tuple(t.shape)}"
        )
    if c == 0:  # no classes: each row's sum over classes is empty (-0), as in PyTorch,
        rows = neg(sum(input, axis=1))  # whose mean over the (N, 0) elements is NaN
        if reduction == "none":
            return rows
        total = sum(rows)
        return total if reduction == "sum" else total * float("nan")
    t = t.astype(input.dtype, copy=False)
    if plain:
        return CrossEntropy(t, reduction, soft=True)(input)
    if ignore_index is not None:
        raise ValueError(f"cross_entropy: ignore_index={ignore_index!r} needs integer labels, "
                         "not class probabilities")
    eps = float(label_smoothing)
    q = t * (1 - eps) + eps / c if eps else t
    if w is not None:
        q = q * w
    return WeightedCrossEntropy(q, n, reduction)(input)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator: Any = None) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014): each unit is zeroed with probability ``p`` and
    the kept ones are scaled by ``1 / (1 - p)``, so ``E[y] = x``. The identity when not training
    or ``p == 0``. ``generator`` defaults to the device's seeded generator."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    xp = xp_of(x.data)
    if p == 1:
        mask = xp.zeros(x.shape, dtype=x.dtype)
    else:
        u = backend.uniform(generator, x.shape,
                            np.float32 if x.dtype == np.float32 else np.float64, x.device)
        mask = (u >= p).astype(x.dtype)
        mask *= 1.0 / (1.0 - p)
    return _Dropout(mask)(x)


# --- the public functional API ----------------------------------------------------------------

def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting."""
    return Add()(*_pair(a, b))


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting."""
    return Sub()(*_pair(a, b))


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting."""
    return Mul()(*_pair(a, b))


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting."""
    return Div()(*_pair(a, b))


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors torch.pow
    """``a ** b``; a constant exponent takes the cheaper ``c x^(c-1)`` path."""
    if isinstance(a, Tensor) and isinstance(b, int | float | np.number):
        return PowScalar(float(b) if not isinstance(b, int) else b)(a)
    return Pow()(*_pair(a, b))


def neg(x: Tensor) -> Tensor:
    """``-x``."""
    return Neg()(x)


def matmul(a: Any, b: Any) -> Tensor:
    """The matrix product ``a @ b`` (batched over leading axes)."""
    return MatMul()(*_pair(a, b))


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes by default)."""
    if axis is not None:
        norm_axis(axis, x.ndim)
    return Sum(axis, keepdims)(x)


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes by default)."""
    if axis is not None:
        norm_axis(axis, x.ndim)
    return Mean(axis, keepdims)(x)


def max(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; the gradient is split among tied maxima."""
    if axis is not None:
        norm_axis(axis, x.ndim)
    return Max(axis, keepdims)(x)


def min(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis`` (``-max(-x)``)."""
    return neg(max(neg(x), axis=axis, keepdims=keepdims))


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (one dimension may be -1)."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return Reshape(tuple(int(s) for s in shape))(x)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Permute the axes (reverse them when none are given)."""
    if len(axes) == 1 and isinstance(axes[0], tuple | list):
        axes = tuple(axes[0])
    if not axes:
        return Transpose(None)(x)
    perm = norm_axis(axes, x.ndim)  # non-negative, so that argsort inverts it in backward
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes "
                         f"of a tensor of shape {x.shape}")
    return Transpose(perm)(x)


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]``; repeated integer indices accumulate their gradients."""
    return GetItem(index_data(index))(x)


def exp(x: Tensor) -> Tensor:
    """``e^x``."""
    return Exp()(x)


def log(x: Tensor) -> Tensor:
    """The natural logarithm."""
    return Log()(x)


def sqrt(x: Tensor) -> Tensor:
    """The square root."""
    return Sqrt()(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    """The absolute value."""
    return Abs()(x)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Values limited to ``[min, max]``."""
    if min is None and max is None:
        raise ValueError("clip needs min, max or both")
    return Clip(min, max)(x)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    ts = _same_kind(tensors)
    return Concatenate(axis)(*ts)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return Stack(axis)(*_same_kind(tensors))


def _same_kind(tensors: Sequence[Any]) -> list[Tensor]:
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    if first is None:
        first = wrap(xp_of(tensors[0]).asarray(tensors[0]))
    ts = [_as_tensor(t, first) for t in tensors]
    dtypes = {t.data.dtype for t in ts}
    if len(dtypes) > 1:
        raise TypeError(f"tensors have different dtypes {sorted(map(str, dtypes))}")
    return ts


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``condition`` holds, else ``b``."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        xp = xp_of(condition.data) if isinstance(condition, Tensor) else np
        a = wrap(xp.asarray(a, dtype=backend.get_default_dtype()))
    a, b = _pair(a, b)
    cond = condition.data if isinstance(condition, Tensor) else xp_of(a.data).asarray(condition)
    return Where(cond.astype(bool, copy=False))(a, b)


def sigmoid(x: Tensor) -> Tensor:
    """The logistic function ``1 / (1 + e^-x)``, stable for any x."""
    return Sigmoid()(x)


def tanh(x: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return Tanh()(x)


def relu(x: Tensor) -> Tensor:
    """``max(0, x)``."""
    return ReLU()(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` for positive x, ``negative_slope * x`` otherwise."""
    return LeakyReLU(negative_slope)(x)


def softplus(x: Tensor) -> Tensor:
    """``log(1 + e^x)``, stable for any x."""
    return Softplus()(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``e^x / sum e^x`` along ``axis``."""
    norm_axis(axis, x.ndim)
    return Softmax(axis)(x)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``log softmax(x)`` along ``axis``, stable for any x."""
    norm_axis(axis, x.ndim)
    return LogSoftmax(axis)(x)


def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log sum e^x`` over ``axis``, stable for any x."""
    if axis is not None:
        norm_axis(axis, x.ndim)
    return LogSumExp(axis, keepdims)(x)


# --- activations and losses registered at runtime ---------------------------------------------

#: functions added by ``gw.nn.register_activation`` (``F.<name>``) and ``gw.nn.register_loss``
#: (``F.<name>_loss``), by name
REGISTERED: dict[str, Callable[..., Tensor]] = {}


def activation_function(name: str, op: type[Function]) -> Callable[..., Tensor]:
    """The functional form ``f(x, *args, **kwargs) = op(*args, **kwargs)(x)`` of an activation
    op (``args``: its options, as ELU's ``alpha``), named ``name``, with the op's docstring."""
    def fn(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return op(*args, **kwargs)(x)
    return _named(fn, name, op)


def loss_function(name: str, op: type[Function]) -> Callable[..., Tensor]:
    """The functional form ``f(input, target, reduction="mean", *options) = op(target,
    reduction, *options)(input)`` of a loss op (built as ``op(target, reduction, ...)``, the
    target of the input's shape, on its device and dtype), named ``name``."""
    def fn(input: Tensor, target: Any, reduction: str = "mean", *args: Any,
           **kwargs: Any) -> Tensor:
        check_reduction(reduction)
        make: Callable[..., Function] = op  # built as op(target, reduction, *options)
        return make(target_like(target, input, name), reduction, *args, **kwargs)(input)
    return _named(fn, name, op)


def _named(fn: Callable[..., Tensor], name: str, op: type[Function]) -> Callable[..., Tensor]:
    """``fn`` as the public function ``gradwise.functional.<name>``, documented by ``op``."""
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = op.__doc__
    fn.__module__ = __name__
    return fn


def __getattr__(name: str) -> Callable[..., Tensor]:
    """``F.elu``, ``F.logcosh_loss``: the function of an activation or a loss registered with
    ``gw.nn.register_activation`` or ``gw.nn.register_loss``."""
    try:
        return REGISTERED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


# --- tensor methods ---------------------------------------------------------------------------

def rpow(x: Tensor, base: Any) -> Tensor:
    """``base ** x`` for a non-tensor base (``Tensor.__rpow__``)."""
    return pow(_as_tensor(base, x), x)


# Tensor's operators and methods call this module's functions of the names in
# autograd.TensorOps (mypy checks that this module implements that protocol).
from . import functional as _this  # noqa: E402 - this module, complete from here on

install_ops(_this)
