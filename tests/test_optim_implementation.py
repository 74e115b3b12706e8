"""The ``implementation`` argument of every built-in optimizer: "fused", "flat" ("foreach") and
"auto" give bit-identical results, "reference" (the paper's equation, per parameter) the same
numbers to rounding, :attr:`Optimizer.implementation` names the one that ran, and "fused"
without numba fails clearly."""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.optim import fused
from test_fused import CASES


@pytest.fixture(autouse=True)
def _restore():
    before = fused.enabled()
    yield
    fused.set_enabled(before)


def _run(implementation: str, name: str, hyper: dict, dtype: str = "float32",
         steps: int = 4) -> tuple[list[np.ndarray], dict, str]:
    rng = np.random.default_rng(1)
    params = [gw.Tensor(rng.standard_normal(n).astype(dtype), requires_grad=True)
              for n in (5000, 37)]
    opt = getattr(gw.optim, name)(params, implementation=implementation, **hyper)
    for _ in range(steps):
        for p in params:
            g = rng.standard_normal(p.shape).astype(dtype)
            g[::7] = 0.0
            p.grad = g
        opt.step()
    return [p.data.copy() for p in params], opt.state_dict()["state"], opt.implementation


def _same(a: tuple, b: tuple, exact: bool) -> None:
    check = (np.testing.assert_array_equal if exact else
             lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6))
    for x, y in zip(a[0], b[0], strict=True):
        check(x, y)
    for i in b[1]:
        for k in b[1][i]:
            check(a[1][i][k], b[1][i][k])


@pytest.mark.parametrize(("name", "hyper"), CASES)
def test_flat_foreach_and_reference_agree(name: str, hyper: dict) -> None:
    flat = _run("flat", name, hyper)
    assert flat[2] == "flat"
    foreach = _run("foreach", name, hyper)
    assert foreach[2] == "flat"
    _same(foreach, flat, exact=True)
    ref = _run("reference", name, hyper)
    assert ref[2] == "reference"
    _same(ref, flat, exact=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "hyper"), CASES)
def test_fused_and_auto_equal_flat_bit_for_bit(name: str, hyper: dict, dtype: str) -> None:
    gates.numba()
    fused.set_enabled(True)
    flat = _run("flat", name, hyper, dtype)
    one = _run("fused", name, hyper, dtype)
    auto = _run("auto", name, hyper, dtype)
    assert (one[2], auto[2]) == ("fused", "fused")
    _same(one, flat, exact=True)
    _same(auto, flat, exact=True)


@pytest.mark.parametrize(("implementation", "kernel_calls", "update_calls", "reference_calls"),
                         [("fused", True, False, False), ("flat", False, True, False),
                          ("reference", False, False, True)])
def test_the_property_names_the_implementation_that_ran(monkeypatch, implementation,
                                                        kernel_calls, update_calls,
                                                        reference_calls) -> None:
    if implementation == "fused":
        gates.numba()
    calls = {"_fused_update": 0, "_update": 0, "_reference_update": 0}
    for method in calls:
        original = getattr(gw.optim.Adam, method)

        def counted(self, *args, _original=original, _method=method):
            calls[_method] += 1
            return _original(self, *args)
        monkeypatch.setattr(gw.optim.Adam, method, counted)
    model = gw.nn.Dense(4, 3)
    opt = gw.optim.Adam(model.parameters(), implementation=implementation)
    model(gw.tensor(np.ones((2, 4)))).sum().backward()
    opt.step()
    assert opt.implementation == implementation
    assert f"implementation: {implementation}" in repr(opt)
    # the reference runs inside _update only when _update is not overridden: Adam overrides it
    assert (calls["_fused_update"] > 0, calls["_update"] > 0,
            calls["_reference_update"] > 0) == (kernel_calls, update_calls, reference_calls)


def test_auto_follows_the_switch() -> None:
    params = [gw.Tensor(np.ones(3), requires_grad=True)]
    fused.set_enabled(False)  # what GRADWISE_FUSED=0 does
    assert gw.optim.SGD(params, lr=0.1).implementation == "flat"
    if fused.available():
        fused.set_enabled(True)
        assert gw.optim.SGD(params, lr=0.1).implementation == "fused"


def test_fused_without_numba_says_so(monkeypatch) -> None:
    monkeypatch.setattr(fused, "available", lambda: False)
    params = [gw.Tensor(np.ones(3), requires_grad=True)]
    with pytest.raises(RuntimeError, match="needs numba.*pip install"):
        gw.optim.Adam(params, implementation="fused")
    assert gw.optim.Adam(params, implementation="flat").implementation == "flat"


def test_a_bad_name_is_an_error() -> None:
    params = [gw.Tensor(np.ones(3), requires_grad=True)]
    with pytest.raises(ValueError, match="implementation must be one of"):
        gw.optim.SGD(params, implementation="fast")


def test_the_playground_does_not_offer_the_implementation_as_a_hyperparameter() -> None:
    from gradwise.playground import settings

    for cls in (gw.optim.Adam, gw.optim.SGD, gw.optim.RMSprop):
        assert "implementation" not in settings._hyper_defaults(cls)
