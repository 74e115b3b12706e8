"""PyTorch weights both ways: torch.nn.Sequential <-> gradwise, state dicts and safetensors
files written by torch, equal outputs."""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise import nn

torch = gates.torch()
gates.safetensors()
from gradwise.interop.torch import (  # noqa: E402
    from_torch,
    load_torch_weights,
    save_torch_weights,
    to_torch,
    torch_state_dict,
)

X = np.random.default_rng(0).standard_normal((17, 6))


def _torch_model(dtype=torch.float64):
    torch.manual_seed(0)
    t = torch.nn
    return t.Sequential(t.Flatten(), t.Linear(6, 16), t.ReLU(), t.Linear(16, 12), t.Tanh(),
                        t.Dropout(0.3), t.Linear(12, 10), t.LeakyReLU(0.2), t.Linear(10, 8),
                        t.Sigmoid(), t.Linear(8, 8, bias=False), t.Softplus(),
                        t.Linear(8, 4), t.Identity(), t.Softmax(dim=1)).to(dtype).eval()


def _run_torch(tm, x):
    with torch.no_grad():
        return tm(torch.from_numpy(x)).numpy()


def _run_gw(model, x):
    model.eval()
    return gw.predict(model, x)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_from_torch_and_back_compute_the_same(dtype):
    tm = _torch_model(dtype)
    x = X.astype(np.float64 if dtype == torch.float64 else np.float32)
    model = from_torch(tm)
    assert [type(m).__name__ for m in model][:3] == ["Flatten", "Dense", "ReLU"]
    assert model[1].weight.shape == (6, 16)  # (in, out)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(_run_gw(model, x), _run_torch(tm, x), rtol=tol, atol=tol)
    back = to_torch(model).eval()
    np.testing.assert_allclose(_run_torch(back, x), _run_torch(tm, x), rtol=tol, atol=tol)


def test_fused_gradwise_model_to_torch_and_back():
    gw.manual_seed(1)
    model = nn.Sequential(nn.Dense(6, 9, activation="tanh", dtype=np.float64),
                          nn.Dropout(0.2),
                          nn.Dense(9, 5, activation="leaky_relu", dtype=np.float64),
                          nn.Perceptron(5, dtype=np.float64))
    tm = to_torch(model).eval()
    assert [type(m).__name__ for m in tm] == ["Linear", "Tanh", "Dropout", "Linear",
                                              "LeakyReLU", "Linear", "Sigmoid"]
    np.testing.assert_allclose(_run_torch(tm, X), _run_gw(model, X), rtol=1e-12)
    state = torch_state_dict(model)
    assert list(state) == ["0.weight", "0.bias", "3.weight", "3.bias", "5.weight", "5.bias"]
    assert state["0.weight"].shape == (9, 6)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})


def test_torch_state_dict_into_existing_model_and_safetensors_both_ways(tmp_path):
    from safetensors.torch import load_file, save_file
    tm = _torch_model()
    model = nn.Sequential(nn.Flatten(), nn.Dense(6, 16, activation="relu", dtype=np.float64),
                          nn.Dense(16, 12, activation="tanh", dtype=np.float64), nn.Dropout(0.3),
                          nn.Dense(12, 10, activation=nn.LeakyReLU(0.2), dtype=np.float64),
                          nn.Dense(10, 8, activation="sigmoid", dtype=np.float64),
                          nn.Dense(8, 8, bias=False, activation="softplus", dtype=np.float64),
                          nn.Dense(8, 4, activation="softmax", dtype=np.float64))
    load_torch_weights(model, tm.state_dict())
    np.testing.assert_allclose(_run_gw(model, X), _run_torch(tm, X), rtol=1e-12)
    # a safetensors file written by torch, read without torch
    path = tmp_path / "torch.safetensors"
    save_file(tm.state_dict(), str(path))
    fresh = from_torch(_torch_model())
    for p in fresh.parameters():
        p.data[...] = 0
    load_torch_weights(fresh, path)
    np.testing.assert_allclose(_run_gw(fresh, X), _run_torch(tm, X), rtol=1e-12)
    # and gradwise -> safetensors -> torch
    out = tmp_path / "gw.safetensors"
    save_torch_weights(fresh, out)
    other = _torch_model()
    for p in other.parameters():
        torch.nn.init.zeros_(p)
    other.load_state_dict(load_file(str(out)))
    np.testing.assert_allclose(_run_torch(other, X), _run_torch(tm, X), rtol=1e-12)


def test_mismatches_are_refused_before_anything_changes():
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    model = nn.Sequential(nn.Dense(3, 4, activation="relu"), nn.Dense(4, 3))
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"Linear 1: torch weight of shape \(2, 4\)"):
        load_torch_weights(model, tm.state_dict())
    for b, p in zip(before, model.parameters(), strict=True):
        np.testing.assert_array_equal(b, p.numpy())
    with pytest.raises(ValueError, match="2 Linear layers, the model has 1 Dense"):
        load_torch_weights(nn.Sequential(nn.Dense(3, 4)), tm.state_dict())
    with pytest.raises(ValueError, match="no gradwise equivalent.*GELU"):
        from_torch(torch.nn.Sequential(torch.nn.GELU()))
    with pytest.raises(ValueError, match="bias"):
        load_torch_weights(nn.Sequential(nn.Dense(3, 4, bias=False), nn.Dense(4, 2)),
                           tm.state_dict())


def test_readme_pytorch_section_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## PyTorch weights, both ways", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md PyTorch", "exec"), namespace)
    from safetensors.torch import load_file
    namespace["back"].load_state_dict(load_file("weights.safetensors"))
    x = torch.from_numpy(namespace["x"])
    np.testing.assert_allclose(namespace["back"](x).detach().numpy(),
                               gw.predict(namespace["mine"], namespace["x"]), rtol=1e-5)
