"""Default dtype float32, float64 on request; a float32 graph never turns into float64 by itself."""

from __future__ import annotations

import numpy as np
import pytest

import gradwise as gw
from gradwise import functional as F
from gradwise import nn


def _mlp(dtype=None, n_out=3):
    gw.manual_seed(0)
    return nn.Sequential(
        nn.Dense(4, 16, activation="relu", dtype=dtype),
        nn.Dropout(0.2),
        nn.Dense(16, 8, activation="tanh", dtype=dtype),
        nn.Dense(8, 8, activation="softmax", dtype=dtype),
        nn.Dense(8, 8, activation=nn.LeakyReLU(0.1), dtype=dtype),
        nn.Dense(8, n_out, dtype=dtype),
    )


@pytest.mark.parametrize("loss_name", ["cross_entropy", "bce_with_logits", "bce", "mse"])
def test_float32_mlp_step_stays_float32_with_float64_numpy_inputs(loss_name):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4))  # float64 NumPy data, as loaded from disk
    assert x.dtype == np.float64
    n_out = 3 if loss_name == "cross_entropy" else 1
    model = _mlp(n_out=n_out)
    if loss_name == "cross_entropy":
        y = rng.integers(0, 3, 32)
    elif loss_name == "mse":
        y = rng.standard_normal((32, 1))
    else:
        y = rng.integers(0, 2, (32, 1)).astype(np.float64)
    out = model(x)  # a raw NumPy array straight into the model
    if loss_name == "bce":
        out = out.sigmoid()
    assert out.dtype == np.float32
    # Python floats and float64 NumPy scalars/arrays mixed into the graph keep it float32
    out = out * 1.5 + np.float64(0.25) - np.ones(n_out) * 0.25
    out = out / 1.5 if loss_name != "bce" else out.clip(1e-6, 1 - 1e-6)
    loss = nn.get_loss(loss_name)(out, y)
    penalty = sum((p**2).sum() for p in model.parameters()) * 1e-4
    total = loss + penalty
    assert loss.dtype == np.float32 and total.dtype == np.float32
    total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == np.float32, name
        assert p.data.dtype == np.float32, name
    with gw.no_grad():
        for p in model.parameters():
            p.data -= 0.1 * p.grad
    assert all(p.dtype == np.float32 for p in model.parameters())


class _Spy(gw.Function):
    """The identity, remembering the dtype of the gradient that reaches it (before the leaf)."""

    __slots__ = ()
    seen: list = []

    def forward(self, x):
        return x

    def backward(self, g):
        _Spy.seen.append(g.dtype)
        return (g,)


def test_elementwise_ops_keep_float32():
    leaf = gw.tensor(np.linspace(-2, 2, 12).reshape(3, 4), requires_grad=True)
    ops = [lambda t: t.exp(), lambda t: t.abs().sqrt(), lambda t: t.abs().log(),
           lambda t: t.sigmoid(), lambda t: t.tanh(), lambda t: t.relu(), lambda t: t.softplus(),
           lambda t: t.softmax(axis=0), lambda t: t.log_softmax(), lambda t: t.logsumexp(axis=1),
           lambda t: t.leaky_relu(), lambda t: t.max(axis=0), lambda t: t.mean(),
           lambda t: t**2, lambda t: t**0.5, lambda t: 2.0**t, lambda t: t.clip(-1.0, 1.0),
           lambda t: t @ np.ones((4, 2)), lambda t: gw.where(t.data > 0, t, 0.0),
           lambda t: gw.concatenate([t, np.zeros((1, 4))]), lambda t: t[[0, 0, 2]],
           lambda t: F.dropout(t, 0.5), lambda t: F.mse_loss(t, np.zeros((3, 4))),
           lambda t: F.cross_entropy(t, np.array([0, 1, 3])),
           lambda t: F.binary_cross_entropy_with_logits(t, np.ones((3, 4)))]
    with np.errstate(all="ignore"):
        for op in ops:
            _Spy.seen.clear()
            out = op(_Spy()(leaf))
            assert out.dtype == np.float32
            out.sum().backward()
            assert _Spy.seen == [np.float32]


def test_float64_on_request():
    assert gw.tensor([1.0], dtype="float64").dtype == np.float64
    assert nn.Dense(2, 2, dtype="float64").weight.dtype == np.float64
    model = _mlp("float64")
    out = model(gw.tensor(np.ones((2, 4)), dtype="float64"))
    assert out.dtype == np.float64
    out.sum().backward()
    assert all(p.grad.dtype == np.float64 for p in model.parameters())


def test_set_default_dtype():
    try:
        gw.set_default_dtype("float64")
        assert gw.get_default_dtype() == np.float64
        assert gw.tensor([1.0]).dtype == np.float64 and nn.Dense(2, 2).weight.dtype == np.float64
        assert gw.zeros(2).dtype == np.float64
    finally:
        gw.set_default_dtype("float32")
    with pytest.raises(ValueError, match="float16, float32 or float64"):
        gw.set_default_dtype("int32")


def test_mixing_dtypes_is_an_error_not_a_promotion():
    layer = nn.Dense(2, 2)
    with pytest.raises(TypeError, match="float64 but the layer's weights are float32"):
        layer(gw.tensor(np.ones((1, 2)), dtype="float64"))
    with pytest.raises(TypeError, match="float32 and float64"):
        gw.tensor([1.0]) * gw.tensor([2.0], dtype="float64")


def test_integer_data_meets_floats_in_the_default_dtype():
    labels = gw.arange(4)
    assert labels.dtype == np.int64
    assert (labels * 0.5).dtype == np.float32 and (0.5 * labels).dtype == np.float32
    assert (gw.tensor([1.0]) * labels[:1]).dtype == np.float32
    assert nn.Dense(1, 1)(gw.tensor([[1], [2]])).dtype == np.float32
