"""One registry per concept: the config schema reads them, and an activation and an optimizer
registered at runtime train from a config (the recipe in CONTRIBUTING.md)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise import functional as F
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
    gates.matplotlib()
    from gradwise.lab.activations import activation_curves
    z, g, dg = activation_curves(["swish"])["swish"]  # the lab draws it, derivative included
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(dg, s + z * s * (1 - s), rtol=1e-9)
    assert rebuilt.history["loss"][-1] < rebuilt.history["loss"][0]
    assert summary["epochs_run"] == 8
    with pytest.raises(cfg.ConfigError, match="optimizer.name = 'lion': expected one of .*"
                                              "'signsgd'"):
        cfg.load_config(None, ["optimizer.name=lion"])


# --- one registration each: activation (fused), loss, callback; the race; the config's lists --

class Softsign(gw.Function):
    """``g(z) = z / (1 + |z|)``; ``g'(z) = 1 / (1 + |z|)^2 = (1 - |g(z)|)^2``."""

    def forward(self, z: Any) -> Any:
        self.z = z
        return z / (1 + np.abs(z))

    def backward(self, g: Any) -> tuple[Any]:
        return (g / (1 + np.abs(self.z)) ** 2,)

    @staticmethod
    def derivative_from_output(y: Any) -> Any:
        return (1 - np.abs(y)) ** 2


class Cauchy(gw.Function):
    """Cauchy loss ``l = log(1 + d^2)`` of ``d = x - y``; ``dx = 2 d / (1 + d^2) g``."""

    def __init__(self, target: Any, reduction: str) -> None:
        self.target, self.reduction = target, reduction

    def forward(self, x: Any) -> Any:
        self.d = x - self.target
        loss = np.log1p(self.d ** 2)
        return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[self.reduction]

    def backward(self, g: Any) -> tuple[Any]:
        scale = 1 / self.d.size if self.reduction == "mean" else 1
        return (g * scale * 2 * self.d / (1 + self.d ** 2),)


class CountEpochs(gw.callbacks.Callback):
    """Counts the epochs it saw into ``seen[tag]``."""

    seen: dict[str, int] = {}

    def __init__(self, tag: str, start: int = 0) -> None:
        super().__init__()
        self.tag = tag
        CountEpochs.seen[tag] = start

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        CountEpochs.seen[self.tag] += 1


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Softsign, Cauchy, SignSGD and CountEpochs registered for one test, removed after it."""
    gw.nn.register_activation("softsign", Softsign)
    gw.nn.register_loss("cauchy", Cauchy)
    monkeypatch.setitem(gw.optim.OPTIMIZERS, "signsgd", SignSGD)
    monkeypatch.setitem(gw.callbacks.CALLBACKS, "count_epochs", CountEpochs)
    yield
    gw.nn.unregister_activation("softsign")
    gw.nn.unregister_loss("cauchy")


def test_one_registration_makes_an_activation_everywhere(registered: Any) -> None:
    from gradwise import ops
    from gradwise.playground.session import defaults

    cls = gw.nn.Softsign  # the module class, named as the op
    assert gw.nn.ACTIVATIONS["softsign"] is cls and cls.__doc__ == Softsign.__doc__
    assert "softsign" in ops.FUSED_ACTIVATIONS
    assert "softsign" in _accepted("model", "activation")
    assert "softsign" in defaults()["choices"]["activations"]
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(F.softsign(gw.tensor(z)).numpy(), z / (1 + np.abs(z)))
    gates.matplotlib()
    from gradwise.lab.activations import activation_curves
    _, g, dg = activation_curves(["softsign"])["softsign"]
    np.testing.assert_allclose(dg, 1 / (1 + np.abs(np.linspace(-5, 5, 801))) ** 2)
    # fused in Dense (forward and every gradient) = the linear layer followed by the module
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3))
    fused = gw.nn.Dense(3, 4, activation="softsign", dtype="float64")
    assert fused.fused_activation == "softsign" and fused.activation is None
    plain = gw.nn.Dense(3, 4, dtype="float64")
    plain.load_state_dict(fused.state_dict())
    xs = [gw.tensor(x, dtype="float64", requires_grad=True) for _ in range(2)]
    ys = [fused(xs[0]), cls()(plain(xs[1]))]
    np.testing.assert_allclose(ys[0].numpy(), ys[1].numpy(), rtol=1e-12)
    for y in ys:
        (y * y).sum().backward()
    np.testing.assert_allclose(xs[0].grad, xs[1].grad, rtol=1e-10)
    np.testing.assert_allclose(fused.weight.grad, plain.weight.grad, rtol=1e-10)
    np.testing.assert_allclose(fused.bias.grad, plain.bias.grad, rtol=1e-10)
    gw.nn.unregister_activation("softsign")
    assert "softsign" not in ops.FUSED_ACTIVATIONS and not hasattr(gw.nn, "Softsign")
    with pytest.raises(ValueError, match="unknown activation 'softsign'"):
        gw.nn.Dense(2, 2, activation="softsign")


def test_the_built_in_elu_and_logcosh_come_from_their_op_and_one_registration() -> None:
    z = np.linspace(-4, 4, 17) + 0.05
    zt = gw.tensor(z, dtype="float64", requires_grad=True)
    F.elu(zt).sum().backward()
    np.testing.assert_allclose(zt.grad, np.where(z > 0, 1, np.exp(z)), rtol=1e-12)
    np.testing.assert_allclose(gw.nn.ELU(alpha=0.5)(gw.tensor(z)).numpy(),
                               np.where(z > 0, z, 0.5 * np.expm1(z)), rtol=1e-6)
    assert gw.nn.Dense(2, 3, activation="elu").fused_activation == "elu"
    x = np.array([[0.0], [1.0], [-30.0], [800.0]])
    y = np.zeros_like(x)
    xt = gw.tensor(x, dtype="float64", requires_grad=True)
    loss = gw.nn.get_loss("logcosh")
    assert isinstance(loss, gw.nn.LogCoshLoss)
    out = loss(xt, y)
    out.backward()
    expected = [0.0, np.log(np.cosh(1.0)), 30 - np.log(2) + np.log1p(np.exp(-60)),
                800 - np.log(2)]  # cosh(800) overflows; the stable form does not
    np.testing.assert_allclose(out.item(), np.mean(expected), rtol=1e-12)
    np.testing.assert_allclose(xt.grad, np.tanh(x) / 4, rtol=1e-12)
    assert F.logcosh_loss(xt, y, "sum").item() == pytest.approx(np.sum(expected), rel=1e-12)


@pytest.mark.slow
def test_an_activation_optimizer_loss_and_callback_registered_at_runtime_train_from_a_config(
        registered: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gradwise.cli import main

    path = tmp_path / "run.toml"
    path.write_text(
        '[data]\nname = "regression_plane"\nn = 200\n'
        '[model]\nhidden = [16]\nactivation = "softsign"\n'
        '[optimizer]\nname = "signsgd"\nlr = 0.005\n'
        '[training]\nepochs = 6\nverbose = 0\nloss = "cauchy"\n'
        '[training.early_stopping]\nenabled = false\n'
        '[[callbacks]]\nname = "count_epochs"\ntag = "run"\nstart = 100\n')
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 0  # gradwise train
    assert CountEpochs.seen["run"] == 106
    rebuilt = load_run(tmp_path / "run")
    assert rebuilt.config["training"]["loss"] == "cauchy"
    assert rebuilt.config["callbacks"] == [{"name": "count_epochs", "tag": "run", "start": 100}]
    assert isinstance(rebuilt.loss, gw.nn.CauchyLoss)
    dense = [m for m in rebuilt.model.modules() if isinstance(m, gw.nn.Dense)]
    assert dense[0].fused_activation == "softsign"
    assert rebuilt.history["loss"][-1] < rebuilt.history["loss"][0]


@pytest.mark.parametrize(("extra", "message"), [
    ('[[callbacks]]\nname = "count"\n', r"callbacks.name = 'count' \(\[\[callbacks\]\] #1\): "
                                        r"expected one of .*'count_epochs'"),
    ('[[callbacks]]\nname = "count_epochs"\n', r"\[\[callbacks\]\] count_epochs \(CountEpochs\)"
                                               r": missing a required argument: 'tag'"),
    ('[[callbacks]]\nname = "count_epochs"\ntag = "a"\nstep = 2\n',
     r"unknown config key callbacks.step for count_epochs \(CountEpochs\); accepted keys: name, "
     r"tag, start"),
    ('callbacks = "count_epochs"\n', r"expected \[\[callbacks\]\] tables"),
    ('[training]\nloss = "hinge"\n', r"training.loss = 'hinge': expected one of .*'cauchy'"),
])
def test_config_errors_for_unknown_names_and_bad_arguments_are_one_line(
        registered: Any, tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(extra)
    with pytest.raises(cfg.ConfigError, match=message) as err:
        cfg.load_config(path)
    assert "\n" not in str(err.value)


def test_the_config_and_the_playground_list_the_registries(registered: Any) -> None:
    from gradwise.playground.session import defaults

    assert _accepted("training", "loss") == list(gw.nn.LOSSES)
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate({"callbacks": [{"name": "?"}]})
    assert str(err.value).endswith(", ".join(repr(n) for n in gw.callbacks.CALLBACKS))
    choices = defaults()["choices"]
    assert sorted(choices["activations"]) == sorted(_accepted("model", "activation"))
    assert sorted(choices["optimizers"]) == sorted(gw.optim.OPTIMIZERS)


def test_a_registered_optimizer_races_and_the_variants_are_registered_optimizers(
        registered: Any) -> None:
    from gradwise.lab import race

    for name, (registered_name, hyper) in race.VARIANTS.items():
        opt = race.make_optimizer(name, [gw.nn.Parameter(np.zeros(2))], 0.1)
        assert type(opt) is gw.optim.OPTIMIZERS[registered_name]
        assert all(opt.param_groups[0][k] == v for k, v in hyper.items())
    paths = race.run_race("quadratic", steps=5, optimizers=["SGD", "signsgd"],
                          lr={"signsgd": 0.1})
    p = np.array(race.SURFACES["quadratic"].start)
    for t in range(1, 6):  # theta <- theta - lr sign(grad f), grad f = (x, 25 y)
        p = p - 0.1 * np.sign(p * [1, 25])
        np.testing.assert_allclose(paths["signsgd"][t], p, rtol=1e-12)
    with pytest.raises(ValueError, match="no learning rate for 'signsgd'"):
        race.run_race("quadratic", steps=5, optimizers=["signsgd"])
    assert set(race.run_race("saddle", steps=3, optimizers=["signsgd"], equal_lr=0.1)) == {
        "signsgd"}


def test_elu_exports_to_torch_and_onnx_fused_or_not(tmp_path: Path) -> None:
    torch = gates.torch()
    from gradwise.interop.torch import to_torch

    gw.manual_seed(0)
    model = gw.nn.Sequential(gw.nn.Dense(3, 4, activation="elu"), gw.nn.Dense(4, 2),
                             gw.nn.ELU(alpha=0.5))  # float32: onnxruntime has no float64 Elu
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    expected = model(gw.tensor(x)).numpy()
    np.testing.assert_allclose(to_torch(model)(torch.tensor(x)).detach().numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    _, ort = gates.onnx()
    gw.onnx.export(model, x[:2], tmp_path / "elu.onnx")
    sess = ort.InferenceSession(str(tmp_path / "elu.onnx"), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
