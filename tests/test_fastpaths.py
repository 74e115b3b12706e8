"""Every fast path of the engine against the simple reference it replaces.

The fused Dense node against ``matmul + add + activation`` composed from separate ops; the
backward kernel that writes weight and bias gradients straight into an optimizer's flat
gradient buffer against plain gradients; the mean reduction of the losses against
``ndarray.mean``; and the freeing of saved arrays after backward.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradwise as gw
from gradwise import functional as F
from gradwise import nn
from gradwise.ops.losses import _reduce

ACTIVATIONS = [None, "relu", "sigmoid", "tanh"]
COMPOSED = {None: lambda z: z, "relu": F.relu, "sigmoid": F.sigmoid, "tanh": F.tanh}


def _leaves(rng, xshape, out, bias, dtype=np.float32):
    x = gw.tensor(rng.standard_normal(xshape), dtype=dtype, requires_grad=True)
    w = gw.tensor(rng.standard_normal((xshape[-1], out)), dtype=dtype, requires_grad=True)
    b = gw.tensor(rng.standard_normal(out), dtype=dtype, requires_grad=True) if bias else None
    return x, w, b


def _grads(fn, leaves, upstream):
    for t in leaves:
        t.grad = None
    y = fn()
    y.backward(upstream)
    return y.numpy(), [t.grad.copy() for t in leaves]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape", [(7, 5), (2, 3, 5)])
def test_fused_dense_matches_composed_ops(activation, bias, xshape):
    rng = np.random.default_rng(0)
    x, w, b = _leaves(rng, xshape, 4, bias)
    leaves = [t for t in (x, w, b) if t is not None]
    upstream = rng.standard_normal((*xshape[:-1], 4)).astype(np.float32)

    def composed():
        z = x @ w
        return COMPOSED[activation](z + b if bias else z)

    y_fused, g_fused = _grads(lambda: F.linear(x, w, b, activation), leaves, upstream)
    y_ref, g_ref = _grads(composed, leaves, upstream)
    np.testing.assert_allclose(y_fused, y_ref, rtol=1e-6, atol=1e-6)
    for gf, gr in zip(g_fused, g_ref, strict=True):
        assert gf.dtype == np.float32
        np.testing.assert_allclose(gf, gr, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fused_dense_keeps_float64(activation):
    rng = np.random.default_rng(1)
    x, w, b = _leaves(rng, (6, 3), 2, True, dtype=np.float64)
    y_fused, g_fused = _grads(lambda: F.linear(x, w, b, activation), [x, w, b], np.ones((6, 2)))
    y_ref, g_ref = _grads(lambda: COMPOSED[activation](x @ w + b), [x, w, b], np.ones((6, 2)))
    assert y_fused.dtype == np.float64
    np.testing.assert_allclose(y_fused, y_ref, rtol=1e-12)
    for gf, gr in zip(g_fused, g_ref, strict=True):
        assert gf.dtype == np.float64
        np.testing.assert_allclose(gf, gr, rtol=1e-12, atol=1e-12)


def _attach_flat_buffers(params):
    flat = np.full(sum(p.data.size for p in params), np.nan, dtype=np.float32)
    start = 0
    for p in params:
        p.grad_slot = flat[start:start + p.data.size].reshape(p.shape)
        start += p.data.size
    return flat


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("xshape", [(8, 3), (2, 4, 3)])
def test_dense_backward_writes_into_the_flat_gradient_buffer(activation, xshape):
    rng = np.random.default_rng(2)
    layer = nn.Dense(3, 5, activation=activation)
    x = gw.tensor(rng.standard_normal(xshape))
    upstream = rng.standard_normal((*xshape[:-1], 5)).astype(np.float32)
    layer(x).backward(upstream)
    expected = [layer.weight.grad.copy(), layer.bias.grad.copy()]
    layer.zero_grad()
    flat = _attach_flat_buffers([layer.weight, layer.bias])
    layer(x).backward(upstream)
    for p, e in zip((layer.weight, layer.bias), expected, strict=True):
        assert p.grad is p.grad_slot
        np.testing.assert_array_equal(p.grad, e)
    assert not np.isnan(flat).any()
    layer(x).backward(upstream)  # a second backward accumulates in place
    for p, e in zip((layer.weight, layer.bias), expected, strict=True):
        assert p.grad is p.grad_slot
        np.testing.assert_allclose(p.grad, 2 * e, rtol=1e-6)


def test_flat_buffer_gradients_of_a_network_match_plain_gradients():
    rng = np.random.default_rng(3)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(4, 8, activation="relu"), nn.Dense(8, 8, activation="tanh"),
                          nn.Dense(8, 3))
    x = gw.tensor(rng.standard_normal((16, 4)))
    y = rng.integers(0, 3, 16)
    F.cross_entropy(model(x), y).backward()
    expected = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    flat = _attach_flat_buffers(list(model.parameters()))
    F.cross_entropy(model(x), y).backward()
    np.testing.assert_array_equal(flat, np.concatenate([e.ravel() for e in expected]))


def test_a_weight_used_twice_gets_both_contributions_through_the_buffer():
    rng = np.random.default_rng(4)
    layer = nn.Dense(3, 3, activation="tanh")
    x = gw.tensor(rng.standard_normal((5, 3)))
    layer(layer(x)).sum().backward()
    expected = [layer.weight.grad.copy(), layer.bias.grad.copy()]
    layer.zero_grad()
    _attach_flat_buffers([layer.weight, layer.bias])
    layer(layer(x)).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, expected[0], rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, expected[1], rtol=1e-6)
    assert layer.weight.grad is layer.weight.grad_slot
    assert layer.bias.grad is layer.bias.grad_slot


@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(max_dims=2),
                  elements=st.floats(-1e3, 1e3, width=32)))
def test_mean_reduction_equals_ndarray_mean(a):
    got = _reduce(a, "mean")
    assert got.dtype == a.dtype
    assert got == a.mean()


def test_mean_reduction_of_float16_accumulates_like_ndarray_mean():
    a = np.full(70000, 1.0, dtype=np.float16)  # a float16 sum would overflow to inf
    assert _reduce(a, "mean") == a.mean() == 1.0


@pytest.mark.parametrize("retain", [False, True])
def test_saved_arrays_are_released_after_backward_unless_retained(retain):
    x = gw.tensor(np.ones((3, 2)), requires_grad=True)
    w = gw.tensor(np.ones((2, 2)), requires_grad=True)
    y = F.linear(x, w, None, "relu")
    node = y._node
    y.sum().backward(retain_graph=retain)
    assert hasattr(node, "x") is retain
    assert hasattr(node, "y") is retain
    if retain:
        y.sum().backward()
        np.testing.assert_array_equal(w.grad, np.full((2, 2), 6.0))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_kernel_matches_composed_ops(reduction):
    rng = np.random.default_rng(5)
    p_np = rng.uniform(0.01, 0.99, (9, 1))
    y = rng.uniform(0, 1, (9, 1)).astype(np.float32)  # soft targets exercise both terms
    p = gw.tensor(p_np, requires_grad=True)
    upstream = None if reduction != "none" else rng.standard_normal((9, 1)).astype(np.float32)

    def composed():
        loss = -(y * F.log(p) + (1 - y) * F.log(1 - p))
        return {"mean": F.mean, "sum": F.sum, "none": lambda t: t}[reduction](loss)

    got, (g_got,) = _grads(lambda: F.binary_cross_entropy(p, y, reduction), [p], upstream)
    ref, (g_ref,) = _grads(composed, [p], upstream)
    assert got.dtype == g_got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g_got, g_ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", ["bce", "cross_entropy"])
def test_a_float32_training_step_never_promotes_to_float64(loss):
    rng = np.random.default_rng(6)
    out = 1 if loss == "bce" else 3
    model = nn.Sequential(nn.Dense(4, 8, activation="relu"),
                          nn.Dense(8, out, activation="sigmoid" if loss == "bce" else None))
    x = gw.tensor(rng.standard_normal((10, 4)))  # float64 data becomes float32
    if loss == "bce":
        y = rng.integers(0, 2, (10, 1)).astype(np.float64)
        value = F.binary_cross_entropy(model(x), y)
    else:
        value = F.cross_entropy(model(x), rng.integers(0, 3, 10))
    value.backward()
    assert value.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
