"""The fused optimizer kernels (numba, ``gradwise[fast]``) compute exactly what the NumPy path
computes: bit-identical parameters and state for every built-in optimizer and option, and
through a whole ``fit``."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.optim import fused

gates.numba()


@pytest.fixture(autouse=True)
def _restore():
    before = fused.enabled()
    yield
    fused.set_enabled(before)
    gw.set_num_threads("auto")


def _run(on: bool, name: str, hyper: dict, dtype: str, steps: int = 4,
         sizes: tuple[int, ...] = (5000, 37)) -> tuple[list[np.ndarray], dict]:
    fused.set_enabled(on)
    rng = np.random.default_rng(1)
    params = [gw.Tensor(rng.standard_normal(n).astype(dtype), requires_grad=True) for n in sizes]
    # one parameter that is not contiguous: updated on its own (the NumPy path)
    params.append(gw.Tensor(rng.standard_normal((6, 4)).astype(dtype)[:, ::2],
                            requires_grad=True))
    opt = getattr(gw.optim, name)(params, **hyper)
    for _ in range(steps):
        for p in params:
            g = rng.standard_normal(p.shape).astype(dtype)
            g[::7] = 0.0  # zero gradients: v stays small, eps matters
            p.grad = g
        opt.step()
    state = opt.state_dict()["state"]
    return [p.data.copy() for p in params], state


CASES = [
    ("Adam", {}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.3}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"betas": (0.2, 0.5), "eps": 1e-3}),  # beta1 < 0.5: lerp's other branch
    ("Adam", {"maximize": True, "amsgrad": True, "weight_decay": 0.01}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.5, "amsgrad": True}),
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.02}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1}),
    ("RMSprop", {"alpha": 0.3, "centered": True}),  # lerp_ with w >= 0.5; v - gbar^2 can be <= 0
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.1, "weight_decay": 0.2, "eps": 1e-3}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.3, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "hyper"), CASES)
def test_fused_equals_numpy_bit_for_bit(name: str, hyper: dict, dtype: str) -> None:
    a, sa = _run(True, name, hyper, dtype)
    b, sb = _run(False, name, hyper, dtype)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    for i in sb:
        for k in sb[i]:
            np.testing.assert_array_equal(sa[i][k], sb[i][k])


def test_kernel_runs_in_threads_of_a_program() -> None:
    """The playground trains its sessions in threads: the kernel runs there too (numba's
    ``nogil``), with the same result."""
    results: list[list[np.ndarray]] = []
    t = threading.Thread(target=lambda: results.append(_run(True, "Adam", {}, "float32",
                                                            sizes=(20000,))[0]))
    t.start()
    t.join()
    ref, _ = _run(False, "Adam", {}, "float32", sizes=(20000,))
    for x, y in zip(results[0], ref, strict=True):
        np.testing.assert_array_equal(x, y)


def test_fit_histories_are_identical_with_and_without_the_kernels() -> None:
    def history(on: bool) -> dict:
        fused.set_enabled(on)
        gw.manual_seed(0)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((200, 2)).astype(np.float32)
        y = (X[:, :1] * X[:, 1:] > 0).astype(np.float32)
        model = gw.nn.Sequential(gw.nn.Dense(2, 16, activation="relu"),
                                 gw.nn.Dense(16, 1, activation="sigmoid"))
        opt = gw.optim.Adam(model.parameters(), lr=0.01)
        h = gw.fit(model, gw.nn.BCELoss(), opt, (X, y), epochs=5, batch_size=32, verbose=0,
                   validation_split=0.2, seed=0)
        return h.history

    assert history(True) == history(False)


def test_every_elementwise_builtin_has_a_kernel_and_it_runs(monkeypatch) -> None:
    from gradwise.optim import _fused_kernels as kernels

    for name, factory in [("SGD", "sgd"), ("Adam", "adam"), ("AdamW", "adam"),
                          ("RMSprop", "rmsprop"), ("Adagrad", "adagrad"),
                          ("Adadelta", "adadelta")]:
        assert getattr(gw.optim, name).has_fused_kernel(), name
        used: list[tuple] = []
        real = getattr(kernels, factory)
        monkeypatch.setattr(kernels, factory,
                            lambda *flags, _f=real, _u=used: _u.append(flags) or _f(*flags))
        _run(True, name, {}, "float32", steps=1, sizes=(100,))
        assert used, name
        monkeypatch.undo()


def test_an_optimizer_without_a_kernel_takes_the_numpy_path() -> None:
    class Plain(gw.optim.SGD):
        _fused_update = gw.optim.Optimizer._fused_update

    assert not Plain.has_fused_kernel()
    p = gw.Tensor(np.ones(3, np.float32), requires_grad=True)
    assert Plain([p], lr=0.1)._fused_kernel({}, np.float32) is None


def test_switches() -> None:
    fused.set_enabled(False)
    assert not fused.enabled()
    fused.set_enabled(True)
    assert fused.enabled()
