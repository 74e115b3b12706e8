"""Tensor's operators call the ops of gradwise.functional through one declared seam
(``autograd.TensorOps``, installed by ``install_ops``), not a hidden import of a layer above."""

from __future__ import annotations

import types

import numpy as np
import pytest

import gradwise as gw
from gradwise import autograd, functional


def test_functional_is_installed_and_provides_every_declared_op() -> None:
    assert autograd._ops is functional
    assert "add" in autograd.TENSOR_OPS and "rpow" in autograd.TENSOR_OPS
    for name in autograd.TENSOR_OPS:
        assert callable(getattr(functional, name)), name
    x = gw.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (2.0 ** x).sum()  # rpow
    y.backward()
    np.testing.assert_allclose(x.grad, np.log(2.0) * 2.0 ** np.array([1.0, 2.0]))


def test_install_ops_refuses_a_table_that_lacks_an_op() -> None:
    partial = types.SimpleNamespace(**{n: getattr(functional, n) for n in autograd.TENSOR_OPS
                                       if n not in ("rpow", "logsumexp")})
    with pytest.raises(TypeError, match="lacks the Tensor ops rpow, logsumexp"):
        autograd.install_ops(partial)  # type: ignore[arg-type]
    assert autograd._ops is functional  # unchanged


def test_operators_before_installation_say_what_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(autograd, "_ops", autograd._NotInstalled())
    with pytest.raises(RuntimeError, match="Tensor.add: the ops are not installed"):
        gw.tensor([1.0]) + 1.0
