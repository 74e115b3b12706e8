"""One registry per concept: the config schema reads them, and an activation and an optimizer
registered at runtime train from a config (the recipe in CONTRIBUTING.md)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradwise as gw
from gradwise import functional as F
from gradwise.lab.activations import activation_curves
from gradwise.ops import FUSED_ACTIVATIONS
from gradwise.training import config as cfg
from gradwise.training.metrics import EPOCH_METRICS, METRICS
from gradwise.training.run import load_run, train


def _accepted(section: str, key: str) -> list[str]:
    check = cfg.SCHEMA[section][key][1][0]
    assert isinstance(check, cfg._OneOf)
    return check.names()


def test_the_config_schema_equals_the_registries():
    assert _accepted("data", "name") == list(gw.data.TOY_SETS)
    assert _accepted("optimizer", "name") == list(gw.optim.OPTIMIZERS)
    assert _accepted("model", "activation") == [
        k for k in gw.nn.ACTIVATIONS if k not in cfg.HIDDEN_EXCLUDED]
    assert _accepted("model", "init") == [
        k for k in gw.nn.init.INITIALIZERS if k not in cfg.INIT_EXCLUDED]
    names = ["loss", *METRICS, *EPOCH_METRICS]
    assert sorted(_accepted("training.early_stopping", "monitor")) == sorted(
        names + [f"val_{n}" for n in names])


def test_dense_fuses_exactly_the_ops_list():
    for name in gw.nn.ACTIVATIONS:
        layer = gw.nn.Dense(2, 3, activation=name)
        fused = layer.fused_activation
        assert fused in FUSED_ACTIVATIONS
        assert (fused is not None) == (name in FUSED_ACTIVATIONS)
        assert (layer.activation is None) == (name in FUSED_ACTIVATIONS or name in (
            "linear", "identity"))


class Swish(gw.nn.Module):
    """``g(z) = z sigmoid(z)`` (Ramachandran et al. 2017), composed from registered ops."""

    def forward(self, x: gw.Tensor) -> gw.Tensor:
        return x * F.sigmoid(x)


class SignSGD(gw.optim.Optimizer):
    """signSGD (Bernstein et al. 2018): ``theta <- theta - lr sign(g)``."""

    elementwise = True

    def __init__(self, params: Any, lr: float = 0.01) -> None:
        super().__init__(params, {"lr": lr})

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        p -= group["lr"] * np.sign(g)


def test_an_activation_and_an_optimizer_registered_at_runtime_train_from_a_config(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(gw.nn.ACTIVATIONS, "swish", Swish)
    monkeypatch.setitem(gw.optim.OPTIMIZERS, "signsgd", SignSGD)
    config = cfg.load_config(None, [
        "data.n=200", "model.hidden=[16]", "model.activation=swish", "optimizer.name=signsgd",
        "optimizer.lr=0.01", "training.epochs=8", "training.verbose=0",
        "training.early_stopping.enabled=false"])
    run_dir, summary = train(config, out=tmp_path / "run")
    rebuilt = load_run(run_dir)
    assert any(isinstance(m, Swish) for m in rebuilt.model.modules())
    z, g, dg = activation_curves(["swish"])["swish"]  # the lab draws it, derivative included
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(dg, s + z * s * (1 - s), rtol=1e-9)
    assert rebuilt.history["loss"][-1] < rebuilt.history["loss"][0]
    assert summary["epochs_run"] == 8
    with pytest.raises(cfg.ConfigError, match="optimizer.name = 'lion': expected one of .*"
                                              "'signsgd'"):
        cfg.load_config(None, ["optimizer.name=lion"])
