"""ONNX export: every layer and activation, run in onnxruntime against gradwise (float32,
1e-5), onnx.checker, a dynamic batch dimension, and `gradwise export`."""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise import nn

onnx, ort = gates.onnx()

RNG = np.random.default_rng(5)


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def _check(model, x, tmp_path, name="m"):
    path = tmp_path / f"{name}.onnx"
    gw.onnx.export(model, x[:2], path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    for batch in (1, len(x)):  # other batch sizes than the example's
        ref = gw.predict(model, x[:batch])
        got = _run(path, x[:batch])
        assert got.dtype == np.float32 and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    return proto


X = (RNG.standard_normal((9, 5)) * 3).astype(np.float32)

LAYERS = {
    "Dense": lambda: nn.Dense(5, 4),
    "Dense-relu": lambda: nn.Dense(5, 4, activation="relu"),
    "Dense-sigmoid": lambda: nn.Dense(5, 4, activation="sigmoid"),
    "Dense-tanh": lambda: nn.Dense(5, 4, activation="tanh"),
    "Dense-softmax": lambda: nn.Dense(5, 4, activation="softmax"),
    "Dense-leaky": lambda: nn.Dense(5, 4, activation="leaky_relu"),
    "Dense-softplus": lambda: nn.Dense(5, 4, activation="softplus"),
    "Dense-nobias": lambda: nn.Dense(5, 4, bias=False, activation="tanh"),
    "Perceptron": lambda: nn.Perceptron(5),
    "Dropout": lambda: nn.Dropout(0.5),
    "Flatten": lambda: nn.Flatten(),
    "Sigmoid": lambda: nn.Sigmoid(),
    "Tanh": lambda: nn.Tanh(),
    "ReLU": lambda: nn.ReLU(),
    "LeakyReLU": lambda: nn.LeakyReLU(0.2),
    "Softplus": lambda: nn.Softplus(),
    "Softmax": lambda: nn.Softmax(),
    "Softmax-axis0": lambda: nn.Softmax(axis=0),
    "Identity": lambda: nn.Identity(),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_each_layer_and_activation_matches_onnxruntime(name, tmp_path):
    gw.manual_seed(0)
    layer = LAYERS[name]()
    if name == "Softmax-axis0":  # softmax over the batch axis depends on the batch
        path = tmp_path / "s.onnx"
        gw.onnx.export(layer, X, path)
        np.testing.assert_allclose(_run(path, X), gw.predict(layer, X), rtol=1e-5, atol=1e-6)
        return
    _check(layer, X, tmp_path)


def test_flatten_of_images_and_a_whole_network(tmp_path):
    gw.manual_seed(1)
    images = RNG.standard_normal((6, 4, 3)).astype(np.float32)
    model = nn.Sequential(nn.Flatten(), nn.Dense(12, 16, activation="relu"), nn.Dropout(0.3),
                          nn.Dense(16, 8, activation=nn.LeakyReLU(0.1)),
                          nn.Sequential(nn.Dense(8, 8, activation="tanh"), nn.Softplus()),
                          nn.Dense(8, 3), nn.Softmax())
    model.train()  # export runs in eval mode and leaves the mode as it was
    proto = _check(model, images, tmp_path)
    assert model.training
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]] == [4, 3]
    assert {i.name for i in proto.graph.initializer} >= {"1.weight", "1.bias", "4.0.weight"}


def test_unknown_module_is_named(tmp_path):
    class Twice(nn.Module):
        def forward(self, x):
            return x * 2

    with pytest.raises(ValueError, match=r"no ONNX form for the module 1 = Twice"):
        gw.onnx.export(nn.Sequential(nn.ReLU(), Twice()), X, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_gradwise_export_command(tmp_path):
    from gradwise.cli import main
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--quiet", "--set", "training.epochs=2",
                 "--set", "data.n=100", "--set", "model.hidden=[8]"]) == 0
    assert main(["export", str(run), "--format", "onnx"]) == 0
    from gradwise.training.run import load_run
    r = load_run(run)
    x = r.X_val.astype(np.float32)
    np.testing.assert_allclose(_run(run / "model.onnx", x), gw.predict(r.model, x), rtol=1e-5,
                               atol=1e-5)
    out = tmp_path / "elsewhere.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    assert out.exists()
    assert main(["export", str(tmp_path / "nope"), "--format", "onnx"]) == 2


def test_readme_onnx_section_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## ONNX export", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(block, "README.md ONNX", "exec"), ns)
    x = RNG.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "model.onnx", x), gw.predict(ns["model"], x),
                               rtol=1e-5, atol=1e-6)
