"""Every op, activation, loss and a whole MLP agree with PyTorch within 1e-10 in float64.

A Dense weight has shape (in, out); the matching ``torch.nn.Linear`` weight is its transpose.
"""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise import functional as F

torch = gates.torch()
TF = torch.nn.functional

TOL = 1e-10
RNG = np.random.default_rng(2024)


def check(gw_fn, torch_fn, *arrays, grad_of=None):
    """Run both frameworks on the same float64 inputs; compare outputs and input gradients."""
    grad_of = range(len(arrays)) if grad_of is None else grad_of
    gins = [gw.tensor(a, dtype="float64", requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    tins = [torch.tensor(a, dtype=torch.float64, requires_grad=i in grad_of)
            for i, a in enumerate(arrays)]
    gout, tout = gw_fn(*gins), torch_fn(*tins)
    np.testing.assert_allclose(gout.numpy(), tout.detach().numpy(), rtol=TOL, atol=TOL)
    seed = RNG.standard_normal(tuple(tout.shape))
    gout.backward(seed)
    tout.backward(torch.tensor(seed))
    for i in grad_of:
        np.testing.assert_allclose(gins[i].grad, tins[i].grad.numpy(), rtol=TOL, atol=TOL,
                                   err_msg=f"gradient of input {i}")


def randn(*shape):
    return RNG.standard_normal(shape)


def positive(*shape):
    return RNG.uniform(0.2, 2.0, shape)


# --- arithmetic, matmul, reductions, shapes --------------------------------------------------

@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_broadcasting_arithmetic(op):
    g = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
         "div": lambda a, b: a / b, "pow": lambda a, b: a**b}[op]
    check(g, g, positive(3, 1, 4), positive(2, 1))


def test_scalar_arithmetic_and_neg():
    for fn in (lambda x: 2.0 - x, lambda x: 3.0 / x, lambda x: x**3, lambda x: x**-0.5,
               lambda x: -x, lambda x: 1.5**x):
        check(fn, fn, positive(2, 3))


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((4, 3), (3,)), ((3,), (3, 2)), ((4, 3), (3, 2)),
                                   ((2, 4, 3), (3, 2)), ((2, 1, 4, 3), (3, 3, 2))])
def test_matmul(sa, sb):
    check(lambda a, b: a @ b, lambda a, b: a @ b, randn(*sa), randn(*sb))


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(axis, keepdims):
    x = RNG.permutation(24).reshape(2, 3, 4) * 0.1  # no ties
    dim = tuple(range(3)) if axis is None else axis
    check(lambda t: t.sum(axis=axis, keepdims=keepdims),
          lambda t: t.sum(dim=dim, keepdim=keepdims), x)
    check(lambda t: t.mean(axis=axis, keepdims=keepdims),
          lambda t: t.mean(dim=dim, keepdim=keepdims), x)
    check(lambda t: t.max(axis=axis, keepdims=keepdims),
          lambda t: torch.amax(t, dim=dim, keepdim=keepdims), x)
    check(lambda t: t.min(axis=axis, keepdims=keepdims),
          lambda t: torch.amin(t, dim=dim, keepdim=keepdims), x)
    check(lambda t: F.logsumexp(t, axis=axis, keepdims=keepdims),
          lambda t: torch.logsumexp(t, dim=dim, keepdim=keepdims), x)


def test_max_with_ties_matches_amax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    check(lambda t: t.max(axis=1), lambda t: torch.amax(t, dim=1), x)


def test_shape_ops_indexing_and_joins():
    x = randn(2, 3, 4)
    check(lambda t: t.reshape(4, 6), lambda t: t.reshape(4, 6), x)
    check(lambda t: t.transpose(2, 0, 1), lambda t: t.permute(2, 0, 1), x)
    check(lambda t: t[:, 1:, ::2], lambda t: t[:, 1:, ::2], x)
    idx = np.array([2, 0, 2, 2])
    check(lambda t: t[:, idx], lambda t: t[:, torch.tensor(idx)], x)
    mask = np.array([True, False])
    check(lambda t: t[mask], lambda t: t[torch.tensor(mask)], x)
    m = randn(3, 4)
    check(lambda t: t.T, lambda t: t.T, m)
    check(lambda a, b: gw.concatenate([a, b], axis=1), lambda a, b: torch.cat([a, b], dim=1),
          randn(2, 3), randn(2, 5))
    check(lambda a, b: gw.stack([a, b], axis=1), lambda a, b: torch.stack([a, b], dim=1),
          randn(2, 3), randn(2, 3))
    cond = RNG.random((2, 3)) > 0.5
    check(lambda a, b: gw.where(cond, a, b), lambda a, b: torch.where(torch.tensor(cond), a, b),
          randn(2, 3), randn(1, 3))


# --- elementwise math and activations --------------------------------------------------------

def _away_from_zero(*shape):
    x = randn(*shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "clip", "sigmoid", "tanh", "relu",
                                  "leaky_relu", "softplus"])
def test_elementwise(name):
    x = positive(3, 4) if name in ("log", "sqrt") else _away_from_zero(3, 4) * 3
    g, t = {
        "exp": (F.exp, torch.exp), "log": (F.log, torch.log), "sqrt": (F.sqrt, torch.sqrt),
        "abs": (F.abs, torch.abs),
        "clip": (lambda v: F.clip(v, -1.0, 1.5), lambda v: torch.clamp(v, -1.0, 1.5)),
        "sigmoid": (F.sigmoid, torch.sigmoid), "tanh": (F.tanh, torch.tanh),
        "relu": (F.relu, torch.relu),
        "leaky_relu": (lambda v: F.leaky_relu(v, 0.1), lambda v: TF.leaky_relu(v, 0.1)),
        "softplus": (F.softplus, TF.softplus),
    }[name]
    check(g, t, x)


def test_relu_at_zero_and_clip_at_its_bounds_match_torch():
    check(F.relu, torch.relu, np.array([0.0, -1.0, 2.0]))
    check(lambda v: F.clip(v, 0.0, 1.0), lambda v: torch.clamp(v, 0.0, 1.0),
          np.array([0.0, 0.5, 1.0, 2.0]))


@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_and_log_softmax(axis):
    x = randn(4, 5) * 4
    check(lambda t: F.softmax(t, axis=axis), lambda t: torch.softmax(t, dim=axis), x)
    check(lambda t: F.log_softmax(t, axis=axis), lambda t: torch.log_softmax(t, dim=axis), x)


def test_extreme_logits_match_torch():
    z = np.array([[-1000.0], [1000.0], [0.0]])
    check(F.sigmoid, torch.sigmoid, z)
    check(F.softplus, TF.softplus, z)
    y = np.array([[1.0], [0.0], [1.0]])
    check(lambda t: F.binary_cross_entropy_with_logits(t, y),
          lambda t: TF.binary_cross_entropy_with_logits(t, torch.tensor(y)), z)
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]])
    labels = np.array([1, 2])
    check(lambda t: F.cross_entropy(t, labels),
          lambda t: TF.cross_entropy(t, torch.tensor(labels)), x)
    check(lambda t: F.softmax(t), lambda t: torch.softmax(t, -1), x)


# --- losses ----------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses(reduction):
    x, y = randn(6, 2), randn(6, 2)
    check(lambda t: F.mse_loss(t, y, reduction),
          lambda t: TF.mse_loss(t, torch.tensor(y), reduction=reduction), x)
    p, yb = RNG.uniform(0.05, 0.95, (6, 1)), RNG.integers(0, 2, (6, 1)).astype(float)
    check(lambda t: F.binary_cross_entropy(t, yb, reduction),
          lambda t: TF.binary_cross_entropy(t, torch.tensor(yb), reduction=reduction), p)
    z, ys = randn(6, 1) * 3, RNG.uniform(0, 1, (6, 1))
    check(lambda t: F.binary_cross_entropy_with_logits(t, ys, reduction),
          lambda t: TF.binary_cross_entropy_with_logits(t, torch.tensor(ys), reduction=reduction),
          z)
    logits, labels = randn(6, 4) * 2, RNG.integers(0, 4, 6)
    check(lambda t: F.cross_entropy(t, labels, reduction),
          lambda t: TF.cross_entropy(t, torch.tensor(labels), reduction=reduction), logits)
    soft = RNG.dirichlet(np.ones(4), 6)
    check(lambda t: F.cross_entropy(t, soft, reduction),
          lambda t: TF.cross_entropy(t, torch.tensor(soft), reduction=reduction), logits)


def test_bce_clamps_logs_like_torch():
    p, y = np.array([[0.0], [1.0], [0.5]]), np.array([[1.0], [0.0], [1.0]])
    g = gw.tensor(p, dtype="float64")
    t = torch.tensor(p)
    np.testing.assert_allclose(F.binary_cross_entropy(g, y, "none").numpy(),
                               TF.binary_cross_entropy(t, torch.tensor(y), reduction="none"),
                               rtol=TOL)


# --- a whole MLP -----------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["cross_entropy", "bce_with_logits", "mse"])
def test_mlp_forward_loss_and_all_gradients(loss):
    gw.manual_seed(0)
    n_out = 3 if loss == "cross_entropy" else 1
    model = gw.nn.Sequential(
        gw.nn.Dense(4, 8, activation="relu", dtype="float64"),
        gw.nn.Dense(8, 8, activation="tanh", dtype="float64"),
        gw.nn.Dense(8, 6, activation="sigmoid", dtype="float64"),
        gw.nn.Dense(6, 5, activation=gw.nn.LeakyReLU(0.1), dtype="float64"),
        gw.nn.Dense(5, n_out, dtype="float64"),
    )
    tmodel = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
        torch.nn.Linear(8, 6), torch.nn.Sigmoid(), torch.nn.Linear(6, 5),
        torch.nn.LeakyReLU(0.1), torch.nn.Linear(5, n_out),
    ).double()
    tlinears = [m for m in tmodel if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for dense, lin in zip(model, tlinears, strict=True):
            lin.weight.copy_(torch.tensor(dense.weight.numpy().T))
            lin.bias.copy_(torch.tensor(RNG.standard_normal(lin.bias.shape) * 0.1))
            dense.bias.data[...] = lin.bias.numpy()

    x = RNG.standard_normal((16, 4))
    if loss == "cross_entropy":
        y = RNG.integers(0, 3, 16)
        gl, tl = gw.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
        ty = torch.tensor(y)
    elif loss == "bce_with_logits":
        y = RNG.integers(0, 2, (16, 1)).astype(float)
        gl, tl = gw.nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()
        ty = torch.tensor(y)
    else:
        y = RNG.standard_normal((16, 1))
        gl, tl = gw.nn.MSELoss(), torch.nn.MSELoss()
        ty = torch.tensor(y)

    gx = gw.tensor(x, dtype="float64", requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    gout, tout = model(gx), tmodel(tx)
    np.testing.assert_allclose(gout.numpy(), tout.detach().numpy(), rtol=TOL, atol=TOL)
    gloss, tloss = gl(gout, y), tl(tout, ty)
    assert abs(gloss.item() - tloss.item()) <= TOL * max(1.0, abs(tloss.item()))
    gloss.backward()
    tloss.backward()
    np.testing.assert_allclose(gx.grad, tx.grad.numpy(), rtol=TOL, atol=TOL)
    for dense, lin in zip(model, tlinears, strict=True):
        np.testing.assert_allclose(dense.weight.grad, lin.weight.grad.numpy().T,
                                   rtol=TOL, atol=TOL)
        np.testing.assert_allclose(dense.bias.grad, lin.bias.grad.numpy(), rtol=TOL, atol=TOL)


def test_dropout_scaling_matches_torch_semantics():
    x = np.ones((200, 50))
    out = F.dropout(gw.tensor(x, dtype="float64"), 0.25, True, np.random.default_rng(0)).numpy()
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    tout = TF.dropout(torch.tensor(x), 0.25, training=True).numpy()
    assert set(np.unique(tout)) == {0.0, 1 / 0.75}
