"""The engine: tensors, the backward pass, no_grad, errors, NaN/inf and the gradient checker."""

from __future__ import annotations

import numpy as np
import pytest

import gradwise as gw
from gradwise.autograd import Function
from gradwise.testing import GradcheckError, gradcheck


def t64(a, requires_grad: bool = True) -> gw.Tensor:
    return gw.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=requires_grad)


# --- tensors ---------------------------------------------------------------------------------

def test_tensor_construction_and_properties():
    t = gw.tensor([[1.0, 2.0, 3.0]])
    assert t.shape == (1, 3) and t.ndim == 2 and t.dtype == np.float32 and t.device == "cpu"
    assert t.grad is None and not t.requires_grad and t.is_leaf
    assert isinstance(t.data, np.ndarray)
    assert gw.tensor([1, 2]).dtype == np.int64
    assert gw.tensor([1.0], dtype="float64").dtype == np.float64
    assert gw.tensor(2.5).item() == 2.5
    assert gw.Tensor(np.ones(2)).dtype == np.float32
    src = np.ones(3, dtype=np.float32)
    t = gw.tensor(src)
    src[0] = 5
    assert t.numpy()[0] == 1.0  # gw.tensor copies its data
    with pytest.raises(ValueError, match=r"one element.*\(3,\)"):
        t.item()


def test_constructors():
    assert gw.zeros(2, 3).shape == (2, 3) and gw.zeros((2, 3)).numpy().sum() == 0
    assert gw.ones(4, dtype="float64").dtype == np.float64
    assert gw.full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    assert gw.arange(3).dtype == np.int64 and gw.arange(0, 1, 0.5).dtype == np.float32
    assert gw.eye(3).numpy().trace() == 3
    assert gw.randn(3, 4, requires_grad=True).requires_grad
    assert 0 <= gw.rand(100).numpy().min() and gw.rand(100).numpy().max() < 1
    assert gw.zeros_like(gw.ones(2, 2)).shape == (2, 2)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating tensors can require gradients.*int64"):
        gw.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        gw.arange(3).requires_grad_()


def test_detach_shares_data_and_cuts_the_graph():
    x = t64([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = x * 3
    assert y.detach().data is y.data


def test_comparisons_give_boolean_tensors_without_gradient():
    x = t64([1.0, 2.0, 3.0])
    for out, ref in [(x > 1.5, [0, 1, 1]), (x >= 2, [0, 1, 1]), (x < 2, [1, 0, 0]),
                     (x <= 2, [1, 1, 0]), (x == t64([1.0, 0.0, 3.0]), [1, 0, 1]),
                     (x != 2.0, [1, 0, 1])]:
        assert out.dtype == np.bool_ and not out.requires_grad
        assert out.numpy().tolist() == [bool(v) for v in ref]


def test_numpy_array_on_the_left_of_an_operator_builds_a_graph():
    x = t64([1.0, 2.0])
    y = np.array([3.0, 4.0]) * x + np.array([1.0, 1.0])
    assert isinstance(y, gw.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


# --- backward --------------------------------------------------------------------------------

def test_scalar_output_seeds_one_and_leaf_backward():
    x = t64(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    leaf = t64([1.0, 2.0])
    leaf.backward(np.array([0.5, 0.25]))
    np.testing.assert_array_equal(leaf.grad, [0.5, 0.25])


def test_backward_on_non_scalar_without_grad_says_so():
    y = t64([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"scalar output.*shape \(2,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the output has shape \(2,\)"):
        y.backward(np.ones(3))
    x = t64([1.0, 2.0])
    (x * 2).backward(gw.tensor([1.0, 10.0], dtype="float64"))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_backward_on_tensor_without_grad_says_so():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (gw.tensor([1.0]) * 2).sum().backward()


def test_ten_thousand_op_chain_backward_is_iterative():
    x = t64(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**10_000, rel=1e-9)


def test_gradients_accumulate_across_backward_calls():
    x = t64([1.0, -2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3 + 2, 3 - 4])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_tensor_used_several_times():
    x = t64([2.0, 3.0])
    y = x * x + x * 4 - x / x  # d/dx = 2x + 4
    z = y * y  # used twice by one node
    z.sum().backward()
    yv = x.numpy() ** 2 + 4 * x.numpy() - 1
    np.testing.assert_allclose(x.grad, 2 * yv * (2 * x.numpy() + 4), rtol=1e-15)
    a = t64([1.0, 2.0])
    h = a.exp()
    (h + h + h).sum().backward()  # a shared intermediate
    np.testing.assert_allclose(a.grad, 3 * np.exp([1.0, 2.0]), rtol=1e-15)


def test_leaf_grad_never_aliases_another_gradient():
    a, b = t64([1.0, 2.0]), t64([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad += 1
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    seed = np.ones(2)
    c = t64([1.0, 2.0])
    c.backward(seed)
    c.grad += 1
    np.testing.assert_array_equal(seed, [1.0, 1.0])


def test_freed_graph_raises_unless_retained():
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="already been freed.*retain_graph=True"):
        y.backward()
    h = x.exp()
    (h * 2).sum().backward()
    with pytest.raises(RuntimeError, match="already been freed"):
        (h * 3).sum().backward()


def test_no_grad_context_manager_and_decorator_build_no_graph():
    x = t64([1.0, 2.0])
    with gw.no_grad():
        assert not gw.is_grad_enabled()
        y = x * 2 + 1
        with gw.enable_grad():
            assert (x * 2).requires_grad
        assert not gw.is_grad_enabled()
    assert gw.is_grad_enabled()
    assert not y.requires_grad and y._node is None

    @gw.no_grad()
    def step(t):
        return (t * t).sum()

    out = step(x)
    assert not out.requires_grad and out._node is None
    assert gw.is_grad_enabled()
    with pytest.raises(KeyError), gw.no_grad():
        raise KeyError("inside no_grad")
    assert gw.is_grad_enabled()  # restored after an exception


def test_tensors_that_need_no_gradient_record_nothing():
    a, b = gw.tensor([1.0, 2.0]), gw.tensor([3.0, 4.0])
    out = (a * b).exp().sum()
    assert not out.requires_grad and out._node is None


def test_to_moves_and_converts():
    x = gw.tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x
    d = x.to(dtype="float64")
    assert d.dtype == np.float64 and d.requires_grad and d.is_leaf
    assert x.double().dtype == np.float64 and d.float().dtype == np.float32


# --- errors name the offending shapes --------------------------------------------------------

def test_matmul_and_broadcast_errors_name_both_shapes():
    a, b = t64(np.ones((2, 3))), t64(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        a + b
    for op in (lambda: a - b, lambda: a * b, lambda: a / b):
        with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
            op()
    with pytest.raises(ValueError, match=r"reshape a tensor of shape \(2, 3\) into \(4,\)"):
        a.reshape(4)


def test_mixing_float_dtypes_is_refused():
    with pytest.raises(TypeError, match="float32 and float64"):
        gw.tensor([1.0]) + gw.tensor([1.0], dtype="float64")


# --- NaN and inf -----------------------------------------------------------------------------

def test_nan_and_inf_propagate_without_crashing():
    x = t64([np.nan, np.inf, -np.inf, 1.0])
    with np.errstate(all="ignore"):
        out = (x * 2).exp().sum()
        assert np.isnan(out.item())
        out.backward()
        assert np.isnan(x.grad[0]) and np.isinf(x.grad[1])
        np.testing.assert_array_equal(gw.relu(t64([np.nan, np.inf, -np.inf])).numpy(),
                                      [np.nan, np.inf, 0.0])
        np.testing.assert_array_equal(gw.sigmoid(t64([np.inf, -np.inf])).numpy(), [1.0, 0.0])
        assert np.isnan(gw.nn.functional.mse_loss(t64([np.nan]), [0.0]).item())
        assert np.isinf((t64([1.0]) / 0.0).numpy()[0])


# --- the gradient-buffer hook ----------------------------------------------------------------

def test_grad_buffer_receives_and_accumulates_the_gradient():
    p = t64([1.0, 2.0])
    buf = np.full(2, 99.0)
    p.grad_slot = buf
    (p * 3).sum().backward()
    assert p.grad is buf
    np.testing.assert_array_equal(buf, [3.0, 3.0])
    (p * p).sum().backward()
    assert p.grad is buf
    np.testing.assert_array_equal(buf, [5.0, 7.0])


# --- gradcheck itself ------------------------------------------------------------------------

class _WrongSquare(Function):
    """``x^2`` with a deliberately wrong derivative ``x`` instead of ``2x``."""

    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return (g * self.x,)


def test_gradcheck_detects_a_wrong_gradient():
    x = t64([0.5, -1.0, 2.0])
    with pytest.raises(GradcheckError, match=r"input 0.*element"):
        gradcheck(lambda t: _WrongSquare()(t), [x])
    assert gradcheck(lambda t: t * t, [x])


def test_gradcheck_uses_random_directions_for_large_inputs():
    x = t64(np.random.default_rng(0).standard_normal((40, 50)))
    assert gradcheck(lambda t: (t * t).tanh(), [x], max_elementwise=64)
    with pytest.raises(GradcheckError, match="random direction"):
        gradcheck(lambda t: _WrongSquare()(t), [x])


def test_gradcheck_skips_constants_and_refuses_float32():
    x, c = t64([1.0, 2.0]), t64([3.0, 4.0], requires_grad=False)
    assert gradcheck(lambda a, b: a * b, [x, c])
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda a: a * 2, [gw.tensor([1.0], requires_grad=True)])


def test_grad_mode_is_per_thread():
    """no_grad in one thread leaves graph recording on in another (as PyTorch's grad mode)."""
    import threading

    entered, release = threading.Event(), threading.Event()
    seen = {}

    @gw.no_grad()
    def hold():
        entered.set()
        release.wait(5)
        seen["worker"] = gw.is_grad_enabled()

    worker = threading.Thread(target=hold)
    worker.start()
    entered.wait(5)
    x = gw.tensor([1.0], requires_grad=True)
    seen["main"] = (x * 2).requires_grad
    release.set()
    worker.join()
    assert seen == {"worker": False, "main": True}
    assert gw.is_grad_enabled()
