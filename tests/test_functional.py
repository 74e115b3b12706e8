"""Every differentiable op, activation and loss is gradient-checked in float64.

Inputs are kept away from kinks (relu/abs/clip at their corners, ties of max), so central
differences are exact up to rounding. Broadcasting ops take Hypothesis-generated shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import gradwise as gw
from gradwise import functional as F
from gradwise.testing import gradcheck

RNG = np.random.default_rng(1234)


def t64(a, requires_grad: bool = True) -> gw.Tensor:
    return gw.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=requires_grad)


def away_from(a: np.ndarray, kinks: tuple[float, ...], gap: float = 0.05) -> np.ndarray:
    """Move every value at least ``gap`` away from each kink."""
    a = a.copy()
    for k in kinks:
        close = np.abs(a - k) < gap
        a[close] = k + np.where(a[close] >= k, gap, -gap) * 2
    return a


def distinct(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Values with no ties (0.1 apart at least), so max/min have one winner."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - n * 0.05


# --- broadcasting binary ops (Hypothesis shapes) ---------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "where": lambda a, b: gw.where(a.data > 0.5, a, b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_broadcasting_binary_ops_gradcheck(name, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = t64(rng.uniform(0.2, 1.5, sa))  # positive, so pow's log(a) and div's 1/b exist
    b = t64(rng.uniform(0.2, 1.5, sb))
    out = BINARY[name](a, b)
    assert out.shape == shapes.result_shape
    assert gradcheck(BINARY[name], [a, b])


@given(shapes=mutually_broadcastable_shapes(signature="(m,k),(k,n)->(m,n)",
                                             max_dims=2, max_side=3),
       seed=st.integers(0, 2**16))
def test_batched_matmul_gradcheck(shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = t64(rng.standard_normal(sa)), t64(rng.standard_normal(sb))
    assert (a @ b).shape == shapes.result_shape
    assert gradcheck(lambda x, y: x @ y, [a, b])


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
                                   ((2, 2, 3), (3,)), ((3,), (2, 3, 4))])
def test_matmul_vector_cases_gradcheck(sa, sb):
    a, b = t64(RNG.standard_normal(sa)), t64(RNG.standard_normal(sb))
    assert gradcheck(lambda x, y: x @ y, [a, b])


@pytest.mark.parametrize("scalar", [2.5, -1.5])
def test_arithmetic_with_python_scalars_gradcheck(scalar):
    a = t64(RNG.uniform(0.5, 2.0, (2, 3)))
    fns = [lambda x: x + scalar, lambda x: scalar - x, lambda x: x * scalar,
           lambda x: scalar / x, lambda x: x / scalar, lambda x: -x, lambda x: x**scalar,
           lambda x: x**2, lambda x: x**0.5, lambda x: 2.0**x]
    for fn in fns:
        assert gradcheck(fn, [a])


def test_pow_with_zero_exponent_has_zero_gradient():
    x = t64([0.0, 2.0])
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


# --- unary elementwise ops and activations ---------------------------------------------------

UNARY = {
    "exp": (F.exp, (-2, 2), ()),
    "log": (F.log, (0.1, 3), ()),
    "sqrt": (F.sqrt, (0.1, 3), ()),
    "abs": (F.abs, (-2, 2), (0.0,)),
    "clip": (lambda x: F.clip(x, -0.5, 0.7), (-2, 2), (-0.5, 0.7)),
    "clip_min": (lambda x: x.clip(min=0.3), (-2, 2), (0.3,)),
    "clip_max": (lambda x: x.clip(max=0.3), (-2, 2), (0.3,)),
    "sigmoid": (F.sigmoid, (-6, 6), ()),
    "tanh": (F.tanh, (-3, 3), ()),
    "relu": (F.relu, (-2, 2), (0.0,)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), (-2, 2), (0.0,)),
    "softplus": (F.softplus, (-30, 30), ()),
    "neg": (F.neg, (-2, 2), ()),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       seed=st.integers(0, 2**16))
def test_unary_ops_gradcheck(name, shape, seed):
    fn, (lo, hi), kinks = UNARY[name]
    x = away_from(np.random.default_rng(seed).uniform(lo, hi, shape), kinks)
    assert gradcheck(fn, [t64(x)])


def test_activation_derivatives_are_the_lectures():
    z = np.linspace(-4, 4, 17)
    for fn, deriv in [
        (F.sigmoid, lambda z: (s := 1 / (1 + np.exp(-z))) * (1 - s)),
        (F.tanh, lambda z: 1 - np.tanh(z) ** 2),
        (F.relu, lambda z: (z > 0).astype(float)),
    ]:
        x = t64(z)
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad, deriv(z), rtol=1e-12, atol=1e-15)


def test_relu_gradient_at_zero_is_zero():
    x = t64([0.0, -0.0])
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    np.testing.assert_array_equal(F.relu(t64([-np.inf, -1.0])).numpy(), [0.0, 0.0])


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_gradcheck(fn, axis):
    x = t64(RNG.standard_normal((3, 4)) * 3)
    assert gradcheck(lambda t: fn(t, axis=axis), [x])


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_gradcheck(axis, keepdims):
    x = t64(RNG.standard_normal((3, 4)) * 3)
    assert gradcheck(lambda t: F.logsumexp(t, axis=axis, keepdims=keepdims), [x])


# --- reductions and shape ops ----------------------------------------------------------------

@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 2, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_gradcheck(op, axis, keepdims):
    x = t64(distinct((2, 3, 4)))
    fn = getattr(F, op)
    out = fn(x, axis=axis, keepdims=keepdims)
    ref = getattr(np, op)(x.numpy(), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-14)
    assert gradcheck(lambda t: fn(t, axis=axis, keepdims=keepdims), [x])


@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
       data=st.data())
def test_smooth_reductions_over_random_shapes_and_axes_gradcheck(shape, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keepdims = data.draw(st.booleans())
    x = t64(np.random.default_rng(len(shape)).standard_normal(shape))
    for fn in (F.sum, F.mean, F.logsumexp):
        assert gradcheck(lambda t, fn=fn: fn(t, axis=axis, keepdims=keepdims), [x])
    if axis is not None:
        assert gradcheck(lambda t: F.softmax(t, axis=axis), [x])


def test_max_splits_gradient_among_ties():
    x = t64([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


def test_reduction_axis_out_of_range_is_named():
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        t64(np.ones((2, 3))).sum(axis=3)


def test_shape_ops_gradcheck():
    x = t64(RNG.standard_normal((2, 3, 4)))
    for fn in [lambda t: t.reshape(4, 6), lambda t: t.reshape((-1,)), lambda t: t.T,
               lambda t: t.transpose(1, 0, 2), lambda t: t.transpose((2, 0, 1)),
               lambda t: t.transpose(-1, 0, 1), lambda t: t.flatten()]:
        assert gradcheck(fn, [x])
    assert x.transpose(-1, 0, -2).shape == (4, 2, 3)
    with pytest.raises(ValueError, match=r"axes \(0, 0, 1\) are not a permutation"):
        x.transpose(0, 0, 1)


@pytest.mark.parametrize("index", [
    (slice(None), 1), (0, slice(1, None), slice(None, None, 2)), (Ellipsis, -1), 1,
    (np.array([0, 1, 1, 0]),), (slice(None), np.array([2, 2, 0])),
    (np.array([1, 1]), np.array([0, 0]), slice(None)), np.array([[True], [False]])[:, 0],
    (None, 0),
], ids=str)
def test_indexing_gradcheck(index):
    x = t64(RNG.standard_normal((2, 3, 4)))
    np.testing.assert_array_equal(x[index].numpy(), x.numpy()[index])
    assert gradcheck(lambda t: t[index], [x])


def test_repeated_integer_indices_accumulate():
    x = t64([1.0, 2.0, 3.0])
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])
    y = t64(np.zeros((2, 2)))
    idx = gw.tensor([1, 1])
    (y[idx] * t64([[1.0, 2.0], [3.0, 4.0]], requires_grad=False)).sum().backward()
    np.testing.assert_array_equal(y.grad, [[0, 0], [4, 6]])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack_gradcheck(axis):
    a, b, c = (t64(RNG.standard_normal((2, 3))) for _ in range(3))
    assert F.concatenate([a, b, c], axis=axis).shape[axis] == (6 if axis == 0 else 9)
    assert gradcheck(lambda *ts: F.concatenate(ts, axis=axis), [a, b, c])
    assert F.stack([a, b, c], axis=axis).shape == np.stack([a.numpy()] * 3, axis=axis).shape
    assert gradcheck(lambda *ts: F.stack(ts, axis=axis), [a, b, c])


def test_concatenate_and_stack_shape_errors_name_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        F.concatenate([t64(np.ones((2, 3))), t64(np.ones((3, 2)))], axis=0)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        F.stack([t64(np.ones((2, 3))), t64(np.ones((3, 2)))])


def test_where_with_constant_branch_gradcheck():
    a = t64(RNG.standard_normal((3, 4)))
    cond = RNG.random((3, 1)) > 0.5
    assert gradcheck(lambda t: gw.where(cond, t, 0.0), [a])
    assert gradcheck(lambda t: gw.where(cond, -1.0, t * 2), [a])


# --- the fused Dense layer -------------------------------------------------------------------

@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape", [(5, 3), (3,), (2, 4, 3)])
def test_linear_gradcheck(activation, bias, xshape):
    rng = np.random.default_rng(5)
    while True:  # draw until every pre-activation is away from relu's kink
        x, w, b = rng.standard_normal(xshape), rng.standard_normal((3, 4)), rng.standard_normal(4)
        z = x @ w + (b if bias else 0)
        if np.abs(z).min() > 0.05:
            break
    ref = {None: z, "relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)),
           "tanh": np.tanh(z)}[activation]
    inputs = [t64(x), t64(w)] + ([t64(b)] if bias else [])

    def fn(*ts):
        return F.linear(ts[0], ts[1], ts[2] if bias else None, activation)

    np.testing.assert_allclose(fn(*inputs).numpy(), ref, rtol=1e-12, atol=1e-14)
    assert gradcheck(fn, inputs)


def test_linear_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        F.linear(t64(np.ones((1, 2))), t64(np.ones((2, 2))), None, "softmax")


# --- losses ----------------------------------------------------------------------------------

REDUCTIONS = ["mean", "sum", "none"]


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    return {"mean": values.mean(), "sum": values.sum(), "none": values}[reduction]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction):
    x, y = t64(RNG.standard_normal((4, 2))), RNG.standard_normal((4, 2))
    out = F.mse_loss(x, y, reduction)
    np.testing.assert_allclose(out.numpy(), _reduce((x.numpy() - y) ** 2, reduction), rtol=1e-14)
    assert gradcheck(lambda t: F.mse_loss(t, y, reduction), [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    p, y = t64(RNG.uniform(0.05, 0.95, (5, 1))), RNG.integers(0, 2, (5, 1)).astype(float)
    ref = -(y * np.log(p.numpy()) + (1 - y) * np.log(1 - p.numpy()))
    np.testing.assert_allclose(F.binary_cross_entropy(p, y, reduction).numpy(),
                               _reduce(ref, reduction), rtol=1e-13)
    assert gradcheck(lambda t: F.binary_cross_entropy(t, y, reduction), [p])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction):
    z, y = t64(RNG.standard_normal((5, 1)) * 3), RNG.uniform(0, 1, (5, 1))
    s = 1 / (1 + np.exp(-z.numpy()))
    ref = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(z, y, reduction).numpy(),
                               _reduce(ref, reduction), rtol=1e-12)
    assert gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, y, reduction), [z])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy(reduction, soft):
    x = t64(RNG.standard_normal((6, 4)) * 2)
    labels = RNG.integers(0, 4, 6)
    target = np.eye(4)[labels] * 0.7 + 0.075 if soft else labels
    logp = x.numpy() - np.log(np.exp(x.numpy()).sum(axis=1, keepdims=True))
    ref = -(np.eye(4)[labels] * 0.7 + 0.075 if soft else np.eye(4)[labels]) * logp
    np.testing.assert_allclose(F.cross_entropy(x, target, reduction).numpy(),
                               _reduce(ref.sum(axis=1), reduction), rtol=1e-13)
    assert gradcheck(lambda t: F.cross_entropy(t, target, reduction), [x])


def test_losses_reject_unknown_reduction_and_mismatched_targets():
    x = t64(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(x, np.zeros((3, 1)), "average")
    with pytest.raises(ValueError, match=r"input has shape \(3, 1\) but target has shape \(3,\)"):
        F.binary_cross_entropy_with_logits(x, np.zeros(3))
    with pytest.raises(ValueError, match="probabilities in"):
        F.binary_cross_entropy(t64([[1.5]]), [[1.0]])


def test_cross_entropy_labels_out_of_range_are_reported():
    x = t64(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"label 4 is out of range for 4 classes"):
        F.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"label -1 is out of range"):
        gw.nn.CrossEntropyLoss()(x, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"3 integer labels of shape \(3,\)"):
        F.cross_entropy(x, np.array([0, 1]))


# --- stability at z = +-1000 -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_and_bce_with_logits_are_exact_at_extreme_logits(dtype):
    z = gw.tensor([-1000.0, 1000.0], dtype=dtype, requires_grad=True)
    s = F.sigmoid(z)
    np.testing.assert_array_equal(s.numpy(), [0.0, 1.0])
    s.sum().backward()
    np.testing.assert_array_equal(z.grad, [0.0, 0.0])

    for y, loss, grad in [([0.0, 1.0], 0.0, [0.0, 0.0]), ([1.0, 0.0], 1000.0, [-0.5, 0.5])]:
        z = gw.tensor([-1000.0, 1000.0], dtype=dtype, requires_grad=True)
        out = F.binary_cross_entropy_with_logits(z, y)
        assert out.item() == loss
        out.backward()
        np.testing.assert_array_equal(z.grad, grad)

    w = gw.tensor([[1.0]], dtype=dtype, requires_grad=True)  # the fused Dense sigmoid
    x = gw.tensor([[-1000.0], [1000.0]], dtype=dtype)
    out = F.linear(x, w, None, "sigmoid")
    np.testing.assert_array_equal(out.numpy(), [[0.0], [1.0]])
    F.binary_cross_entropy(out, [[1.0], [0.0]]).backward()
    assert np.all(np.isfinite(w.grad))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_cross_entropy_is_exact_at_extreme_logits(dtype):
    x = gw.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=dtype,
                  requires_grad=True)
    out = F.cross_entropy(x, np.array([1, 2]), reduction="none")
    np.testing.assert_allclose(out.numpy(), [2000.0, np.log(2)],
                               rtol=1e-15 if dtype == "float64" else 1e-7)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, -1, 0], [0, 0.5, -0.5]])
    for fn in (F.softmax, F.log_softmax, lambda t: F.logsumexp(t, axis=1)):
        assert np.all(np.isfinite(fn(x.detach()).numpy()))


def test_softplus_and_logsumexp_are_finite_at_extreme_inputs():
    x = t64([-1000.0, 1000.0])
    np.testing.assert_array_equal(F.softplus(x).numpy(), [0.0, 1000.0])
    assert F.logsumexp(x).item() == 1000.0


# --- dropout ---------------------------------------------------------------------------------

def test_dropout_gradcheck_with_a_fixed_mask():
    x = t64(RNG.standard_normal((4, 5)))
    fn = lambda t: F.dropout(t, 0.3, True, np.random.default_rng(7))  # noqa: E731
    assert gradcheck(fn, [x])
    out = fn(x)
    kept = out.numpy() != 0
    np.testing.assert_allclose(out.numpy()[kept], x.numpy()[kept] / 0.7, rtol=1e-15)


def test_functional_dropout_p_one_drops_everything_and_rejects_out_of_range():
    np.testing.assert_array_equal(F.dropout(t64([1.0, 2.0]), 1.0).numpy(), [0.0, 0.0])
    with pytest.raises(ValueError, match="must be in"):
        F.dropout(t64([1.0]), 1.5)
    x = t64([1.0, 2.0])
    assert F.dropout(x, 0.5, training=False) is x


def test_functions_are_tensor_methods_with_numpy_axis_names():
    x = t64(RNG.standard_normal((2, 3)))
    pairs = [
        (x.sigmoid(), F.sigmoid(x)), (x.relu(), F.relu(x)), (x.tanh(), F.tanh(x)),
        (x.softmax(axis=0), F.softmax(x, axis=0)), (x.log_softmax(axis=0), F.log_softmax(x, 0)),
        (x.sum(axis=0, keepdims=True), F.sum(x, 0, True)), (x.mean(axis=1), F.mean(x, 1)),
        (x.max(axis=1), F.max(x, 1)), (x.min(axis=0), F.min(x, 0)), (x.exp(), F.exp(x)),
        (x.abs(), F.abs(x)), (x.softplus(), F.softplus(x)),
        (x.leaky_relu(0.1), F.leaky_relu(x, 0.1)),
        (x.logsumexp(axis=1), F.logsumexp(x, axis=1)),
    ]
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), x.numpy().argmax(axis=1))
    assert gw.nn.functional.sigmoid is F.sigmoid
